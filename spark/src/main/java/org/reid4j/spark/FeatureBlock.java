package org.reid4j.spark;

import java.io.Serializable;
import org.reid4j.kernels.FloatMatrix;

/**
 * A contiguous block of items of the kNN graph: rows {@code start .. start + rows - 1} of the item order
 * (queries first, then the gallery), row-major float32. One block is one partition of the graph's input.
 *
 * @param block the block's number (start / block rows)
 * @param start the global index of its first row
 */
public record FeatureBlock(int block, int start, int rows, int dim, float[] data) implements Serializable {
  public FeatureBlock {
    if (block < 0 || start < 0 || rows < 0 || dim < 1)
      throw new IllegalArgumentException("bad block " + block + ": start " + start + ", " + rows + " rows of " + dim);
    if (data == null || data.length != (long) rows * dim)
      throw new IllegalArgumentException("block " + block + " holds " + (data == null ? 0 : data.length)
          + " floats, expected " + rows + " x " + dim);
  }

  /** The rows as a matrix (sharing the array). */
  public FloatMatrix matrix() {
    return new FloatMatrix(rows, dim, data);
  }
}
