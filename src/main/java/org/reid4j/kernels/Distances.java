package org.reid4j.kernels;

/**
 * Scalar distance between two feature rows, with the semantics of {@code reid4j.h}: squared
 * Euclidean as |a|^2 + |b|^2 - 2 a.b clamped at 0, Euclidean as its square root, cosine as
 * 1 - a.b / (|a| |b|) with 1 for a zero vector. Everything is accumulated in float, in index order.
 *
 * <p>It exists so that the plain-Java kernels and the plain-Java re-ranking compute bit-identical
 * distances: the same pair always gives the same float, whichever code asks for it, and
 * D(i, j) == D(j, i) exactly. Cost: O(d) per pair after O(n d) for the norms; no allocation.
 */
public final class Distances {
  private Distances() {}

  /** Dot product of row i of a and row j of b (same number of columns), float accumulation. */
  public static float dot(FloatMatrix a, int i, FloatMatrix b, int j) {
    int d = a.cols();
    float[] x = a.data(), y = b.data();
    int xo = i * d, yo = j * d;
    float s = 0f;
    for (int k = 0; k < d; k++) s += x[xo + k] * y[yo + k];
    return s;
  }

  /** The squared norm |row|^2 of every row, computed as {@link #dot} of the row with itself. */
  public static float[] squaredNorms(FloatMatrix m) {
    float[] n = new float[m.rows()];
    for (int i = 0; i < n.length; i++) n[i] = dot(m, i, m, i);
    return n;
  }

  /**
   * Distance between row i of a and row j of b, given their squared norms (from
   * {@link #squaredNorms}).
   */
  public static float distance(FloatMatrix a, int i, float aNorm2, FloatMatrix b, int j, float bNorm2,
      Metric metric) {
    float ab = dot(a, i, b, j);
    switch (metric) {
      case SQEUCLIDEAN:
        return Math.max(0f, aNorm2 + bNorm2 - 2f * ab);
      case EUCLIDEAN:
        return (float) Math.sqrt(Math.max(0f, aNorm2 + bNorm2 - 2f * ab));
      case COSINE:
        if (aNorm2 == 0f || bNorm2 == 0f) return 1f;
        float c = 1f - ab / ((float) Math.sqrt(aNorm2) * (float) Math.sqrt(bNorm2));
        return c > 0f ? (c < 2f ? c : 2f) : 0f; // rounding can put parallel vectors just below 0
      default:
        throw new IllegalArgumentException("unknown metric " + metric);
    }
  }
}
