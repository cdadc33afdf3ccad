package org.reid4j.loss;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.model.Tensors;

/** XBM: the FIFO's wrap-around and label bookkeeping, and its loss against a plain reference over the memory. */
class CrossBatchMemoryTest {
  static float[] gaussian(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    return a;
  }

  static Kernels[] backends() {
    return Kernels.unavailableReason(Backend.CPU) == null
        ? new Kernels[] {Kernels.create(Backend.JAVA), Kernels.create(Backend.CPU)}
        : new Kernels[] {Kernels.create(Backend.JAVA)};
  }

  @Test
  void fifoWrapsAroundAndKeepsLabelsWithTheirRows() {
    Random r = new Random(51);
    for (Kernels k : backends())
      try (CrossBatchMemory m = new CrossBatchMemory(5, 2, k, 0.3, false)) {
        float[] b1 = gaussian(r, 6), b2 = gaussian(r, 6);
        m.enqueue(b1, new int[] {10, 11, 12}, 3);
        assertEquals(3, m.filled());
        m.enqueue(b2, new int[] {20, 21, 22}, 3);
        assertEquals(5, m.filled());
        // Slots: 0 <- b2[2] (wrapped), 1, 2 <- b1[1], b1[2], 3, 4 <- b2[0], b2[1].
        int[] expectLabels = {22, 11, 12, 20, 21};
        float[][] expectRows = {{b2[4], b2[5]}, {b1[2], b1[3]}, {b1[4], b1[5]}, {b2[0], b2[1]}, {b2[2], b2[3]}};
        for (int i = 0; i < 5; i++) {
          assertEquals(expectLabels[i], m.labelAt(i), "slot " + i);
          assertArrayEquals(expectRows[i], m.rowAt(i), "slot " + i);
        }
        float[] big = gaussian(r, 14);
        m.enqueue(big, new int[] {1, 2, 3, 4, 5, 6, 7}, 7); // more than fit: the newest 5 stay
        java.util.Set<Integer> held = new java.util.HashSet<>();
        for (int i = 0; i < 5; i++) held.add(m.labelAt(i));
        assertEquals(java.util.Set.of(3, 4, 5, 6, 7), held);
      }
    assertThrows(IllegalArgumentException.class, () -> new CrossBatchMemory(0, 2, Kernels.create(Backend.JAVA), 0.3,
        false));
  }

  /** The loss from its definition over the memory's contents, in double. */
  static double reference(float[] a, int[] al, float[][] mem, int[] ml, double margin) {
    int n = al.length, d = mem[0].length;
    double sum = 0;
    int valid = 0;
    for (int i = 0; i < n; i++) {
      double pos = -1, neg = Double.POSITIVE_INFINITY;
      boolean hasPos = false, hasNeg = false;
      for (int j = 0; j < mem.length; j++) {
        double s = 0;
        for (int c = 0; c < d; c++) s += Math.pow(a[i * d + c] - mem[j][c], 2);
        double dist = Math.sqrt(Math.max(s, 1e-12));
        if (ml[j] == al[i]) {
          if (!hasPos || dist > pos) pos = dist;
          hasPos = true;
        } else {
          if (!hasNeg || dist < neg) neg = dist;
          hasNeg = true;
        }
      }
      if (hasPos && hasNeg) {
        sum += Math.max(0, pos - neg + margin);
        valid++;
      }
    }
    return valid == 0 ? 0 : sum / valid;
  }

  @Test
  void lossMatchesItsDefinitionOverTheMemoryAndGradientsReachOnlyTheAnchors() {
    Random r = new Random(52);
    for (Kernels k : backends())
      try (PointerScope scope = new PointerScope(); CrossBatchMemory m = new CrossBatchMemory(7, 3, k, 0.5, false)) {
        for (int step = 0; step < 5; step++) {
          int n = 1 + r.nextInt(4);
          float[] x = gaussian(r, n * 3);
          int[] y = new int[n];
          for (int i = 0; i < n; i++) y[i] = r.nextInt(3);
          Tensor t = Tensors.fromFloats(x.clone(), Tensors.CPU, n, 3).requires_grad_(true);
          TripletLoss.Result res = m.step(t, y);
          float[][] mem = new float[m.filled()][];
          int[] ml = new int[m.filled()];
          for (int i = 0; i < m.filled(); i++) {
            mem[i] = m.rowAt(i);
            ml[i] = m.labelAt(i);
          }
          double want = reference(x, y, mem, ml, 0.5);
          assertEquals(want, res.loss().item_double(), 1e-5 * Math.max(1, want), k.describe() + " step " + step);
          res.loss().backward();
          float[] g = Tensors.toFloats(t.grad());
          assertEquals(n * 3, g.length);
          if (want > 0) {
            double norm = 0;
            for (float v : g) norm += v * v;
            assertTrue(norm > 0, "a positive loss has a gradient on the anchors");
          }
        }
      }
  }

  @Test
  void anAnchorWhoseOnlyPositiveIsItsOwnCopyHasZeroPositiveDistance() {
    for (Kernels k : backends())
      try (PointerScope scope = new PointerScope(); CrossBatchMemory m = new CrossBatchMemory(4, 2, k, 1.0, false)) {
        // Anchor (0, 0) label 1 and a negative (3, 4) label 2: loss = relu(0 - 5 + 1) = 0 for the first,
        // and for the second (its own copy too) relu(0 - 5 + 1) = 0.
        Tensor t = Tensors.fromFloats(new float[] {0, 0, 3, 4}, Tensors.CPU, 2, 2);
        assertEquals(0.0, m.step(t, new int[] {1, 2}).loss().item_double(), 1e-6);
        // Margin 6 makes it active: relu(0 - 5 + 6) = 1 for both.
        try (CrossBatchMemory m6 = new CrossBatchMemory(4, 2, k, 6.0, false)) {
          assertEquals(1.0, m6.step(t, new int[] {1, 2}).loss().item_double(), 1e-3);
        }
      }
  }
}
