package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ResidentRows} against {@link JavaKernels#pairwiseTopk} (float tolerance, exact on integer
 * data) and against the CUDA backend's copying {@link Kernels#pairwiseTopk} (bit for bit). Skipped
 * without a usable CUDA backend; in the surefire execution {@code cuda-emulator} (the CUDA library
 * emulated on the CPU, see CudaKernelsTest) it must not skip. The emulator runs concurrent host
 * threads' calls one at a time, each whole, so concurrent searches and appends can be tested there too.
 */
class DeviceRowsTest {
  static final long SEED = 20250301L;
  final Kernels java = new JavaKernels();
  Kernels cuda;

  @BeforeEach
  void requireCuda() {
    String why = Kernels.unavailableReason(Backend.CUDA);
    if (CudaKernelsTest.EMULATED) assertNull(why, "the CUDA emulator library was preloaded but CUDA is unavailable");
    Assumptions.assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
    cuda = Kernels.create(Backend.CUDA);
  }

  static FloatMatrix gaussian(Random r, int rows, int cols) {
    float[] d = new float[rows * cols];
    for (int i = 0; i < d.length; i++) d[i] = (float) r.nextGaussian();
    return new FloatMatrix(rows, cols, d);
  }

  static FloatMatrix integers(Random r, int rows, int cols) {
    float[] d = new float[rows * cols];
    for (int i = 0; i < d.length; i++) d[i] = r.nextInt(5) - 2;
    return new FloatMatrix(rows, cols, d);
  }

