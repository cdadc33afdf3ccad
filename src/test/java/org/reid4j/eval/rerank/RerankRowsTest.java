package org.reid4j.eval.rerank;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * {@link KReciprocal#rows}, re-ranking one query row at a time, against the dense results it must
 * reproduce bit for bit: the exact pass, and HNSW lists of the same (single-threaded, seeded) graph,
 * on fresh random inputs of awkward shapes with ties.
 */
class RerankRowsTest {
  /** Gaussian rows, or (ties) rows of small integers with some rows repeated: exact ties and zero distances. */
  static FloatMatrix random(Random r, int rows, int d, boolean ties) {
    float[] a = new float[rows * d];
    for (int i = 0; i < rows; i++) {
      if (ties && i > 0 && r.nextInt(3) == 0) System.arraycopy(a, r.nextInt(i) * d, a, i * d, d);
      else for (int k = 0; k < d; k++) a[i * d + k] = ties ? r.nextInt(3) - 1 : (float) r.nextGaussian();
    }
    return new FloatMatrix(rows, d, a);
  }

  /** The raw [nq, ng] distances and each query row's maximum, the plain way. */
  private static float[] raw(FloatMatrix q, FloatMatrix g, Metric metric) {
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, metric);
    int nq = q.rows(), ng = g.rows();
    float[] out = new float[nq * ng];
    for (int i = 0; i < nq; i++) for (int j = 0; j < ng; j++) out[i * ng + j] = d.between(i, nq + j);
    return out;
  }

  private static float[] rowMaxima(float[] raw, int nq, int ng) {
    float[] m = new float[nq];
    for (int i = 0; i < nq; i++) {
      m[i] = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < ng; j++) m[i] = Math.max(m[i], raw[i * ng + j]);
    }
    return m;
  }

  @Test
  void rowsAreTheDenseResultBitForBit() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{1, 1, 3}, {1, 2, 1}, {2, 1, 2}, {3, 5, 4}, {7, 33, 8}, {2, 61, 5}, {19, 40, 16}, {30, 97, 7}};
    RerankParams[] params = {RerankParams.DEFAULT, new RerankParams(5, 2, 0.3f), new RerankParams(3, 1, 0f),
        new RerankParams(1, 7, 1f), new RerankParams(4, 6, 0.5f)};
    for (int[] s : shapes) {
      for (Metric metric : Metric.values()) {
        for (boolean ties : new boolean[] {false, true}) {
          if (ties && metric == Metric.COSINE) continue; // zero rows
          FloatMatrix q = random(r, s[0], s[2], ties), g = random(r, s[1], s[2], ties);
          int nq = s[0], ng = s[1], n = nq + ng;
          RerankParams p = params[r.nextInt(params.length)].clampedTo(n);
          float[] raw = raw(q, g, metric), max = rowMaxima(raw, nq, ng);
          // a beam below N: approximate lists, but those of one seeded graph each time
          Candidates[] cands = {Candidates.EXACT, Candidates.hnsw(2 + r.nextInt(8), 2 + r.nextInt(6)),
              Candidates.hnsw(4, 30, n + 1)};
          for (Candidates c : cands) {
            String what = Arrays.toString(s) + " " + metric + " ties " + ties + " " + p + " " + c;
            FloatMatrix dense = c.exact() ? KReciprocal.rerank(q, g, metric, p)
                : KReciprocal.rerank(q, g, metric, p, c, new FloatMatrix(nq, ng, raw.clone()));
            KReciprocal.Rows rows = KReciprocal.rows(q, g, metric, p, c, c.exact() ? null : max, null);
            assertEquals(nq, rows.queries());
            assertEquals(ng, rows.gallery());
            // in place, and into another array at an offset, in a shuffled query order
            float[] inPlace = raw.clone(), apart = new float[3 + nq * ng];
            Integer[] order = new Integer[nq];
            for (int i = 0; i < nq; i++) order[i] = i;
            java.util.Collections.shuffle(Arrays.asList(order), r);
            for (int i : order) {
              rows.row(i, inPlace, i * ng, inPlace, i * ng);
              rows.row(i, raw, i * ng, apart, 3 + i * ng);
            }
            assertArrayEquals(dense.data(), inPlace, 0f, what);
            assertArrayEquals(dense.data(), Arrays.copyOfRange(apart, 3, apart.length), 0f, what);
          }
        }
      }
    }
  }

  /**
   * Lists made elsewhere (a distributed graph): each item's nearest by (distance, index), sometimes
   * with one entry swapped for a farther item (lists as an approximate graph gives them), and the
   * queries' maxima sometimes below their raw rows' (rowsFromLists must raise them as
   * rerankFromLists does).
   */
  @Test
  void rowsFromListsAreRerankFromListsBitForBit() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{1, 1, 3}, {1, 2, 1}, {2, 1, 2}, {3, 5, 4}, {7, 33, 8}, {19, 40, 16}, {30, 97, 7}};
    for (int[] s : shapes) {
      for (Metric metric : Metric.values()) {
        for (boolean ties : new boolean[] {false, true}) {
          if (ties && metric == Metric.COSINE) continue;
          FloatMatrix q = random(r, s[0], s[2], ties), g = random(r, s[1], s[2], ties);
          int nq = s[0], ng = s[1], n = nq + ng;
          RerankParams p = new RerankParams(1 + r.nextInt(8), 1 + r.nextInt(6), r.nextFloat()).clampedTo(n);
          int len = KReciprocal.listLength(p, n);
          int wide = Math.min(n, len + 1);
          ExactNeighbours.Lists exact = ExactNeighboursTest.plain(q, g, metric, wide);
          int[] idx = new int[n * len];
          float[] dist = new float[n * len], max = exact.largest().clone();
          for (int i = 0; i < n; i++) {
            boolean swap = len < n && r.nextBoolean(); // entry at a random place out, the next nearest in
            int drop = swap ? r.nextInt(len) : -1;
            for (int t = 0, o = 0; t < len; o++) {
              if (o == drop) continue;
              idx[i * len + t] = exact.idx()[i * wide + o];
              dist[i * len + t++] = exact.dist()[i * wide + o];
            }
            if (i < nq && r.nextBoolean()) max[i] = dist[i * len + len - 1]; // below the raw row's maximum
          }
          float[] raw = raw(q, g, metric);
          String what = Arrays.toString(s) + " " + metric + " ties " + ties + " " + p;
          FloatMatrix dense = KReciprocal.rerankFromLists(q, g, metric, p, len, idx, dist, max,
              new FloatMatrix(nq, ng, raw.clone()));
          KReciprocal.Rows rows = KReciprocal.rowsFromLists(q, g, metric, p, len, idx, dist, max,
              rowMaxima(raw, nq, ng));
          float[] out = new float[nq * ng];
          for (int i = nq - 1; i >= 0; i--) rows.row(i, raw, i * ng, out, i * ng);
          assertArrayEquals(dense.data(), out, 0f, what);
          // the same checks of the lists as rerankFromLists
          int[] bad = idx.clone();
          bad[len * n - 1] = n;
          assertTrue(assertThrows(IllegalArgumentException.class, () -> KReciprocal.rowsFromLists(q, g, metric, p,
              len, bad, dist, max, rowMaxima(raw, nq, ng))).getMessage().contains("outside [0, " + n + ")"), what);
          assertTrue(assertThrows(IllegalArgumentException.class, () -> KReciprocal.rowsFromLists(q, g, metric, p,
              len, idx, dist, max, new float[nq + 1])).getMessage().contains("query row maxima for " + nq), what);
        }
      }
    }
  }

  @Test
  void rowsFromSeveralThreadsAreTheSame() {
    Random r = new Random(System.nanoTime());
    FloatMatrix q = random(r, 64, 6, false), g = random(r, 301, 6, false);
    float[] raw = raw(q, g, Metric.SQEUCLIDEAN);
    RerankParams p = RerankParams.DEFAULT;
    FloatMatrix dense = KReciprocal.rerank(q, g, Metric.SQEUCLIDEAN, p, Candidates.hnsw(8, 40),
        new FloatMatrix(64, 301, raw.clone()));
    KReciprocal.Rows rows = KReciprocal.rows(q, g, Metric.SQEUCLIDEAN, p, Candidates.hnsw(8, 40),
        rowMaxima(raw, 64, 301), null);
    float[] out = new float[raw.length];
    java.util.stream.IntStream.range(0, 64).parallel().forEach(i -> rows.row(i, raw, i * 301, out, i * 301));
    assertArrayEquals(dense.data(), out, 0f);
  }

  @Test
  void badInputsAreRefusedWithWhatWasExpected() {
    Random r = new Random(3);
    FloatMatrix q = random(r, 4, 5, false), g = random(r, 9, 5, false);
    Candidates c = Candidates.hnsw(4, 20);
    RerankParams p = RerankParams.DEFAULT;
    Metric m = Metric.EUCLIDEAN;
    float[] max = rowMaxima(raw(q, g, m), 4, 9);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> KReciprocal.rows(q, g, m, p, c, null, null))
        .getMessage().contains("no query row maxima for 4 queries"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> KReciprocal.rows(q, g, m, p, c, new float[3], null)).getMessage().contains("3 query row maxima"));
    float[] nan = max.clone();
    nan[2] = Float.NaN;
    assertTrue(assertThrows(IllegalArgumentException.class, () -> KReciprocal.rows(q, g, m, p, c, nan, null))
        .getMessage().contains("query 2's largest raw distance is NaN"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> KReciprocal.rows(new FloatMatrix(0, 5, new float[0]), g, m, p, c, new float[0], null)).getMessage()
        .contains("no queries"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> KReciprocal.rows(q, new FloatMatrix(0, 5, new float[0]), m, p, c, max, null)).getMessage()
        .contains("gallery is empty"));
    assertThrows(IllegalArgumentException.class, () -> KReciprocal.rows(q, random(r, 9, 4, false), m, p, c, max, null));
    assertThrows(IllegalArgumentException.class, () -> KReciprocal.rows(q, g, m, p, null, max, null));
    assertThrows(IllegalArgumentException.class, () -> KReciprocal.rows(q, g, null, p, c, max, null));
    KReciprocal.Rows rows = KReciprocal.rows(q, g, m, p, c, max, null);
    float[] row = new float[9];
    assertTrue(assertThrows(IllegalArgumentException.class, () -> rows.row(4, row, 0, row, 0)).getMessage()
        .contains("query 4 outside [0, 4)"));
    assertThrows(IllegalArgumentException.class, () -> rows.row(-1, row, 0, row, 0));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> rows.row(0, row, 1, row, 0)).getMessage()
        .contains("does not fit"));
    assertThrows(IllegalArgumentException.class, () -> rows.row(0, row, 0, new float[8], 0));
    assertThrows(IllegalArgumentException.class, () -> rows.row(0, row, -1, row, 0));
    assertThrows(IllegalArgumentException.class, () -> rows.row(0, null, 0, row, 0));
    rows.row(0, row, 0, row, 0); // a well-formed call still works after the refusals
  }
}
