package org.reid4j.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.reid4j.model.Tensors;

class CenterLossTest {
  @Test
  void twoPointsAgainstTheirCentres() {
    CenterLoss c = new CenterLoss(3, 2);
    assertArrayEquals(new long[] {3, 2}, c.centers().shape());
    try (PointerScope s = new PointerScope()) {
      try (NoGradGuard g = new NoGradGuard()) {
        c.centers().copy_(Tensors.fromFloats(new float[] {0, 0, 1, 1, 10, 10}, Tensors.CPU, 3, 2));
      }
      Tensor x = Tensors.fromFloats(new float[] {3, 4, 1, 2}, Tensors.CPU, 2, 2).requires_grad_(true);
      Tensor loss = c.forward(x, Tensors.longs(new int[] {0, 1}, Tensors.CPU));
      // |(3,4) - (0,0)|^2 = 25, |(1,2) - (1,1)|^2 = 1; (25 + 1) / 2
      assertEquals(13.0, loss.item_double(), 1e-5);
      loss.backward();
      // d/dx_i = 2 (x_i - c_yi) / N ; d/dc_j = -sum_{i: y_i = j} 2 (x_i - c_j) / N
      assertArrayEquals(new float[] {3, 4, 0, 1}, Tensors.toFloats(x.grad()), 1e-5f);
      assertArrayEquals(new float[] {-3, -4, 0, -1, 0, 0}, Tensors.toFloats(c.centers().grad()), 1e-5f);
      // a sample on its centre: clamped to 1e-12, not 0
      Tensor on = Tensors.fromFloats(new float[] {10, 10}, Tensors.CPU, 1, 2);
      assertEquals(1e-12, c.forward(on, Tensors.longs(new int[] {2}, Tensors.CPU)).item_double(), 1e-15);
    }
  }

  @Test
  void centresStartStandardNormal() {
    CenterLoss c = new CenterLoss(100, 64);
    float[] v = Tensors.toFloats(c.centers());
    double m = 0;
    double ss = 0;
    for (float f : v) {
      m += f;
      ss += f * f;
    }
    m /= v.length;
    assertEquals(0, m, 0.05);
    assertEquals(1, Math.sqrt(ss / v.length - m * m), 0.05);
    assertEquals(1, c.named_parameters().size());
  }
}