  /** A direct little-endian buffer holding m's rows from position `pad` (a mapped segment's layout). */
  static FloatBuffer direct(FloatMatrix m, int pad) {
    FloatBuffer b = ByteBuffer.allocateDirect((m.data().length + pad) * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    b.position(pad);
    b.put(m.data());
    b.position(pad);
    return b;
  }

  ResidentRows rows(int d, Metric m) {
    return cuda.deviceRows(d, m).orElseThrow();
  }

  /** got against the plain-Java answer on g's rows [row0, row0 + nrows), and bit for bit against CUDA's copying path. */
  void assertMatches(TopK got, FloatMatrix q, FloatMatrix g, int row0, int nrows, Metric m, int k, boolean exact,
      String ctx) {
    FloatMatrix range = g.rowRange(row0, row0 + nrows);
    TopK copy = cuda.pairwiseTopk(q, range, m, k);
    assertArrayEquals(copy.indices(), got.indices(), ctx + ": indices differ from the copying CUDA path");
    assertArrayEquals(copy.values(), got.values(), ctx + ": values differ from the copying CUDA path");
    TopK ref = java.pairwiseTopk(q, range, m, k);
    FloatMatrix full = java.pairwise(q, range, m);
    assertEquals(q.rows(), got.rows(), ctx);
    assertEquals(k, got.k(), ctx);
    for (int i = 0; i < q.rows(); i++) {
      Set<Integer> seen = new HashSet<>();
      for (int j = 0; j < k; j++) {
        String at = ctx + " at (" + i + ", " + j + ")";
        int idx = got.index(i, j);
        float v = got.value(i, j), rv = ref.value(i, j);
        assertTrue(idx >= 0 && idx < nrows && seen.add(idx), at + ": bad or repeated index " + idx);
        if (exact) {
          assertEquals(ref.index(i, j), idx, at);
          assertEquals(rv, v, at);
          continue;
        }
        double tol = 1e-4 * Math.max(1, Math.abs(rv)) + 1e-3;
        assertEquals(rv, v, tol, at + ": value");
        if (idx != ref.index(i, j)) assertEquals(rv, full.get(i, idx), 2 * tol, at + ": index " + idx + " is no near tie");
      }
    }
  }

  @Test
  void matchesPlainJavaAndTheCopyingPathAcrossAppendsAndRanges() {
    Random r = new Random(SEED);
    for (Metric m : Metric.values()) {
      for (int[] shape : new int[][] {{1, 1, 3}, {5, 300, 13}, {17, 700, 32}}) {
        int nq = shape[0], ng = shape[1], d = shape[2];
        FloatMatrix q = gaussian(r, nq, d), g = gaussian(r, ng, d);
        for (int j = 2; j < ng; j += 7) System.arraycopy(g.data(), (j - 2) * d, g.data(), j * d, d); // ties
        try (ResidentRows dev = rows(d, m)) {
          assertEquals(0, dev.rows());
          // Batches of different sizes, heap and direct (one with a position), growing the capacity.
          int at = 0, b = 1;
          while (at < ng) {
            int n = Math.min(b, ng - at);
            FloatMatrix part = g.rowRange(at, at + n);
            if (b % 2 == 1) dev.append(part);
            else dev.append(direct(part, 3), n);
            at += n;
            b = b * 3 + 1;
            assertEquals(at, dev.rows());
          }
          String ctx = "seed " + SEED + " " + m + " " + nq + "x" + ng + "x" + d;
          int[][] ranges = {{0, ng, Math.min(10, ng)}, {0, ng, ng}, {ng / 3, ng - ng / 3, 1}, {ng - 1, 1, 1},
              {ng / 2, ng / 4, ng / 4}, {0, ng, 0}, {ng, 0, 0}};
          for (int[] rg : ranges) {
            TopK got = dev.topk(q, rg[0], rg[1], rg[2]);
            assertMatches(got, q, g, rg[0], rg[1], m, rg[2], false, ctx + " [" + rg[0] + ", +" + rg[1] + ") k=" + rg[2]);
          }
          TopK one = dev.topk(q.rowRange(0, 1), 0, ng, 1); // nq = 1
          assertMatches(one, q.rowRange(0, 1), g, 0, ng, m, 1, false, ctx + " nq=1");
          TopK none = dev.topk(FloatMatrix.zeros(0, d), 0, ng, 1);
          assertEquals(0, none.rows());
        }
      }
    }
  }

  /** Small integers make squared and plain Euclidean distances exact: ties go by index, exactly as plain Java. */
  @Test
  void exactTiesOnIntegersGoByIndex() {
    Random r = new Random(SEED + 1);
    int d = 6, ng = 400;
    FloatMatrix q = integers(r, 9, d), g = integers(r, ng, d);
    for (Metric m : new Metric[] {Metric.SQEUCLIDEAN, Metric.EUCLIDEAN}) {
      try (ResidentRows dev = rows(d, m)) {
        dev.append(g.rowRange(0, 150));
        dev.append(g.rowRange(150, ng));
        for (int[] rg : new int[][] {{0, ng, 50}, {37, 300, 300}, {200, 200, 17}})
          assertMatches(dev.topk(q, rg[0], rg[1], rg[2]), q, g, rg[0], rg[1], m, rg[2], true,
              m + " integers [" + rg[0] + ", +" + rg[1] + ") k=" + rg[2]);
      }
    }
  }

  @Test
  void searchesFromSeveralThreadsWhileRowsAreAppended() throws Exception {
    Random r = new Random(SEED + 7);
    int n0 = 300, added = 200, d = 19;
    FloatMatrix g = gaussian(r, n0 + added, d);
    try (ResidentRows rows = cuda.deviceRows(d, Metric.SQEUCLIDEAN).orElseThrow()) {
      rows.append(g.rowRange(0, n0));
      searchFromThreads(rows, cuda, g, n0, 4, 12, 6, 9, r.nextLong(),
          () -> { for (int a = n0; a < n0 + added; a += 40) rows.append(g.rowRange(a, a + 40)); }, 120);
      assertEquals(n0 + added, rows.rows());
      TopK all = rows.topk(g.rowRange(0, 3), 0, n0 + added, 5);
      TopK want = cuda.pairwiseTopk(g.rowRange(0, 3), g, Metric.SQEUCLIDEAN, 5);
      assertArrayEquals(want.indices(), all.indices(), "after the appends");
    }
  }

  /**
   * Searches rows from {@code threads} threads at once, {@code rounds} each, of random queries (1 to
   * maxQueries rows), ranges within the first {@code searchable} rows starting at a multiple of
   * {@link ResidentRows#rowAlignment()}, and k up to maxK, while this thread runs {@code meanwhile};
   * fails unless every answer equals reference's {@link Kernels#pairwiseTopk} over rows of g, bit for bit,
   * within timeoutSeconds for each thread.
   */
  static void searchFromThreads(ResidentRows rows, Kernels reference, FloatMatrix g, int searchable, int threads,
      int rounds, int maxQueries, int maxK, long seed, Runnable meanwhile, int timeoutSeconds) throws Exception {
    int d = g.cols(), align = rows.rowAlignment();
    Random r = new Random(seed);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<String>> fs = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        long ts = r.nextLong();
        fs.add(pool.submit(() -> {
          Random rt = new Random(ts);
          for (int i = 0; i < rounds; i++) {
            FloatMatrix q = gaussian(rt, 1 + rt.nextInt(maxQueries), d);
            int row0 = align * rt.nextInt((searchable - 1) / align + 1), nrows = 1 + rt.nextInt(searchable - row0);
            int k = rt.nextInt(Math.min(nrows, maxK) + 1);
            TopK got = rows.topk(q, row0, nrows, k);
            TopK want = reference.pairwiseTopk(q, g.rowRange(row0, row0 + nrows), rows.metric(), k);
            if (!Arrays.equals(got.indices(), want.indices()) || !Arrays.equals(got.values(), want.values()))
              return "rows [" + row0 + ", +" + nrows + ") k " + k + " differ from " + reference.backend();
          }
          return null;
        }));
      }
      meanwhile.run();
      for (var f : fs) assertNull(f.get(timeoutSeconds, TimeUnit.SECONDS));
    } finally {
      pool.shutdownNow();
    }
  }

  static void assertThrowsMentioning(Class<? extends RuntimeException> type, Runnable call, String... fragments) {
    RuntimeException e = assertThrows(type, call::run);
    for (String f : fragments)
      assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention '" + f + "'");
  }

  @Test
  void badSizesAreRejectedWithAMessageAndChangeNothing() {
    Random r = new Random(SEED + 2);
    Class<IllegalArgumentException> iae = IllegalArgumentException.class;
    assertThrowsMentioning(iae, () -> cuda.deviceRows(0, Metric.COSINE), "dimension");
    assertThrowsMentioning(iae, () -> cuda.deviceRows(4, null), "metric");
    try (ResidentRows dev = rows(4, Metric.COSINE)) {
      FloatMatrix g = gaussian(r, 10, 4), q = gaussian(r, 2, 4);
      dev.append(g);
      assertThrowsMentioning(iae, () -> dev.append(gaussian(r, 2, 5)), "5 columns", "4");
      assertThrowsMentioning(iae, () -> dev.append((FloatMatrix) null), "null");
      FloatMatrix nan = gaussian(r, 3, 4);
      nan.set(2, 1, Float.NaN);
      assertThrowsMentioning(iae, () -> dev.append(nan), "non-finite", "row 2, column 1");
      assertThrowsMentioning(iae, () -> dev.append(FloatBuffer.wrap(new float[8]), 2), "direct");
      assertThrowsMentioning(iae, () -> dev.append(direct(g, 0), 11), "[11, 4]", "44 floats");
      assertThrowsMentioning(iae, () -> dev.append(direct(g, 0), -1), "negative");
      assertThrowsMentioning(iae, () -> dev.append(null, 1), "null");
      assertEquals(10, dev.rows(), "a rejected append adds nothing");
      assertThrowsMentioning(iae, () -> dev.topk(gaussian(r, 2, 3), 0, 10, 1), "3 columns");
      assertThrowsMentioning(iae, () -> dev.topk(q, 5, 6, 1), "[5, 5 + 6)", "10 rows held");
      assertThrowsMentioning(iae, () -> dev.topk(q, -1, 2, 1), "at least 0");
      assertThrowsMentioning(iae, () -> dev.topk(q, 0, -2, 0), "at least 0");
      assertThrowsMentioning(iae, () -> dev.topk(q, 0, 10, 11), "k must be in [0, 10]");
      assertThrowsMentioning(iae, () -> dev.topk(q, 2, 3, -1), "k must be in [0, 3]");
      assertThrowsMentioning(iae, () -> dev.topk(null, 0, 1, 1), "null");
      FloatMatrix qi = gaussian(r, 2, 4);
      qi.set(1, 3, Float.POSITIVE_INFINITY);
      assertThrowsMentioning(iae, () -> dev.topk(qi, 0, 10, 1), "non-finite", "row 1, column 3");
      assertMatches(dev.topk(q, 0, 10, 4), q, g, 0, 10, Metric.COSINE, 4, false, "after rejected calls");
    }
  }

  @Test
  void closeFreesOnceAndLaterCallsSayClosed() {
    Random r = new Random(SEED + 3);
    ResidentRows dev = rows(3, Metric.EUCLIDEAN);
    dev.append(gaussian(r, 5, 3));
    assertFalse(dev.isClosed());
    dev.close();
    dev.close(); // harmless
    assertTrue(dev.isClosed());
    assertEquals(0, dev.rows());
    FloatMatrix q = gaussian(r, 1, 3);
    assertTrue(dev.topkIfOpen(q, 0, 0, 0).isEmpty());
    assertThrowsMentioning(IllegalStateException.class, () -> dev.topk(q, 0, 0, 0), "closed");
    assertThrowsMentioning(IllegalStateException.class, () -> dev.append(gaussian(r, 1, 3)), "closed");
    assertThrowsMentioning(IllegalStateException.class, () -> dev.append(direct(gaussian(r, 1, 3), 0), 1), "closed");
    ResidentRows empty = rows(3, Metric.EUCLIDEAN); // never appended to: nothing on the device to free
    empty.close();
    empty.close();
  }

  @Test
  void onlyTheCudaBackendHasDeviceRows() {
    assertTrue(java.deviceRows(8, Metric.COSINE).isEmpty());
    if (Kernels.unavailableReason(Backend.CPU) == null)
      assertTrue(Kernels.create(Backend.CPU).deviceRows(8, Metric.COSINE).isEmpty());
    try (ResidentRows dev = rows(8, Metric.COSINE)) {
      assertEquals(8, dev.dimension());
      assertEquals(Metric.COSINE, dev.metric());
    }
  }
}
