package org.reid4j.kernels;

/** The shape and checks every {@link MiningMemory} shares. */
abstract class AbstractMiningMemory implements MiningMemory {
  private final int capacity, dimension;
  private final Metric metric;

  AbstractMiningMemory(int capacity, int dimension, Metric metric) {
    Kernels.checkMemoryShape(capacity, dimension, metric);
    this.capacity = capacity;
    this.dimension = dimension;
    this.metric = metric;
  }

  @Override
  public final int capacity() {
    return capacity;
  }

  @Override
  public final int dimension() {
    return dimension;
  }

  @Override
  public final Metric metric() {
    return metric;
  }

  /** Throws once closed. */
  abstract void requireOpen();

  /** The checks before writing rows [row0, row0 + rows.rows()). */
  final void checkWrite(int row0, FloatMatrix rows) {
    requireOpen();
    if (rows == null) throw new IllegalArgumentException("memory rows are null");
    if (rows.cols() != dimension)
      throw new IllegalArgumentException("memory rows have " + rows.cols() + " columns, the memory " + dimension);
    if (row0 < 0 || rows.rows() > capacity - row0)
      throw new IllegalArgumentException("memory rows [" + row0 + ", " + ((long) row0 + rows.rows())
          + ") pass the capacity " + capacity);
    Checks.requireUsable(rows, "memory rows");
  }

  /** The checks before mining. */
  final void checkMining(FloatMatrix anchors, int[] anchorLabels, int[] memoryLabels) {
    requireOpen();
    if (memoryLabels == null) throw new IllegalArgumentException("memory labels are null");
    if (memoryLabels.length > capacity)
      throw new IllegalArgumentException(memoryLabels.length + " memory labels for a memory of " + capacity + " rows");
    Checks.requireDim(anchors, "anchors");
    if (anchors.cols() != dimension)
      throw new IllegalArgumentException("anchors have " + anchors.cols() + " columns, the memory " + dimension);
    Checks.requireLabels(anchorLabels, anchors, "anchors");
    Checks.requireUsable(anchors, "anchors");
  }
}
