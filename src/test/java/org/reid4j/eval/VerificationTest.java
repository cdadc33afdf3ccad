package org.reid4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.eval.Verification.OperatingPoint;
import org.reid4j.eval.Verification.Options;
import org.reid4j.eval.Verification.Pairs;
import org.reid4j.eval.Verification.Result;
import org.reid4j.eval.Verification.Roc;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

class VerificationTest {
  static final double EPS = 1e-12;
  static final Kernels JAVA = Kernels.create(Backend.JAVA);

  @Test
  void rocOfAHandComputedCase() {
    // genuine {0.1, 0.2, 0.3}, impostors {0.25, 0.4, 0.5, 0.6}; accept d <= t.
    //   t      TPR   FPR
    //   -inf   0     0
    //   0.1    1/3   0
    //   0.2    2/3   0
    //   0.25   2/3   1/4
    //   0.3    1     1/4
    //   0.4    1     2/4
    //   0.5    1     3/4
    //   0.6    1     1
    Roc roc = Roc.of(new double[] {0.3, 0.1, 0.2}, new double[] {0.5, 0.25, 0.6, 0.4});
    double[] t = {Double.NEGATIVE_INFINITY, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6};
    double[] tpr = {0, 1 / 3., 2 / 3., 2 / 3., 1, 1, 1, 1};
    double[] fpr = {0, 0, 0, 0.25, 0.25, 0.5, 0.75, 1};
    assertEquals(t.length, roc.size());
    for (int k = 0; k < t.length; k++) {
      assertEquals(t[k], roc.threshold(k), EPS, "threshold " + k);
      assertEquals(tpr[k], roc.tpr(k), EPS, "tpr " + k);
      assertEquals(fpr[k], roc.fpr(k), EPS, "fpr " + k);
    }
    // AUC = P(genuine < impostor) = (4 + 4 + 3) / 12.
    assertEquals(11 / 12., roc.auc(), EPS);
    // EER: between t = 0.25 (FPR 1/4, FNR 1/3) and t = 0.3 (FPR 1/4, FNR 0): FPR stays 1/4.
    assertEquals(0.25, roc.eer(), EPS);

    assertOp(roc.atFpr(0), 0.2, 0, 2 / 3.);
    assertOp(roc.atFpr(0.1), 0.2, 0, 2 / 3.);
    assertOp(roc.atFpr(0.25), 0.3, 0.25, 1);
    assertOp(roc.atFpr(0.3), 0.3, 0.25, 1);
    assertOp(roc.atFpr(0.5), 0.4, 0.5, 1);
    assertOp(roc.atFpr(1), 0.6, 1, 1);
  }

  static void assertOp(OperatingPoint p, double threshold, double fpr, double tpr) {
    assertTrue(p.reachable());
    assertEquals(threshold, p.threshold(), EPS, "threshold");
    assertEquals(fpr, p.fpr(), EPS, "fpr");
    assertEquals(tpr, p.tpr(), EPS, "tpr");
  }

  @Test
  void tiesAreAcceptedTogetherAndCountHalf() {
    // genuine {0.1, 0.2}, impostors {0.2, 0.3}: at t = 0.2 one genuine and one impostor enter together.
    Roc roc = Roc.of(new double[] {0.1, 0.2}, new double[] {0.2, 0.3});
    assertEquals(4, roc.size());
    assertEquals(0.2, roc.threshold(2), EPS);
    assertEquals(0.5, roc.fpr(2), EPS);
    assertEquals(1.0, roc.tpr(2), EPS);
    // Mann-Whitney: 0.1 beats both (2), 0.2 ties 0.2 (1/2) and beats 0.3 (1): 3.5 / 4.
    assertEquals(0.875, roc.auc(), EPS);
    assertOp(roc.atFpr(0), 0.1, 0, 0.5);
    assertOp(roc.atFpr(0.49), 0.1, 0, 0.5);
    assertOp(roc.atFpr(0.5), 0.2, 0.5, 1);
    // Everything tied: the diagonal, AUC 1/2.
    Roc flat = Roc.of(new double[] {1, 1}, new double[] {1, 1, 1});
    assertEquals(2, flat.size());
    assertEquals(0.5, flat.auc(), EPS);
    assertEquals(0.5, flat.eer(), EPS);
    assertFalse(flat.atFpr(0.5).reachable());
    // -0.0 and 0.0 are one threshold.
    assertEquals(2, Roc.of(new double[] {-0.0}, new double[] {0.0}).size());
  }

