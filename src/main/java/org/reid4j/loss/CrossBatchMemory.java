package org.reid4j.loss;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.HardMining;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.MiningMemory;
import org.reid4j.model.Tensors;

/**
 * Cross-batch memory (XBM; Wang, Zhang, Huang, Scott, "Cross-Batch Memory for Embedding Learning",
 * CVPR 2020): a FIFO of the last {@code size} embeddings (detached) and their labels, against which
 * every batch's anchors are also mined, so that hard negatives come from far more than one batch.
 *
 * <p>Each step, as the paper's training loop does it: the batch's embeddings are enqueued first
 * (overwriting the oldest once the memory is full), then each anchor's hardest positive and
 * hardest negative among the memory's entries are mined (Euclidean, as the in-batch triplet loss;
 * the anchor's own copy in the memory is an ordinary positive at distance 0, so it is chosen only
 * when it is the anchor's one positive) and the batch-hard triplet loss is computed with the same
 * margin rule as {@link TripletLoss}; only the anchors carry gradients.
 *
 * <p>Where the memory lives: the kernels' {@link MiningMemory} (kept packed natively on the CPU
 * backend, so a step neither copies nor re-packs the memory), plus a host copy of the rows that
 * supplies the mined positives and negatives to the differentiable distance. Embeddings on a GPU
 * are copied to the host once per step for this ({@code .cpu()}). Memory: about 2 x size x dim
 * floats. Close it to free the native part.
 */
public final class CrossBatchMemory implements AutoCloseable {
  private final int size, dim;
  private final MiningMemory memory;
  private final float[] rows;
  private final int[] labels;
  private final TripletLoss triplet;
  private int head, filled;

  /**
   * @param size entries kept (the memory's capacity; at least 1)
   * @param kernels the kernels that mine (their {@link Kernels#miningMemory})
   */
  public CrossBatchMemory(int size, int dim, Kernels kernels, double margin, boolean softMargin) {
    if (size < 1) throw new IllegalArgumentException("XBM memory size must be at least 1, got " + size);
    if (dim < 1) throw new IllegalArgumentException("XBM embedding dimension must be at least 1, got " + dim);
    FloatMatrix.requireSize(size, dim);
    this.size = size;
    this.dim = dim;
    this.triplet = new TripletLoss(margin, softMargin, kernels);
    this.memory = kernels.miningMemory(size, dim, Metric.EUCLIDEAN);
    this.rows = new float[size * dim];
    this.labels = new int[size];
  }

  public int size() {
    return size;
  }

  /** Entries held so far (at most {@link #size()}). */
  public int filled() {
    return filled;
  }

  /** The label of memory slot i (i < filled), for tests and logs. */
  int labelAt(int i) {
    return labels[i];
  }

  /** A copy of memory slot i's embedding. */
  float[] rowAt(int i) {
    return java.util.Arrays.copyOfRange(rows, i * dim, (i + 1) * dim);
  }

  /** Writes n rows of x (row-major, [n, dim]) and their labels at the FIFO's head, wrapping around. */
  void enqueue(float[] x, int[] y, int n) {
    if (n > size) { // only the newest `size` rows can stay
      int drop = n - size;
      x = java.util.Arrays.copyOfRange(x, drop * dim, n * dim);
      y = java.util.Arrays.copyOfRange(y, drop, n);
      n = size;
    }
    for (int done = 0; done < n; ) {
      int slot = head, m = Math.min(n - done, size - slot);
      float[] part = java.util.Arrays.copyOfRange(x, done * dim, (done + m) * dim);
      memory.write(slot, new FloatMatrix(m, dim, part));
      System.arraycopy(part, 0, rows, slot * dim, m * dim);
      System.arraycopy(y, done, labels, slot, m);
      head = (head + m) % size;
      done += m;
    }
    filled = Math.min(size, filled + n);
  }

  /**
   * Enqueues the batch (detached), then returns the triplet loss of its anchors against the memory.
   * feats: [B, dim] float, on any device; labels: [B].
   */
  public TripletLoss.Result step(Tensor feats, int[] batchLabels) {
    if (feats.dim() != 2 || feats.size(1) != dim || feats.size(0) != batchLabels.length)
      throw new IllegalArgumentException("XBM: feats must be [B, " + dim + "] with B labels, got "
          + Tensors.shapeString(feats) + " and " + batchLabels.length + " labels");
    int n = batchLabels.length;
    Tensor host = feats.device().is_cpu() ? feats : feats.detach().cpu(); // the one host copy per step
    float[] x = Tensors.toFloats(host);
    enqueue(x, batchLabels, n);
    int[] used = java.util.Arrays.copyOf(labels, filled);
    HardMining h = memory.batchHard(new FloatMatrix(n, dim, x), batchLabels, used);
    float[] pos = new float[n * dim], neg = new float[n * dim];
    int[] valid = new int[n];
    for (int i = 0; i < n; i++) {
      int p = h.posIdx()[i], q = h.negIdx()[i];
      valid[i] = p >= 0 && q >= 0 ? 1 : 0;
      if (p >= 0) System.arraycopy(rows, p * dim, pos, i * dim, dim);
      if (q >= 0) System.arraycopy(rows, q * dim, neg, i * dim, dim);
    }
    Device dev = feats.device();
    return triplet.loss(feats, Tensors.fromFloats(pos, dev, n, dim), Tensors.fromFloats(neg, dev, n, dim),
        Tensors.longs(valid, dev).gt(Tensors.scalar(0)));
  }

  @Override
  public void close() {
    memory.close();
  }
}
