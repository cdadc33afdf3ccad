package org.reid4j.eval.rerank;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/** {@link ListRecall} against a plain count over whole sorted rows, on fresh random inputs with ties. */
class ListRecallTest {
  /** The definition, plainly: sort each sampled item's whole row, take its k nearest others, count. */
  private static double[] reference(FloatMatrix q, FloatMatrix g, Metric metric, KReciprocal.Rows rows, int[] items) {
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, metric);
    int n = q.rows() + g.rows(), k = Math.min(rows.k1(), n - 1);
    long found = 0, eps = 0, wanted = 0;
    double min = 1;
    for (int i : items) {
      Integer[] order = new Integer[n];
      for (int j = 0; j < n; j++) order[j] = j;
      int self = i;
      Arrays.sort(order, (a, b) -> {
        int c = Float.compare(d.between(self, a), d.between(self, b));
        return c != 0 ? c : Integer.compare(a, b);
      });
      java.util.List<Integer> exact = new java.util.ArrayList<>();
      for (int j : order) if (j != i && exact.size() < k) exact.add(j);
      if (exact.isEmpty()) continue;
      float kth = d.between(i, exact.get(exact.size() - 1));
      int hits = 0, taken = 0;
      for (int c : rows.neighbours(i)) {
        if (c == i || taken == exact.size()) continue;
        taken++;
        float v = d.between(i, c);
        if (v <= kth + 0.01f * Math.abs(kth)) eps++;
        if (v <= kth + 1e-5f * Math.abs(kth) || exact.contains(c)) hits++;
      }
      found += hits;
      wanted += exact.size();
      min = Math.min(min, hits / (double) exact.size());
    }
    return new double[] {wanted == 0 ? 1 : found / (double) wanted, wanted == 0 ? 1 : eps / (double) wanted, min};
  }

  @Test
  void recallIsThePlainCountOverWholeRows() {
    long seed = System.nanoTime();
    Random r = new Random(seed);
    Kernels java = Kernels.create(Backend.JAVA);
    Kernels cpu = Kernels.unavailableReason(Backend.CPU) == null ? Kernels.create(Backend.CPU) : null;
    int[][] shapes = {{1, 1, 3}, {1, 2, 1}, {2, 0, 2}, {0, 3, 2}, {3, 5, 4}, {7, 33, 8}, {19, 140, 6}, {40, 200, 5}};
    boolean sawMiss = false;
    for (int[] s : shapes) {
      for (boolean ties : new boolean[] {false, true}) {
        FloatMatrix q = RerankRowsTest.random(r, s[0], s[2], ties), g = RerankRowsTest.random(r, s[1], s[2], ties);
        int n = s[0] + s[1];
        if (s[0] == 0 || s[1] == 0) continue; // rows() needs both sides: covered by badInputs
        Metric metric = ties ? Metric.SQEUCLIDEAN : Metric.values()[r.nextInt(3)];
        RerankParams p = new RerankParams(1 + r.nextInt(20), 1 + r.nextInt(4), 0.3f).clampedTo(n);
        Candidates c = Candidates.hnsw(2 + r.nextInt(4), 1 + r.nextInt(4));
        float[] max = new float[s[0]];
        KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, metric);
        for (int i = 0; i < s[0]; i++) {
          max[i] = Float.NEGATIVE_INFINITY;
          for (int j = 0; j < s[1]; j++) max[i] = Math.max(max[i], d.between(i, s[0] + j));
        }
        KReciprocal.Rows rows = KReciprocal.rows(q, g, metric, p, c, max, null);
        int[] items = ListRecall.sample(n, 1 + r.nextInt(n), r.nextLong());
        double[] want = reference(q, g, metric, rows, items);
        String what = "seed " + seed + " " + Arrays.toString(s) + " " + metric + " ties " + ties + " " + p + " " + c;
        ListRecall got = ListRecall.measure(java, q, g, metric, rows, items);
        assertEquals(items.length, got.sampled(), what);
        assertEquals(Math.min(p.k1(), n - 1), got.k(), what);
        assertEquals(want[0], got.recall(), 0, what);
        assertEquals(want[1], got.epsilonRecall(), 0, what);
        assertEquals(want[2], got.minRecall(), 0, what);
        if (cpu != null) // the native kernels round differently: ties at the k-th may count either way
          assertEquals(want[0], ListRecall.measure(cpu, q, g, metric, rows, items).recall(), 0.02, what);
        sawMiss |= got.recall() < 1;
      }
    }
    assertTrue(sawMiss, "narrow beams on these inputs should miss some neighbours (seed " + seed + ")");
  }

  @Test
  void exhaustiveListsHaveRecallOne() {
    Random r = new Random(System.nanoTime());
    FloatMatrix q = RerankRowsTest.random(r, 23, 7, false), g = RerankRowsTest.random(r, 151, 7, false);
    float[] max = new float[23];
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, Metric.EUCLIDEAN);
    for (int i = 0; i < 23; i++) for (int j = 0; j < 151; j++) max[i] = Math.max(max[i], d.between(i, 23 + j));
    KReciprocal.Rows rows = KReciprocal.rows(q, g, Metric.EUCLIDEAN, RerankParams.DEFAULT, Candidates.hnsw(4, 3, 500),
        max, null);
    ListRecall l = ListRecall.measure(Kernels.create(Backend.JAVA), q, g, Metric.EUCLIDEAN, rows,
        ListRecall.sample(174, 1000, 1));
    assertEquals(174, l.sampled());
    assertEquals(1.0, l.recall(), 0);
    assertEquals(1.0, l.epsilonRecall(), 0);
    assertEquals(1.0, l.minRecall(), 0);
    assertTrue(l.describe().startsWith("recall@20 1.0000 on 174 sampled items"), l.describe());
  }

  @Test
  void samplesAreDistinctSortedAndReproducible() {
    int[] a = ListRecall.sample(1000, 37, 5), b = ListRecall.sample(1000, 37, 5);
    assertArrayEquals(a, b);
    assertEquals(37, Arrays.stream(a).distinct().count());
    for (int i = 1; i < a.length; i++) assertTrue(a[i - 1] < a[i]);
    assertArrayEquals(new int[] {0, 1, 2}, ListRecall.sample(3, 10, 5));
    assertThrows(IllegalArgumentException.class, () -> ListRecall.sample(10, 0, 5));
  }

  @Test
  void badInputsAreRefused() {
    Random r = new Random(2);
    FloatMatrix q = RerankRowsTest.random(r, 3, 4, false), g = RerankRowsTest.random(r, 8, 4, false);
    float[] max = {9, 9, 9};
    KReciprocal.Rows rows = KReciprocal.rows(q, g, Metric.EUCLIDEAN, RerankParams.DEFAULT, Candidates.hnsw(4, 5), max,
        null);
    Kernels k = Kernels.create(Backend.JAVA);
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> ListRecall.measure(k, q, g, Metric.EUCLIDEAN, rows, new int[0])).getMessage().contains("no items"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> ListRecall.measure(k, q, g, Metric.EUCLIDEAN, rows, new int[] {11})).getMessage()
        .contains("item 11 outside [0, 11)"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> ListRecall.measure(k, q, RerankRowsTest.random(r, 7, 4, false), Metric.EUCLIDEAN, rows, new int[] {0})).getMessage()
        .contains("the lists are of 3 + 8 items, the features of 3 + 7"));
    assertThrows(IllegalArgumentException.class, () -> ListRecall.measure(k, q, g, null, rows, new int[] {0}));
    assertThrows(IllegalArgumentException.class, () -> rows.neighbours(11));
    assertThrows(IllegalArgumentException.class, () -> rows.distance(0, -1));
  }
}
