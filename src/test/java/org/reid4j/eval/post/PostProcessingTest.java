package org.reid4j.eval.post;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.eval.Features;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/**
 * DBA and both query expansions against plain references written from their definitions (full
 * distance matrices, sorted lists, double sums), on every available backend, with hand-checked
 * numbers on tiny inputs, random shapes (one row, odd sizes, k past the row count) and exact ties.
 */
class PostProcessingTest {
  static List<Kernels> backends() {
    List<Kernels> ks = new ArrayList<>();
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU})
      if (Kernels.unavailableReason(b) == null) ks.add(Kernels.create(b));
    return ks;
  }

  static FloatMatrix gaussian(Random r, int rows, int d) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    return new FloatMatrix(rows, d, a);
  }

  /** Values in {0, 1, 2} with row 0 repeated: many exact ties, and duplicates. */
  static FloatMatrix ties(Random r, int rows, int d) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = r.nextInt(3);
    for (int i = 1; i < rows; i += 3) System.arraycopy(a, 0, a, i * d, d);
    return new FloatMatrix(rows, d, a);
  }

  /** Indices of row i of dist sorted by (value, index), leaving out {@code skip}. */
  static Integer[] order(FloatMatrix dist, int i, int skip) {
    List<Integer> l = new ArrayList<>();
    for (int j = 0; j < dist.cols(); j++) if (j != skip) l.add(j);
    l.sort(Comparator.<Integer>comparingDouble(j -> dist.data()[i * dist.cols() + j]).thenComparingInt(j -> j));
    return l.toArray(Integer[]::new);
  }

  static double[] normalized(double[] v) {
    double s = 0;
    for (double x : v) s += x * x;
    double inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    double[] o = v.clone();
    for (int c = 0; c < o.length; c++) o[c] *= inv;
    return o;
  }

  static void assertRowsClose(double[][] expected, FloatMatrix got, double tol, String what) {
    assertEquals(expected.length, got.rows(), what + ": rows");
    for (int i = 0; i < expected.length; i++)
      for (int c = 0; c < got.cols(); c++)
        assertEquals(expected[i][c], got.data()[i * got.cols() + c], tol * Math.max(1, Math.abs(expected[i][c])),
            what + " at (" + i + ", " + c + ")");
  }

  /** DBA from its definition, the neighbours ordered by the reference kernel's distances. */
  static double[][] dbaReference(FloatMatrix g, Metric metric, int k) {
    FloatMatrix dist = Kernels.create(Backend.JAVA).pairwise(g, g, metric);
    int d = g.cols();
    double[][] out = new double[g.rows()][];
    for (int i = 0; i < g.rows(); i++) {
      double[] acc = new double[d];
      for (int c = 0; c < d; c++) acc[c] = g.data()[i * d + c];
      Integer[] o = order(dist, i, i);
      for (int t = 0; t < Math.min(k, o.length); t++)
        for (int c = 0; c < d; c++) acc[c] += g.data()[o[t] * d + c];
      out[i] = normalized(acc);
    }
    return out;
  }

  @Test
  void dbaByHand() {
    // Row 0's nearest is row 1 (0.02 against 2); row 2's is row 1 (1.62 against 2).
    FloatMatrix g = FloatMatrix.ofRows(new float[] {1, 0}, new float[] {0.9f, 0.1f}, new float[] {0, 1});
    for (Kernels k : backends()) {
      FloatMatrix out = Dba.apply(k, g, Metric.SQEUCLIDEAN, 1);
      double n0 = Math.hypot(1.9, 0.1), n2 = Math.hypot(0.9, 1.1);
      assertRowsClose(new double[][] {{1.9 / n0, 0.1 / n0}, normalized(new double[] {1.9, 0.1}),
          {0.9 / n2, 1.1 / n2}}, out, 1e-6, k.describe());
      assertRowsClose(new double[][] {{1, 0}, normalized(new double[] {0.9, 0.1}), {0, 1}},
          Dba.apply(k, g, Metric.SQEUCLIDEAN, 0), 1e-6, "k 0 only normalises");
    }
  }

  @Test
  void dbaMatchesItsDefinition() {
    Random r = new Random(11);
    for (Kernels k : backends())
      for (int n : new int[] {0, 1, 2, 7, 33})
        for (int d : new int[] {1, 5, 16})
          for (Metric m : Metric.values())
            for (int kk : new int[] {1, 3, n + 2}) {
              FloatMatrix g = r.nextBoolean() ? gaussian(r, n, d) : ties(r, n, d);
              String what = k.describe() + " n " + n + " d " + d + " " + m + " k " + kk;
              assertRowsClose(dbaReference(g, m, kk), Dba.apply(k, g, m, kk), 1e-5, what);
            }
    assertThrows(IllegalArgumentException.class, () -> Dba.apply(backends().get(0), gaussian(r, 3, 2), Metric.COSINE, -1));
  }

  /** Average QE from its definition: q plus its k nearest gallery rows by (distance, index), times rounds. */
  static double[][] qeReference(FloatMatrix q, FloatMatrix g, Metric metric, int k, int times, boolean renorm) {
    Kernels java = Kernels.create(Backend.JAVA);
    FloatMatrix cur = q;
    int d = q.cols();
    double[][] out = null;
    for (int t = 0; t < times; t++) {
      FloatMatrix dist = java.pairwise(cur, g, metric);
      out = new double[q.rows()][];
      for (int i = 0; i < q.rows(); i++) {
        double[] acc = new double[d];
        for (int c = 0; c < d; c++) acc[c] = cur.data()[i * d + c];
        Integer[] o = order(dist, i, -1);
        for (int r = 0; r < Math.min(k, o.length); r++)
          for (int c = 0; c < d; c++) acc[c] += g.data()[o[r] * d + c];
        out[i] = renorm ? normalized(acc) : acc;
      }
      float[] next = new float[q.rows() * d];
      for (int i = 0; i < q.rows(); i++) for (int c = 0; c < d; c++) next[i * d + c] = (float) out[i][c];
      cur = new FloatMatrix(q.rows(), d, next);
    }
    return out;
  }

  static FloatMatrix qe(Kernels k, FloatMatrix q, FloatMatrix g, Metric m, int kk, int times, boolean renorm) {
    FloatMatrix cur = q;
    for (int t = 0; t < times; t++)
      cur = QueryExpansion.expand(cur, g, k.pairwiseTopk(cur, g, m, Math.min(kk, g.rows())), renorm);
    return cur;
  }

  @Test
  void averageQeByHand() {
    // Nearest to (1, 0): g0 at 0, then g2 at 0.4, then g1 at 2.
    FloatMatrix q = FloatMatrix.ofRows(new float[] {1, 0});
    FloatMatrix g = FloatMatrix.ofRows(new float[] {1, 0}, new float[] {0, 1}, new float[] {0.8f, 0.6f});
    for (Kernels k : backends()) {
      assertRowsClose(new double[][] {{2.8, 0.6}}, qe(k, q, g, Metric.SQEUCLIDEAN, 2, 1, false), 1e-6, k.describe());
      assertRowsClose(new double[][] {normalized(new double[] {2.8, 0.6})}, qe(k, q, g, Metric.SQEUCLIDEAN, 2, 1, true),
          1e-6, k.describe());
    }
  }

  @Test
  void averageQeMatchesItsDefinition() {
    Random r = new Random(12);
    for (Kernels k : backends())
      for (int nq : new int[] {1, 4})
        for (int ng : new int[] {1, 9})
          for (int d : new int[] {1, 6})
            for (Metric m : Metric.values())
              for (int kk : new int[] {1, 3, ng + 1})
                for (int times : new int[] {1, 2}) {
                  boolean tie = r.nextBoolean(), renorm = r.nextBoolean();
                  FloatMatrix q = tie ? ties(r, nq, d) : gaussian(r, nq, d), g = tie ? ties(r, ng, d) : gaussian(r, ng, d);
                  String what = k.describe() + " " + nq + "x" + ng + "x" + d + " " + m + " k " + kk + " times " + times;
                  assertRowsClose(qeReference(q, g, m, kk, times, renorm), qe(k, q, g, m, kk, times, renorm), 1e-4, what);
                }
  }

  /** alpha-QE from its definition, in double: each item the weighted mean of its k most similar. */
  static double[][] alphaReference(FloatMatrix q, FloatMatrix g, int k, int times, double alpha, boolean renorm) {
    int n = q.rows() + g.rows(), d = q.cols();
    double[][] all = new double[n][d];
    for (int i = 0; i < n; i++)
      for (int c = 0; c < d; c++) all[i][c] = i < q.rows() ? q.data()[i * d + c] : g.data()[(i - q.rows()) * d + c];
    int kk = Math.min(k, n);
    for (int t = 0; t < times; t++) {
      double[][] unit = new double[n][];
      for (int i = 0; i < n; i++) unit[i] = normalized(all[i]);
      double[][] next = new double[n][d];
      for (int i = 0; i < n; i++) {
        double[] sim = new double[n];
        for (int j = 0; j < n; j++) for (int c = 0; c < d; c++) sim[j] += unit[i][c] * unit[j][c];
        Integer[] o = new Integer[n];
        for (int j = 0; j < n; j++) o[j] = j;
        int row = i;
        Arrays.sort(o, Comparator.<Integer>comparingDouble(j -> -sim[j]).thenComparingInt(j -> j));
        for (int r = 0; r < kk; r++) {
          double w = sim[o[r]] > 0 ? Math.pow(sim[o[r]], alpha) : 0;
          for (int c = 0; c < d; c++) next[row][c] += w * all[o[r]][c] / kk;
        }
      }
      all = next;
    }
    if (renorm) for (int i = 0; i < n; i++) all[i] = normalized(all[i]);
    return all;
  }

  @Test
  void alphaQeMatchesItsDefinition() {
    Random r = new Random(13);
    for (Kernels k : backends())
      for (int nq : new int[] {0, 1, 3})
        for (int ng : new int[] {1, 8})
          for (int d : new int[] {2, 7})
            for (int kk : new int[] {1, 3, 20})
              for (double alpha : new double[] {0, 1, 3, 2.5}) {
                int times = r.nextInt(2) + 1;
                boolean renorm = r.nextBoolean();
                FloatMatrix q = gaussian(r, nq, d), g = gaussian(r, ng, d);
                if (ng > 2) System.arraycopy(g.data(), 0, g.data(), d, d); // a duplicate: tied similarities
                FloatMatrix[] out = QueryExpansion.alpha(k, q, g, new QueryExpansion.Params(QueryExpansion.Kind.ALPHA,
                    kk, times, alpha), renorm);
                double[][] ref = alphaReference(q, g, kk, times, alpha, renorm);
                String what = k.describe() + " " + nq + "x" + ng + "x" + d + " k " + kk + " alpha " + alpha;
                assertRowsClose(Arrays.copyOfRange(ref, 0, nq), out[0], 1e-4, what + " queries");
                assertRowsClose(Arrays.copyOfRange(ref, nq, nq + ng), out[1], 1e-4, what + " gallery");
              }
  }

  @Test
  void alphaQeByHand() {
    // alpha 0 and k = all: every item with a positive similarity weighs 1; the mean divides by k.
    // (1,0) and (1,1) are similar (0.707) to each other and to themselves, (-1,0) to itself only.
    FloatMatrix q = FloatMatrix.ofRows(new float[] {1, 0});
    FloatMatrix g = FloatMatrix.ofRows(new float[] {1, 1}, new float[] {-1, 0});
    for (Kernels k : backends()) {
      FloatMatrix[] out = QueryExpansion.alpha(k, q, g, new QueryExpansion.Params(QueryExpansion.Kind.ALPHA, 3, 1, 0),
          false);
      assertRowsClose(new double[][] {{2 / 3.0, 1 / 3.0}}, out[0], 1e-6, "query");
      assertRowsClose(new double[][] {{2 / 3.0, 1 / 3.0}, {-1 / 3.0, 0}}, out[1], 1e-6, "gallery");
    }
  }

  @Test
  void parametersAreChecked() {
    assertThrows(IllegalArgumentException.class, () -> new QueryExpansion.Params(QueryExpansion.Kind.AVERAGE, 0, 1, 3));
    assertThrows(IllegalArgumentException.class, () -> new QueryExpansion.Params(QueryExpansion.Kind.AVERAGE, 1, 0, 3));
    assertThrows(IllegalArgumentException.class, () -> new QueryExpansion.Params(QueryExpansion.Kind.ALPHA, 1, 1, -1));
    assertThrows(IllegalArgumentException.class,
        () -> new QueryExpansion.Params(QueryExpansion.Kind.ALPHA, 1, 1, Double.NaN));
    assertEquals(QueryExpansion.Kind.ALPHA, QueryExpansion.Kind.parse("alpha-qe"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QueryExpansion.Kind.parse("aqe"));
    assertTrue(e.getMessage().contains("expected qe or alpha-qe"), e.getMessage());
    FloatMatrix q = FloatMatrix.ofRows(new float[] {1, 0}), g = FloatMatrix.ofRows(new float[] {1, 0, 0});
    assertThrows(IllegalArgumentException.class,
        () -> QueryExpansion.expand(q, g, backends().get(0).pairwiseTopk(q, q, Metric.COSINE, 1), false));
    assertEquals(0f, Features.l2Normalize(FloatMatrix.zeros(1, 2)).data()[0]);
  }
}
