package org.reid4j.kernels;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.PointerScope;

/** {@link MiningMemory} of the native CPU backend: the rows stay packed in {@code r4j_cpu_memory_*}. */
final class NativeMiningMemory extends AbstractMiningMemory {
  private Pointer handle; // null once closed

  NativeMiningMemory(int capacity, int dimension, Metric metric) {
    super(capacity, dimension, metric);
    try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
      NativeKernels.check(NativeApi.r4j_cpu_memory_create(capacity, dimension, metric.code, out), "miningMemory");
      handle = out.get(0);
    }
  }

  @Override
  public void write(int row0, FloatMatrix rows) {
    checkWrite(row0, rows);
    if (rows.rows() == 0) return;
    try (PointerScope scope = new PointerScope()) {
      FloatPointer p = new FloatPointer((long) rows.rows() * dimension());
      p.put(rows.data());
      NativeKernels.check(NativeApi.r4j_cpu_memory_write(handle, row0, p, rows.rows()), "miningMemory.write");
    }
  }

  @Override
  public HardMining batchHard(FloatMatrix anchors, int[] anchorLabels, int[] memoryLabels) {
    checkMining(anchors, anchorLabels, memoryLabels);
    try (PointerScope scope = new PointerScope()) {
      int n = anchors.rows();
      IntPointer pi = new IntPointer(Math.max(1, n)), ni = new IntPointer(Math.max(1, n));
      FloatPointer pd = new FloatPointer(Math.max(1, n)), nd = new FloatPointer(Math.max(1, n));
      IntPointer ml = new IntPointer(Math.max(1, memoryLabels.length));
      ml.put(memoryLabels);
      FloatPointer a = new FloatPointer(Math.max(1L, (long) n * dimension()));
      a.put(anchors.data());
      IntPointer al = new IntPointer(Math.max(1, n));
      al.put(anchorLabels);
      NativeKernels.check(NativeApi.r4j_cpu_memory_batch_hard(handle, memoryLabels.length, ml, a, al, n, pi, pd, ni,
          nd), "miningMemory.batchHard");
      return NativeKernels.mining(n, pi, pd, ni, nd);
    }
  }

  @Override
  void requireOpen() {
    if (handle == null) throw new IllegalStateException("the mining memory is closed");
  }

  @Override
  public void close() {
    if (handle != null) {
      NativeApi.r4j_cpu_memory_free(handle);
      handle = null;
    }
  }
}
