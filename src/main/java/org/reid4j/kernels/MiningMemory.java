package org.reid4j.kernels;

/**
 * A feature memory for cross-batch mining (XBM, Wang et al. 2020): {@link #capacity()} rows of
 * {@link #dimension()} floats that stay with the kernels between calls. {@link #write} overwrites
 * rows in place (a FIFO writes its oldest slots; the caller keeps the order and the labels), and
 * {@link #batchHard} mines anchors against the first {@code memoryLabels.length} rows without
 * copying the memory per call. Results equal {@link Kernels#batchHardMemory} of the same backend on
 * those rows, bit for bit. Rows never written are zero.
 *
 * <p>Where it lives: the native CPU backend keeps it packed for its distance engine
 * ({@code r4j_cpu_memory_*} in reid4j.h), so a call neither copies nor packs the memory, and rows are
 * checked (finite, of usable norm) only when written; the Java and CUDA backends keep a host copy and
 * call {@link Kernels#batchHardMemory} on it, which checks the rows in use at every call. Not thread-safe: one training
 * loop owns it. {@link #close} frees native memory (closing twice is harmless).
 */
public interface MiningMemory extends AutoCloseable {
  int capacity();

  int dimension();

  Metric metric();

  /**
   * Overwrites rows [row0, row0 + rows.rows()).
   *
   * @throws IllegalArgumentException if the rows pass the capacity, have another width, or hold a
   *     non-finite value or a row of unusable norm (nothing is written then)
   */
  void write(int row0, FloatMatrix rows);

  /**
   * Hardest positive and negative of each anchor among the memory's first {@code memoryLabels.length}
   * rows, with those labels; indices are memory rows (see {@link Kernels#batchHardMemory}).
   *
   * @throws IllegalArgumentException if more labels than the capacity are given, the anchors have
   *     another width or unusable values, or the labels do not match the anchors
   */
  HardMining batchHard(FloatMatrix anchors, int[] anchorLabels, int[] memoryLabels);

  @Override
  void close();

  /** A host copy mined with {@link Kernels#batchHardMemory} (the Java and CUDA backends). */
  final class OnHost extends AbstractMiningMemory {
    private final Kernels kernels;
    private float[] rows;

    OnHost(Kernels kernels, int capacity, int dimension, Metric metric) {
      super(capacity, dimension, metric);
      this.kernels = kernels;
      this.rows = new float[capacity * dimension];
    }

    @Override
    public void write(int row0, FloatMatrix m) {
      checkWrite(row0, m);
      System.arraycopy(m.data(), 0, rows, row0 * dimension(), m.rows() * dimension());
    }

    @Override
    public HardMining batchHard(FloatMatrix anchors, int[] anchorLabels, int[] memoryLabels) {
      checkMining(anchors, anchorLabels, memoryLabels);
      int n = memoryLabels.length, d = dimension();
      float[] used = n == capacity() ? rows : java.util.Arrays.copyOf(rows, n * d);
      return kernels.batchHardMemory(anchors, anchorLabels, new FloatMatrix(n, d, used), memoryLabels, metric());
    }

    @Override
    void requireOpen() {
      if (rows == null) throw new IllegalStateException("the mining memory is closed");
    }

    @Override
    public void close() {
      rows = null;
    }
  }
}
