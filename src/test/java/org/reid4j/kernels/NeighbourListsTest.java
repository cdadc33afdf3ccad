package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Kernels#neighbourLists} (the native CPU backend's symmetric pass, the blocks of
 * {@link NeighbourBlocks} elsewhere) against the plain way: each item's row of the backend's own
 * {@link Kernels#pairwise} of all N items, sorted by (distance, item). Bit for bit: every backend's
 * list pass gives the distances its pairwise gives.
 */
class NeighbourListsTest {
  private static List<Kernels> hostBackends() {
    List<Kernels> l = new ArrayList<>();
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU})
      if (Kernels.unavailableReason(b) == null) l.add(Kernels.create(b));
    return l;
  }

  private static FloatMatrix random(Random r, int rows, int d, boolean ints) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = ints ? r.nextInt(3) - 1 : (float) r.nextGaussian();
    return new FloatMatrix(rows, d, a);
  }

  /** The plain lists: every row of pairwise(all, all) sorted by (value, column), and its maximum. */
  private static TopKWithMax plain(Kernels k, FloatMatrix q, FloatMatrix g, Metric m, int len) {
    FloatMatrix all = NeighbourBlocks.rows(q, g, 0, q.rows() + g.rows());
    return PairListsTest.sortedRows(k, all, all, m, len);
  }

  @Test
  void listsAreThoseOfThePlainPass() {
    long seed = System.nanoTime();
    Random r = new Random(seed);
    // several bands of the native pass (tiles of 64 to 512 rows), band ends inside the queries and at nq
    int[][] shapes = {{1, 0, 3}, {0, 1, 2}, {1, 1, 1}, {0, 7, 4}, {9, 0, 5}, {3, 17, 6}, {70, 130, 9}, {129, 67, 17},
        {600, 333, 7}};
    for (Kernels k : hostBackends()) {
      for (int[] s : shapes) {
        for (Metric m : Metric.values()) {
          boolean ints = m != Metric.COSINE && r.nextBoolean(); // many exact ties
          FloatMatrix q = random(r, s[0], s[2], ints), g = random(r, s[1], s[2], ints);
          if (r.nextInt(4) == 0 && s[0] > 1 && s[1] > 2) { // repeated rows across the two sides
            System.arraycopy(g.data(), 0, q.data(), 0, s[2]);
            System.arraycopy(q.data(), s[2], g.data(), 2 * s[2], s[2]);
          }
          int n = s[0] + s[1];
          for (int len : new int[] {1, Math.min(n, 21), n}) {
            String what = "seed " + seed + " " + k.describe() + " " + Arrays.toString(s) + " " + m + " ints " + ints
                + " k " + len;
            TopKWithMax want = plain(k, q, g, m, len);
            List<Long> told = new ArrayList<>();
            TopKWithMax got = k.neighbourLists(q, g, m, len, told::add);
            assertEquals(n, got.nearest().rows(), what);
            assertArrayEquals(want.nearest().indices(), got.nearest().indices(), what);
            assertArrayEquals(want.nearest().values(), got.nearest().values(), 0f, what);
            assertArrayEquals(want.rowMax(), got.rowMax(), 0f, what);
            assertFalse(told.isEmpty(), what);
            assertEquals(n, told.get(told.size() - 1), what + " last progress " + told);
            for (int i = 1; i < told.size(); i++) assertTrue(told.get(i) >= told.get(i - 1), what + " " + told);
            assertTrue(told.get(0) >= 0, what);
            // and the blocks of any backend give the same lists
            TopKWithMax blocks = NeighbourBlocks.lists(k, q, g, m, len, null, 1 + r.nextInt(n + 3), 1 + r.nextInt(n + 3));
            assertArrayEquals(got.nearest().indices(), blocks.nearest().indices(), what + " blocks");
            assertArrayEquals(got.rowMax(), blocks.rowMax(), 0f, what + " blocks");
          }
        }
      }
    }
  }

  @Test
  void badInputsAreRefusedOnEveryBackend() {
    FloatMatrix q = new FloatMatrix(2, 3, new float[6]), g = new FloatMatrix(3, 3, new float[9]);
    FloatMatrix empty = new FloatMatrix(0, 3, new float[0]);
    FloatMatrix bad = new FloatMatrix(3, 3, new float[] {0, 0, 0, 0, Float.NaN, 0, 0, 0, 0});
    for (Kernels k : hostBackends()) {
      String what = k.describe();
      assertTrue(assertThrows(IllegalArgumentException.class, () -> k.neighbourLists(q, g, Metric.EUCLIDEAN, 6, null))
          .getMessage().contains("list length must be in [1, 5], got 6"), what);
      assertThrows(IllegalArgumentException.class, () -> k.neighbourLists(q, g, Metric.EUCLIDEAN, 0, null), what);
      assertTrue(assertThrows(IllegalArgumentException.class,
          () -> k.neighbourLists(empty, empty, Metric.EUCLIDEAN, 1, null)).getMessage().contains("no items"), what);
      assertThrows(IllegalArgumentException.class, () -> k.neighbourLists(q, g, null, 2, null), what);
      assertThrows(IllegalArgumentException.class,
          () -> k.neighbourLists(q, new FloatMatrix(3, 2, new float[6]), Metric.EUCLIDEAN, 2, null), what);
      assertTrue(assertThrows(IllegalArgumentException.class, () -> k.neighbourLists(q, bad, Metric.EUCLIDEAN, 2, null))
          .getMessage().contains("non-finite"), what);
    }
    Kernels j = Kernels.create(Backend.JAVA);
    assertThrows(IllegalArgumentException.class, () -> NeighbourBlocks.lists(j, q, g, Metric.EUCLIDEAN, 2, null, 0, 4));
    assertThrows(IllegalArgumentException.class, () -> NeighbourBlocks.lists(j, q, g, Metric.EUCLIDEAN, 2, null, 4, 0));
    assertThrows(IllegalArgumentException.class, () -> NeighbourBlocks.lists(null, q, g, Metric.EUCLIDEAN, 2, null, 4, 4));
  }
}
