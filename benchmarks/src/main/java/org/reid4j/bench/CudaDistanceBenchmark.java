package org.reid4j.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * The CUDA kernels through the Java API (host copies included), for machines with a GPU and Java.
 * On a machine without a GPU the setup fails with the backend's reason; run it explicitly:
 * {@code benchmarks/run.sh CudaDistanceBenchmark}. (GPU machines without Java use scripts/gpu-check.sh.)
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xmx12g"})
public class CudaDistanceBenchmark {
  @Param({"small", "market"})
  public String shape;

  FloatMatrix q, g;
  Kernels cuda;

  @Setup(Level.Trial)
  public void setup() {
    int[] s = Shapes.distance(shape);
    q = Shapes.gaussian(s[0], s[2], 1);
    g = Shapes.gaussian(s[1], s[2], 2);
    cuda = Kernels.create(Backend.CUDA);
  }

  @Benchmark
  public FloatMatrix cudaPairwise() {
    return cuda.pairwise(q, g, Metric.SQEUCLIDEAN);
  }

  @Benchmark
  public FloatMatrix cudaRerank() {
    return cuda.rerank(q, g, Metric.SQEUCLIDEAN, RerankParams.DEFAULT);
  }
}
