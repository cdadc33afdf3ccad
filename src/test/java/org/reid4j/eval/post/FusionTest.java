package org.reid4j.eval.post;

import static org.junit.jupiter.api.Assertions.*;
import static org.reid4j.eval.post.PostProcessingTest.gaussian;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/** Ensembles: each fusion against its definition, and an ensemble of one model with itself equals the model. */
class FusionTest {
  final Kernels java = Kernels.create(Backend.JAVA);

  static FloatMatrix scaled(FloatMatrix m, float s) {
    float[] a = m.data().clone();
    for (int i = 0; i < a.length; i++) a[i] *= s;
    return new FloatMatrix(m.rows(), m.cols(), a);
  }

  @Test
  void weightsAreNormalisedAndChecked() {
    assertArrayEquals(new double[] {0.5, 0.3, 0.2}, Fusion.normalizedWeights(new double[] {5, 3, 2}, 3), 1e-12);
    assertArrayEquals(new double[] {0.25, 0.25, 0.25, 0.25}, Fusion.normalizedWeights(null, 4), 1e-12);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Fusion.normalizedWeights(new double[] {1, 2}, 3))
        .getMessage().contains("2 values for 3 members"));
    assertThrows(IllegalArgumentException.class, () -> Fusion.normalizedWeights(new double[] {1, 0}, 2));
    assertThrows(IllegalArgumentException.class, () -> Fusion.normalizedWeights(new double[] {1, Double.NaN}, 2));
    assertThrows(IllegalArgumentException.class, () -> Fusion.Kind.parse("mean"));
  }

  @Test
  void distanceFusionIsTheWeightedMeanOfScaledDistances() {
    Random r = new Random(21);
    for (int[] s : new int[][] {{1, 1}, {3, 7}, {6, 13}}) {
      FloatMatrix q1 = gaussian(r, s[0], 4), g1 = gaussian(r, s[1], 4), q2 = gaussian(r, s[0], 9), g2 = gaussian(r, s[1], 9);
      double[] w = {0.7, 0.3};
      Fusion.Fused f = Fusion.distance(java, List.of(q1, q2), List.of(g1, g2), w, Metric.SQEUCLIDEAN);
      float[] d1 = java.pairwise(q1, g1, Metric.SQEUCLIDEAN).data(), d2 = java.pairwise(q2, g2, Metric.SQEUCLIDEAN).data();
      double m1 = Arrays.stream(toDouble(d1)).average().orElseThrow(), m2 = Arrays.stream(toDouble(d2)).average().orElseThrow();
      assertEquals(m1, f.scales()[0], 1e-5 * m1);
      for (int i = 0; i < d1.length; i++)
        assertEquals(0.7 * d1[i] / m1 + 0.3 * d2[i] / m2, f.distance().data()[i], 1e-5, "entry " + i);
      // Scaling a member's features by 10 (its distances by 100) changes nothing: each member is divided by its mean.
      Fusion.Fused f10 = Fusion.distance(java, List.of(scaled(q1, 10), q2), List.of(scaled(g1, 10), g2), w,
          Metric.SQEUCLIDEAN);
      for (int i = 0; i < d1.length; i++) assertEquals(f.distance().data()[i], f10.distance().data()[i], 1e-4);
    }
  }

  static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) d[i] = a[i];
    return d;
  }

  @Test
  void concatJoinsNormalisedMembersSoThatSquaredDistancesAddByWeight() {
    Random r = new Random(22);
    FloatMatrix a = gaussian(r, 5, 3), b = gaussian(r, 5, 6);
    double[] w = {0.25, 0.75};
    FloatMatrix j = Fusion.concat(List.of(a, b), w);
    assertEquals(9, j.cols());
    FloatMatrix ua = org.reid4j.eval.Features.l2Normalize(a), ub = org.reid4j.eval.Features.l2Normalize(b);
    float[] dj = java.pairwise(j, j, Metric.SQEUCLIDEAN).data();
    float[] da = java.pairwise(ua, ua, Metric.SQEUCLIDEAN).data(), db = java.pairwise(ub, ub, Metric.SQEUCLIDEAN).data();
    for (int i = 0; i < dj.length; i++) assertEquals(0.25 * da[i] + 0.75 * db[i], dj[i], 1e-5);
    assertThrows(IllegalArgumentException.class, () -> Fusion.concat(List.of(a, gaussian(r, 4, 3)), w));
  }

  @Test
  void voteRanksByRankWeightedVotesThenFusedDistance() {
    Random r = new Random(23);
    for (int trial = 0; trial < 20; trial++) {
      int nq = 1 + r.nextInt(3), ng = 1 + r.nextInt(25), members = 1 + r.nextInt(3);
      List<FloatMatrix> qs = new ArrayList<>(), gs = new ArrayList<>();
      for (int m = 0; m < members; m++) {
        int d = 1 + r.nextInt(5);
        qs.add(gaussian(r, nq, d));
        gs.add(gaussian(r, ng, d));
      }
      double[] w = Fusion.normalizedWeights(null, members);
      FloatMatrix fused = Fusion.distance(java, qs, gs, w, Metric.COSINE).distance();
      FloatMatrix vote = Fusion.vote(java, qs, gs, w, Metric.COSINE, fused);
      for (int i = 0; i < nq; i++) {
        // The definition: score(j) = sum over members of w_m / (1 + rank of j in the member's top 10).
        double[] score = new double[ng];
        for (int m = 0; m < members; m++) {
          Integer[] o = PostProcessingTest.order(java.pairwise(qs.get(m), gs.get(m), Metric.COSINE), i, -1);
          for (int rank = 0; rank < Math.min(10, ng); rank++) score[o[rank]] += w[m] / (rank + 1);
        }
        int row = i;
        Integer[] expected = new Integer[ng];
        for (int j = 0; j < ng; j++) expected[j] = j;
        Arrays.sort(expected, Comparator.<Integer>comparingDouble(j -> -score[j])
            .thenComparingDouble(j -> fused.data()[row * ng + j]).thenComparingInt(j -> j));
        assertArrayEquals(expected, PostProcessingTest.order(vote, i, -1), "trial " + trial + " query " + i);
      }
    }
  }

  @Test
  void fusedRerankingOverOneMemberIsTheFeatureReranking() {
    Random r = new Random(24);
    for (Metric m : Metric.values()) {
      FloatMatrix q = gaussian(r, 4, 6), g = gaussian(r, 15, 6);
      RerankParams p = new RerankParams(4, 2, 0.3f);
      FloatMatrix direct = KReciprocal.rerank(q, g, m, p);
      FloatMatrix viaItems = KReciprocal.rerank(q.rows(), g.rows(),
          Fusion.itemDistance(List.of(q), List.of(g), new double[] {1}, new double[] {1}, m), p);
      assertArrayEquals(direct.data(), viaItems.data(), m.toString());
    }
  }

  static LabelledFeatures side(String name, FloatMatrix f, int[] pids, int[] cams) {
    return new LabelledFeatures(name, f, pids, cams);
  }

  /** A model ensembled with itself ranks as the model does, under every fusion, with and without re-ranking / QE. */
  @Test
  void anEnsembleOfAModelWithItselfIsTheModel() {
    Random r = new Random(25);
    int nq = 12, ng = 40, d = 8;
    int[] qp = new int[nq], qc = new int[nq], gp = new int[ng], gc = new int[ng];
    for (int i = 0; i < nq; i++) qp[i] = i % 6;
    for (int j = 0; j < ng; j++) {
      gp[j] = j % 8;
      gc[j] = 1;
    }
    FloatMatrix q = gaussian(r, nq, d), g = gaussian(r, ng, d);
    // Features that carry the identity, so that the ranking means something.
    for (int i = 0; i < nq; i++) q.data()[i * d + qp[i] % d] += 3;
    for (int j = 0; j < ng; j++) g.data()[j * d + gp[j] % d] += 3;
    RetrievalEval.Member a = new RetrievalEval.Member("A", side("q", q, qp, qc), side("g", g, gp, gc));
    RetrievalEval.Member b = new RetrievalEval.Member("B", side("q", q, qp, qc), side("g", g, gp, gc));
    for (Fusion.Kind kind : Fusion.Kind.values())
      for (boolean rerank : new boolean[] {false, true}) {
        if (kind == Fusion.Kind.VOTE && rerank) continue;
        RetrievalEval.Options o = new RetrievalEval.Options(Metric.COSINE, true, rerank ? new RerankParams(5, 2, 0.3f)
            : null).withQe(QueryExpansion.Params.defaults(QueryExpansion.Kind.AVERAGE)).withFusion(kind, null);
        var one = RetrievalEval.run(java, List.of(a), o, s -> {}).result();
        var two = RetrievalEval.run(java, List.of(a, b), o, s -> {}).result();
        assertEquals(one.mAP(), two.mAP(), 1e-6, kind + " rerank " + rerank);
        assertEquals(one.rank1(), two.rank1(), 1e-9, kind + " rerank " + rerank);
      }
  }

  @Test
  void membersOfOtherImagesAreRefusedByName() {
    Random r = new Random(26);
    FloatMatrix q = gaussian(r, 3, 4), g = gaussian(r, 5, 4);
    int[] p3 = {0, 1, 2}, c3 = {0, 0, 0}, p5 = {0, 1, 2, 0, 1}, c5 = {1, 1, 1, 1, 1};
    RetrievalEval.Member a = new RetrievalEval.Member("runs/a", side("q", q, p3, c3), side("g", g, p5, c5));
    RetrievalEval.Member b = new RetrievalEval.Member("runs/b", side("q", q, p3, c3),
        side("g", g, new int[] {0, 1, 2, 1, 0}, c5));
    RetrievalEval.Options o = RetrievalEval.Options.defaults();
    String msg = assertThrows(IllegalArgumentException.class, () -> RetrievalEval.run(java, List.of(a, b), o, s -> {}))
        .getMessage();
    assertTrue(msg.contains("runs/b's gallery row 3 is pid 1") && msg.contains("runs/a"), msg);
    RetrievalEval.Member c = new RetrievalEval.Member("runs/c", side("q", gaussian(r, 2, 4), new int[] {0, 1},
        new int[] {0, 0}), side("g", g, p5, c5));
    msg = assertThrows(IllegalArgumentException.class, () -> RetrievalEval.run(java, List.of(a, c), o, s -> {}))
        .getMessage();
    assertTrue(msg.contains("runs/c has 2 query rows"), msg);
    msg = assertThrows(IllegalArgumentException.class, () -> RetrievalEval.run(java, List.of(a, a),
        new RetrievalEval.Options(Metric.COSINE, false, new RerankParams(3, 1, 0.3f)).withFusion(Fusion.Kind.VOTE, null),
        s -> {})).getMessage();
    assertTrue(msg.contains("--fusion vote"), msg);
  }
}
