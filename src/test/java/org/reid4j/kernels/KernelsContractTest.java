package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link Kernels} implementation must have, checked against
 * {@link ReferenceKernels} on seeded random inputs. A backend's test extends this class and returns
 * its kernels; nothing here depends on how a backend works inside.
 *
 * <p>Every random input comes from {@code new Random(seed)} with seed = BASE_SEED + a per-case
 * number; failure messages carry the seed and the shape, so a failing case can be replayed alone.
 * Inputs of small integers make every float computation of squared/plain Euclidean distances exact,
 * so ties are real ties in every backend and the (value, index) order is checked exactly.
 */
public abstract class KernelsContractTest {

  protected abstract Kernels kernels();

  static final long BASE_SEED = 20240611L;
  static final double TOL = 1e-4;

  static final Metric[] METRICS = Metric.values();
  /** {nq, ng, d}: odd sizes, one row, d not a multiple of 8. */
  static final int[][] SHAPES = {{1, 1, 1}, {3, 17, 5}, {17, 33, 8}, {33, 100, 13}, {100, 17, 64}, {5, 3, 130},
      {1, 40, 7}, {40, 1, 3}, {129, 700, 300}}; // the last spans several native tiles and cache blocks

  // ------------------------------------------------------------------------------------ helpers

  static String ctx(long seed, String what) {
    return "[seed=" + seed + ", " + what + "]";
  }

  static FloatMatrix gaussian(Random r, int rows, int cols) {
    float[] d = new float[rows * cols];
    for (int i = 0; i < d.length; i++) d[i] = (float) r.nextGaussian();
    return new FloatMatrix(rows, cols, d);
  }

  /** Small integers in [-range, range]: exact in every float computation of Euclidean distances. */
  static FloatMatrix integers(Random r, int rows, int cols, int range) {
    float[] d = new float[rows * cols];
    for (int i = 0; i < d.length; i++) d[i] = r.nextInt(2 * range + 1) - range;
    return new FloatMatrix(rows, cols, d);
  }

  static int[] labels(Random r, int n, int classes) {
    int[] l = new int[n];
    for (int i = 0; i < n; i++) l[i] = r.nextInt(classes);
    return l;
  }

  static void copyRow(FloatMatrix from, int i, FloatMatrix to, int j) {
    System.arraycopy(from.data(), i * from.cols(), to.data(), j * to.cols(), from.cols());
  }

  static double scale(double[][] ref) {
    double s = 1;
    for (double[] row : ref) for (double v : row) s = Math.max(s, Math.abs(v));
    return s;
  }

  /** Distances agree to TOL relative to the scale; Euclidean is compared squared (sqrt magnifies rounding near 0). */
  static boolean close(double ref, float got, double scale, Metric metric) {
    if (metric == Metric.EUCLIDEAN) return Math.abs((double) got * got - ref * ref) <= TOL * scale * scale;
    return Math.abs(got - ref) <= TOL * scale;
  }

  static void assertDistancesMatch(double[][] ref, FloatMatrix got, Metric metric, String ctx) {
    assertEquals(ref.length, got.rows(), ctx + " rows");
    if (ref.length > 0) assertEquals(ref[0].length, got.cols(), ctx + " cols");
    double s = scale(ref);
    for (int i = 0; i < ref.length; i++) {
      for (int j = 0; j < ref[i].length; j++) {
        if (!close(ref[i][j], got.get(i, j), s, metric))
          fail(ctx + " " + metric + " at (" + i + ", " + j + "): expected " + ref[i][j] + ", got " + got.get(i, j));
      }
    }
  }

