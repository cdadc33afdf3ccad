package org.reid4j.loss;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
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
 * <p>Where the memory lives: made with a device ({@link #onDevice}, what the trainer does on a GPU), the
 * rows and labels are tensors on that device, written in place and mined with tensor operations
 * (squared distances as |a|^2 + |m|^2 - 2 a.m, one matrix product), so a step neither copies the
 * batch to the host nor the memory to the kernels, and never waits for the device. Otherwise, the
 * kernels' {@link MiningMemory} (kept packed natively on the CPU backend, so a step neither copies nor
 * re-packs the memory), plus a host copy of the rows that supplies the mined positives and negatives
 * to the differentiable distance. Memory: about 2 x size x dim floats. Close it to free the native
 * part.
 */
public final class CrossBatchMemory implements AutoCloseable {
  private final int size, dim;
  private final MiningMemory memory; // kernel mode; null on a device
  private final float[] rows; // kernel mode
  private final int[] labels; // kernel mode
  private final Device device; // device mode: where memRows and memLabels live; null in kernel mode
  private Tensor memRows, memLabels; // device mode: [size, dim] float32 and [size] int64
  private final TripletLoss triplet;
  private int head, filled;

  /**
   * @param size entries kept (the memory's capacity; at least 1)
   * @param kernels the kernels that mine (their {@link Kernels#miningMemory})
   */
  public CrossBatchMemory(int size, int dim, Kernels kernels, double margin, boolean softMargin) {
    requireShape(size, dim);
    this.size = size;
    this.dim = dim;
    this.triplet = new TripletLoss(margin, softMargin, kernels);
    this.memory = kernels.miningMemory(size, dim, Metric.EUCLIDEAN);
    this.rows = new float[size * dim];
    this.labels = new int[size];
    this.device = null;
  }

  private CrossBatchMemory(int size, int dim, Device device, double margin, boolean softMargin) {
    requireShape(size, dim);
    this.size = size;
    this.dim = dim;
    this.triplet = new TripletLoss(margin, softMargin, null);
    this.memory = null;
    this.rows = null;
    this.labels = null;
    this.device = device;
    try (PointerScope scope = new PointerScope()) {
      memRows = Tensors.zeros(device, size, dim);
      memLabels = Tensors.longs(new int[size], device);
      memRows.retainReference();
      memLabels.retainReference();
    }
  }

  private static void requireShape(int size, int dim) {
    if (size < 1) throw new IllegalArgumentException("XBM memory size must be at least 1, got " + size);
    if (dim < 1) throw new IllegalArgumentException("XBM embedding dimension must be at least 1, got " + dim);
    FloatMatrix.requireSize(size, dim);
  }

  /**
   * A memory whose rows and labels live on {@code device} as tensors, mined with tensor operations there (see the
   * class comment): for embeddings on a GPU. Steps take the labels as a tensor on that device
   * ({@link #step(Tensor, Tensor)}).
   */
  public static CrossBatchMemory onDevice(int size, int dim, Device device, double margin, boolean softMargin) {
    return new CrossBatchMemory(size, dim, device, margin, softMargin);
  }

  /** Whether the memory lives on a device as tensors ({@link #onDevice}). */
  public boolean tensorMode() {
    return device != null;
  }

  public int size() {
    return size;
  }

  /** Entries held so far (at most {@link #size()}). */
  public int filled() {
    return filled;
  }

  /** The label of memory slot i (i < filled), for tests and logs (device mode: a host copy). */
  int labelAt(int i) {
    if (device != null) return (int) memLabels.narrow(0, i, 1).cpu().item_long();
    return labels[i];
  }

  /** A copy of memory slot i's embedding. */
  float[] rowAt(int i) {
    if (device != null) return Tensors.toFloats(memRows.narrow(0, i, 1).cpu());
    return java.util.Arrays.copyOfRange(rows, i * dim, (i + 1) * dim);
  }

  /** Writes n rows of x (row-major, [n, dim]) and their labels at the FIFO's head, wrapping around. */
  void enqueue(float[] x, int[] y, int n) {
    if (device != null) {
      try (PointerScope scope = new PointerScope()) {
        enqueue(Tensors.fromFloats(java.util.Arrays.copyOf(x, n * dim), device, n, dim),
            Tensors.longs(java.util.Arrays.copyOf(y, n), device));
      }
      return;
    }
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

  /** Device mode: writes the rows x ([n, dim]) and labels y ([n] int64) at the FIFO's head, wrapping around. */
  private void enqueue(Tensor x, Tensor y) {
    try (NoGradGuard ng = new NoGradGuard()) {
      int n = (int) x.size(0);
      if (n > size) { // only the newest `size` rows can stay
        x = x.narrow(0, n - size, size);
        y = y.narrow(0, n - size, size);
        n = size;
      }
      for (int done = 0; done < n; ) {
        int slot = head, m = Math.min(n - done, size - slot);
        memRows.narrow(0, slot, m).copy_(x.narrow(0, done, m));
        memLabels.narrow(0, slot, m).copy_(y.narrow(0, done, m));
        head = (head + m) % size;
        done += m;
      }
      filled = Math.min(size, filled + n);
    }
  }

  /**
   * Device mode: enqueues the batch (detached), then returns the triplet loss of its anchors against the memory,
   * all on the memory's device without a host copy. feats: [B, dim] float there; labels: [B] integers there.
   */
  public TripletLoss.Result step(Tensor feats, Tensor batchLabels) {
    if (device == null) throw new IllegalStateException("XBM: tensor labels are for a memory made onDevice");
    if (feats.dim() != 2 || feats.size(1) != dim || batchLabels.dim() != 1 || feats.size(0) != batchLabels.size(0))
      throw new IllegalArgumentException("XBM: feats must be [B, " + dim + "] with B labels, got "
          + Tensors.shapeString(feats) + " and labels " + Tensors.shapeString(batchLabels));
    if (!feats.device().equals(device) || !batchLabels.device().equals(device))
      throw new IllegalArgumentException("XBM: the memory is on " + device.str().getString() + ", feats on "
          + feats.device().str().getString() + " and labels on " + batchLabels.device().str().getString());
    Tensor a = feats.detach().to(torch.ScalarType.Float);
    Tensor y = batchLabels.to(torch.ScalarType.Long);
    enqueue(a, y);
    Tensor pos, neg, valid;
    try (NoGradGuard ng = new NoGradGuard()) {
      Tensor mem = memRows.narrow(0, 0, filled), ml = memLabels.narrow(0, 0, filled);
      Tensor aa = a.mul(a).sum(1).unsqueeze(1);
      Tensor mm = mem.mul(mem).sum(1).unsqueeze(0);
      Tensor d = aa.add(mm).sub(a.matmul(mem.t()).mul(Tensors.scalar(2))).clamp_min(Tensors.scalar(0));
      Tensor same = y.unsqueeze(1).eq(ml.unsqueeze(0));
      TripletLoss.Mined mined = TripletLoss.hardest(d, same, same.logical_not());
      valid = mined.valid();
      pos = mem.index_select(0, mined.posIdx());
      neg = mem.index_select(0, mined.negIdx());
    }
    return triplet.loss(feats, pos, neg, valid);
  }

  /**
   * Enqueues the batch (detached), then returns the triplet loss of its anchors against the memory.
   * feats: [B, dim] float, on any device; labels: [B].
   */
  public TripletLoss.Result step(Tensor feats, int[] batchLabels) {
    if (feats.dim() != 2 || feats.size(1) != dim || feats.size(0) != batchLabels.length)
      throw new IllegalArgumentException("XBM: feats must be [B, " + dim + "] with B labels, got "
          + Tensors.shapeString(feats) + " and " + batchLabels.length + " labels");
    if (device != null) return step(feats, Tensors.longs(batchLabels, device));
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
    if (memory != null) memory.close();
    if (memRows != null) {
      memRows.releaseReference();
      memLabels.releaseReference();
      memRows = memLabels = null;
    }
  }
}
