package org.reid4j.eval.rerank;

import java.util.Arrays;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * How near approximate neighbour lists (HNSW candidates) come to the exact ones, measured on a sample
 * of items: each sampled item's exact k nearest other items are computed directly on the kernels
 * (one top-k pass of the sample against all N items), and its list, without the item itself, is
 * compared with them.
 *
 * @param sampled items measured
 * @param k the k nearest compared (k1; fewer when there are fewer other items)
 * @param recall share of the exact k nearest that the lists hold, over all sampled items; an entry
 *     no farther than the exact k-th (to within 1e-5 relative: the kernels and the lists' re-scoring
 *     round differently) counts as found, so that ties at the k-th do not count as misses
 * @param epsilonRecall the same with entries up to 1% farther than the exact k-th counting
 *     (ann-benchmarks' epsilon recall: the lists hold items practically as near as those missed)
 * @param minRecall the worst sampled item's recall
 * @param millis time taken
 */
public record ListRecall(int sampled, int k, double recall, double epsilonRecall, double minRecall, long millis) {
  /** Seed of {@link #sample} when the caller has none: the same items on every run. */
  public static final long SEED = 42;

  /**
   * Measures the lists of {@code rows} (made by {@link KReciprocal#rows} over q and g) at the given
   * items (item i &lt; nq is query i, else gallery row i - nq), against the exact k1 nearest.
   */
  public static ListRecall measure(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric,
      KReciprocal.Rows rows, int[] items) {
    if (kernels == null || rows == null || items == null || metric == null)
      throw new IllegalArgumentException("list recall: null argument");
    int nq = q.rows(), ng = g.rows(), n = nq + ng, d = q.cols();
    if (rows.queries() != nq || rows.gallery() != ng)
      throw new IllegalArgumentException("list recall: the lists are of " + rows.queries() + " + " + rows.gallery()
          + " items, the features of " + nq + " + " + ng);
    if (items.length == 0) throw new IllegalArgumentException("list recall: no items sampled");
    for (int i : items)
      if (i < 0 || i >= n) throw new IllegalArgumentException("list recall: item " + i + " outside [0, " + n + ")");
    long t0 = System.nanoTime();
    int k = Math.min(rows.k1(), n - 1);
    int want = Math.min(k + 1, n); // the item itself may be among its nearest
    long found = 0, epsFound = 0, wanted = 0;
    double minRecall = 1;
    int chunk = (int) Math.max(1, Math.min(items.length, (32L << 20) / Math.max(1, n)));
    for (int c0 = 0; c0 < items.length; c0 += chunk) {
      int m = Math.min(chunk, items.length - c0);
      float[] a = new float[m * d];
      for (int r = 0; r < m; r++) {
        int i = items[c0 + r];
        System.arraycopy(i < nq ? q.data() : g.data(), (i < nq ? i : i - nq) * d, a, r * d, d);
      }
      FloatMatrix sample = new FloatMatrix(m, d, a);
      TopK tq = nq > 0 ? kernels.pairwiseTopk(sample, q, metric, Math.min(want, nq)) : null;
      TopK tg = ng > 0 ? kernels.pairwiseTopk(sample, g, metric, Math.min(want, ng)) : null;
      for (int r = 0; r < m; r++) {
        int i = items[c0 + r];
        // the two sorted top-k rows merged by (distance, item), the item itself skipped
        int[] exact = new int[k];
        int ne = 0, a1 = 0, b1 = 0, ka = tq == null ? 0 : tq.k(), kb = tg == null ? 0 : tg.k();
        float kth = 0f;
        while (ne < k && (a1 < ka || b1 < kb)) {
          boolean fromQ = b1 >= kb || a1 < ka && (tq.value(r, a1) < tg.value(r, b1)
              || tq.value(r, a1) == tg.value(r, b1)); // equal: the query's index is the smaller item
          int c = fromQ ? tq.index(r, a1) : nq + tg.index(r, b1);
          float v = fromQ ? tq.value(r, a1++) : tg.value(r, b1++);
          if (c == i) continue;
          exact[ne++] = c;
          kth = v;
        }
        if (ne == 0) continue;
        Arrays.sort(exact, 0, ne);
        int[] list = rows.neighbours(i);
        int taken = 0, hits = 0;
        for (int t = 0; t < list.length && taken < ne; t++) {
          int c = list[t];
          if (c == i) continue;
          taken++;
          float dist = rows.distance(i, c);
          if (dist <= kth + 0.01f * Math.abs(kth)) epsFound++;
          if (dist <= kth + 1e-5f * Math.abs(kth) || Arrays.binarySearch(exact, 0, ne, c) >= 0) hits++;
        }
        found += hits;
        wanted += ne;
        minRecall = Math.min(minRecall, hits / (double) ne);
      }
    }
    double w = Math.max(1, wanted);
    return new ListRecall(items.length, k, wanted == 0 ? 1 : found / w, wanted == 0 ? 1 : epsFound / w, minRecall,
        (System.nanoTime() - t0) / 1_000_000);
  }

  /** count distinct items of [0, n) in ascending order, drawn with the seed (all n when count >= n). */
  public static int[] sample(int n, int count, long seed) {
    if (n < 0 || count < 1) throw new IllegalArgumentException("list recall: sample " + count + " of " + n + " items");
    if (count >= n) {
      int[] all = new int[n];
      Arrays.setAll(all, i -> i);
      return all;
    }
    Random r = new Random(seed);
    BitSet chosen = new BitSet(n);
    while (chosen.cardinality() < count) chosen.set(r.nextInt(n));
    return chosen.stream().toArray();
  }

  /** As JSON (eval's {@code candidate_recall}): sampled, k, recall, epsilon_recall, min_recall, ms. */
  public Map<String, Object> toJson() {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("sampled", sampled);
    o.put("k", k);
    o.put("recall", recall);
    o.put("epsilon_recall", epsilonRecall);
    o.put("min_recall", minRecall);
    o.put("ms", millis);
    return o;
  }

  /** "recall@20 0.9634 on 1,000 sampled items (within 1% of the 20th distance 0.9990; worst item 0.80)". */
  public String describe() {
    return String.format(java.util.Locale.ROOT, "recall@%d %.4f on %,d sampled items (within 1%% of the exact "
        + "%d-th distance %.4f; worst item %.2f; %,d ms)", k, recall, sampled, k, epsilonRecall, minRecall, millis);
  }
}
