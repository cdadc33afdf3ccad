package org.reid4j.eval.rerank;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.stream.IntStream;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NeighbourBlocks;
import org.reid4j.kernels.TopKWithMax;
import org.reid4j.report.ProgressLine;

/**
 * Each item's exact nearest neighbours among the N = nq + ng items (queries first, then the
 * gallery), from the kernels' {@link Kernels#neighbourLists}: the N x N x d pass of exact re-ranking
 * without its N x N matrix, for N where that matrix does not fit (a million items of d 256: about half
 * an hour of two AVX-512 cores on the native CPU backend, which computes only the tiles on and above the
 * diagonal; hours for the same pass in plain Java).
 *
 * <p>The kernels' L entries are re-scored with {@link KReciprocal.ItemDistance} (the distance the
 * rest of re-ranking uses) and sorted by (distance, item) again, as HNSW candidates are; an item's
 * largest distance is the kernels' row maximum (raised, if need be, to its largest re-scored entry).
 * The kernels' distances can differ from the re-scored ones in the last bits, so an item whose L-th
 * and (L+1)-th nearest are that close may keep the other of the two; otherwise the lists are those
 * of the exact pass. Memory: the lists (N L ints and floats, twice while they are re-scored) besides
 * what the kernels hold (the native CPU pass: a copy of the features and its own lists).
 */
public final class ExactNeighbours {
  private ExactNeighbours() {}

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
    return of(q, g, metric, length, progress, line -> kernels.neighbourLists(q, g, metric, length, line));
  }

  /** As above through {@link NeighbourBlocks} with blocks of {@code block} items and chunks of {@code chunk} rows. */
  static Lists of(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric, int length, Consumer<String> progress,
      int block, int chunk) {
    if (kernels == null) throw new IllegalArgumentException("exact neighbours: kernels are null");
    return of(q, g, metric, length, progress,
        line -> NeighbourBlocks.lists(kernels, q, g, metric, length, line, block, chunk));
  }

  /** The lists of {@code pass}, which checks every argument (the kernels' checks), re-scored. */
  private static Lists of(FloatMatrix q, FloatMatrix g, Metric metric, int length, Consumer<String> progress,
      java.util.function.Function<LongConsumer, TopKWithMax> pass) {
    if (q == null || g == null) throw new IllegalArgumentException("exact neighbours: features are null");
    long t0 = System.nanoTime();
    ProgressLine line = new ProgressLine(progress, 10, (long) q.rows() + g.rows(), t0, "exact neighbour lists",
        "items", "items", 0);
    TopKWithMax raw = pass.apply(line::update);
    int n = raw.nearest().rows();
    KReciprocal.ItemDistance exact = KReciprocal.ItemDistance.of(q, g, metric);
    int[] idx = new int[n * length];
    float[] dist = new float[n * length], largest = new float[n];
    int[] at = raw.nearest().indices();
    float[] max = raw.rowMax();
    IntStream.range(0, n).parallel().forEach(i -> {
      int[] cand = Arrays.copyOfRange(at, i * length, (i + 1) * length);
      float[] cd = new float[length];
      float m = max[i];
      for (int p = 0; p < length; p++) m = Math.max(m, cd[p] = exact.between(i, cand[p]));
      HnswNeighbours.sortedPrefix(cand, cd, length, length, idx, dist, i * length);
      largest[i] = m;
    });
    return new Lists(n, length, idx, dist, largest, (System.nanoTime() - t0) / 1_000_000);
  }
}
