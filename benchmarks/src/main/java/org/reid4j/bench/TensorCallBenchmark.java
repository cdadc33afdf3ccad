package org.reid4j.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.*;

/**
 * What one small libtorch operator costs from Java (a 1-element add: the result tensor's allocation
 * and bookkeeping, freed in a scope as the trainer does), with JavaCPP's resident-memory check at
 * every allocation (its default) and without it (org.bytedeco.javacpp.maxPhysicalBytes=0, which the
 * command line sets). On a GPU each operator of the forward pass pays this on the CPU while the GPU
 * waits. Each variant runs in its own fork: the property is read once, when JavaCPP loads.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class TensorCallBenchmark {
  static final int OPS = 1000;
  Tensor x, y;

  @Setup(Level.Trial)
  public void setup() {
    x = torch.ones(1);
    y = torch.ones(1);
  }

  private long thousandAdds() {
    long sum = 0;
    try (PointerScope s = new PointerScope()) {
      for (int k = 0; k < OPS; k++) sum += x.add(y).numel();
    }
    return sum;
  }

  /** JavaCPP's default: the resident-size check at every allocation. Time per 1,000 operators. */
  @Benchmark
  @Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
  public long checked() {
    return thousandAdds();
  }

  /** As the reid4j command line runs. Time per 1,000 operators. */
  @Benchmark
  @Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
  public long unchecked() {
    return thousandAdds();
  }
}
