package org.reid4j.kernels;

import java.util.Arrays;
import java.util.function.LongConsumer;
import java.util.stream.IntStream;

/**
 * {@link Kernels#neighbourLists}'s way on any backend: each block of items is compared with the N
 * items a chunk of rows at a time through {@link Kernels#pairwiseTopkWithMax} (a chunk lies among the
 * queries or in the gallery, so that neither side is copied into one N-row matrix), and each chunk's
 * top-k is merged into the block's running lists by (distance, item). Every tile of the N x N pass
 * is computed, twice the work of the native CPU backend's symmetric pass, which computes only the
 * tiles on and above the diagonal; the lists are the same where the distances are.
 */
public final class NeighbourBlocks {
  private NeighbourBlocks() {}

  /** Items per block and rows per chunk: [block, chunk] distances of 2^25 values (128 MB) per call. */
  public static final int BLOCK = 1024, CHUNK = 32_768;

  /** The argument checks of {@link Kernels#neighbourLists}; returns N. */
  static int check(FloatMatrix q, FloatMatrix g, Metric metric, int k) {
    if (metric == null) throw new IllegalArgumentException("neighbour lists: metric is null");
    Checks.pairwiseInputs(q, g);
    long n = (long) q.rows() + g.rows();
    if (n < 1) throw new IllegalArgumentException("neighbour lists: no items");
    if (k < 1 || k > n)
      throw new IllegalArgumentException("neighbour lists: list length must be in [1, " + n + "], got " + k);
    if (n * k > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("neighbour lists: lists of " + n + " x " + k + " do not fit");
    return (int) n;
  }

  /**
   * {@link Kernels#neighbourLists} in blocks of {@code block} items against chunks of {@code chunk}
   * rows (each at least 1).
   */
  public static TopKWithMax lists(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric, int k,
      LongConsumer progress, int block, int chunk) {
    if (kernels == null) throw new IllegalArgumentException("neighbour lists: kernels are null");
    int n = check(q, g, metric, k), nq = q.rows();
    if (block < 1 || chunk < 1)
      throw new IllegalArgumentException("neighbour lists: blocks of " + block + " items, chunks of " + chunk);
    float[] val = new float[n * k], max = new float[n];
    int[] at = new int[n * k];
    Arrays.fill(val, Float.POSITIVE_INFINITY); // unfilled entries sort last
    Arrays.fill(at, Integer.MAX_VALUE);
    Arrays.fill(max, Float.NEGATIVE_INFINITY);
    for (int from = 0; from < n; from += block) {
      int to = Math.min(n, from + block), base = from;
      FloatMatrix items = rows(q, g, from, to);
      for (int c0 = 0; c0 < n; ) {
        int c1 = Math.min(c0 < nq ? nq : n, c0 + chunk), first = c0; // a chunk lies on one side
        TopKWithMax t = kernels.pairwiseTopkWithMax(items, rows(q, g, c0, c1), metric, Math.min(k, c1 - c0));
        IntStream.range(0, to - from).parallel().forEach(r -> {
          max[base + r] = Math.max(max[base + r], t.rowMax()[r]);
          merge(val, at, (base + r) * k, k, t.nearest(), r, first);
        });
        c0 = c1;
      }
      if (progress != null) progress.accept(to);
    }
    return new TopKWithMax(new TopK(n, k, val, at), max);
  }

  /** Items [from, to) (queries first, then the gallery) as one matrix. */
  static FloatMatrix rows(FloatMatrix q, FloatMatrix g, int from, int to) {
    int nq = q.rows(), d = q.cols();
    if (to <= nq) return q.rowRange(from, to);
    if (from >= nq) return g.rowRange(from - nq, to - nq);
    float[] a = new float[(to - from) * d];
    System.arraycopy(q.data(), from * d, a, 0, (nq - from) * d);
    System.arraycopy(g.data(), 0, a, (nq - from) * d, (to - nq) * d);
    return new FloatMatrix(to - from, d, a);
  }

  /**
   * Merges row r of a chunk's top-k (its items numbered from {@code first}) into the running list
   * val/at[o .. o + length), keeping the length smallest by (distance, item).
   */
  private static void merge(float[] val, int[] at, int o, int length, TopK t, int r, int first) {
    float[] v = new float[length];
    int[] ix = new int[length];
    int a = 0, b = 0, k = t.k();
    for (int p = 0; p < length; p++) {
      boolean fromChunk = false;
      if (b < k) {
        float cv = t.value(r, b);
        int ci = first + t.index(r, b);
        fromChunk = cv < val[o + a] || cv == val[o + a] && ci < at[o + a];
      }
      if (fromChunk) {
        v[p] = t.value(r, b);
        ix[p] = first + t.index(r, b++);
      } else {
        v[p] = val[o + a];
        ix[p] = at[o + a++];
      }
    }
    System.arraycopy(v, 0, val, o, length);
    System.arraycopy(ix, 0, at, o, length);
  }
}
