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

  /** Makes a memory of (size, dim, margin) one way: on kernels, or as tensors on a device (here the CPU). */
  record Maker(String name, java.util.function.Function<double[], CrossBatchMemory> make) {
    CrossBatchMemory make(int size, int dim, double margin) {
      return make.apply(new double[] {size, dim, margin});
    }
  }

  /** Every way: each backend's kernels, and the tensors of {@link CrossBatchMemory#onDevice}. */
  static java.util.List<Maker> makers() {
    java.util.List<Maker> out = new java.util.ArrayList<>();
    for (Kernels k : backends())
      out.add(new Maker(k.describe(), a -> new CrossBatchMemory((int) a[0], (int) a[1], k, a[2], false)));
    out.add(new Maker("tensors on the CPU", a -> CrossBatchMemory.onDevice((int) a[0], (int) a[1], Tensors.CPU, a[2],
        false)));
    return out;
  }

  @Test
  void fifoWrapsAroundAndKeepsLabelsWithTheirRows() {
    Random r = new Random(51);
    for (Maker k : makers())
      try (CrossBatchMemory m = k.make(5, 2, 0.3)) {
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
    for (Maker k : makers())
      try (PointerScope scope = new PointerScope(); CrossBatchMemory m = k.make(7, 3, 0.5)) {
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
          assertEquals(want, res.loss().item_double(), 1e-5 * Math.max(1, want), k.name() + " step " + step);
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

  /**
   * The memory as tensors (what a GPU run uses) against the kernels' memory on the same stream of batches: the
   * same losses, active fractions and anchor gradients step by step, through wrap-arounds, batches larger than the
   * memory, one-element batches and labels that the memory does not hold yet.
   */
  @Test
  void tensorsOnADeviceMineWhatTheKernelsMine() {
    Random r = new Random(53);
    for (Kernels k : backends())
      for (int[] shape : new int[][] {{1, 5}, {13, 17}, {64, 32}}) {
        int size = shape[0], dim = shape[1];
        try (PointerScope scope = new PointerScope(); CrossBatchMemory kern = new CrossBatchMemory(size, dim, k, 0.3,
            false); CrossBatchMemory tens = CrossBatchMemory.onDevice(size, dim, Tensors.CPU, 0.3, false)) {
          assertTrue(tens.tensorMode());
          assertFalse(kern.tensorMode());
          for (int step = 0; step < 12; step++) {
            int n = step % 4 == 3 ? 1 : 1 + r.nextInt(Math.max(2, size + 3)); // now and then more than fit
            float[] x = gaussian(r, n * dim);
            int[] y = new int[n];
            for (int i = 0; i < n; i++) y[i] = r.nextInt(4) + (step < 2 ? 0 : step); // fresh labels appear
            Tensor ta = Tensors.fromFloats(x.clone(), Tensors.CPU, n, dim).requires_grad_(true);
            Tensor tb = Tensors.fromFloats(x.clone(), Tensors.CPU, n, dim).requires_grad_(true);
            TripletLoss.Result a = kern.step(ta, y), b = tens.step(tb, Tensors.longs(y, Tensors.CPU));
            String at = k.describe() + ", memory " + size + " x " + dim + ", step " + step;
            assertEquals(a.loss().item_double(), b.loss().item_double(), 1e-5, at);
            assertEquals(a.fractionActive(), b.fractionActive(), 1e-9, at);
            assertEquals(kern.filled(), tens.filled(), at);
            a.loss().backward();
            b.loss().backward();
            float[] ga = Tensors.toFloats(ta.grad()), gb = Tensors.toFloats(tb.grad());
            for (int i = 0; i < ga.length; i++) assertEquals(ga[i], gb[i], 1e-5, at + ", gradient " + i);
          }
          for (int i = 0; i < kern.filled(); i++) {
            assertEquals(kern.labelAt(i), tens.labelAt(i), "slot " + i);
            assertArrayEquals(kern.rowAt(i), tens.rowAt(i), "slot " + i);
          }
        }
      }
  }

  @Test
  void tensorLabelsMustMatchTheFeaturesAndTheDevice() {
    try (PointerScope scope = new PointerScope();
        CrossBatchMemory m = CrossBatchMemory.onDevice(4, 3, Tensors.CPU, 0.3, false);
        CrossBatchMemory kern = new CrossBatchMemory(4, 3, Kernels.create(Backend.JAVA), 0.3, false)) {
      Tensor f = Tensors.zeros(Tensors.CPU, 2, 3);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> m.step(f, Tensors.longs(new int[] {1, 2, 3}, Tensors.CPU)));
      assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[3]"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> m.step(Tensors.zeros(Tensors.CPU, 2, 4),
          Tensors.longs(new int[] {1, 2}, Tensors.CPU)));
      assertThrows(IllegalStateException.class, () -> kern.step(f, Tensors.longs(new int[] {1, 2}, Tensors.CPU)));
    }
  }

  @Test
  void anAnchorWhoseOnlyPositiveIsItsOwnCopyHasZeroPositiveDistance() {
    for (Maker k : makers())
      try (PointerScope scope = new PointerScope(); CrossBatchMemory m = k.make(4, 2, 1.0)) {
        // Anchor (0, 0) label 1 and a negative (3, 4) label 2: loss = relu(0 - 5 + 1) = 0 for the first,
        // and for the second (its own copy too) relu(0 - 5 + 1) = 0.
        Tensor t = Tensors.fromFloats(new float[] {0, 0, 3, 4}, Tensors.CPU, 2, 2);
        assertEquals(0.0, m.step(t, new int[] {1, 2}).loss().item_double(), 1e-6);
        // Margin 6 makes it active: relu(0 - 5 + 6) = 1 for both.
        try (CrossBatchMemory m6 = k.make(4, 2, 6.0)) {
          assertEquals(1.0, m6.step(t, new int[] {1, 2}).loss().item_double(), 1e-3);
        }
      }
  }
}
