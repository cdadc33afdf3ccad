package org.reid4j.eval;

import java.util.stream.IntStream;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.NativeMatrix;

/** Small feature transforms used before retrieval. */
public final class Features {
  private Features() {}

  /** Rows scaled to unit L2 norm, as a new matrix; an all-zero row stays zero. O(n d). */
  public static FloatMatrix l2Normalize(FloatMatrix m) {
    int d = m.cols();
    float[] src = m.data(), dst = new float[src.length];
    IntStream.range(0, m.rows()).parallel().forEach(r -> normalizeRow(src, r * d, dst, r * d, d));
    return new FloatMatrix(m.rows(), d, dst);
  }

  /**
   * The same scaling, in place, for a matrix in native memory: the same values as {@link #l2Normalize}.
   * Checks each row for NaN and infinities on the way (one pass instead of two) and throws as
   * {@code Checks.requireFinite(m, what)} would, naming the first bad row; the matrix is then partly
   * scaled.
   */
  public static void l2NormalizeInPlace(NativeMatrix m, String what) {
    int d = m.cols();
    ThreadLocal<float[]> rows = ThreadLocal.withInitial(() -> new float[d]);
    String why = Checks.firstRowProblem(m.rows(), r -> {
      float[] row = rows.get();
      m.row(r, row);
      String problem = Checks.rowProblem(row, 0, d, r, what, false);
      if (problem != null) return problem;
      normalizeRow(row, 0, row, 0, d);
      m.setRow(r, row);
      return null;
    });
    if (why != null) throw new IllegalArgumentException(why);
  }

  private static void normalizeRow(float[] src, int from, float[] dst, int to, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) s += (double) src[from + k] * src[from + k];
    float inv = s > 0 ? (float) (1.0 / Math.sqrt(s)) : 0f;
    for (int k = 0; k < d; k++) dst[to + k] = src[from + k] * inv;
  }
}
