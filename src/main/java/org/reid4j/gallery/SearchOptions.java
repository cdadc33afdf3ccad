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
public record SearchOptions(int k, Integer excludedCamid, Map<String, String> filters) {

  public SearchOptions {
    if (k < 1) throw new IllegalArgumentException("k must be at least 1, got " + k);
    filters = java.util.Collections.unmodifiableMap(new TreeMap<>(filters == null ? Map.of() : filters));
  }

  /** The k nearest, no exclusion, no filter. */
  public static SearchOptions top(int k) {
    return new SearchOptions(k, null, Map.of());
  }

  /** Leaves out items whose camid is {@code camid} (items without a camid stay in). */
  public SearchOptions excludeCamid(int camid) {
    return new SearchOptions(k, camid, filters);
  }

  /** Keeps only items whose attribute {@code key} equals {@code value}; several filters all apply. */
  public SearchOptions filter(String key, String value) {
    if (key == null || value == null) throw new IllegalArgumentException("filter key and value must not be null");
    TreeMap<String, String> f = new TreeMap<>(filters);
    if (f.containsKey(key) && !f.get(key).equals(value))
      throw new IllegalArgumentException("filter '" + key + "' is already '" + f.get(key) + "'; an item cannot also"
          + " equal '" + value + "'");
    f.put(key, value);
    return new SearchOptions(k, excludedCamid, f);
  }

  boolean selective() {
    return excludedCamid != null || !filters.isEmpty();
  }
}
