package org.reid4j.eval.rerank;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;
import org.reid4j.kernels.TopKWithMax;
import org.reid4j.report.ProgressLine;

/**
 * Each item's exact nearest neighbours among the N = nq + ng items (queries first, then the
 * gallery), from the kernels' fused top-k with row maximum a block of items at a time: the N x N x d
 * pass of exact re-ranking without its N x N matrix, for N where that matrix does not fit (a million
 * items: about an hour of two AVX-512 cores, against hours for the same pass in plain Java).
 *
 * <p>Each block of items is compared with the N items a chunk of rows at a time (a chunk lies among
 * the queries or in the gallery, so that neither side is copied into one N-row matrix), and each
 * chunk's top-L is merged into the block's running lists by (distance, item): the kernels stream a
 * chunk that stays in cache instead of the whole gallery once per few rows (at 1M x 256, a 1 GB
 * gallery per call ran at 32 items/s). The L entries are then re-scored with
 * {@link KReciprocal.ItemDistance} (the distance the rest of re-ranking uses) and sorted by
 * (distance, item) again, as HNSW candidates are; an item's largest distance is the kernels' row
 * maximum (raised, if need be, to its largest re-scored entry). The kernels' distances can differ
 * from the re-scored ones in the last bits, so an item whose L-th and (L+1)-th nearest are that close
 * may keep the other of the two; otherwise the lists are those of the exact pass.
 *
 * <p>Sizes: the native CPU backend's fused pass holds no [block, chunk] matrix, so it takes blocks
 * of {@link #FUSED_BLOCK} items against chunks of {@link #FUSED_CHUNK}; other backends compute each
 * [block, chunk] matrix first, so theirs hold 2^25 distances. Memory: the lists (N L ints and
 * floats), one block, one chunk.
 */
public final class ExactNeighbours {
  private ExactNeighbours() {}

  /** Items per block and per chunk where the kernels' top-k holds no [block, chunk] matrix (native CPU). */
  static final int FUSED_BLOCK = 4096, FUSED_CHUNK = 16_384;
  /** Elsewhere: blocks of [block, chunk] distances, 2^25 values (128 MB). */
  static final int BLOCK = 1024, CHUNK = 32_768;

  /**
   * The lists of the N items.
   *
   * @param idx [N * length] neighbours by (distance, index), the item itself included
   * @param dist [N * length] their distances
   * @param largest [N] each item's largest distance to any item
   */
  public record Lists(int items, int length, int[] idx, float[] dist, float[] largest, long millis) {}

  /** The first {@code length} neighbours of each of the nq + ng items of q and g (progress lines: null for none). */
  public static Lists of(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric, int length,
      Consumer<String> progress) {
    if (kernels == null) throw new IllegalArgumentException("exact neighbours: kernels are null");
    boolean fused = kernels.backend() == Backend.CPU;
    return of(kernels, q, g, metric, length, progress, fused ? FUSED_BLOCK : BLOCK, fused ? FUSED_CHUNK : CHUNK);
  }

  static Lists of(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric, int length, Consumer<String> progress,
      int block, int chunk) {
    if (kernels == null) throw new IllegalArgumentException("exact neighbours: kernels are null");
    if (metric == null) throw new IllegalArgumentException("metric is null");
    Checks.pairwiseInputs(q, g);
    int nq = q.rows(), ng = g.rows(), d = q.cols();
    long nl = (long) nq + ng;
    if (nl < 1) throw new IllegalArgumentException("exact neighbours: no items");
    if (length < 1 || length > nl)
      throw new IllegalArgumentException("exact neighbours: list length must be in [1, " + nl + "], got " + length);
    if (nl * length > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("exact neighbours: lists of " + nl + " x " + length + " do not fit");
    if (block < 1 || chunk < 1)
      throw new IllegalArgumentException("exact neighbours: blocks of " + block + " items, chunks of " + chunk);
    int n = (int) nl;
    long t0 = System.nanoTime();
    KReciprocal.ItemDistance exact = KReciprocal.ItemDistance.of(q, g, metric);
    int[] idx = new int[n * length];
    float[] dist = new float[n * length], largest = new float[n];
    ProgressLine line = new ProgressLine(progress, 10, n, t0, "exact neighbour lists", "items", "items", 0);
    for (int from = 0; from < n; from += block) {
      int to = Math.min(n, from + block), base = from, rows = to - from;
      FloatMatrix items = rows(q, g, from, to);
      // the block's running lists (ascending by (distance, item); unfilled entries +inf) and maxima
      float[] val = new float[rows * length], max = new float[rows];
      int[] at = new int[rows * length];
      Arrays.fill(val, Float.POSITIVE_INFINITY);
      Arrays.fill(at, Integer.MAX_VALUE);
      Arrays.fill(max, Float.NEGATIVE_INFINITY);
      for (int c0 = 0; c0 < n; ) {
        int c1 = Math.min(c0 < nq ? nq : n, c0 + chunk), first = c0; // a chunk lies on one side
        FloatMatrix side = rows(q, g, c0, c1);
        TopKWithMax t = kernels.pairwiseTopkWithMax(items, side, metric, Math.min(length, c1 - c0));
        IntStream.range(0, rows).parallel().forEach(r -> {
          max[r] = Math.max(max[r], t.rowMax()[r]);
          merge(val, at, r * length, length, t.nearest(), r, first);
        });
        c0 = c1;
      }
      IntStream.range(0, rows).parallel().forEach(r -> {
        int i = base + r;
        int[] cand = Arrays.copyOfRange(at, r * length, (r + 1) * length);
        float[] cd = new float[length];
        float m = max[r];
        for (int p = 0; p < length; p++) m = Math.max(m, cd[p] = exact.between(i, cand[p]));
        HnswNeighbours.sortedPrefix(cand, cd, length, length, idx, dist, i * length);
        largest[i] = m;
      });
      line.update(to);
    }
    return new Lists(n, length, idx, dist, largest, (System.nanoTime() - t0) / 1_000_000);
  }

  /** Items [from, to) (queries first, then the gallery) as one matrix. */
  private static FloatMatrix rows(FloatMatrix q, FloatMatrix g, int from, int to) {
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
