package org.reid4j.gallery;

/**
 * One search result: the item's id, its distance to the query under the gallery's metric, its
 * 1-based rank in the query's list, and its pid and camid (null where the item has none).
 */
public record Hit(String id, float distance, int rank, Integer pid, Integer camid) {}
