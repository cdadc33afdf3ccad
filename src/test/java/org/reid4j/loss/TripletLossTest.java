package org.reid4j.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.model.Tensors;

/**
 * Four points in 2-D: a0 (0,0), a1 (0,3) of identity 0; b0 (1,0), b1 (5,0) of identity 1.
 * Hardest positive / negative per anchor: a0: a1 (3) / b0 (1); a1: a0 (3) / b0 (sqrt 10);
 * b0: b1 (4) / a0 (1); b1: b0 (4) / a0 (5).
 */
class TripletLossTest {
  static final float[] POINTS = {0, 0, 0, 3, 1, 0, 5, 0};
  static final int[] LABELS = {0, 0, 1, 1};
  static final double[] D_AP = {3, 3, 4, 4};
  static final double[] D_AN = {1, Math.sqrt(10), 1, 5};

  static Kernels[] miners() {
    if (Kernels.unavailableReason(Backend.CPU) == null)
      return new Kernels[] {Kernels.create(Backend.JAVA), Kernels.create(Backend.CPU)};
    return new Kernels[] {Kernels.create(Backend.JAVA)};
  }

  @Test
  void marginLossMatchesHandComputation() {
    for (Kernels k : miners()) {
      try (PointerScope s = new PointerScope()) {
        Tensor x = Tensors.fromFloats(POINTS.clone(), Tensors.CPU, 4, 2).requires_grad_(true);
        TripletLoss.Result r = new TripletLoss(0.3, false, k).forward(x, LABELS);
        // 2.3 + (3 - sqrt 10 + 0.3) + 3.3 + max(0, -0.7) over 4 anchors
        double want = (2.3 + (3.3 - Math.sqrt(10)) + 3.3 + 0) / 4;
        assertEquals(want, r.loss().item_double(), 1e-5, k.describe());
        assertEquals(0.75, r.fractionActive(), 0, k.describe());
        r.loss().backward();
        float[] g = Tensors.toFloats(x.grad());
        // a0 as anchor: d(d_ap)/da0 = (a0 - a1)/3 = (0,-1), -d(d_an)/da0 = -(a0 - b0)/1 = (1,0) -> (1,-1)
        // a0 as positive of a1: (a0 - a1)/3 = (0,-1); a0 as negative of b0 (active): -(a0 - b0)/1 = (1,0)
        // a0 as negative of b1 (inactive): 0.  Sum (2, -2), / 4 anchors.
        assertEquals(0.5, g[0], 1e-5, "dL/da0.x");
        assertEquals(-0.5, g[1], 1e-5, "dL/da0.y");
      }
    }
  }

  @Test
  void softMarginMatchesHandComputation() {
    try (PointerScope s = new PointerScope()) {
      Tensor x = Tensors.fromFloats(POINTS.clone(), Tensors.CPU, 4, 2);
      TripletLoss.Result r = new TripletLoss(0.3, true, miners()[0]).forward(x, LABELS);
      double want = 0;
      for (int i = 0; i < 4; i++) want += Math.log1p(Math.exp(D_AP[i] - D_AN[i])) / 4;
      assertEquals(want, r.loss().item_double(), 1e-5);
      assertEquals(0.5, r.fractionActive(), 0); // d_ap >= d_an for a0 and b0 only
    }
  }

  @Test
  void anchorsWithoutPositiveOrNegativeAreMaskedOut() {
    try (PointerScope s = new PointerScope()) {
      Tensor x = Tensors.fromFloats(POINTS.clone(), Tensors.CPU, 4, 2);
      // b0 and b1 now have identities of their own: no positive, left out of the mean
      TripletLoss.Result r = new TripletLoss(0.3, false, miners()[0]).forward(x, new int[] {0, 0, 1, 2});
      assertEquals((2.3 + (3.3 - Math.sqrt(10))) / 2, r.loss().item_double(), 1e-5);
      assertEquals(0.5, r.fractionActive(), 0);
      // nobody has a negative
      TripletLoss.Result none = new TripletLoss(0.3, false, miners()[0]).forward(x, new int[] {4, 4, 4, 4});
      assertEquals(0.0, none.loss().item_double(), 0);
      assertEquals(0.0, none.fractionActive(), 0);
    }
  }

  @Test
  void distanceGradientIsFiniteForIdenticalPoints() {
    try (PointerScope s = new PointerScope()) {
      float[] same = {1, 1, 1, 1, 2, 2, 2, 2};
      Tensor x = Tensors.fromFloats(same, Tensors.CPU, 4, 2).requires_grad_(true);
      TripletLoss.Result r = new TripletLoss(0.3, false, miners()[0]).forward(x, LABELS);
      r.loss().backward();
      for (float v : Tensors.toFloats(x.grad())) assertTrue(Float.isFinite(v), "gradient " + v);
    }
  }
}
