package org.reid4j.bench;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.HardMining;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.MiningMemory;
import org.reid4j.kernels.NativeKernels;
import org.reid4j.loss.CrossBatchMemory;
import org.reid4j.model.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Batch-hard triplet mining at d = 2048 (ResNet-50 features): in-batch at B = 64, 256, 4096 with
 * P x K labels (K = 4), and 256 anchors against a 16,384-entry cross-batch memory: passed in per call,
 * or kept resident on the native side (MiningMemory). Plain Java against the native CPU kernel, same run. And a
 * whole XBM step (enqueue, mining, triplet loss) of CrossBatchMemory with its memory on the native side against
 * its memory as libtorch tensors (what a GPU run uses), here on the CPU.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class MiningBenchmark {
  @Param({"64", "256", "4096"})
  public int batch;

  @Param({"2"})
  public int threads;

  static final int DIM = 2048, K = 4, MEMORY = 16384, ANCHORS = 256;

  FloatMatrix x, anchors, memory;
  int[] labels, anchorLabels, memoryLabels;
  Kernels java, cpu;
  MiningMemory resident;
  FloatMatrix newest;
  int head;

  @Setup(Level.Trial)
  public void setup() {
    x = Shapes.gaussian(batch, DIM, 3);
    labels = Shapes.labels(batch, K, 3);
    anchors = Shapes.gaussian(ANCHORS, DIM, 4);
    anchorLabels = Shapes.labels(ANCHORS, K, 4);
    memory = Shapes.gaussian(MEMORY, DIM, 5);
    memoryLabels = Shapes.labels(MEMORY, K, 5);
    java = Kernels.create(Backend.JAVA);
    cpu = Kernels.create(Backend.CPU);
    NativeKernels.setCpuThreads(threads);
    resident = cpu.miningMemory(MEMORY, DIM, Metric.SQEUCLIDEAN);
    resident.write(0, memory);
    newest = Shapes.gaussian(ANCHORS, DIM, 6);
  }

  CrossBatchMemory xbmNative, xbmTensors;
  Tensor anchorFeats, anchorLabelTensor;

  @Setup(Level.Trial)
  public void setupXbm() {
    xbmNative = new CrossBatchMemory(MEMORY, DIM, cpu, 0.3, false);
    xbmTensors = CrossBatchMemory.onDevice(MEMORY, DIM, Tensors.CPU, 0.3, false);
    try (PointerScope scope = new PointerScope()) { // fill both memories
      for (int r = 0; r < MEMORY; r += ANCHORS) {
        float[] rows = Arrays.copyOfRange(memory.data(), r * DIM, (r + ANCHORS) * DIM);
        int[] lab = Arrays.copyOfRange(memoryLabels, r, r + ANCHORS);
        Tensor t = Tensors.fromFloats(rows, Tensors.CPU, ANCHORS, DIM);
        xbmNative.step(t, lab);
        xbmTensors.step(t, Tensors.longs(lab, Tensors.CPU));
      }
    }
    anchorFeats = Tensors.fromFloats(newest.data(), Tensors.CPU, ANCHORS, DIM);
    anchorLabelTensor = Tensors.longs(anchorLabels, Tensors.CPU);
    anchorFeats.retainReference();
    anchorLabelTensor.retainReference();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    resident.close();
    xbmNative.close();
    xbmTensors.close();
  }

  /** One XBM step with the memory on the native side (the CPU path): 256 rows enqueued, mined, the loss. */
  @Benchmark
  public double xbmStepNative() {
    try (PointerScope scope = new PointerScope()) {
      return xbmNative.step(anchorFeats, anchorLabels).loss().item_double();
    }
  }

  /** The same step with the memory as libtorch tensors (the GPU path), on the CPU. */
  @Benchmark
  public double xbmStepTensors() {
    try (PointerScope scope = new PointerScope()) {
      return xbmTensors.step(anchorFeats, anchorLabelTensor).loss().item_double();
    }
  }

  @Benchmark
  public HardMining javaBatchHard() {
    return java.batchHard(x, labels, Metric.SQEUCLIDEAN);
  }

  @Benchmark
  public HardMining cpuBatchHard() {
    return cpu.batchHard(x, labels, Metric.SQEUCLIDEAN);
  }

  /** 256 anchors x 16,384 memory (independent of the batch param; run with -p batch=256). */
  @Benchmark
  public HardMining javaMemory() {
    return java.batchHardMemory(anchors, anchorLabels, memory, memoryLabels, Metric.SQEUCLIDEAN);
  }

  @Benchmark
  public HardMining cpuMemory() {
    return cpu.batchHardMemory(anchors, anchorLabels, memory, memoryLabels, Metric.SQEUCLIDEAN);
  }

  /** The same mining against the memory kept packed on the native side (MiningMemory). */
  @Benchmark
  public HardMining cpuResidentMemory() {
    return resident.batchHard(anchors, anchorLabels, memoryLabels);
  }

  /** One XBM step's memory work: the newest 256 rows written over the oldest (FIFO), then the mining. */
  @Benchmark
  public HardMining cpuResidentMemoryStep() {
    resident.write(head, newest);
    head = (head + ANCHORS) % MEMORY;
    return resident.batchHard(anchors, anchorLabels, memoryLabels);
  }
}
