package org.reid4j.gallery;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.reid4j.kernels.Metric;

/** The test's reference: plain double-precision loops over the items in insertion order. */
final class Brute {
  private Brute() {}

  record Ref(String id, double distance) {}

  static double distance(float[] a, float[] b, Metric m) {
    double dot = 0, na = 0, nb = 0, sq = 0;
    for (int i = 0; i < a.length; i++) {
      dot += (double) a[i] * b[i];
      na += (double) a[i] * a[i];
      nb += (double) b[i] * b[i];
      sq += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
    }
    return switch (m) {
      case SQEUCLIDEAN -> sq;
      case EUCLIDEAN -> Math.sqrt(sq);
      case COSINE -> na == 0 || nb == 0 ? 1 : 1 - dot / Math.sqrt(na * nb);
    };
  }

  /** The k best of items (in insertion order) passing the options, ties by insertion order. */
  static List<Ref> search(List<Item> items, float[] q, Metric m, SearchOptions o) {
    List<Ref> all = new ArrayList<>();
    for (Item it : items) {
      if (o.excludedCamid() != null && o.excludedCamid().equals(it.camid())) continue;
      boolean ok = true;
      for (Map.Entry<String, String> f : o.filters().entrySet())
        ok &= f.getValue().equals(it.attributes().get(f.getKey()));
      if (ok) all.add(new Ref(it.id(), distance(q, it.feature(), m)));
    }
    all.sort(Comparator.comparingDouble(Ref::distance)); // stable: insertion order breaks ties
    return all.subList(0, Math.min(o.k(), all.size()));
  }
}
