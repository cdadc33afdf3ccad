package org.reid4j.kernels;

/**
 * The k nearest per row: {@code values[r * k + j]} is the j-th smallest distance of row r and
 * {@code indices[r * k + j]} its column. Ascending by (value, index).
 */
public record TopK(int rows, int k, float[] values, int[] indices) {
  public TopK {
    if ((long) rows * k != values.length || values.length != indices.length)
      throw new IllegalArgumentException("TopK arrays do not match [" + rows + ", " + k + "]");
  }

  public float value(int r, int j) {
    return values[r * k + j];
  }

  public int index(int r, int j) {
    return indices[r * k + j];
  }
}
