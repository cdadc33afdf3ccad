package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/** Margin-head logits against a direct double-precision computation. */
class HeadTest {
  // 3 classes in 2-D; sample 1 points away from its class so ArcFace's th/mm fallback is taken.
  static final double[][] W = {{1, 0}, {0, 1}, {-1, -0.2}};
  static final double[][] F = {{2, 1}, {-1, 0.05}, {0.3, 1}, {0.9, 0.8}};
  static final int[] Y = {0, 0, 1, 2};

  static void setWeight(Head h) {
    float[] w = new float[6];
    for (int j = 0; j < 3; j++) for (int k = 0; k < 2; k++) w[j * 2 + k] = (float) W[j][k];
    try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      h.weight().copy_(Tensors.fromFloats(w, Tensors.CPU, 3, 2));
    }
  }

  static Tensor feats() {
    float[] f = new float[8];
    for (int i = 0; i < 4; i++) for (int k = 0; k < 2; k++) f[i * 2 + k] = (float) F[i][k];
    return Tensors.fromFloats(f, Tensors.CPU, 4, 2);
  }

  static double cos(int i, int j) {
    double dot = F[i][0] * W[j][0] + F[i][1] * W[j][1];
    return dot / Math.hypot(F[i][0], F[i][1]) / Math.hypot(W[j][0], W[j][1]);
  }

  static double arc(double c, double m) {
    double th = Math.cos(Math.PI - m);
    double mm = Math.sin(Math.PI - m) * m;
    return c > th ? Math.cos(Math.acos(c) + m) : c - mm;
  }

  static void assertLogits(double[][] want, float[] got, String what) {
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 3; j++)
        assertEquals(want[i][j], got[i * 3 + j], 2e-4 * Math.max(1, Math.abs(want[i][j])), what + " [" + i + "," + j + "]");
  }

  @Test
  void fallbackIsExercised() {
    assertTrue(cos(1, 0) < Math.cos(Math.PI - 0.5), "sample 1 must take ArcFace's fallback branch");
    assertTrue(cos(0, 0) > Math.cos(Math.PI - 0.5));
  }

  @Test
  void arcFace() {
    double s = 30;
    double m = 0.5;
    ArcFaceHead h = new ArcFaceHead(2, 3, s, m);
    setWeight(h);
    double[][] want = new double[4][3];
    double[][] plain = new double[4][3];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 3; j++) {
        plain[i][j] = s * cos(i, j);
        want[i][j] = j == Y[i] ? s * arc(cos(i, j), m) : s * cos(i, j);
      }
    try (PointerScope sc = new PointerScope()) {
      assertLogits(want, Tensors.toFloats(h.forward(feats(), Tensors.longs(Y, Tensors.CPU))), "arcface");
      assertLogits(plain, Tensors.toFloats(h.forward(feats(), null)), "arcface without labels");
    }
  }

  @Test
  void cosFace() {
    double s = 16;
    double m = 0.35;
    CosFaceHead h = new CosFaceHead(2, 3, s, m);
    setWeight(h);
    double[][] want = new double[4][3];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 3; j++) want[i][j] = s * (cos(i, j) - (j == Y[i] ? m : 0));
    try (PointerScope sc = new PointerScope()) {
      assertLogits(want, Tensors.toFloats(h.forward(feats(), Tensors.longs(Y, Tensors.CPU))), "cosface");
    }
  }

  @Test
  void curricularFaceAndItsAdaptiveT() {
    double s = 30;
    double m = 0.5;
    CurricularFaceHead h = new CurricularFaceHead(2, 3, s, m);
    setWeight(h);
    h.train(true);
    double t = 0;
    for (int step = 0; step < 2; step++) {
      double meanTarget = 0;
      for (int i = 0; i < 4; i++) meanTarget += cos(i, Y[i]) / 4;
      t = 0.01 * meanTarget + 0.99 * t;
      double[][] want = new double[4][3];
      int hard = 0;
      for (int i = 0; i < 4; i++) {
        double ct = cos(i, Y[i]);
        double ctm = Math.cos(Math.acos(ct) + m);
        for (int j = 0; j < 3; j++) {
          double c = cos(i, j);
          if (j == Y[i]) want[i][j] = s * arc(c, m);
          else if (c > ctm) {
            want[i][j] = s * c * (t + c);
            hard++;
          } else want[i][j] = s * c;
        }
      }
      assertTrue(hard > 0, "the data must contain hard negatives");
      try (PointerScope sc = new PointerScope()) {
        assertLogits(want, Tensors.toFloats(h.forward(feats(), Tensors.longs(Y, Tensors.CPU))), "curricularface step " + step);
      }
      assertEquals(t, h.t(), 1e-6, "t after step " + step);
    }
    // eval mode: no update of t
    h.eval();
    try (PointerScope sc = new PointerScope()) {
      h.forward(feats(), Tensors.longs(Y, Tensors.CPU));
    }
    assertEquals(t, h.t(), 1e-6);
  }

  @Test
  void marginHeadsNeedLabelsInTraining() {
    ReidModel m = ReidModel.build(ModelSpec.defaults("small_cnn").withHead("arcface", 30, 0.5), 1, 3);
    m.train(true);
    try (PointerScope sc = new PointerScope()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> m.forward(org.bytedeco.pytorch.global.torch.randn(2, 1, 28, 28), null));
      assertTrue(e.getMessage().contains("labels"), e.getMessage());
    }
  }

  @Test
  void linearHeadIsBiasFreeAndSmallInit() {
    Head.LinearHead h = new Head.LinearHead(64, 100);
    assertEquals(1, h.named_parameters().size());
    float[] w = Tensors.toFloats(h.weight());
    double ss = 0;
    for (float v : w) ss += v * v;
    double std = Math.sqrt(ss / w.length);
    assertEquals(0.001, std, 0.0001, "classifier init normal(0, 0.001)");
  }
}
