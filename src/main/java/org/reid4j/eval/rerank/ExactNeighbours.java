package org.reid4j.eval.rerank;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopKWithMax;
import org.reid4j.report.ProgressLine;

/**
 * Each item's exact nearest neighbours among the N = nq + ng items (queries first, then the
 * gallery), from the kernels' fused top-k with row maximum a block of items at a time: the N x N x d
 * pass of exact re-ranking without its N x N matrix, for N where that matrix does not fit (a million
 * items: about an hour of two AVX-512 cores, against hours for the same pass in plain Java).
 *
 * <p>Each block of items is compared with the queries and with the gallery (two calls, so that
 * neither side is copied into one N-row matrix); the two top-L lists are merged by (distance, item).
 * The L entries are then re-scored with {@link KReciprocal.ItemDistance} (the distance the rest of
 * re-ranking uses) and sorted by (distance, item) again, as HNSW candidates are; an item's largest
 * distance is the kernels' row maximum (raised, if need be, to its largest re-scored entry). The
 * kernels' distances can differ from the re-scored ones in the last bits, so an item whose L-th and
 * (L+1)-th nearest are that close may keep the other of the two; otherwise the lists are those of
 * the exact pass.
 *
 * <p>Blocks: the native CPU backend's fused pass holds no [block, N] matrix, so its blocks are
 * {@link #FUSED_BLOCK} items; other backends compute the block's distances first, so theirs hold
 * at most 2^25 distances. Memory: the lists (N L ints and floats) and one block.
 */
public final class ExactNeighbours {
  private ExactNeighbours() {}

  /** Items per block where the kernels' top-k holds no [block, N] matrix. */
  static final int FUSED_BLOCK = 4096;
  static final long BLOCK_VALUES = 1L << 25;

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
    Checks.pairwiseInputs(q, g);
    return of(kernels, q, g, metric, length, progress, blockItems(kernels, q.rows() + (long) g.rows()));
  }

  static Lists of(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric, int length, Consumer<String> progress,
      int block) {
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
    if (block < 1) throw new IllegalArgumentException("exact neighbours: block of " + block + " items");
    int n = (int) nl;
    long t0 = System.nanoTime();
    KReciprocal.ItemDistance exact = KReciprocal.ItemDistance.of(q, g, metric);
    int[] idx = new int[n * length];
    float[] dist = new float[n * length], largest = new float[n];
    int kq = Math.min(length, nq), kg = Math.min(length, ng);
    ProgressLine line = new ProgressLine(progress, 10, n, t0, "exact neighbour lists", "items", "items", 0);
    for (int from = 0; from < n; from += block) {
      int to = Math.min(n, from + block), base = from;
      float[] rows = new float[(to - from) * d];
      for (int i = from; i < to; i++)
        System.arraycopy(i < nq ? q.data() : g.data(), (i < nq ? i : i - nq) * d, rows, (i - from) * d, d);
      FloatMatrix items = new FloatMatrix(to - from, d, rows);
      TopKWithMax tq = kq > 0 ? kernels.pairwiseTopkWithMax(items, q, metric, kq) : null;
      TopKWithMax tg = kg > 0 ? kernels.pairwiseTopkWithMax(items, g, metric, kg) : null;
      IntStream.range(0, to - from).parallel().forEach(r -> {
        int i = base + r, at = i * length;
        merge(tq, tg, r, nq, length, idx, at);
        long[] keys = new long[length];
        float max = Math.max(tq == null ? Float.NEGATIVE_INFINITY : tq.rowMax()[r],
            tg == null ? Float.NEGATIVE_INFINITY : tg.rowMax()[r]);
        for (int p = 0; p < length; p++) {
          float v = exact.between(i, idx[at + p]);
          max = Math.max(max, v);
          // distances are >= 0, so their float bits order as the floats do
          keys[p] = ((long) Float.floatToIntBits(v) << 32) | idx[at + p];
        }
        Arrays.sort(keys);
        for (int p = 0; p < length; p++) {
          idx[at + p] = (int) keys[p];
          dist[at + p] = Float.intBitsToFloat((int) (keys[p] >>> 32));
        }
        largest[i] = max;
      });
      line.update(to);
    }
    return new Lists(n, length, idx, dist, largest, (System.nanoTime() - t0) / 1_000_000);
  }

  /** Row r's two top-k lists (queries: items 0..nq-1; gallery: nq..) merged by (distance, item) into idx[at ..]. */
  private static void merge(TopKWithMax tq, TopKWithMax tg, int r, int nq, int length, int[] idx, int at) {
    int a = 0, b = 0, ka = tq == null ? 0 : tq.nearest().k(), kb = tg == null ? 0 : tg.nearest().k();
    for (int p = 0; p < length; p++) {
      // equal distances: the query comes first (its item number is the smaller)
      boolean fromQ = b >= kb || a < ka && !(tg.nearest().value(r, b) < tq.nearest().value(r, a));
      idx[at + p] = fromQ ? tq.nearest().index(r, a++) : nq + tg.nearest().index(r, b++);
    }
  }

  /** Items per block for these kernels and N items (see the class comment). */
  static int blockItems(Kernels kernels, long n) {
    if (kernels.backend() == Backend.CPU) return FUSED_BLOCK;
    return (int) Math.max(1, Math.min(FUSED_BLOCK, BLOCK_VALUES / Math.max(1, n)));
  }
}
