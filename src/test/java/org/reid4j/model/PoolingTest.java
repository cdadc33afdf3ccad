package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class PoolingTest {
  private static final long SEED = 20240611L;

  private static float[] randomMap(java.util.Random r, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian());
    return x;
  }

  @Test
  void gemWithPOneIsAveragePoolingOfPositiveMaps() {
    java.util.Random r = new java.util.Random(SEED);
    float[] x = randomMap(r, 2 * 3 * 4 * 5);
    for (int i = 0; i < x.length; i++) x[i] = Math.abs(x[i]) + 0.01f; // post-ReLU maps are >= 0
    Pooling gem = new Pooling("gem", 1.0);
    Pooling avg = new Pooling("avg", 3.0);
    try (PointerScope s = new PointerScope()) {
      Tensor t = Tensors.fromFloats(x, Tensors.CPU, 2, 3, 4, 5);
      float[] a = Tensors.toFloats(gem.forward(t));
      float[] b = Tensors.toFloats(avg.forward(t));
      assertArrayEquals(b, a, 1e-6f, "seed " + SEED);
      // and avg is the plain mean
      double mean = 0;
      for (int i = 0; i < 20; i++) mean += x[i];
      assertEquals(mean / 20, b[0], 1e-6);
    }
  }

  @Test
  void gemAndMaxAgainstDirectComputation() {
    java.util.Random r = new java.util.Random(SEED + 1);
    float[] x = randomMap(r, 2 * 3 * 2 * 2);
    Pooling gem = new Pooling("gem", 3.0);
    Pooling max = new Pooling("max", 3.0);
    try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      Tensor t = Tensors.fromFloats(x, Tensors.CPU, 2, 3, 2, 2);
      float[] gm = Tensors.toFloats(gem.forward(t));
      float[] mx = Tensors.toFloats(max.forward(t));
      for (int c = 0; c < 6; c++) {
        double sum = 0;
        double best = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < 4; k++) {
          double v = x[c * 4 + k];
          sum += Math.pow(Math.max(v, Pooling.GEM_EPS), 3);
          best = Math.max(best, v);
        }
        assertEquals(Math.pow(sum / 4, 1.0 / 3), gm[c], 1e-5, "gem channel " + c + ", seed " + SEED);
        assertEquals(best, mx[c], 0, "max channel " + c);
      }
      assertEquals(3.0, gem.p().item_double(), 0);
    }
  }
}