  static void assertThrowsMentioning(Runnable call, String... fragments) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    for (String f : fragments)
      assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention '" + f + "'");
  }

  // ---------------------------------------------------------------------------------- identity

  @Test
  void describesItself() {
    assertNotNull(kernels().backend());
    assertNotEquals(Backend.AUTO, kernels().backend());
    assertTrue(!kernels().describe().isBlank());
  }

  // ---------------------------------------------------------------------------------- pairwise

  @Test
  void pairwiseMatchesReferenceOnRandomInputs() {
    int c = 0;
    for (int[] s : SHAPES) {
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 100 + c++;
        Random r = new Random(seed);
        FloatMatrix q = gaussian(r, s[0], s[2]), g = gaussian(r, s[1], s[2]);
        if (s[1] > 2) copyRow(g, 0, g, s[1] - 1); // a duplicate gallery row
        assertDistancesMatch(ReferenceKernels.distances(q, g, m), kernels().pairwise(q, g, m), m,
            ctx(seed, "pairwise " + s[0] + "x" + s[1] + "x" + s[2]));
      }
    }
  }

  @Test
  void pairwiseWithLargeOffsetFeatures() {
    long seed = BASE_SEED + 150;
    Random r = new Random(seed);
    FloatMatrix q = gaussian(r, 9, 37), g = gaussian(r, 21, 37);
    for (int i = 0; i < q.data().length; i++) q.data()[i] += 5f;
    for (int i = 0; i < g.data().length; i++) g.data()[i] += 5f;
    for (Metric m : METRICS)
      assertDistancesMatch(ReferenceKernels.distances(q, g, m), kernels().pairwise(q, g, m), m, ctx(seed, "offset"));
  }

  @Test
  void pairwiseIsExactOnSmallIntegers() {
    long seed = BASE_SEED + 200;
    Random r = new Random(seed);
    FloatMatrix q = integers(r, 13, 11, 3), g = integers(r, 29, 11, 3);
    for (Metric m : new Metric[] {Metric.SQEUCLIDEAN, Metric.EUCLIDEAN}) {
      double[][] ref = ReferenceKernels.distances(q, g, m);
      FloatMatrix got = kernels().pairwise(q, g, m);
      for (int i = 0; i < q.rows(); i++)
        for (int j = 0; j < g.rows(); j++)
          assertEquals((float) ref[i][j], got.get(i, j), 0f, ctx(seed, m + " (" + i + ", " + j + ")"));
    }
  }

  /**
   * Cosine distances stay in [0, 2]: rounding put parallel vectors (e.g. three equal values 5.625)
   * a little below 0, which re-ranking's normalisation then magnified to -6e-4 (found by fuzzing
   * the C API). Parallel rows, scaled copies and opposite rows, through pairwise, pairwise top-k
   * and re-ranking.
   */
  @Test
  void cosineDistancesStayBetweenZeroAndTwo() {
    long seed = BASE_SEED + 310;
    Random r = new Random(seed);
    int d = 3, n = 40;
    FloatMatrix q = FloatMatrix.zeros(n, d), g = FloatMatrix.zeros(2 * n, d);
    for (int i = 0; i < n; i++) {
      float v = (r.nextInt(64) + 1) / 8f, scale = 1 + r.nextInt(5);
      for (int c = 0; c < d; c++) {
        q.data()[i * d + c] = v;
        g.data()[(2 * i) * d + c] = v * scale;   // parallel
        g.data()[(2 * i + 1) * d + c] = -v;      // opposite
      }
    }
    q.data()[1] = 5.5f; // one row not quite parallel, so that re-ranking has a positive maximum to divide by
    FloatMatrix got = kernels().pairwise(q, g, Metric.COSINE);
    for (int i = 0; i < got.data().length; i++) {
      float v = got.data()[i];
      assertTrue(v >= 0f && v <= 2f, ctx(seed, "cosine distance " + v + " at " + i));
    }
    TopK t = kernels().pairwiseTopk(q, g, Metric.COSINE, 3);
    for (int i = 0; i < n; i++) assertTrue(t.value(i, 0) >= 0f, ctx(seed, "top-k value " + t.value(i, 0)));
    FloatMatrix rr = kernels().rerank(q, g, Metric.COSINE, RerankParams.DEFAULT);
    for (int i = 0; i < rr.data().length; i++) {
      float v = rr.data()[i];
      assertTrue(v >= -1e-6f && v <= 1f + 1e-6f, ctx(seed, "re-ranked distance " + v + " at " + i)); // Jaccard rounds
    }
  }

  @Test
  void cosineOfZeroVectorIsOne() {
    long seed = BASE_SEED + 300;
    Random r = new Random(seed);
    FloatMatrix q = gaussian(r, 4, 10), g = gaussian(r, 6, 10);
    java.util.Arrays.fill(q.data(), 10, 20, 0f); // query 1 is zero
    java.util.Arrays.fill(g.data(), 30, 40, 0f); // gallery 3 is zero
    FloatMatrix got = kernels().pairwise(q, g, Metric.COSINE);
    for (int j = 0; j < 6; j++) assertEquals(1f, got.get(1, j), 1e-6, ctx(seed, "zero query vs " + j));
    for (int i = 0; i < 4; i++) assertEquals(1f, got.get(i, 3), 1e-6, ctx(seed, "query " + i + " vs zero"));
    assertDistancesMatch(ReferenceKernels.distances(q, g, Metric.COSINE), got, Metric.COSINE, ctx(seed, "zero rows"));
  }

  @Test
  void pairwiseZeroRows() {
    Random r = new Random(BASE_SEED + 400);
    for (Metric m : METRICS) {
      FloatMatrix a = kernels().pairwise(FloatMatrix.zeros(0, 5), gaussian(r, 7, 5), m);
      assertEquals(0, a.rows());
      assertEquals(7, a.cols());
      FloatMatrix b = kernels().pairwise(gaussian(r, 4, 5), FloatMatrix.zeros(0, 5), m);
      assertEquals(4, b.rows());
      assertEquals(0, b.cols());
      FloatMatrix c = kernels().pairwise(FloatMatrix.zeros(0, 5), FloatMatrix.zeros(0, 5), m);
      assertEquals(0, c.data().length);
    }
  }

  @Test
  void pairwiseRejectsBadInputs() {
    Random r = new Random(BASE_SEED + 500);
    FloatMatrix q = gaussian(r, 4, 6), g = gaussian(r, 5, 6);
    FloatMatrix badQ = gaussian(r, 4, 6);
    badQ.set(2, 3, Float.NaN);
    assertThrowsMentioning(() -> kernels().pairwise(badQ, g, Metric.SQEUCLIDEAN), "query", "row 2, column 3");
    FloatMatrix badG = gaussian(r, 5, 6);
    badG.set(4, 0, Float.POSITIVE_INFINITY);
    assertThrowsMentioning(() -> kernels().pairwise(q, badG, Metric.COSINE), "gallery", "row 4, column 0");
    assertThrowsMentioning(() -> kernels().pairwise(q, gaussian(r, 5, 7), Metric.EUCLIDEAN), "dimension");
    assertThrowsMentioning(() -> kernels().pairwise(FloatMatrix.zeros(2, 0), FloatMatrix.zeros(2, 0),
        Metric.SQEUCLIDEAN), "column");
  }

  // -------------------------------------------------------------------------------------- topk

  /** Values quantised to a few levels so that rows are full of ties. */
  static FloatMatrix tiedMatrix(Random r, int rows, int cols) {
    float[] d = new float[rows * cols];
    for (int i = 0; i < d.length; i++) d[i] = r.nextInt(6) * 0.25f - 0.5f;
    return new FloatMatrix(rows, cols, d);
  }

  void assertTopkExact(FloatMatrix dist, int k, String ctx) {
    TopK got = kernels().topk(dist, k);
    ReferenceKernels.RefTopK ref = ReferenceKernels.topk(ReferenceKernels.toDouble(dist), k);
    assertEquals(dist.rows(), got.rows(), ctx);
    assertEquals(k, got.k(), ctx);
    for (int r = 0; r < dist.rows(); r++) {
      for (int j = 0; j < k; j++) {
        assertEquals(ref.idx()[r][j], got.index(r, j), ctx + " k=" + k + " index at (" + r + ", " + j + ")");
        assertEquals((float) ref.val()[r][j], got.value(r, j), 0f, ctx + " k=" + k + " value at (" + r + ", " + j + ")");
      }
    }
  }

  @Test
  void topkMatchesFullSortIncludingTies() {
    int[][] shapes = {{1, 1}, {3, 17}, {17, 33}, {33, 100}, {5, 257}, {100, 3}};
    int c = 0;
    for (int[] s : shapes) {
      long seed = BASE_SEED + 600 + c++;
      Random r = new Random(seed);
      for (FloatMatrix dist : new FloatMatrix[] {gaussian(r, s[0], s[1]), tiedMatrix(r, s[0], s[1])}) {
        for (int k : new int[] {0, 1, Math.min(2, s[1]), s[1] / 2, s[1] - 1, s[1]}) {
          if (k >= 0) assertTopkExact(dist, k, ctx(seed, "topk " + s[0] + "x" + s[1]));
        }
      }
    }
  }

  @Test
  void topkWithInfinitiesAndNegativeValues() {
    long seed = BASE_SEED + 700;
    Random r = new Random(seed);
    FloatMatrix dist = tiedMatrix(r, 6, 19);
    for (int i = 0; i < dist.data().length; i += 5) dist.data()[i] = Float.POSITIVE_INFINITY;
    for (int i = 3; i < dist.data().length; i += 11) dist.data()[i] = Float.NEGATIVE_INFINITY;
    for (int k : new int[] {1, 4, 15, 19}) assertTopkExact(dist, k, ctx(seed, "topk with infinities"));
  }

  @Test
  void topkZeroRowsAndColumns() {
    TopK t = kernels().topk(FloatMatrix.zeros(0, 9), 4);
    assertEquals(0, t.rows());
    assertEquals(0, t.values().length);
    TopK u = kernels().topk(FloatMatrix.zeros(3, 0), 0);
    assertEquals(3, u.rows());
    assertEquals(0, u.indices().length);
  }

  @Test
  void topkRejectsBadK() {
    FloatMatrix d = tiedMatrix(new Random(BASE_SEED + 800), 3, 5);
    assertThrowsMentioning(() -> kernels().topk(d, -1), "k");
    assertThrowsMentioning(() -> kernels().topk(d, 6), "k");
    d.set(1, 4, Float.NaN);
    assertThrowsMentioning(() -> kernels().topk(d, 2), "NaN", "row 1", "column 4");
  }

  /** A NaN is refused wherever it is, also after an infinity (the native backends looked at the first non-finite only). */
  @Test
  void topkRejectsNaNAfterAnInfinity() {
    FloatMatrix d = new FloatMatrix(2, 2, new float[] {1f, Float.POSITIVE_INFINITY, Float.NaN, 0f});
    assertThrowsMentioning(() -> kernels().topk(d, 0), "NaN", "row 1", "column 0");
    assertThrowsMentioning(() -> kernels().topk(d, 2), "NaN", "row 1", "column 0");
  }

  // ----------------------------------------------------------------------------- pairwise topk

  /** Fused top-k against the reference, allowing float rounding: see the class comment. */
  void assertPairwiseTopk(FloatMatrix q, FloatMatrix g, Metric m, int k, String ctx) {
    TopK got = kernels().pairwiseTopk(q, g, m, k);
    double[][] d = ReferenceKernels.distances(q, g, m);
    ReferenceKernels.RefTopK ref = ReferenceKernels.topk(d, k);
    assertEquals(q.rows(), got.rows(), ctx);
    assertEquals(k, got.k(), ctx);
    double s = scale(d);
    for (int r = 0; r < q.rows(); r++) {
      Set<Integer> seen = new HashSet<>();
      for (int j = 0; j < k; j++) {
        int idx = got.index(r, j);
        float v = got.value(r, j);
        String at = ctx + " " + m + " k=" + k + " at (" + r + ", " + j + ")";
        assertTrue(idx >= 0 && idx < g.rows() && seen.add(idx), at + ": bad or repeated index " + idx);
        assertTrue(close(ref.val()[r][j], v, s, m), at + ": value " + v + ", expected " + ref.val()[r][j]);
        assertTrue(close(d[r][idx], v, s, m), at + ": value " + v + " is not the distance to " + idx);
        if (j > 0) {
          float pv = got.value(r, j - 1);
          int pi = got.index(r, j - 1);
          assertTrue(pv < v || (pv == v && pi < idx), at + ": not ascending by (value, index)");
          if (d[r][pi] == d[r][idx]) assertTrue(pi < idx, at + ": exact tie not ordered by index");
        }
      }
    }
  }

  @Test
  void pairwiseTopkMatchesReference() {
    int c = 0;
    for (int[] s : SHAPES) {
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 900 + c++;
        Random r = new Random(seed);
        FloatMatrix q = gaussian(r, s[0], s[2]), g = gaussian(r, s[1], s[2]);
        if (s[1] > 3) copyRow(g, 1, g, s[1] - 2);
        for (int k : new int[] {0, 1, Math.min(5, s[1]), s[1]})
          assertPairwiseTopk(q, g, m, k, ctx(seed, "pairwiseTopk " + s[0] + "x" + s[1] + "x" + s[2]));
      }
    }
  }

  @Test
  void pairwiseTopkTiesAreExactOnIntegers() {
    long seed = BASE_SEED + 1000;
    Random r = new Random(seed);
    FloatMatrix q = integers(r, 11, 3, 1), g = integers(r, 50, 3, 1); // 27 distinct points: many duplicates
    for (Metric m : new Metric[] {Metric.SQEUCLIDEAN, Metric.EUCLIDEAN}) {
      for (int k : new int[] {1, 7, 50}) {
        TopK got = kernels().pairwiseTopk(q, g, m, k);
        ReferenceKernels.RefTopK ref = ReferenceKernels.topk(ReferenceKernels.distances(q, g, m), k);
        for (int i = 0; i < q.rows(); i++) {
          for (int j = 0; j < k; j++) {
            assertEquals(ref.idx()[i][j], got.index(i, j), ctx(seed, m + " k=" + k + " (" + i + ", " + j + ")"));
            assertEquals((float) ref.val()[i][j], got.value(i, j), 0f, ctx(seed, m + " value"));
          }
        }
      }
    }
  }

  /** The lists with row maxima: exactly topk of pairwise and the largest value of each of its rows. */
  @Test
  void pairwiseTopkWithMaxIsTopkAndMaxOfPairwise() {
    int c = 0;
    for (int[] s : SHAPES) {
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 2100 + c++;
        Random r = new Random(seed);
        FloatMatrix q = c % 2 == 0 ? gaussian(r, s[0], s[2]) : integers(r, s[0], s[2], 1);
        FloatMatrix g = c % 2 == 0 ? gaussian(r, s[1], s[2]) : integers(r, s[1], s[2], 1);
        FloatMatrix d = kernels().pairwise(q, g, m);
        for (int k : new int[] {0, 1, Math.min(5, s[1]), s[1]}) {
          String ctx = ctx(seed, "pairwiseTopkWithMax " + m + " " + s[0] + "x" + s[1] + "x" + s[2] + " k=" + k);
          TopKWithMax got = kernels().pairwiseTopkWithMax(q, g, m, k);
          TopK want = kernels().topk(d, k);
          assertArrayEquals(want.indices(), got.nearest().indices(), ctx);
          assertArrayEquals(want.values(), got.nearest().values(), 0f, ctx);
          for (int i = 0; i < s[0]; i++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < s[1]; j++) max = Math.max(max, d.get(i, j));
            assertEquals(max, got.rowMax()[i], 0f, ctx + " row " + i);
          }
        }
      }
    }
    Random r = new Random(BASE_SEED + 2200);
    TopKWithMax none = kernels().pairwiseTopkWithMax(gaussian(r, 2, 4), FloatMatrix.zeros(0, 4), Metric.EUCLIDEAN, 0);
    assertArrayEquals(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, none.rowMax(), 0f);
    assertEquals(0, kernels().pairwiseTopkWithMax(FloatMatrix.zeros(0, 4), gaussian(r, 3, 4), Metric.COSINE, 2)
        .rowMax().length);
    FloatMatrix q = gaussian(r, 3, 4), g = gaussian(r, 6, 4);
    assertThrowsMentioning(() -> kernels().pairwiseTopkWithMax(q, g, Metric.SQEUCLIDEAN, 7), "k");
    assertThrowsMentioning(() -> kernels().pairwiseTopkWithMax(q, gaussian(r, 6, 5), Metric.SQEUCLIDEAN, 1),
        "dimension");
    g.set(5, 2, Float.NaN);
    assertThrowsMentioning(() -> kernels().pairwiseTopkWithMax(q, g, Metric.SQEUCLIDEAN, 1), "row 5, column 2");
  }

  @Test
  void pairwiseTopkZeroRowsAndBadInputs() {
    Random r = new Random(BASE_SEED + 1100);
    TopK t = kernels().pairwiseTopk(FloatMatrix.zeros(0, 4), gaussian(r, 6, 4), Metric.COSINE, 3);
    assertEquals(0, t.rows());
    TopK u = kernels().pairwiseTopk(gaussian(r, 2, 4), FloatMatrix.zeros(0, 4), Metric.COSINE, 0);
    assertEquals(2, u.rows());
    assertEquals(0, u.values().length);
    FloatMatrix q = gaussian(r, 3, 4), g = gaussian(r, 6, 4);
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, g, Metric.SQEUCLIDEAN, 7), "k");
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, g, Metric.SQEUCLIDEAN, -1), "k");
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, gaussian(r, 6, 5), Metric.SQEUCLIDEAN, 1), "dimension");
    g.set(5, 2, Float.NaN);
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, g, Metric.SQEUCLIDEAN, 1), "row 5, column 2");
  }

  @Test
  void pairwiseTopkFromBuffersEqualsTheMatrixForm() {
    int c = 0;
    for (int[] s : SHAPES) {
      long seed = BASE_SEED + 1150 + c++;
      Random r = new Random(seed);
      FloatMatrix q = gaussian(r, s[0], s[2]), g = gaussian(r, s[1], s[2]);
      int skip = 1 + r.nextInt(3); // rows before the buffer's position, which must not be read
      for (boolean direct : new boolean[] {true, false}) {
        java.nio.FloatBuffer b = direct
            ? java.nio.ByteBuffer.allocateDirect((skip + s[1] + 2) * s[2] * 4).order(java.nio.ByteOrder.nativeOrder())
                .asFloatBuffer()
            : java.nio.FloatBuffer.allocate((skip + s[1] + 2) * s[2]);
        for (int i = 0; i < skip * s[2]; i++) b.put(-1e3f);
        b.put(g.data());
        for (int i = 0; i < 2 * s[2]; i++) b.put(-1e3f); // and rows after it
        b.position(skip * s[2]);
        for (Metric m : METRICS) {
          int k = Math.min(4, s[1]);
          String where = ctx(seed, "buffer (direct " + direct + ") " + s[0] + "x" + s[1] + "x" + s[2] + " " + m);
          TopK want = kernels().pairwiseTopk(q, g, m, k), got = kernels().pairwiseTopk(q, b, s[1], m, k);
          assertArrayEquals(want.indices(), got.indices(), where);
          assertArrayEquals(want.values(), got.values(), 0f, where);
          assertEquals(skip * s[2], b.position(), "the call leaves the buffer's position alone");
        }
      }
    }
    FloatMatrix q = gaussian(new Random(1), 2, 4);
    java.nio.FloatBuffer small = java.nio.ByteBuffer.allocateDirect(4 * 4 * 3).asFloatBuffer();
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, small, 4, Metric.COSINE, 1), "needs 16 floats", "has 12");
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, small, 3, Metric.COSINE, 4), "k");
  }

  // -------------------------------------------------------------------------------- batch-hard

  /**
   * Checks mining against the reference: the chosen index is a valid candidate whose exact distance
   * is within tolerance of the hardest one, the index equals the reference one unless another
   * candidate is within twice the tolerance, and an exact tie goes to the smaller index.
   */
  static void assertMining(ReferenceKernels.RefMining ref, double[][] d, int[] al, int[] cl, boolean excludeSelf,
      HardMining got, Metric m, String ctx) {
    assertEquals(ref.posIdx().length, got.size(), ctx);
    double s = scale(d);
    for (int i = 0; i < got.size(); i++) {
      checkOne(i, true, ref.posIdx()[i], ref.posDist()[i], got.posIdx()[i], got.posDist()[i], d, al, cl, excludeSelf, s,
          m, ctx);
      checkOne(i, false, ref.negIdx()[i], ref.negDist()[i], got.negIdx()[i], got.negDist()[i], d, al, cl, excludeSelf,
          s, m, ctx);
    }
  }

  private static void checkOne(int i, boolean pos, int refIdx, double refDist, int idx, float dist, double[][] d,
      int[] al, int[] cl, boolean excludeSelf, double s, Metric m, String ctx) {
    String at = ctx + " " + m + " anchor " + i + (pos ? " positive" : " negative");
    if (refIdx < 0) {
      assertEquals(-1, idx, at + ": expected no candidate");
      assertTrue(Float.isNaN(dist), at + ": expected NaN distance, got " + dist);
      return;
    }
    assertTrue(idx >= 0 && idx < cl.length && (cl[idx] == al[i]) == pos && !(excludeSelf && idx == i),
        at + ": " + idx + " is not a candidate");
    assertTrue(close(refDist, dist, s, m), at + ": distance " + dist + ", expected " + refDist);
    assertTrue(close(d[i][idx], dist, s, m), at + ": distance " + dist + " is not that of " + idx);
    boolean nearTie = false;
    for (int j = 0; j < cl.length; j++) {
      if ((excludeSelf && j == i) || (cl[j] == al[i]) != pos) continue;
      if (j != refIdx && close(d[i][j], (float) refDist, 2 * s, m)) nearTie = true;
      if (d[i][j] == d[i][idx] && j < idx) fail(at + ": exact tie with " + j + " should go to the smaller index");
    }
    if (!nearTie) assertEquals(refIdx, idx, at);
  }

  @Test
  void batchHardMatchesReference() {
    int c = 0;
    for (int n : new int[] {2, 3, 17, 33, 100}) {
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 1200 + c++;
        Random r = new Random(seed);
        int dim = 1 + r.nextInt(40);
        FloatMatrix x = gaussian(r, n, dim);
        int[] lab = labels(r, n, Math.max(1, n / 4));
        double[][] d = ReferenceKernels.distances(x, x, m);
        assertMining(ReferenceKernels.batchHard(d, lab, lab, true), d, lab, lab, true, kernels().batchHard(x, lab, m),
            m, ctx(seed, "batchHard n=" + n + " d=" + dim));
      }
    }
  }

  @Test
  void batchHardTiesOnIntegers() {
    long seed = BASE_SEED + 1300;
    Random r = new Random(seed);
    FloatMatrix x = integers(r, 40, 2, 1);
    int[] lab = labels(r, 40, 3);
    for (Metric m : new Metric[] {Metric.SQEUCLIDEAN, Metric.EUCLIDEAN}) {
      double[][] d = ReferenceKernels.distances(x, x, m);
      ReferenceKernels.RefMining ref = ReferenceKernels.batchHard(d, lab, lab, true);
      HardMining got = kernels().batchHard(x, lab, m);
      assertArrayEquals(ref.posIdx(), got.posIdx(), ctx(seed, m + " positives"));
      assertArrayEquals(ref.negIdx(), got.negIdx(), ctx(seed, m + " negatives"));
    }
  }

  @Test
  void batchHardDegenerateBatches() {
    Random r = new Random(BASE_SEED + 1400);
    // Anchor 2 has a label of its own: no positive.
    FloatMatrix x = gaussian(r, 5, 6);
    HardMining h = kernels().batchHard(x, new int[] {1, 1, 7, 1, 1}, Metric.SQEUCLIDEAN);
    assertEquals(-1, h.posIdx()[2]);
    assertTrue(Float.isNaN(h.posDist()[2]));
    assertTrue(h.negIdx()[2] >= 0);
    assertEquals(2, h.negIdx()[0]);
    // One label for the whole batch: no negatives anywhere.
    HardMining one = kernels().batchHard(x, new int[] {4, 4, 4, 4, 4}, Metric.COSINE);
    for (int i = 0; i < 5; i++) {
      assertEquals(-1, one.negIdx()[i]);
      assertTrue(Float.isNaN(one.negDist()[i]));
      assertTrue(one.posIdx()[i] >= 0 && one.posIdx()[i] != i);
    }
    // A single anchor: nothing at all. No anchors: empty result.
    HardMining single = kernels().batchHard(gaussian(r, 1, 6), new int[] {0}, Metric.EUCLIDEAN);
    assertEquals(-1, single.posIdx()[0]);
    assertEquals(-1, single.negIdx()[0]);
    assertTrue(Float.isNaN(single.posDist()[0]) && Float.isNaN(single.negDist()[0]));
    assertEquals(0, kernels().batchHard(FloatMatrix.zeros(0, 6), new int[0], Metric.EUCLIDEAN).size());
  }

  @Test
  void batchHardRejectsBadInputs() {
    Random r = new Random(BASE_SEED + 1500);
    FloatMatrix x = gaussian(r, 4, 3);
    assertThrowsMentioning(() -> kernels().batchHard(x, new int[3], Metric.SQEUCLIDEAN), "4 rows", "3 labels");
    assertThrowsMentioning(() -> kernels().batchHard(x, null, Metric.SQEUCLIDEAN), "labels");
    x.set(3, 1, Float.NEGATIVE_INFINITY);
    assertThrowsMentioning(() -> kernels().batchHard(x, new int[4], Metric.SQEUCLIDEAN), "row 3, column 1");
  }

  @Test
  void batchHardMemoryMatchesReference() {
    int c = 0;
    for (int[] s : new int[][] {{1, 1}, {3, 17}, {17, 33}, {33, 100}, {20, 1}}) {
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 1600 + c++;
        Random r = new Random(seed);
        int dim = 1 + r.nextInt(30);
        FloatMatrix a = gaussian(r, s[0], dim), mem = gaussian(r, s[1], dim);
        int[] al = labels(r, s[0], 5), ml = labels(r, s[1], 5);
        double[][] d = ReferenceKernels.distances(a, mem, m);
        assertMining(ReferenceKernels.batchHard(d, al, ml, false), d, al, ml, false,
            kernels().batchHardMemory(a, al, mem, ml, m), m, ctx(seed, "memory " + s[0] + "x" + s[1] + " d=" + dim));
      }
    }
  }

  @Test
  void batchHardMemoryCountsACopyOfTheAnchor() {
    Random r = new Random(BASE_SEED + 1700);
    FloatMatrix a = integers(r, 1, 4, 2);
    FloatMatrix mem = integers(r, 5, 4, 2);
    copyRow(a, 0, mem, 3); // the only same-label entry is an exact copy of the anchor
    HardMining h = kernels().batchHardMemory(a, new int[] {9}, mem, new int[] {1, 2, 3, 9, 4}, Metric.SQEUCLIDEAN);
    assertEquals(3, h.posIdx()[0]);
    assertEquals(0f, h.posDist()[0], 0f);
    HardMining empty = kernels().batchHardMemory(a, new int[] {9}, FloatMatrix.zeros(0, 4), new int[0],
        Metric.SQEUCLIDEAN);
    assertEquals(-1, empty.posIdx()[0]);
    assertEquals(-1, empty.negIdx()[0]);
  }

  @Test
  void batchHardMemoryRejectsBadInputs() {
    Random r = new Random(BASE_SEED + 1800);
    FloatMatrix a = gaussian(r, 3, 4), mem = gaussian(r, 6, 4);
    assertThrowsMentioning(() -> kernels().batchHardMemory(a, new int[2], mem, new int[6], Metric.COSINE), "anchors");
    assertThrowsMentioning(() -> kernels().batchHardMemory(a, new int[3], mem, new int[5], Metric.COSINE), "memory");
    assertThrowsMentioning(() -> kernels().batchHardMemory(a, new int[3], gaussian(r, 6, 3), new int[6],
        Metric.COSINE), "dimension");
    mem.set(2, 2, Float.NaN);
    assertThrowsMentioning(() -> kernels().batchHardMemory(a, new int[3], mem, new int[6], Metric.COSINE), "memory",
        "row 2, column 2");
  }

  // ----------------------------------------------------------------------------------- re-ranking

  void assertRerank(FloatMatrix q, FloatMatrix g, Metric m, int k1, int k2, float lambda, String ctx) {
    double[][] ref = ReferenceKernels.rerank(q, g, m, k1, k2, lambda);
    FloatMatrix got = kernels().rerank(q, g, m, new RerankParams(k1, k2, lambda));
    String at = ctx + " " + m + " k1=" + k1 + " k2=" + k2 + " lambda=" + lambda;
    assertEquals(q.rows(), got.rows(), at);
    assertEquals(g.rows(), got.cols(), at);
    for (int i = 0; i < q.rows(); i++) {
      for (int j = 0; j < g.rows(); j++) {
        if (!(Math.abs(got.get(i, j) - ref[i][j]) <= TOL))
          fail(at + " at (" + i + ", " + j + "): expected " + ref[i][j] + ", got " + got.get(i, j));
      }
    }
  }

  @Test
  void rerankMatchesDenseReferenceOverParameterGrid() {
    long seed = BASE_SEED + 1900;
    Random r = new Random(seed);
    FloatMatrix q = integers(r, 7, 6, 2), g = integers(r, 23, 6, 2);
    copyRow(q, 0, g, 5); // a gallery copy of a query: distance 0, a tie with the query itself
    for (int k1 : new int[] {1, 2, 5, 7, 20})
      for (int k2 : new int[] {1, 3, 6})
        for (float lambda : new float[] {0f, 0.3f, 1f}) assertRerank(q, g, Metric.SQEUCLIDEAN, k1, k2, lambda, ctx(seed, "grid"));
  }

  @Test
  void rerankOtherMetricsAndShapes() {
    int c = 0;
    int[][] shapes = {{1, 1, 3}, {2, 3, 5}, {3, 17, 9}, {10, 41, 16}, {17, 33, 8}};
    for (int[] s : shapes) {
      long seed = BASE_SEED + 2000 + c++;
      Random r = new Random(seed);
      FloatMatrix qi = integers(r, s[0], s[2], 2), gi = integers(r, s[1], s[2], 2);
      assertRerank(qi, gi, Metric.EUCLIDEAN, 5, 3, 0.3f, ctx(seed, "integers " + s[0] + "x" + s[1]));
      assertRerank(qi, gi, Metric.SQEUCLIDEAN, 20, 6, 0.3f, ctx(seed, "integers " + s[0] + "x" + s[1]));
      FloatMatrix q = gaussian(r, s[0], s[2]), g = gaussian(r, s[1], s[2]);
      if (s[1] > 2) java.util.Arrays.fill(g.data(), 0, s[2], 0f); // a zero gallery vector
      assertRerank(q, g, Metric.COSINE, 7, 3, 0.3f, ctx(seed, "gaussian " + s[0] + "x" + s[1]));
      assertRerank(q, g, Metric.SQEUCLIDEAN, 20, 6, 0.3f, ctx(seed, "gaussian " + s[0] + "x" + s[1]));
      assertRerank(q, g, Metric.EUCLIDEAN, 2, 1, 0f, ctx(seed, "gaussian " + s[0] + "x" + s[1]));
    }
  }

  @Test
  void rerankWithFewerItemsThanK1() {
    long seed = BASE_SEED + 2100;
    Random r = new Random(seed);
    FloatMatrix q = integers(r, 2, 4, 2), g = integers(r, 3, 4, 2);
    for (int k2 : new int[] {1, 3, 6}) assertRerank(q, g, Metric.SQEUCLIDEAN, 20, k2, 0.3f, ctx(seed, "N=5"));
    assertRerank(q, g, Metric.SQEUCLIDEAN, 4, 6, 0.3f, ctx(seed, "N=5"));
  }

  @Test
  void rerankOfIdenticalPointsUsesZeroOriginalDistance() {
    FloatMatrix q = new FloatMatrix(2, 3, new float[] {1, 2, 3, 1, 2, 3});
    FloatMatrix g = new FloatMatrix(3, 3, new float[] {1, 2, 3, 1, 2, 3, 1, 2, 3});
    for (int k1 : new int[] {1, 2, 20}) assertRerank(q, g, Metric.SQEUCLIDEAN, k1, 3, 0.5f, "[identical points]");
  }

  /**
   * Neighbour lists are ordered by (distance, index). The query's distances to gallery rows 0 and 1,
   * 16049861 and 16049860, are one apart (exact in float), but divided by the row maximum 20834708 both
   * round to the same float: ordering by that ratio put row 0 first (the plain-Java kernels did; the
   * native ones order by distance, as the dense reference does).
   */
  @Test
  void rerankOrdersNeighboursByDistanceWhereTheirRatiosRoundAlike() {
    FloatMatrix q = new FloatMatrix(1, 2, new float[] {0, 0});
    FloatMatrix g = new FloatMatrix(3, 2, new float[] {2545, 3094, 184, 4002, 3938, 2308});
    assertRerank(q, g, Metric.SQEUCLIDEAN, 1, 2, 0.3f, "[distances one apart, equal ratios]");
  }

  @Test
  void rerankEmptySides() {
    Random r = new Random(BASE_SEED + 2200);
    FloatMatrix a = kernels().rerank(FloatMatrix.zeros(0, 4), gaussian(r, 5, 4), Metric.SQEUCLIDEAN,
        RerankParams.DEFAULT);
    assertEquals(0, a.rows());
    assertEquals(5, a.cols());
    FloatMatrix b = kernels().rerank(gaussian(r, 3, 4), FloatMatrix.zeros(0, 4), Metric.SQEUCLIDEAN,
        RerankParams.DEFAULT);
    assertEquals(3, b.rows());
    assertEquals(0, b.cols());
  }

  @Test
  void rerankRejectsBadInputs() {
    Random r = new Random(BASE_SEED + 2300);
    FloatMatrix q = gaussian(r, 3, 4), g = gaussian(r, 5, 4);
    assertThrowsMentioning(() -> kernels().rerank(q, gaussian(r, 5, 3), Metric.SQEUCLIDEAN, RerankParams.DEFAULT),
        "dimension");
    g.set(1, 3, Float.NaN);
    assertThrowsMentioning(() -> kernels().rerank(q, g, Metric.SQEUCLIDEAN, RerankParams.DEFAULT), "gallery",
        "row 1, column 3");
    assertThrows(IllegalArgumentException.class, () -> new RerankParams(0, 6, 0.3f));
    assertThrows(IllegalArgumentException.class, () -> new RerankParams(20, 0, 0.3f));
    assertThrows(IllegalArgumentException.class, () -> new RerankParams(20, 6, 1.5f));
  }
  /** k1 and k2 beyond the item count mean "all items" on every backend (they used to overflow a buffer size). */
  @Test
  void rerankWithHugeK1EqualsAllItems() {
    long seed = BASE_SEED + 2400;
    Random r = new Random(seed);
    FloatMatrix q = integers(r, 3, 4, 3), g = integers(r, 6, 4, 3);
    FloatMatrix all = kernels().rerank(q, g, Metric.SQEUCLIDEAN, new RerankParams(9, 9, 0.3f));
    FloatMatrix huge = kernels().rerank(q, g, Metric.SQEUCLIDEAN, new RerankParams(Integer.MAX_VALUE,
        Integer.MAX_VALUE, 0.3f));
    assertArrayEquals(all.data(), huge.data(), (float) TOL, ctx(seed, "k1 = k2 = 2^31-1 vs 9 items"));
    assertRerank(q, g, Metric.SQEUCLIDEAN, 9, 9, 0.3f, ctx(seed, "k1 = k2 = N"));
  }

  /**
   * Features whose squared norms overflow float32 are refused with the same message by every call and
   * every backend (the cpu backend used to rank NaN distances as 0 and report a wrong mAP).
   */
  @Test
  void featuresThatWouldOverflowAreRefused() {
    Random r = new Random(BASE_SEED + 2500);
    FloatMatrix q = gaussian(r, 3, 4), g = gaussian(r, 5, 4);
    FloatMatrix big = new FloatMatrix(5, 4, g.data().clone());
    for (int c = 0; c < 4; c++) big.set(2, c, 1e19f);
    assertThrowsMentioning(() -> kernels().pairwise(q, big, Metric.SQEUCLIDEAN), "gallery features row 2",
        "squared norm", "normalise");
    assertThrowsMentioning(() -> kernels().pairwise(q, big, Metric.COSINE), "gallery features row 2");
    assertThrowsMentioning(() -> kernels().pairwiseTopk(q, big, Metric.EUCLIDEAN, 2), "gallery features row 2");
    assertThrowsMentioning(() -> kernels().rerank(q, big, Metric.SQEUCLIDEAN, RerankParams.DEFAULT),
        "gallery features row 2");
    assertThrowsMentioning(() -> kernels().batchHard(big, new int[] {0, 0, 1, 1, 2}, Metric.SQEUCLIDEAN),
        "embeddings row 2");
    // just inside the limit still works and stays finite
    FloatMatrix edge = new FloatMatrix(1, 1, new float[] {(float) Math.sqrt(Checks.MAX_SQUARED_NORM) * 0.999f});
    FloatMatrix d = kernels().pairwise(edge, edge, Metric.SQEUCLIDEAN);
    assertTrue(Float.isFinite(d.get(0, 0)), "distance " + d.get(0, 0));
  }

  // ------------------------------------------------------------------- scoring on the device

  /** Labels: `ids` identities over `cams` cameras, about 8% junk, some queries with pid -1 and one with no match. */
  static QueryLabels evalLabels(Random r, int nq, int ng, int ids, int cams) {
    int[] qp = labels(r, nq, ids), qc = labels(r, nq, cams), gp = labels(r, ng, ids), gc = labels(r, ng, cams);
    for (int j = 0; j < ng; j++) if (r.nextInt(100) < 8) gp[j] = -1;
    for (int i = 0; i < nq; i++) if (r.nextInt(100) < 5) qp[i] = -1;
    if (nq > 2) qp[2] = ids + 7;
    return new QueryLabels(qp, qc, gp, gc);
  }

  static void assertSameScores(QueryScores want, QueryScores got, String ctx) {
    assertSameScores(want, got, ctx, new boolean[want.size()]);
  }

  /** As above, except for the queries marked in skip (see {@link #fragile}). */
  static void assertSameScores(QueryScores want, QueryScores got, String ctx, boolean[] skip) {
    assertEquals(want.size(), got.size(), ctx);
    for (int i = 0; i < want.size(); i++) {
      if (skip[i]) continue;
      String at = ctx + " query " + i;
      assertEquals(want.first()[i], got.first()[i], at + ": first-match rank");
      assertEquals(want.nanColumn()[i], got.nanColumn()[i], at + ": NaN column");
      assertEquals(want.ap()[i], got.ap()[i], 1e-12, at + ": AP");
      assertEquals(want.inp()[i], got.inp()[i], 1e-12, at + ": INP");
    }
  }

  /**
   * A backend that scores its own matrix (CUDA) gives, query by query, the host evaluator's scores
   * of the matrix it hands out (plain and re-ranked; ties, junk, one camera, one row, chunks of
   * rows); the others decline and leave the scoring to the host.
   */
  @Test
  void deviceScoresEqualTheEvaluatorOnTheSameMatrix() {
    int[][] cases = {{1, 1, 3, 1, 2}, {3, 5, 2, 1, 1}, {37, 301, 17, 12, 4}, {64, 200, 8, 20, 3}, {20, 90, 4, 3, 2}};
    for (int c = 0; c < cases.length; c++) {
      int nq = cases[c][0], ng = cases[c][1], d = cases[c][2], ids = cases[c][3], cams = cases[c][4];
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 1700 + 10 * c + m.ordinal();
        Random r = new Random(seed);
        boolean ties = c % 2 == 1;
        FloatMatrix q = ties ? integers(r, nq, d, 2) : gaussian(r, nq, d);
        FloatMatrix g = ties ? integers(r, ng, d, 2) : gaussian(r, ng, d);
        QueryLabels l = evalLabels(r, nq, ng, ids, cams);
        String ctx = ctx(seed, m + " " + nq + "x" + ng + "x" + d);
        java.util.Optional<QueryScores> got = kernels().pairwiseScores(q, g, m, l);
        RerankParams rp = new RerankParams(9, 3, 0.3f);
        java.util.Optional<QueryScores> gotRr = kernels().rerankScores(q, g, m, rp, l);
        if (kernels().backend() != Backend.CUDA) {
          assertTrue(got.isEmpty() && gotRr.isEmpty(), ctx + ": only the CUDA backend scores on the device");
          continue;
        }
        assertSameScores(score(kernels().pairwise(q, g, m), l), got.orElseThrow(), ctx);
        FloatMatrix rr = kernels().rerank(q, g, m, rp); // another call: equal up to rounding (see fragile)
        assertSameScores(score(rr, l), gotRr.orElseThrow(), ctx + " re-ranked", fragile(rr, l, 1e-5));
        assertEquals(org.reid4j.eval.ReidEvaluator.evaluate(kernels().pairwise(q, g, m), l.queryPids(),
            l.queryCamids(), l.galleryPids(), l.galleryCamids()).toString(),
            org.reid4j.eval.ReidEvaluator.fromScores(got.get()).toString(), ctx);
      }
    }
  }

  /**
   * Queries whose ranking float rounding can change: a match and a valid non-match within eps of
   * each other. CUDA re-ranking sums in an order that varies between calls (float atomics), so two
   * calls agree only up to rounding; its scores are compared exactly on every other query.
   */
  static boolean[] fragile(FloatMatrix dist, QueryLabels l, double eps) {
    int nq = dist.rows(), ng = dist.cols();
    boolean[] out = new boolean[nq];
    for (int i = 0; i < nq; i++) {
      int pid = l.queryPids()[i], cam = l.queryCamids()[i];
      List<Float> match = new ArrayList<>(), other = new ArrayList<>();
      for (int j = 0; j < ng; j++) {
        int gp = l.galleryPids()[j];
        if (gp == -1 || (gp == pid && l.galleryCamids()[j] == cam)) continue;
        (gp == pid ? match : other).add(dist.get(i, j));
      }
      for (float a : match)
        for (float b : other) out[i] |= Math.abs(a - b) <= eps;
    }
    return out;
  }

  private static QueryScores score(FloatMatrix dist, QueryLabels l) {
    return org.reid4j.eval.ReidEvaluator.scoreQueries(dist, l.queryPids(), l.queryCamids(), l.galleryPids(),
        l.galleryCamids());
  }

  @Test
  void deviceScoringRefusesLabelsOfAnotherShape() {
    Random r = new Random(BASE_SEED + 1800);
    FloatMatrix q = gaussian(r, 4, 3), g = gaussian(r, 6, 3);
    QueryLabels wrongGallery = new QueryLabels(new int[4], new int[4], new int[5], new int[5]);
    QueryLabels wrongQueries = new QueryLabels(new int[3], new int[3], new int[6], new int[6]);
    assertThrowsMentioning(() -> new QueryLabels(new int[2], new int[3], new int[1], new int[1]), "2 query pids",
        "3 query camids");
    assertThrowsMentioning(() -> wrongGallery.requireShape(4, 6), "6 gallery rows", "5 gallery pids");
    assertThrowsMentioning(() -> wrongGallery.requireShape(4, 0), "0 gallery rows", "5 gallery pids");
    assertThrowsMentioning(() -> new QueryLabels(new int[4], new int[4], new int[0], new int[0]).requireShape(4, 0),
        "gallery is empty");
    if (kernels().backend() != Backend.CUDA) return; // the others decline before looking at the labels
    assertThrowsMentioning(() -> kernels().pairwiseScores(q, g, Metric.EUCLIDEAN, wrongGallery), "6 gallery rows",
        "5 gallery pids");
    assertThrowsMentioning(() -> kernels().rerankScores(q, g, Metric.EUCLIDEAN, RerankParams.DEFAULT, wrongQueries),
        "4 query rows", "3 query pids");
  }

  // ------------------------------------------------------------------------ native matrices

  /**
   * The native-matrix overloads give the heap methods' results bit for bit (the same kernels on the
   * same values; CUDA re-ranking to 1e-6, see below), plain, re-ranked and scored.
   */
  @Test
  void nativeMatricesGiveTheHeapResults() {
    for (int c = 0; c < SHAPES.length; c++) {
      int nq = SHAPES[c][0], ng = SHAPES[c][1], d = SHAPES[c][2];
      for (Metric m : METRICS) {
        long seed = BASE_SEED + 1900 + 10 * c + m.ordinal();
        Random r = new Random(seed);
        FloatMatrix q = c % 2 == 0 ? gaussian(r, nq, d) : integers(r, nq, d, 2);
        FloatMatrix g = c % 2 == 0 ? gaussian(r, ng, d) : integers(r, ng, d, 2);
        String ctx = ctx(seed, m + " " + nq + "x" + ng + "x" + d);
        RerankParams rp = new RerankParams(7, 3, 0.3f);
        QueryLabels l = evalLabels(r, nq, ng, 5, 3);
        try (NativeMatrix nqm = NativeMatrix.of(q); NativeMatrix ngm = NativeMatrix.of(g);
            NativeMatrix dist = kernels().pairwise(nqm, ngm, m); NativeMatrix rr = kernels().rerank(nqm, ngm, m, rp)) {
          assertArrayEquals(kernels().pairwise(q, g, m).data(), dist.toHeap().data(), ctx);
          // CUDA re-ranking sums in an order that can vary from call to call (float atomics): within 1e-6
          assertArrayEquals(kernels().rerank(q, g, m, rp).data(), rr.toHeap().data(),
              kernels().backend() == Backend.CUDA ? 1e-6f : 0f, ctx + " re-ranked");
          assertEquals(kernels().pairwiseScores(q, g, m, l).isPresent(), kernels().pairwiseScores(nqm, ngm, m, l)
              .isPresent(), ctx);
          kernels().pairwiseScores(nqm, ngm, m, l).ifPresent(sc -> assertSameScores(score(dist.toHeap(), l), sc, ctx));
          kernels().rerankScores(nqm, ngm, m, rp, l).ifPresent(sc -> assertSameScores(score(rr.toHeap(), l), sc,
              ctx + " re-ranked", fragile(rr.toHeap(), l, 1e-5)));
          assertSameScores(score(dist.toHeap(), l), org.reid4j.eval.ReidEvaluator.scoreQueries(dist, l.queryPids(),
              l.queryCamids(), l.galleryPids(), l.galleryCamids()), ctx + " evaluator on native memory");
        }
      }
    }
  }

  @Test
  void nativeMatricesAreRefusedLikeHeapOnes() {
    Random r = new Random(BASE_SEED + 2000);
    FloatMatrix q = gaussian(r, 3, 4), g = gaussian(r, 5, 4), g3 = gaussian(r, 5, 3);
    g.set(2, 1, Float.NaN);
    FloatMatrix big = new FloatMatrix(1, 4, new float[] {1e19f, 0, 0, 0});
    for (FloatMatrix[] bad : new FloatMatrix[][] {{q, g}, {q, g3}, {big, gaussian(r, 2, 4)}}) {
      String want = assertThrows(IllegalArgumentException.class, () -> kernels().pairwise(bad[0], bad[1],
          Metric.EUCLIDEAN)).getMessage();
      try (NativeMatrix a = NativeMatrix.of(bad[0]); NativeMatrix b = NativeMatrix.of(bad[1])) {
        assertEquals(want, assertThrows(IllegalArgumentException.class, () -> kernels().pairwise(a, b,
            Metric.EUCLIDEAN)).getMessage());
        assertEquals(want, assertThrows(IllegalArgumentException.class, () -> kernels().rerank(a, b, Metric.EUCLIDEAN,
            RerankParams.DEFAULT)).getMessage());
      }
    }
  }
}
