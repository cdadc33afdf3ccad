package org.reid4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.FloatMatrix;

class ReidEvaluatorTest {
  static final double EPS = 1e-12;

  @Test
  void singleQueryWithExclusionsAndJunk() {
    // Query pid 1, camera 0. Gallery (pid, cam, distance):
    //   0: (2, 1, 0.1)  non-match
    //   1: (1, 1, 0.2)  match
    //   2: (1, 0, 0.05) same pid and camera: removed
    //   3: (-1, 1, 0.0) junk: removed
    //   4: (3, 0, 0.3)  non-match
    //   5: (1, 2, 0.4)  match
    // Ranked valid list: 0, 1, 4, 5 -> matches at ranks 2 and 4.
    // AP = (1/2)(1/2 + 2/4) = 0.5; CMC: first match at rank 2; INP = 2 / 4 = 0.5.
    FloatMatrix d = FloatMatrix.ofRows(new float[] {0.1f, 0.2f, 0.05f, 0.0f, 0.3f, 0.4f});
    EvalResult r = ReidEvaluator.evaluate(d, new int[] {1}, new int[] {0}, new int[] {2, 1, 1, -1, 3, 1},
        new int[] {1, 1, 0, 1, 0, 2});
    assertEquals(0.0, r.rank1(), EPS);
    assertEquals(1.0, r.cmc()[1], EPS);
    assertEquals(1.0, r.rank5(), EPS);
    assertEquals(0.5, r.mAP(), EPS);
    assertEquals(0.5, r.mINP(), EPS);
    assertEquals(1, r.queriesEvaluated());
    assertEquals(0, r.queriesSkipped());
  }

  @Test
  void twoQueriesAreAveraged() {
    // Query 0 as in singleQueryWithExclusionsAndJunk: first match rank 2, AP 0.5, INP 0.5.
    // Query 1 (pid 3, camera 1): gallery 4 (pid 3, camera 0) is the nearest valid entry, the only match.
    //   AP = 1, first match rank 1, INP = 1 / 1 = 1.
    // Means: rank-1 = 0.5, rank-2.. = 1, mAP = 0.75, mINP = 0.75.
    FloatMatrix d = FloatMatrix.ofRows(new float[] {0.1f, 0.2f, 0.05f, 0.0f, 0.3f, 0.4f},
        new float[] {0.5f, 0.6f, 0.7f, 0.0f, 0.1f, 0.2f});
    EvalResult r = ReidEvaluator.evaluate(d, new int[] {1, 3}, new int[] {0, 1}, new int[] {2, 1, 1, -1, 3, 1},
        new int[] {1, 1, 0, 1, 0, 2});
    assertEquals(0.5, r.rank1(), EPS);
    for (int k = 2; k <= 50; k++) assertEquals(1.0, r.cmcAt(k), EPS, "rank " + k);
    assertEquals(0.75, r.mAP(), EPS);
    assertEquals(0.75, r.mINP(), EPS);
    assertEquals(2, r.queriesEvaluated());
  }

  @Test
  void equalDistancesAreRankedByGalleryIndex() {
    // All four distances are 0.5, so the order is the gallery order: non-match, match, match, non-match.
    // Matches at ranks 2 and 3: AP = (1/2)(1/2 + 2/3) = 7/12; INP = 2/3; rank-1 = 0, rank-2 = 1.
    FloatMatrix d = FloatMatrix.ofRows(new float[] {0.5f, 0.5f, 0.5f, 0.5f});
    EvalResult r = ReidEvaluator.evaluate(d, new int[] {1}, new int[] {0}, new int[] {2, 1, 1, 4},
        new int[] {1, 1, 2, 1});
    assertEquals(7.0 / 12.0, r.mAP(), EPS);
    assertEquals(2.0 / 3.0, r.mINP(), EPS);
    assertEquals(0.0, r.rank1(), EPS);
    assertEquals(1.0, r.cmcAt(2), EPS);
    // -0.0 and 0.0 are equal distances: again ordered by index. Match at index 1 behind non-match 0:
    // AP = 1/2.
    EvalResult z = ReidEvaluator.evaluate(FloatMatrix.ofRows(new float[] {0.0f, -0.0f}), new int[] {1}, new int[] {0},
        new int[] {2, 1}, new int[] {1, 1});
    assertEquals(0.5, z.mAP(), EPS);
  }

