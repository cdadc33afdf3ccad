package org.reid4j.gallery;

import java.util.Map;

/** Everything about a row except its feature; held on the heap for every row (about 100 bytes each). */
record RowMeta(String id, Integer pid, Integer camid, Map<String, String> attributes) {
  static RowMeta of(Item item) {
    return new RowMeta(item.id(), item.pid(), item.camid(), item.attributes());
  }

  boolean matches(SearchOptions o) {
    if (o.excludedCamid() != null && o.excludedCamid().equals(camid)) return false;
    for (Map.Entry<String, String> f : o.filters().entrySet()) {
      if (!f.getValue().equals(attributes.get(f.getKey()))) return false;
    }
    return true;
  }
}
