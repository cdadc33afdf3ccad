package org.reid4j.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.reid4j.model.Tensors;

class CrossEntropyLabelSmoothTest {
  static final double[][] LOGITS = {{2.0, -1.0, 0.5}, {0.1, 0.2, 3.0}};
  static final int[] Y = {0, 1};

  /** By hand, in double: -sum_j ((1-e) [j==y] + e/C) log softmax_j, averaged over the 2 rows. */
  static double expected(double eps) {
    double total = 0;
    for (int i = 0; i < 2; i++) {
      double max = Math.max(LOGITS[i][0], Math.max(LOGITS[i][1], LOGITS[i][2]));
      double z = 0;
      for (double v : LOGITS[i]) z += Math.exp(v - max);
      double logZ = max + Math.log(z);
      for (int j = 0; j < 3; j++) {
        double q = (j == Y[i] ? 1 - eps : 0) + eps / 3;
        total -= q * (LOGITS[i][j] - logZ);
      }
    }
    return total / 2;
  }

  private static Tensor logits() {
    float[] f = new float[6];
    for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) f[i * 3 + j] = (float) LOGITS[i][j];
    return Tensors.fromFloats(f, Tensors.CPU, 2, 3);
  }

  @Test
  void matchesHandComputation() {
    try (PointerScope s = new PointerScope()) {
      double got = new CrossEntropyLabelSmooth(3, 0.1).forward(logits(), Tensors.longs(Y, Tensors.CPU)).item_double();
      assertEquals(expected(0.1), got, 1e-6);
      // a pinned number, so a wrong formula in both places cannot pass: row 0 log-softmax
      // (-0.24131, -3.24131, -1.74131), row 1 (-3.00960, -2.90960, -0.10960);
      // row losses 0.93333*0.24131 + 0.03333*(3.24131+1.74131) = 0.39131,
      // 0.93333*2.90960 + 0.03333*(3.00960+0.10960) = 2.81960 -> mean 1.60546
      assertEquals(1.60546, got, 2e-5);
      double plain = new CrossEntropyLabelSmooth(3, 0.0).forward(logits(), Tensors.longs(Y, Tensors.CPU)).item_double();
      assertEquals(expected(0.0), plain, 1e-6);
      assertEquals((0.24131 + 2.90960) / 2, plain, 2e-5);
    }
  }

  @Test
  void gradientIsSoftmaxMinusSmoothedTarget() {
    try (PointerScope s = new PointerScope()) {
      Tensor x = logits().requires_grad_(true);
      new CrossEntropyLabelSmooth(3, 0.1).forward(x, Tensors.longs(Y, Tensors.CPU)).backward();
      float[] g = Tensors.toFloats(x.grad());
      for (int i = 0; i < 2; i++) {
        double max = Math.max(LOGITS[i][0], Math.max(LOGITS[i][1], LOGITS[i][2]));
        double z = 0;
        for (double v : LOGITS[i]) z += Math.exp(v - max);
        for (int j = 0; j < 3; j++) {
          double p = Math.exp(LOGITS[i][j] - max) / z;
          double q = (j == Y[i] ? 0.9 : 0) + 0.1 / 3;
          assertEquals((p - q) / 2, g[i * 3 + j], 1e-6, "d/dlogit[" + i + "," + j + "]");
        }
      }
    }
  }

  @Test
  void rejectsWrongShapes() {
    try (PointerScope s = new PointerScope()) {
      assertThrows(IllegalArgumentException.class,
          () -> new CrossEntropyLabelSmooth(4, 0.1).forward(logits(), Tensors.longs(Y, Tensors.CPU)));
      assertThrows(IllegalArgumentException.class,
          () -> new CrossEntropyLabelSmooth(3, 0.1).forward(logits(), Tensors.longs(new int[] {0}, Tensors.CPU)));
    }
    assertThrows(IllegalArgumentException.class, () -> new CrossEntropyLabelSmooth(3, 1.0));
  }
}