  @Test
  void junkQueriesAreIgnoredAndQueriesWithoutMatchesAreSkipped() {
    // Query 0: pid -1, ignored (neither evaluated nor skipped).
    // Query 1: pid 5 camera 0; its only gallery entry of pid 5 is on camera 0 too: skipped.
    // Query 2: pid 7, absent from the gallery: skipped.
    // Query 3: pid 2 camera 0; gallery 1 (pid 2, camera 1) at distance 0.3 is behind gallery 0 (pid 5,
    //   distance 0.2) and gallery 2 (junk, 0.1, removed): rank 2, AP 1/2, INP 1/2.
    FloatMatrix d = FloatMatrix.ofRows(new float[] {0.2f, 0.3f, 0.1f}, new float[] {0.2f, 0.3f, 0.1f},
        new float[] {0.2f, 0.3f, 0.1f}, new float[] {0.2f, 0.3f, 0.1f});
    EvalResult r = ReidEvaluator.evaluate(d, new int[] {-1, 5, 7, 2}, new int[] {0, 0, 0, 0}, new int[] {5, 2, -1},
        new int[] {0, 1, 1});
    assertEquals(1, r.queriesEvaluated());
    assertEquals(2, r.queriesSkipped());
    assertEquals(0.5, r.mAP(), EPS);
    assertEquals(0.5, r.mINP(), EPS);
    assertEquals(0.0, r.rank1(), EPS);
    // A gallery of 3 entries (2 valid): CMC reaches 1 at rank 2 and stays there up to rank 50.
    for (int k = 2; k <= 50; k++) assertEquals(1.0, r.cmcAt(k), EPS);
  }

  @Test
  void noEvaluableQueryGivesZeros() {
    EvalResult r = ReidEvaluator.evaluate(FloatMatrix.ofRows(new float[] {0.1f, 0.2f}), new int[] {3}, new int[] {0},
        new int[] {1, 2}, new int[] {0, 0});
    assertEquals(0, r.queriesEvaluated());
    assertEquals(1, r.queriesSkipped());
    assertEquals(0.0, r.mAP(), EPS);
    assertEquals(0.0, r.rank1(), EPS);
    EvalResult none = ReidEvaluator.evaluate(FloatMatrix.zeros(0, 2), new int[0], new int[0], new int[] {1, 2},
        new int[] {0, 0});
    assertEquals(0, none.queriesEvaluated());
  }

  @Test
  void matchesNaiveSortingEvaluatorOnRandomInputs() {
    for (int c = 0; c < 40; c++) {
      long seed = 777L + c;
      Random r = new Random(seed);
      int nq = 1 + r.nextInt(30), ng = 1 + r.nextInt(120), ids = 1 + r.nextInt(15), cams = 1 + r.nextInt(4);
      float[] d = new float[nq * ng];
      boolean ties = c % 2 == 0;
      for (int i = 0; i < d.length; i++) d[i] = ties ? r.nextInt(5) * 0.5f - 1f : (float) r.nextGaussian();
      int[] qp = new int[nq], qc = new int[nq], gp = new int[ng], gc = new int[ng];
      for (int i = 0; i < nq; i++) {
        qp[i] = r.nextInt(12) == 0 ? -1 : r.nextInt(ids);
        qc[i] = r.nextInt(cams);
      }
      for (int j = 0; j < ng; j++) {
        gp[j] = r.nextInt(10) == 0 ? -1 : r.nextInt(ids);
        gc[j] = r.nextInt(cams);
      }
      FloatMatrix dist = new FloatMatrix(nq, ng, d);
      EvalResult got = ReidEvaluator.evaluate(dist, qp, qc, gp, gc);
      EvalResult want = naive(dist, qp, qc, gp, gc);
      String ctx = "seed=" + seed + " nq=" + nq + " ng=" + ng;
      assertEquals(want.queriesEvaluated(), got.queriesEvaluated(), ctx);
      assertEquals(want.queriesSkipped(), got.queriesSkipped(), ctx);
      assertEquals(want.mAP(), got.mAP(), 1e-9, ctx);
      assertEquals(want.mINP(), got.mINP(), 1e-9, ctx);
      for (int k = 1; k <= 50; k++) assertEquals(want.cmcAt(k), got.cmcAt(k), 1e-9, ctx + " rank " + k);
    }
  }

