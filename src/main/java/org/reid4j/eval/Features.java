package org.reid4j.eval;

import java.util.stream.IntStream;
import org.reid4j.kernels.FloatMatrix;

/** Small feature transforms used before retrieval. */
public final class Features {
  private Features() {}

  /** Rows scaled to unit L2 norm, as a new matrix; an all-zero row stays zero. O(n d). */
  public static FloatMatrix l2Normalize(FloatMatrix m) {
    int d = m.cols();
    float[] src = m.data(), dst = new float[src.length];
    IntStream.range(0, m.rows()).parallel().forEach(r -> {
      double s = 0;
      for (int k = 0; k < d; k++) s += (double) src[r * d + k] * src[r * d + k];
      float inv = s > 0 ? (float) (1.0 / Math.sqrt(s)) : 0f;
      for (int k = 0; k < d; k++) dst[r * d + k] = src[r * d + k] * inv;
    });
    return new FloatMatrix(m.rows(), d, dst);
  }
}
