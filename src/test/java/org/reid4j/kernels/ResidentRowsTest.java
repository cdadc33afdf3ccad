package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Kernels#residentRows} on the native CPU backend (rows packed in native memory) against the
 * same backend's {@link Kernels#pairwiseTopk} over the same rows, bit for bit: shapes across the
 * kernels' tile widths, ties, k from 0 to every row, searches of ranges starting at a packed panel, rows appended
 * in pieces from the heap and from direct buffers; and its refusals.
 */
class ResidentRowsTest {
  Kernels cpu;

  @BeforeEach
  void requireCpu() {
    String why = Kernels.unavailableReason(Backend.CPU);
    Assumptions.assumeTrue(why == null, () -> "CPU backend unavailable: " + why);
    cpu = Kernels.create(Backend.CPU);
  }

  @Test
  void searchesEqualTheCopyingPathBitForBit() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int[][] shapes = {{1, 1, 1}, {3, 5, 2}, {7, 33, 17}, {40, 300, 64}, {2, 1500, 9}, {64, 2049, 33}};
    for (Metric m : Metric.values())
      for (int[] sh : shapes) {
        int nq = sh[0], n = sh[1], d = sh[2];
        String where = m + " " + nq + "x" + n + "x" + d + " seed " + seed;
        FloatMatrix g = r.nextBoolean() ? DeviceRowsTest.gaussian(r, n, d) : DeviceRowsTest.integers(r, n, d);
        if (m == Metric.COSINE) g = nonZeroRows(g);
        FloatMatrix q = DeviceRowsTest.gaussian(r, nq, d);
        int capacity = n + r.nextInt(3);
        try (ResidentRows rows = cpu.residentRows(d, m, capacity).orElseThrow()) {
          for (int r0 = 0; r0 < n; ) { // appended in pieces, alternately from the heap and from a direct buffer
            int len = Math.min(n - r0, 1 + r.nextInt(Math.max(1, n / 3)));
            FloatMatrix piece = g.rowRange(r0, r0 + len);
            if (r.nextBoolean()) rows.append(piece);
            else rows.append(DeviceRowsTest.direct(piece, 3), len);
            r0 += len;
          }
          assertEquals(n, rows.rows(), where);
          int align = rows.rowAlignment(), lastStart = (n - 1) / align * align;
          for (int row0 : new int[] {0, align, lastStart})
            for (int nrows : new int[] {n - row0, Math.max(0, (n - row0) / 2)}) {
              if (row0 >= n || nrows < 1) continue;
              for (int k : new int[] {0, 1, Math.min(nrows, 10), nrows}) {
                TopK want = cpu.pairwiseTopk(q, g.rowRange(row0, row0 + nrows), m, k);
                TopK got = rows.topk(q, row0, nrows, k);
                String at = where + " rows [" + row0 + ", +" + nrows + ") k " + k;
                assertArrayEquals(want.indices(), got.indices(), at + ": indices");
                assertArrayEquals(want.values(), got.values(), at + ": values");
              }
            }
        }
      }
  }

  @Test
  void searchesRunConcurrentlyAndStillAgree() throws Exception {
    Random r = new Random(17);
    int n = 700, d = 24;
    FloatMatrix g = DeviceRowsTest.gaussian(r, n, d);
    try (ResidentRows rows = cpu.residentRows(d, Metric.SQEUCLIDEAN, n).orElseThrow()) {
      rows.append(g);
      DeviceRowsTest.searchFromThreads(rows, cpu, g, n, 4, 25, 9, 12, r.nextLong(), () -> {}, 60);
    }
  }

  @Test
  void refusesWhatItCannotHoldOrSearch() {
    Random r = new Random(3);
    FloatMatrix g = DeviceRowsTest.gaussian(r, 10, 4), q = DeviceRowsTest.gaussian(r, 2, 4);
    ResidentRows rows = cpu.residentRows(4, Metric.SQEUCLIDEAN, 10).orElseThrow();
    rows.append(g.rowRange(0, 8));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rows.append(g.rowRange(0, 3)));
    assertTrue(e.getMessage().contains("capacity of 10"), e.getMessage());
    assertEquals(8, rows.rows(), "nothing added by a refused append");
    e = assertThrows(IllegalArgumentException.class, () -> rows.topk(q, 1, 5, 2));
    assertTrue(e.getMessage().contains("multiple of 32"), e.getMessage());
    assertEquals(32, rows.rowAlignment());
    assertThrows(IllegalArgumentException.class, () -> rows.topk(q, 0, 9, 2), "past the rows held");
    assertThrows(IllegalArgumentException.class, () -> rows.topk(q, 0, 8, 9), "k past the rows");
    assertThrows(IllegalArgumentException.class, () -> rows.topk(DeviceRowsTest.gaussian(r, 1, 5), 0, 8, 1));
    assertThrows(IllegalArgumentException.class, () -> cpu.residentRows(4, Metric.SQEUCLIDEAN, -1));
    rows.close();
    rows.close();
    assertTrue(rows.isClosed());
    assertTrue(rows.topkIfOpen(q, 0, 0, 0).isEmpty());
    assertThrows(IllegalStateException.class, () -> rows.topk(q, 0, 0, 0));
    assertTrue(new JavaKernels().residentRows(4, Metric.SQEUCLIDEAN, 10).isEmpty(), "the Java backend keeps none");
  }

  static FloatMatrix nonZeroRows(FloatMatrix g) {
    float[] d = g.data().clone();
    for (int i = 0; i < g.rows(); i++) d[i * g.cols()] += 7f; // no all-zero row (cosine refuses those)
    return new FloatMatrix(g.rows(), g.cols(), d);
  }
}