  @Test
  void unreachableTargetIsMinusInfinity() {
    Roc roc = Roc.of(new double[] {0.5}, new double[] {0.1, 0.9});
    OperatingPoint p = roc.atFpr(0.1);
    assertFalse(p.reachable());
    assertEquals(Double.NEGATIVE_INFINITY, p.threshold());
    assertEquals(0, p.tpr(), EPS);
    assertEquals(0, p.fpr(), EPS);
    assertOp(roc.atFpr(0.5), 0.5, 0.5, 1);
  }

  @Test
  void perfectlySeparatedGivesAucOne() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    double[] g = new double[300], m = new double[700];
    for (int k = 0; k < g.length; k++) g[k] = r.nextDouble();
    for (int k = 0; k < m.length; k++) m[k] = 1 + r.nextDouble();
    Roc roc = Roc.of(g, m);
    assertEquals(1.0, roc.auc(), EPS, "seed " + seed);
    assertEquals(0.0, roc.eer(), EPS, "seed " + seed);
    OperatingPoint p = roc.atFpr(0);
    assertEquals(1.0, p.tpr(), EPS, "seed " + seed);
    assertEquals(Arrays.stream(g).max().getAsDouble(), p.threshold(), 0, "seed " + seed);
    // Reversed: AUC 0.
    assertEquals(0.0, Roc.of(m, g).auc(), EPS, "seed " + seed);
  }

  @Test
  void aucIsTheMannWhitneyProbabilityWithTies() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    for (int trial = 0; trial < 20; trial++) {
      int ng = 1 + r.nextInt(40), nm = 1 + r.nextInt(60);
      double[] g = new double[ng], m = new double[nm];
      for (int k = 0; k < ng; k++) g[k] = r.nextInt(10); // coarse values: many ties
      for (int k = 0; k < nm; k++) m[k] = 2 + r.nextInt(10);
      double wins = 0;
      for (double a : g) for (double b : m) wins += a < b ? 1 : a == b ? 0.5 : 0;
      Roc roc = Roc.of(g, m);
      assertEquals(wins / (ng * (double) nm), roc.auc(), 1e-12, "seed " + seed + " trial " + trial);
      // Every point: rates by brute force.
      for (int k = 1; k < roc.size(); k++) {
        double t = roc.threshold(k);
        assertEquals(Arrays.stream(g).filter(v -> v <= t).count() / (double) ng, roc.tpr(k), EPS, "seed " + seed);
        assertEquals(Arrays.stream(m).filter(v -> v <= t).count() / (double) nm, roc.fpr(k), EPS, "seed " + seed);
      }
      // atFpr: the largest threshold with FPR <= target, by brute force.
      double target = r.nextDouble();
      double best = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < roc.size(); k++) if (roc.fpr(k) <= target) best = Math.max(best, roc.threshold(k));
      assertEquals(best, roc.atFpr(target).threshold(), 0, "seed " + seed);
    }
  }

  @Test
  void pairDistancesOfASmallSet() {
    // Points on a line (squared Euclidean, not normalised); pid -1 is dropped.
    FloatMatrix x = FloatMatrix.ofRows(new float[] {0f}, new float[] {0.5f}, new float[] {2f}, new float[] {3f}, new float[] {10f},
        new float[] {7f});
    int[] pids = {1, 1, 2, 2, 3, -1};
    Options o = Options.defaults().withMetric(Metric.SQEUCLIDEAN).withNormalize(false);
    Pairs p = Verification.pairDistances(JAVA, x, pids, null, o);
    float[] g = p.genuine().clone(), m = p.impostor().clone();
    Arrays.sort(g);
    Arrays.sort(m);
    assertArrayEquals(new float[] {0.25f, 1f}, g, 1e-6f);
    // Impostors: 0-2 4, 0-3 9, 0-10 100, .5-2 2.25, .5-3 6.25, .5-10 90.25, 2-10 64, 3-10 49.
    assertArrayEquals(new float[] {2.25f, 4f, 6.25f, 9f, 49f, 64f, 90.25f, 100f}, m, 1e-4f);
    assertEquals(8, p.impostorPairsTotal());
    assertFalse(p.impostorsSampled());

    Result r = Verification.evaluate(JAVA, x, pids, null, o);
    assertEquals(2, r.genuinePairs());
    assertEquals(8, r.impostorPairs());
    assertEquals(1.0, r.auc(), EPS);
    assertEquals(1, r.dim());
    assertEquals(4, r.operatingPoints().size());
    assertEquals(1.0, r.operatingPoints().get(3).tpr(), EPS); // FPR 0.1 < 1/8: no impostor, both genuine
    assertEquals(1.0, r.atFpr(0.0).threshold(), 1e-6);
    assertTrue(r.summary().contains("AUC 1.000000"), r.summary());
  }

  /** Brute force over all pairs, with the same rules as the class comment. */
  static Pairs bruteForce(FloatMatrix x, int[] pids, int[] camids, Options o) {
    FloatMatrix f = o.normalize() ? Features.l2Normalize(x) : x;
    FloatMatrix d = JAVA.pairwise(f, f, o.metric());
    List<Float> g = new ArrayList<>(), m = new ArrayList<>();
    for (int i = 0; i < pids.length; i++) {
      for (int j = i + 1; j < pids.length; j++) {
        if (pids[i] < 0 || pids[j] < 0) continue;
        if (o.crossCameraOnly() && camids[i] == camids[j]) continue;
        if (pids[i] == pids[j]) {
          if (!(o.zeroIsDistractor() && pids[i] == 0)) g.add(d.get(i, j));
        } else {
          m.add(d.get(i, j));
        }
      }
    }
    float[] ga = new float[g.size()], ma = new float[m.size()];
    for (int k = 0; k < ga.length; k++) ga[k] = g.get(k);
    for (int k = 0; k < ma.length; k++) ma[k] = m.get(k);
    return new Pairs(ga, ma, ma.length);
  }

  static FloatMatrix randomFeatures(Random r, int n, int d) {
    float[] v = new float[n * d];
    for (int k = 0; k < v.length; k++) v[k] = (float) r.nextGaussian();
    return new FloatMatrix(n, d, v);
  }

  @Test
  void pairRulesMatchBruteForce() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    for (int trial = 0; trial < 12; trial++) {
      int n = 20 + r.nextInt(60);
      FloatMatrix x = randomFeatures(r, n, 8);
      int[] pids = new int[n], camids = new int[n];
      for (int i = 0; i < n; i++) {
        pids[i] = r.nextInt(8) - 1; // -1 junk, 0 maybe distractor, 1..6
        camids[i] = r.nextInt(3);
      }
      Options o = Options.defaults().withMetric(Metric.values()[trial % 3]).withNormalize(trial % 2 == 0)
          .withCrossCameraOnly((trial / 2) % 2 == 0).withZeroIsDistractor((trial / 4) % 2 == 0);
      Pairs want = bruteForce(x, pids, camids, o);
      Pairs got = Verification.pairDistances(JAVA, x, pids, camids, o);
      String msg = "seed " + seed + " trial " + trial + " " + o;
      float[] wg = want.genuine().clone(), gg = got.genuine().clone(), wm = want.impostor().clone(),
          gm = got.impostor().clone();
      Arrays.sort(wg);
      Arrays.sort(gg);
      Arrays.sort(wm);
      Arrays.sort(gm);
      assertArrayEquals(wg, gg, 1e-5f, msg);
      assertArrayEquals(wm, gm, 1e-5f, msg);
      assertEquals(wm.length, got.impostorPairsTotal(), msg);
    }
  }

  @Test
  void impostorsAreSampledUniformlyAndReproducibly() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int n = 300;
    FloatMatrix x = randomFeatures(r, n, 16);
    int[] pids = new int[n];
    for (int i = 0; i < n; i++) pids[i] = i % 30;
    Options o = Options.defaults().withMaxImpostors(2000).withSeed(seed);
    Pairs all = bruteForce(x, pids, null, o);
    Pairs a = Verification.pairDistances(JAVA, x, pids, null, o);
    Pairs b = Verification.pairDistances(JAVA, x, pids, null, o);
    Pairs c = Verification.pairDistances(JAVA, x, pids, null, o.withSeed(seed + 1));
    String msg = "seed " + seed;
    assertEquals(2000, a.impostor().length, msg);
    assertEquals(all.impostor().length, a.impostorPairsTotal(), msg);
    assertTrue(a.impostorsSampled(), msg);
    assertArrayEquals(a.impostor(), b.impostor(), msg);
    assertFalse(Arrays.equals(a.impostor(), c.impostor()), msg);
    // All genuine pairs are kept.
    assertEquals(all.genuine().length, a.genuine().length, msg);
    // Every sampled distance is an impostor distance (bit-identical: same Java formula per pair).
    float[] sorted = all.impostor().clone();
    Arrays.sort(sorted);
    for (float v : a.impostor()) assertTrue(Arrays.binarySearch(sorted, v) >= 0, msg + ": " + v);
    // Uniform: the sample mean is close to the population mean (standard error ~ sd / sqrt(2000)).
    double mean = mean(all.impostor()), sd = sd(all.impostor(), mean);
    assertEquals(mean, mean(a.impostor()), 5 * sd / Math.sqrt(2000), msg);
    // Result reports the sampling.
    Result res = Verification.evaluate(JAVA, x, pids, null, o);
    assertTrue(res.impostorsSampled());
    assertTrue(res.summary().contains("uniform sample"), res.summary());
  }

  @Test
  void autoBackendAgreesWithJava() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    FloatMatrix x = randomFeatures(r, 120, 32);
    int[] pids = new int[120];
    for (int i = 0; i < pids.length; i++) pids[i] = i / 4;
    Options o = Options.defaults();
    Result j = Verification.evaluate(JAVA, x, pids, null, o);
    Result a = Verification.evaluate(Kernels.create(Backend.AUTO), x, pids, null, o);
    assertEquals(j.genuinePairs(), a.genuinePairs());
    assertEquals(j.impostorPairs(), a.impostorPairs());
    assertEquals(j.auc(), a.auc(), 1e-3, "seed " + seed);
  }

  static double mean(float[] v) {
    double s = 0;
    for (float f : v) s += f;
    return s / v.length;
  }

  static double sd(float[] v, double mean) {
    double s = 0;
    for (float f : v) s += (f - mean) * (f - mean);
    return Math.sqrt(s / v.length);
  }

  @Test
  void badInputsSayWhatIsWrong() {
    Options o = Options.defaults();
    FloatMatrix x = FloatMatrix.ofRows(new float[] {1, 0}, new float[] {0, 1}, new float[] {1, 1});
    assertMessage(() -> Verification.evaluate(JAVA, new FloatMatrix(0, 4, new float[0]), new int[0], null, o),
        "empty");
    assertMessage(() -> Verification.evaluate(JAVA, x, new int[] {1, 2}, null, o), "3 feature rows but 2 pids");
    assertMessage(() -> Verification.evaluate(JAVA, x, new int[] {1, 1, 2}, new int[] {0}, o), "1 camids");
    assertMessage(() -> Verification.evaluate(JAVA, x, new int[] {1, 1, 2}, null, o.withCrossCameraOnly(true)),
        "needs camids");
    FloatMatrix nan = FloatMatrix.ofRows(new float[] {1, 0}, new float[] {0, Float.NaN}, new float[] {1, 1});
    assertMessage(() -> Verification.evaluate(JAVA, nan, new int[] {1, 1, 2}, null, o), "row 1, column 1");
    assertMessage(() -> Verification.evaluate(JAVA, x, new int[] {1, 2, 3}, null, o), "no genuine pairs");
    assertMessage(() -> Verification.evaluate(JAVA, x, new int[] {1, 1, -1}, null, o), "no impostor pairs");
    assertMessage(() -> Verification.evaluate(JAVA, x, new int[] {1, 1, 2}, new int[] {0, 0, 1},
        o.withCrossCameraOnly(true)), "no genuine pairs");
    assertMessage(() -> Roc.of(new double[0], new double[] {1}), "no genuine pairs");
    assertMessage(() -> Roc.of(new double[] {1}, new double[0]), "no impostor pairs");
    assertMessage(() -> Roc.of(new double[] {1, Double.NaN}, new double[] {1}), "genuine distance 1 is NaN");
    assertMessage(() -> Roc.of(new double[] {1}, new double[] {2}).atFpr(1.5), "[0, 1]");
    assertMessage(() -> o.withMaxImpostors(0), "maxImpostors");
    assertMessage(() -> o.withTargetFprs(List.of(0.1, -1.0)), "[0, 1]");
  }

  static void assertMessage(org.junit.jupiter.api.function.Executable e, String part) {
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
    assertTrue(ex.getMessage().contains(part), "message '" + ex.getMessage() + "' should contain '" + part + "'");
  }
}
