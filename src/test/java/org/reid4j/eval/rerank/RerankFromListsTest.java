package org.reid4j.eval.rerank;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * Re-ranking from neighbour lists made outside the re-ranker (a distributed kNN graph): with each item's
 * exact lists, ordered by a plain sort here, and its exact row maximum, the result is the exact pass's,
 * bit for bit, on fresh random inputs with ties; bad lists are refused with a message that names the item.
 */
class RerankFromListsTest {
  private static FloatMatrix randomRows(Random r, int rows, int d, boolean ties) {
    float[] a = new float[rows * d];
    for (int i = 0; i < rows; i++) {
      if (ties && i > 0 && r.nextInt(3) == 0) System.arraycopy(a, r.nextInt(i) * d, a, i * d, d);
      else for (int k = 0; k < d; k++) a[i * d + k] = ties ? r.nextInt(3) - 1 : (float) r.nextGaussian();
    }
    return new FloatMatrix(rows, d, a);
  }

  /** Lists of length len and maxima of all n items, by sorting each item's whole distance row. */
  record Lists(int[] idx, float[] dist, float[] max) {}

  static Lists exactLists(KReciprocal.ItemDistance d, int n, int len) {
    int[] idx = new int[n * len];
    float[] dist = new float[n * len], max = new float[n];
    for (int i = 0; i < n; i++) {
      int row = i;
      float[] di = new float[n];
      for (int j = 0; j < n; j++) di[j] = d.between(row, j);
      Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
      Arrays.sort(order, Comparator.<Integer>comparingDouble(j -> di[j]).thenComparingInt(j -> j));
      float m = Float.NEGATIVE_INFINITY;
      for (float v : di) m = Math.max(m, v);
      max[i] = m;
      for (int p = 0; p < len; p++) {
        idx[i * len + p] = order[p];
        dist[i * len + p] = di[order[p]];
      }
    }
    return new Lists(idx, dist, max);
  }

  @Test
  void exactListsGiveTheExactPassBitForBit() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{1, 1, 1}, {1, 2, 3}, {3, 5, 4}, {7, 33, 8}, {2, 61, 5}, {19, 40, 16}};
    RerankParams[] params = {RerankParams.DEFAULT, new RerankParams(5, 2, 0.3f), new RerankParams(3, 1, 0f),
        new RerankParams(1, 7, 1f)};
    for (int[] s : shapes) {
      for (Metric metric : Metric.values()) {
        for (boolean ties : new boolean[] {false, true}) {
          if (ties && metric == Metric.COSINE) continue; // zero rows
          FloatMatrix q = randomRows(r, s[0], s[2], ties), g = randomRows(r, s[1], s[2], ties);
          RerankParams p = params[r.nextInt(params.length)];
          int n = s[0] + s[1], len = KReciprocal.listLength(p, n);
          Lists l = exactLists(KReciprocal.ItemDistance.of(q, g, metric), n, len);
          String what = Arrays.toString(s) + " " + metric + " ties " + ties + " " + p;
          FloatMatrix exact = KReciprocal.rerank(q, g, metric, p);
          assertArrayEquals(exact.data(),
              KReciprocal.rerankFromLists(q, g, metric, p, len, l.idx(), l.dist(), l.max(), null).data(), 0f, what);
          FloatMatrix raw = new FloatMatrix(s[0], s[1], new float[s[0] * s[1]]);
          KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, metric);
          for (int i = 0; i < s[0]; i++) for (int j = 0; j < s[1]; j++) raw.data()[i * s[1] + j] = d.between(i, s[0] + j);
          float[] rawBefore = raw.data().clone();
          assertArrayEquals(exact.data(),
              KReciprocal.rerankFromLists(q, g, metric, p, len, l.idx(), l.dist(), l.max(), raw).data(), 0f,
              what + " with raw distances");
          assertArrayEquals(rawBefore, raw.data(), 0f, "raw distances are not changed");
        }
      }
    }
  }

  @Test
  void emptySidesGiveAnEmptyResult() {
    Random r = new Random(System.nanoTime());
    FloatMatrix q = randomRows(r, 0, 4, false), g = randomRows(r, 3, 4, false);
    RerankParams p = new RerankParams(2, 1, 0.3f);
    int len = KReciprocal.listLength(p, 3);
    Lists l = exactLists(KReciprocal.ItemDistance.of(q, g, Metric.EUCLIDEAN), 3, len);
    FloatMatrix out = KReciprocal.rerankFromLists(q, g, Metric.EUCLIDEAN, p, len, l.idx(), l.dist(), l.max(), null);
    assertEquals(0, out.rows());
    assertEquals(3, out.cols());
  }

  @Test
  void badListsAreRefusedNamingTheItem() {
    Random r = new Random(System.nanoTime());
    FloatMatrix q = randomRows(r, 3, 4, false), g = randomRows(r, 9, 4, false);
    RerankParams p = new RerankParams(4, 2, 0.3f);
    int n = 12, len = KReciprocal.listLength(p, n);
    Lists l = exactLists(KReciprocal.ItemDistance.of(q, g, Metric.EUCLIDEAN), n, len);
    assertTrue(bad(q, g, p, len + 1, l.idx(), l.dist(), l.max()).contains("expected " + len));
    assertTrue(bad(q, g, p, len, Arrays.copyOf(l.idx(), 5), l.dist(), l.max()).contains("expected " + n * len));
    int[] outside = l.idx().clone();
    outside[4 * len + 2] = n;
    assertTrue(bad(q, g, p, len, outside, l.dist(), l.max()).contains("item 4's neighbour 2 is 12, outside [0, 12)"));
    float[] unordered = l.dist().clone();
    unordered[7 * len + 1] = unordered[7 * len + 2] + 1f;
    assertTrue(bad(q, g, p, len, l.idx(), unordered, l.max()).contains("item 7's neighbours are not in ascending"));
    float[] nan = l.dist().clone();
    nan[5 * len] = Float.NaN;
    assertTrue(bad(q, g, p, len, l.idx(), nan, l.max()).contains("item 5's neighbour 0 has a non-finite"));
    float[] inf = l.max().clone();
    inf[11] = Float.POSITIVE_INFINITY;
    assertTrue(bad(q, g, p, len, l.idx(), l.dist(), inf).contains("item 11 has a non-finite largest"));
    FloatMatrix wrongRaw = new FloatMatrix(3, 8, new float[24]);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> KReciprocal.rerankFromLists(q, g, Metric.EUCLIDEAN, p, len, l.idx(), l.dist(), l.max(), wrongRaw));
    assertTrue(e.getMessage().contains("3 x 8, expected 3 x 9"), e.getMessage());
  }

  private static String bad(FloatMatrix q, FloatMatrix g, RerankParams p, int len, int[] idx, float[] dist, float[] max) {
    return assertThrows(IllegalArgumentException.class,
        () -> KReciprocal.rerankFromLists(q, g, Metric.EUCLIDEAN, p, len, idx, dist, max, null)).getMessage();
  }
}
