package org.reid4j.kernels;

import java.util.Arrays;

/**
 * A dense row-major float32 matrix: {@code rows} rows of {@code cols} values in one heap array.
 * The array is shared, not copied. At most 2^31 - 1 elements (a Java array's limit).
 */
public record FloatMatrix(int rows, int cols, float[] data) {
  public FloatMatrix {
    if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative shape [" + rows + ", " + cols + "]");
    if (data == null) throw new IllegalArgumentException("data is null");
    if ((long) rows * cols != data.length)
      throw new IllegalArgumentException(
          "shape [" + rows + ", " + cols + "] needs " + (long) rows * cols + " values, got " + data.length);
  }

  public static FloatMatrix zeros(int rows, int cols) {
    requireSize(rows, cols);
    return new FloatMatrix(rows, cols, new float[rows * cols]);
  }

  /** A matrix from equal-length rows (copied), e.g. for small hand-written cases. */
  public static FloatMatrix ofRows(float[]... rows) {
    if (rows.length == 0) throw new IllegalArgumentException("ofRows needs at least one row to know the width");
    int cols = rows[0].length;
    FloatMatrix m = zeros(rows.length, cols);
    for (int i = 0; i < rows.length; i++) {
      if (rows[i].length != cols)
        throw new IllegalArgumentException("row " + i + " has " + rows[i].length + " values, row 0 has " + cols);
      System.arraycopy(rows[i], 0, m.data, i * cols, cols);
    }
    return m;
  }

  /** Throws unless a [rows, cols] matrix fits in one Java array. */
  public static void requireSize(int rows, int cols) {
    if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative shape [" + rows + ", " + cols + "]");
    if ((long) rows * cols > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("a [" + rows + ", " + cols + "] result is larger than a Java array can hold"
          + " (2^31 values); split the queries into smaller blocks");
  }

  public float get(int r, int c) {
    return data[r * cols + c];
  }

  public void set(int r, int c, float v) {
    data[r * cols + c] = v;
  }

  /** A copy of row r. */
  public float[] row(int r) {
    return Arrays.copyOfRange(data, r * cols, (r + 1) * cols);
  }

  /** Each row's largest value (negative infinity for a row of no columns; NaN if the row has one), rows in parallel. */
  public float[] rowMaxima() {
    float[] out = new float[rows];
    java.util.stream.IntStream.range(0, rows).parallel().forEach(r -> {
      float m = Float.NEGATIVE_INFINITY;
      for (int j = r * cols; j < (r + 1) * cols; j++) m = Math.max(m, data[j]);
      out[r] = m;
    });
    return out;
  }

  /** The rows [from, to) as a new matrix (copied). */
  public FloatMatrix rowRange(int from, int to) {
    return new FloatMatrix(to - from, cols, Arrays.copyOfRange(data, from * cols, to * cols));
  }

  /** The first index (row, col) whose value is NaN or infinite, or null if all are finite. */
  public int[] firstNonFinite() {
    for (int i = 0; i < data.length; i++) {
      if (!Float.isFinite(data[i])) return new int[] {i / Math.max(cols, 1), i % Math.max(cols, 1)};
    }
    return null;
  }

  @Override
  public String toString() {
    return "FloatMatrix[" + rows + " x " + cols + "]";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FloatMatrix m && m.rows == rows && m.cols == cols && Arrays.equals(m.data, data);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * rows + cols) + Arrays.hashCode(data);
  }
}
