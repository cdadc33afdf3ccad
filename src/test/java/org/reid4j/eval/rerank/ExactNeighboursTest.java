package org.reid4j.eval.rerank;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * {@link ExactNeighbours} (the exact lists on the kernels: their own pass, or blocks of items) against the
 * plain way: every distance of each item's row, sorted by (distance, index). Bit for bit where the
 * kernels' distances are the plain ones (the Java backend; the native one on small-integer features,
 * whose squared distances are exact in float32 either way); to the kernels' rounding otherwise.
 */
class ExactNeighboursTest {
  private static List<Kernels> hostBackends() {
    List<Kernels> l = new ArrayList<>();
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU})
      if (Kernels.unavailableReason(b) == null) l.add(Kernels.create(b));
    return l;
  }

  /** idx, dist and the row maxima of the plain pass. */
  static ExactNeighbours.Lists plain(FloatMatrix q, FloatMatrix g, Metric metric, int length) {
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, metric);
    int n = q.rows() + g.rows();
    int[] idx = new int[n * length];
    float[] dist = new float[n * length], max = new float[n];
    for (int i = 0; i < n; i++) {
      long[] keys = new long[n];
      max[i] = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < n; j++) {
        float v = d.between(i, j);
        max[i] = Math.max(max[i], v);
        keys[j] = ((long) Float.floatToIntBits(v) << 32) | j;
      }
      Arrays.sort(keys);
      for (int p = 0; p < length; p++) {
        idx[i * length + p] = (int) keys[p];
        dist[i * length + p] = Float.intBitsToFloat((int) (keys[p] >>> 32));
      }
    }
    return new ExactNeighbours.Lists(n, length, idx, dist, max, 0);
  }

  /** Whether this backend's distances on these features are the plain ones bit for bit. */
  private static boolean bitExact(Kernels k, boolean ints, Metric m) {
    return k.backend() == Backend.JAVA || ints && m != Metric.COSINE;
  }

  @Test
  void listsAreThoseOfThePlainPass() {
    long seed = System.nanoTime();
    Random r = new Random(seed);
    int[][] shapes = {{1, 1, 2}, {0, 1, 3}, {1, 0, 3}, {0, 5, 2}, {2, 1, 1}, {3, 9, 4}, {11, 40, 7}, {25, 131, 5}};
    for (Kernels k : hostBackends()) {
      for (int[] s : shapes) {
        for (Metric m : Metric.values()) {
          for (boolean ints : new boolean[] {false, true}) {
            if (ints && m == Metric.COSINE) continue; // zero rows
            FloatMatrix q = RerankRowsTest.random(r, s[0], s[2], ints), g = RerankRowsTest.random(r, s[1], s[2], ints);
            int n = s[0] + s[1];
            int length = 1 + r.nextInt(Math.min(n, 12));
            ExactNeighbours.Lists want = plain(q, g, m, length);
            int[] chunks = {1 + r.nextInt(3), 3 + r.nextInt(9), n + 2};
            // block 0: the kernels' own pass (on the native CPU backend the symmetric one)
            for (int block : new int[] {0, 1, 2, 3 + r.nextInt(5), n, n + 4}) for (int chunk : chunks) {
              if (block == 0 && chunk != chunks[0]) continue;
              String what = "seed " + seed + " " + k.describe() + " " + Arrays.toString(s) + " " + m + " ints " + ints
                  + " length " + length + " block " + block + " chunk " + chunk;
              ExactNeighbours.Lists got = block == 0 ? ExactNeighbours.of(k, q, g, m, length, null)
                  : ExactNeighbours.of(k, q, g, m, length, null, block, chunk);
              assertEquals(n, got.items(), what);
              assertEquals(length, got.length(), what);
              if (bitExact(k, ints, m)) {
                assertArrayEquals(want.idx(), got.idx(), what);
                assertArrayEquals(want.dist(), got.dist(), 0f, what);
                assertArrayEquals(want.largest(), got.largest(), 0f, what);
              } else {
                // the same distance at every rank, and each entry's distance its own (re-scored) one
                KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, m);
                for (int p = 0; p < n * length; p++) {
                  assertEquals(want.dist()[p], got.dist()[p], 1e-5f * Math.max(1, want.dist()[p]), what + " at " + p);
                  assertEquals(d.between(p / length, got.idx()[p]), got.dist()[p], 0f, what + " at " + p);
                }
                for (int i = 0; i < n; i++)
                  assertEquals(want.largest()[i], got.largest()[i], 1e-5f * Math.max(1, want.largest()[i]), what);
              }
            }
          }
        }
      }
    }
  }

  /** Rows from the kernels' exact lists against the plain exact pass's rows (the same raw distances). */
  @Test
  void rowsFromTheKernelsListsAreThePlainExactRows() {
    long seed = System.nanoTime();
    Random r = new Random(seed);
    int[][] shapes = {{1, 1, 3}, {2, 1, 2}, {4, 17, 5}, {13, 60, 6}};
    for (Kernels k : hostBackends()) {
      for (int[] s : shapes) {
        for (Metric m : new Metric[] {Metric.SQEUCLIDEAN, Metric.EUCLIDEAN}) {
          boolean ints = k.backend() != Backend.JAVA || r.nextBoolean();
          FloatMatrix q = RerankRowsTest.random(r, s[0], s[2], ints), g = RerankRowsTest.random(r, s[1], s[2], ints);
          int nq = s[0], ng = s[1];
          RerankParams p = new RerankParams(1 + r.nextInt(8), 1 + r.nextInt(6), r.nextFloat()).clampedTo(nq + ng);
          String what = "seed " + seed + " " + k.describe() + " " + Arrays.toString(s) + " " + m + " " + p;
          KReciprocal.Rows want = KReciprocal.rows(q, g, m, p, Candidates.EXACT, null, null);
          KReciprocal.Rows got = KReciprocal.rows(k, q, g, m, p, Candidates.EXACT, null, null);
          KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, m);
          float[] raw = new float[ng], a = new float[ng], b = new float[ng];
          for (int i = 0; i < nq; i++) {
            for (int j = 0; j < ng; j++) raw[j] = d.between(i, nq + j);
            want.row(i, raw, 0, a, 0);
            got.row(i, raw, 0, b, 0);
            assertArrayEquals(a, b, 0f, what + " query " + i);
            assertArrayEquals(want.neighbours(i), got.neighbours(i), what);
          }
        }
      }
    }
  }

  @Test
  void badInputsAreRefused() {
    Kernels k = Kernels.create(Backend.JAVA);
    FloatMatrix q = new FloatMatrix(2, 3, new float[6]), g = new FloatMatrix(3, 3, new float[9]);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(k, q, g, Metric.EUCLIDEAN, 6,
        null)).getMessage().contains("list length must be in [1, 5], got 6"));
    assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(k, q, g, Metric.EUCLIDEAN, 0, null));
    assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(null, q, g, Metric.EUCLIDEAN, 2, null));
    assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(k, q, g, null, 2, null));
    assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(k, q, g, Metric.EUCLIDEAN, 2, null, 0, 4));
    assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(k, q, g, Metric.EUCLIDEAN, 2, null, 4, 0));
    assertThrows(IllegalArgumentException.class,
        () -> ExactNeighbours.of(k, q, new FloatMatrix(3, 2, new float[6]), Metric.EUCLIDEAN, 2, null));
    FloatMatrix bad = new FloatMatrix(3, 3, new float[] {0, 0, 0, 0, Float.NaN, 0, 0, 0, 0});
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ExactNeighbours.of(k, q, bad, Metric.EUCLIDEAN, 2,
        null)).getMessage().contains("non-finite"));
  }
}
