package org.reid4j.gallery;

import java.util.Map;
import java.util.TreeMap;

/**
 * What a search asks for: the {@code k} nearest items, optionally leaving out one camera
 * ({@link #excludeCamid}: the usual same-camera exclusion of ReID evaluation) and keeping only
 * items whose attributes match every {@link #filter} exactly (AND). Immutable; each method returns
 * a new value. Exclusions and filters never make the answer approximate: the gallery scans every
 * eligible row.
 */
public record SearchOptions(int k, Integer excludedCamid, Map<String, String> filters, Rerank rerank) {
  /** Candidates re-ranked per query unless asked otherwise (at least k). */
  public static final int DEFAULT_CANDIDATES = 100;

  /**
   * Online k-reciprocal re-ranking parameters; see {@link SearchOptions#rerank(int, int, float, int)}.
   *
   * @param k1 size of the k-reciprocal neighbourhood, at least 1
   * @param k2 local query expansion over the k2 nearest, 1 (none) to k1
   * @param lambda weight of the original distance, in [0, 1]
   * @param candidates how many of the query's nearest eligible items are re-ranked (L, at least k);
   *     the items the query's weights reach through the graph are re-ranked as well
   */
  public record Rerank(int k1, int k2, float lambda, int candidates) {
    public Rerank {
      if (k1 < 1) throw new IllegalArgumentException("re-ranking k1 must be at least 1, got " + k1);
      if (k2 < 1 || k2 > k1)
        throw new IllegalArgumentException("re-ranking k2 must be between 1 and k1 (" + k1 + "), got " + k2);
      if (!(lambda >= 0f && lambda <= 1f))
        throw new IllegalArgumentException("re-ranking lambda must be in [0, 1], got " + lambda);
      if (candidates < 1)
        throw new IllegalArgumentException("re-ranking candidates must be at least 1, got " + candidates);
    }
  }

  public SearchOptions {
    if (k < 1) throw new IllegalArgumentException("k must be at least 1, got " + k);
    filters = java.util.Collections.unmodifiableMap(new TreeMap<>(filters == null ? Map.of() : filters));
    if (rerank != null && rerank.candidates() < k)
      throw new IllegalArgumentException("re-ranking candidates (" + rerank.candidates() + ") must be at least k ("
          + k + "): only candidates can be returned");
  }

  public SearchOptions(int k, Integer excludedCamid, Map<String, String> filters) {
    this(k, excludedCamid, filters, null);
  }

  /** The k nearest, no exclusion, no filter. */
  public static SearchOptions top(int k) {
    return new SearchOptions(k, null, Map.of(), null);
  }

  /** Leaves out items whose camid is {@code camid} (items without a camid stay in). */
  public SearchOptions excludeCamid(int camid) {
    return new SearchOptions(k, camid, filters, rerank);
  }

  /**
   * Re-ranks with the {@link #DEFAULT_CANDIDATES} (or k, if larger) nearest eligible items as candidates;
   * see {@link #rerank(int, int, float, int)}.
   */
  public SearchOptions rerank(int k1, int k2, float lambda) {
    return rerank(k1, k2, lambda, Math.max(k, DEFAULT_CANDIDATES));
  }

  /**
   * Online k-reciprocal re-ranking (Zhong et al., CVPR 2017) of each query's results against the
   * gallery's own neighbourhood graph. The graph keeps every live item's k1 nearest other items,
   * its largest distance and its weight vector V; it is built by the first re-ranking search (or
   * {@link Gallery#buildNeighbours}) and kept exact under adds and removes. A search then finds
   * the query's {@code candidates} (L) nearest eligible items exactly, adds every eligible item
   * that the query's expanded weight vector V weighs together with that item's k1 nearest (the
   * items re-ranking can bring forward from far down the plain ranking), re-ranks them all, and
   * returns the k best; {@link Hit#distance} is then the re-ranked distance, (1 - lambda) Jaccard +
   * lambda D(q, g) / M(q), in [0, 1] (M(q): the query's largest distance to any live item).
   *
   * <p><b>What it computes, exactly:</b> for each candidate, the distance that offline re-ranking
   * ({@link org.reid4j.eval.rerank.KReciprocal}, {@code eval --rerank}) gives with this one query
   * and all live items as the gallery, up to float rounding (the graph's distances are a float
   * rounding apart from the kernels'); the query's distance row to every live item is computed,
   * so its reciprocal sets, every item's maximum and the items whose weights the query changes
   * are exact, not estimated from the candidates.
   *
   * <p><b>How it differs from {@code eval --rerank}:</b> (1) offline re-ranks all queries at once,
   * and the other queries are items of the graph there (they enter the gallery items' neighbour
   * lists, reciprocal sets and maxima); here only the gallery and this query are. (2) Only the
   * candidates are re-ranked; an item outside them is never returned even where its re-ranked
   * distance would be smaller (offline ranks the whole gallery). Outside them the Jaccard part is
   * mostly 1, but an item whose expanded V shares an item with the query's only through its own
   * k2 nearest can be missed. (3) The normaliser
   * M(x) is the largest distance over the gallery and this query, not over all queries and the
   * gallery. (4) An item counts as its own nearest neighbour (offline sorts it among its exact
   * duplicates by index). (5) k1 and k2 are clamped to the live items + 1, as offline clamps them to
   * queries + gallery. Filters and the camera exclusion only restrict the candidates: the graph
   * is over all live items.
   *
   * <p>The graph holds one k1: a search with another k1 rebuilds it (seconds for 10^4 items).
   *
   * @throws IllegalArgumentException if k1 or k2 are below 1, k2 is above k1, lambda is outside
   *     [0, 1], or candidates is below k
   */
  public SearchOptions rerank(int k1, int k2, float lambda, int candidates) {
    return new SearchOptions(k, excludedCamid, filters, new Rerank(k1, k2, lambda, candidates));
  }

  /** Keeps only items whose attribute {@code key} equals {@code value}; several filters all apply. */
  public SearchOptions filter(String key, String value) {
    if (key == null || value == null) throw new IllegalArgumentException("filter key and value must not be null");
    TreeMap<String, String> f = new TreeMap<>(filters);
    if (f.containsKey(key) && !f.get(key).equals(value))
      throw new IllegalArgumentException("filter '" + key + "' is already '" + f.get(key) + "'; an item cannot also"
          + " equal '" + value + "'");
    f.put(key, value);
    return new SearchOptions(k, excludedCamid, f, rerank);
  }

  boolean selective() {
    return excludedCamid != null || !filters.isEmpty();
  }
}
