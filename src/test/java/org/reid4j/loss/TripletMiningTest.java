package org.reid4j.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.HardMining;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.model.Tensors;

/**
 * The device miner ({@link TripletLoss#mineOnDevice}, tensor operations, what CUDA training uses)
 * against the retrieval core's batch-hard kernels (plain Java and the C++ backend) on the same
 * inputs: the same hardest positive and negative for every anchor, ties included, and the same loss.
 * Here the tensors are on the CPU; {@code CudaTrainingTest} repeats the comparison on a GPU.
 */
class TripletMiningTest {
  /** Integer-valued features: every distance is exact in both formulas, so ties are real ties. */
  static float[] integerFeatures(Random r, int n, int d) {
    float[] x = new float[n * d];
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(3) - 1;
    return x;
  }

  static float[] gaussianFeatures(Random r, int n, int d) {
    float[] x = new float[n * d];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    // a few exact duplicates: tied distances to every anchor
    for (int k = 0; k < n / 4; k++) {
      int a = r.nextInt(n), b = r.nextInt(n);
      System.arraycopy(x, a * d, x, b * d, d);
    }
    return x;
  }

  static int[] labels(Random r, int n, int classes) {
    int[] l = new int[n];
    for (int i = 0; i < n; i++) l[i] = r.nextInt(classes);
    return l;
  }

  /** Compares the device miner with each host miner; near ties (distinct formulas round differently) are allowed only where both picks are equally hard. */
  static void compare(float[] x, int n, int d, int[] labels, boolean exact) {
    try (PointerScope s = new PointerScope()) {
      Tensor feats = Tensors.fromFloats(x, Tensors.CPU, n, d);
      TripletLoss.Mined m = TripletLoss.mineOnDevice(feats, Tensors.longs(labels, Tensors.CPU));
      long[] pos = longs(m.posIdx()), neg = longs(m.negIdx());
      boolean[] valid = bools(m.valid());
      for (Kernels k : TripletLossTest.miners()) {
        HardMining h = k.batchHard(new FloatMatrix(n, d, x), labels, Metric.EUCLIDEAN);
        for (int i = 0; i < n; i++) {
          String where = k.describe() + ", n " + n + ", d " + d + ", anchor " + i;
          assertEquals(h.posIdx()[i] >= 0 && h.negIdx()[i] >= 0, valid[i], "valid " + where);
          if (!valid[i]) continue;
          check(x, d, i, h.posIdx()[i], (int) pos[i], exact, "positive " + where);
          check(x, d, i, h.negIdx()[i], (int) neg[i], exact, "negative " + where);
        }
      }
    }
  }

  private static void check(float[] x, int d, int anchor, int want, int got, boolean exact, String what) {
    if (want == got) return;
    assertTrue(!exact, what + ": host miner picked " + want + ", device miner " + got);
    double dw = dist(x, d, anchor, want), dg = dist(x, d, anchor, got);
    assertEquals(dw, dg, 1e-5 * Math.max(1, dw), what + ": not a near tie");
  }

  static double dist(float[] x, int d, int i, int j) {
    double s = 0;
    for (int k = 0; k < d; k++) {
      double t = x[i * d + k] - x[j * d + k];
      s += t * t;
    }
    return Math.sqrt(s);
  }

  static long[] longs(Tensor t) {
    long[] out = new long[(int) t.numel()];
    t.cpu().contiguous().data_ptr_long().get(out);
    return out;
  }

  static boolean[] bools(Tensor t) {
    long[] l = longs(t.cpu().to(org.bytedeco.pytorch.global.torch.ScalarType.Long));
    boolean[] b = new boolean[l.length];
    for (int i = 0; i < l.length; i++) b[i] = l[i] != 0;
    return b;
  }

  @Test
  void sameTripletsAsTheHostMinersWithTies() {
    Random r = new Random(11);
    int[][] shapes = {{1, 3}, {2, 1}, {5, 2}, {17, 3}, {64, 8}, {96, 129}};
    for (int[] sh : shapes) {
      int n = sh[0], d = sh[1];
      for (int classes : new int[] {1, 2, 7, n}) {
        compare(integerFeatures(r, n, d), n, d, labels(r, n, classes), true);
      }
    }
  }

  @Test
  void sameTripletsAsTheHostMinersOnGaussianFeatures() {
    Random r = new Random(12);
    int[][] shapes = {{16, 2048}, {64, 256}, {33, 7}, {256, 64}};
    for (int[] sh : shapes) compare(gaussianFeatures(r, sh[0], sh[1]), sh[0], sh[1], labels(r, sh[0], sh[0] / 4 + 1), false);
  }

  @Test
  void rowBlocksGiveTheSameAnswerAsOneBlock() {
    // n * n * d above 2^25 splits the distance pass into row blocks.
    Random r = new Random(13);
    int n = 300, d = 400;
    compare(integerFeatures(r, n, d), n, d, labels(r, n, 40), true);
  }

  @Test
  void deviceMinedLossEqualsHostMinedLoss() {
    Random r = new Random(14);
    for (boolean soft : new boolean[] {false, true}) {
      for (int[] sh : new int[][] {{8, 4}, {64, 32}, {5, 3}}) {
        int n = sh[0], d = sh[1];
        float[] x = gaussianFeatures(r, n, d);
        int[] y = labels(r, n, 3);
        try (PointerScope s = new PointerScope()) {
          TripletLoss loss = new TripletLoss(0.3, soft, TripletLossTest.miners()[0]);
          Tensor a = Tensors.fromFloats(x, Tensors.CPU, n, d).requires_grad_(true);
          TripletLoss.Result host = loss.forward(a, y);
          host.loss().backward();
          Tensor b = Tensors.fromFloats(x, Tensors.CPU, n, d).requires_grad_(true);
          TripletLoss.Result dev = loss.loss(b, TripletLoss.mineOnDevice(b, Tensors.longs(y, Tensors.CPU)));
          dev.loss().backward();
          assertEquals(host.loss().item_double(), dev.loss().item_double(), 1e-6, "loss, soft " + soft);
          assertEquals(host.fractionActive(), dev.fractionActive(), 0, "active fraction");
          assertArrayEquals(Tensors.toFloats(a.grad()), Tensors.toFloats(b.grad()), 1e-6f, "gradients");
        }
      }
    }
  }

  @Test
  void anEmptyBatchIsRefused() {
    try (PointerScope s = new PointerScope()) {
      Tensor x = Tensors.zeros(Tensors.CPU, 0, 4);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new TripletLoss(0.3, false, null).forward(x, new int[0]));
      assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }
  }

  @Test
  void labelsOnAnotherDeviceAreRefused() {
    try (PointerScope s = new PointerScope()) {
      Tensor x = Tensors.zeros(Tensors.CPU, 2, 4);
      Tensor meta = org.reid4j.model.Tensors.longs(new int[] {0, 1}, new org.bytedeco.pytorch.Device("meta"));
      assertThrows(IllegalArgumentException.class, () -> new TripletLoss(0.3, false, null).forward(x, meta));
    }
  }
}
