package org.reid4j.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NativeKernels;
import org.reid4j.kernels.NeighbourBlocks;
import org.reid4j.kernels.TopKWithMax;

/**
 * The list pass of exact k-reciprocal re-ranking without its N x N matrix ({@link
 * Kernels#neighbourLists}: every item's 21 nearest among N and its row maximum), at N = 1,000 queries
 * + {@code gallery} rows, d 256: the native CPU backend's symmetric pass (tiles on and above the
 * diagonal) against blocks of items and chunks of rows ({@link NeighbourBlocks}) on the native CPU
 * kernels and in plain Java, same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class NeighbourListsBenchmark {
  @Param({"7000", "31000"})
  public int gallery;

  @Param({"2"})
  public int threads;

  static final int QUERIES = 1000, DIM = 256, LENGTH = 21;

  FloatMatrix q, g;
  Kernels java, cpu;

  @Setup(Level.Trial)
  public void setup() {
    q = Shapes.gaussian(QUERIES, DIM, 7);
    g = Shapes.gaussian(gallery, DIM, 8);
    java = Kernels.create(Backend.JAVA);
    cpu = Kernels.create(Backend.CPU);
    NativeKernels.setCpuThreads(threads);
  }

  @Benchmark
  public TopKWithMax cpuSymmetric() {
    return cpu.neighbourLists(q, g, Metric.SQEUCLIDEAN, LENGTH, null);
  }

  /** What the native CPU backend did before the symmetric pass: blocks of 4,096 against chunks of 16,384. */
  @Benchmark
  public TopKWithMax cpuBlocks() {
    return NeighbourBlocks.lists(cpu, q, g, Metric.SQEUCLIDEAN, LENGTH, null, 4096, 16_384);
  }

  /** Plain Java (run with -p gallery=7000: the larger case takes minutes per call). */
  @Benchmark
  public TopKWithMax javaBlocks() {
    return java.neighbourLists(q, g, Metric.SQEUCLIDEAN, LENGTH, null);
  }
}
