package org.reid4j.bench;

import java.util.SplittableRandom;
import org.reid4j.kernels.FloatMatrix;

/** Benchmark inputs: seeded random matrices and the named shapes the benchmarks share. */
final class Shapes {
  private Shapes() {}

  /** [queries, gallery, dim] for a shape name. "market" is the Market-1501 test shape. */
  static int[] distance(String name) {
    return switch (name) {
      case "small" -> new int[] {1000, 5000, 256};
      case "market" -> new int[] {3368, 15913, 2048};
      default -> throw new IllegalArgumentException("unknown shape " + name);
    };
  }

  static FloatMatrix gaussian(int rows, int cols, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[rows * cols];
    for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
    return new FloatMatrix(rows, cols, a);
  }

  static int[] labels(int n, int k, long seed) {
    // P x K batches: k consecutive rows per identity, as the identity sampler produces them.
    int[] l = new int[n];
    for (int i = 0; i < n; i++) l[i] = i / k;
    return l;
  }
}
