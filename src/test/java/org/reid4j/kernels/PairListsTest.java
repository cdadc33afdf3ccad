package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Kernels#pairLists} (the native CPU backend's one pass for both sides, two calls elsewhere)
 * against the plain way: each row of the backend's own {@link Kernels#pairwise}(a, b), and of
 * pairwise(b, a), sorted by (distance, row). Bit for bit: the pass offers each distance of the a x b
 * tile to b's lists too, which is right only because every backend's distances are symmetric to the
 * last bit; this test is what says so for b's side.
 */
class PairListsTest {
  private static List<Kernels> backends() {
    List<Kernels> l = new ArrayList<>();
    for (Backend b : Backend.values())
      if (b != Backend.AUTO && Kernels.unavailableReason(b) == null) l.add(Kernels.create(b));
    return l;
  }

  private static FloatMatrix random(Random r, int rows, int d, boolean ints) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = ints ? r.nextInt(3) - 1 : (float) r.nextGaussian();
    return new FloatMatrix(rows, d, a);
  }

  /** Each row of pairwise(x, y) sorted by (value, column), its first len, and its maximum. */
  static TopKWithMax sortedRows(Kernels k, FloatMatrix x, FloatMatrix y, Metric m, int len) {
    int n = x.rows(), c = y.rows();
    FloatMatrix d = k.pairwise(x, y, m);
    float[] v = new float[n * len], max = new float[n];
    int[] ix = new int[n * len];
    for (int i = 0; i < n; i++) {
      Integer[] order = new Integer[c];
      for (int j = 0; j < c; j++) order[j] = j;
      final int row = i;
      Arrays.sort(order, (p, q) -> {
        int cmp = Float.compare(d.get(row, p), d.get(row, q));
        return cmp != 0 ? cmp : Integer.compare(p, q);
      });
      max[i] = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < c; j++) max[i] = Math.max(max[i], d.get(i, j));
      for (int p = 0; p < len; p++) {
        ix[i * len + p] = order[p];
        v[i * len + p] = d.get(i, order[p]);
      }
    }
    return new TopKWithMax(new TopK(n, len, v, ix), max);
  }

  private static void assertSame(TopKWithMax want, TopKWithMax got, String what) {
    assertEquals(want.nearest().rows(), got.nearest().rows(), what + " rows");
    assertEquals(want.nearest().k(), got.nearest().k(), what + " list length");
    assertArrayEquals(want.nearest().indices(), got.nearest().indices(), what + " indices");
    assertArrayEquals(want.nearest().values(), got.nearest().values(), 0f, what + " values");
    assertArrayEquals(want.rowMax(), got.rowMax(), 0f, what + " maxima");
  }

  @Test
  void bothSidesAreThoseOfThePlainPasses() {
    long seed = System.nanoTime();
    Random r = new Random(seed);
    // empty and one-row sides; tiles of 64 to 512 rows with partial last tiles on both sides
    int[][] shapes = {{0, 0, 3}, {1, 0, 3}, {0, 2, 2}, {1, 1, 1}, {7, 3, 4}, {3, 17, 6}, {70, 130, 9}, {129, 67, 17},
        {600, 333, 7}, {1030, 21, 5}};
    for (Kernels k : backends()) {
      for (int[] s : shapes) {
        // CUDA runs the default (two one-sided calls); the emulator is slow, the small shapes are enough there
        if (k.backend() == Backend.CUDA && s[0] * s[1] > 20_000) continue;
        for (Metric m : Metric.values()) {
          boolean ints = m != Metric.COSINE && r.nextBoolean(); // many exact ties
          FloatMatrix a = random(r, s[0], s[2], ints), b = random(r, s[1], s[2], ints);
          if (s[0] > 1 && s[1] > 2 && r.nextInt(3) == 0) { // rows repeated across the two sides
            System.arraycopy(b.data(), 0, a.data(), 0, s[2]);
            System.arraycopy(a.data(), s[2], b.data(), 2 * s[2], s[2]);
          }
          for (int len : new int[] {1, 5, 21, Math.max(1, Math.max(s[0], s[1]) + 2)}) {
            String what = "seed " + seed + " " + k.describe() + " " + Arrays.toString(s) + " " + m + " ints " + ints
                + " k " + len;
            PairLists got = k.pairLists(a, b, m, len);
            assertSame(sortedRows(k, a, b, m, Math.min(len, s[1])), got.aToB(), what + " a against b");
            assertSame(sortedRows(k, b, a, m, Math.min(len, s[0])), got.bToA(), what + " b against a");
            // and the fused one-sided calls agree
            assertSame(k.pairwiseTopkWithMax(a, b, m, Math.min(len, s[1])), got.aToB(), what + " fused a");
            assertSame(k.pairwiseTopkWithMax(b, a, m, Math.min(len, s[0])), got.bToA(), what + " fused b");
          }
        }
      }
    }
  }

  @Test
  void badInputsAreRefusedOnEveryBackend() {
    FloatMatrix a = new FloatMatrix(2, 3, new float[6]), b = new FloatMatrix(3, 3, new float[9]);
    FloatMatrix bad = new FloatMatrix(3, 3, new float[] {0, 0, 0, 0, Float.POSITIVE_INFINITY, 0, 0, 0, 0});
    for (Kernels k : backends()) {
      String what = k.describe();
      assertTrue(assertThrows(IllegalArgumentException.class, () -> k.pairLists(a, b, Metric.EUCLIDEAN, 0))
          .getMessage().contains("k must be at least 1, got 0"), what);
      assertThrows(IllegalArgumentException.class, () -> k.pairLists(a, b, null, 2), what);
      assertTrue(assertThrows(IllegalArgumentException.class,
          () -> k.pairLists(a, new FloatMatrix(3, 2, new float[6]), Metric.EUCLIDEAN, 2)).getMessage()
          .contains("dimension mismatch"), what);
      assertTrue(assertThrows(IllegalArgumentException.class, () -> k.pairLists(a, bad, Metric.EUCLIDEAN, 2))
          .getMessage().contains("non-finite"), what);
      assertThrows(IllegalArgumentException.class, () -> k.pairLists(null, b, Metric.EUCLIDEAN, 2), what);
    }
  }
}