  /** The protocol written the obvious way: filter, full sort by (distance, index), walk the list. */
  static EvalResult naive(FloatMatrix dist, int[] qp, int[] qc, int[] gp, int[] gc) {
    int evaluated = 0, skipped = 0;
    double ap = 0, inp = 0;
    double[] cmc = new double[50];
    for (int i = 0; i < dist.rows(); i++) {
      if (qp[i] == -1) continue;
      List<Integer> valid = new ArrayList<>();
      for (int j = 0; j < dist.cols(); j++) {
        if (gp[j] == -1 || (gp[j] == qp[i] && gc[j] == qc[i])) continue;
        valid.add(j);
      }
      final int row = i;
      valid.sort((a, b) -> {
        int c = Float.compare(dist.get(row, a) + 0f, dist.get(row, b) + 0f); // + 0f: -0.0 becomes 0.0
        return c != 0 ? c : Integer.compare(a, b);
      });
      int found = 0, first = 0, last = 0;
      double sum = 0;
      for (int p = 0; p < valid.size(); p++) {
        if (gp[valid.get(p)] != qp[i]) continue;
        found++;
        if (first == 0) first = p + 1;
        last = p + 1;
        sum += found / (double) (p + 1);
      }
      if (found == 0) {
        skipped++;
        continue;
      }
      evaluated++;
      ap += sum / found;
      inp += found / (double) last;
      for (int k = first; k <= 50; k++) cmc[k - 1]++;
    }
    for (int k = 0; k < 50; k++) cmc[k] /= Math.max(evaluated, 1);
    double n = Math.max(evaluated, 1);
    return new EvalResult(cmc[0], cmc[4], cmc[9], ap / n, inp / n, cmc, evaluated, skipped);
  }

  @Test
  void rejectsBadInputs() {
    FloatMatrix d = FloatMatrix.ofRows(new float[] {0.1f, 0.2f, 0.3f}, new float[] {0.1f, 0.2f, 0.3f});
    int[] q2 = {1, 2}, g3 = {1, 2, 3};
    assertMessage(() -> ReidEvaluator.evaluate(d, new int[] {1}, q2, g3, g3), "2 query rows");
    assertMessage(() -> ReidEvaluator.evaluate(d, q2, new int[3], g3, g3), "query camids");
    assertMessage(() -> ReidEvaluator.evaluate(d, q2, q2, new int[2], g3), "3 gallery columns");
    assertMessage(() -> ReidEvaluator.evaluate(d, q2, q2, g3, new int[4]), "gallery camids");
    assertMessage(() -> ReidEvaluator.evaluate(FloatMatrix.zeros(2, 0), q2, q2, new int[0], new int[0]), "empty");
    FloatMatrix nan = FloatMatrix.ofRows(new float[] {0.1f, 0.2f, 0.3f}, new float[] {0.1f, 0.2f, Float.NaN});
    assertMessage(() -> ReidEvaluator.evaluate(nan, q2, q2, g3, g3), "NaN", "row 1", "column 2");
  }

  static void assertMessage(Runnable call, String... fragments) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    for (String f : fragments) assertTrue(e.getMessage().contains(f), e.getMessage() + " should mention " + f);
  }

  @Test
  void marketSizedInputIsFast() {
    int nq = 3368, ng = 15913;
    Random r = new Random(5);
    float[] d = new float[nq * ng];
    for (int i = 0; i < d.length; i++) d[i] = r.nextFloat();
    int[] qp = new int[nq], qc = new int[nq], gp = new int[ng], gc = new int[ng];
    for (int i = 0; i < nq; i++) {
      qp[i] = r.nextInt(750);
      qc[i] = r.nextInt(6);
    }
    for (int j = 0; j < ng; j++) {
      gp[j] = r.nextInt(20) == 0 ? -1 : r.nextInt(750);
      gc[j] = r.nextInt(6);
    }
    FloatMatrix dist = new FloatMatrix(nq, ng, d);
    ReidEvaluator.evaluate(dist, qp, qc, gp, gc); // warm-up
    long t0 = System.nanoTime();
    EvalResult res = ReidEvaluator.evaluate(dist, qp, qc, gp, gc);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    System.out.println("ReidEvaluator on 3368 x 15913: " + ms + " ms, " + res);
    assertTrue(res.queriesEvaluated() > 3000);
    assertTrue(ms < 3000, "evaluation took " + ms + " ms"); // well under 1 s on 2 cores; generous for slow CI
    assertTrue(Arrays.stream(res.cmc()).allMatch(v -> v >= 0 && v <= 1));
  }
}
