package org.reid4j.bench;

import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
import org.openjdk.jmh.annotations.*;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NativeApi;

/**
 * Squared-Euclidean pairwise distance, q x g x d, all variants in one run: plain Java, the native
 * C++ kernel through the Java API (input/output copies included) and called directly on native
 * buffers (with the scratch memory kept between calls, as by default, and released before each call),
 * and the reference OpenBLAS sgemm (the -2ab part alone, and with the norm terms added).
 * Both native paths and OpenBLAS use the same thread count (JMH param threads).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 4)
@Fork(value = 1, jvmArgsAppend = {"-Xmx12g"})
public class DistanceBenchmark {
  @Param({"small", "market"})
  public String shape;

  @Param({"2"})
  public int threads;

  FloatMatrix q, g;
  Kernels java, cpu;
  FloatPointer qp, gp, out, qn, gn;
  int nq, ng, d;

  @Setup(Level.Trial)
  public void setup() {
    int[] s = Shapes.distance(shape);
    nq = s[0];
    ng = s[1];
    d = s[2];
    q = Shapes.gaussian(nq, d, 1);
    g = Shapes.gaussian(ng, d, 2);
    java = Kernels.create(Backend.JAVA);
    cpu = Kernels.create(Backend.CPU);
    NativeApi.r4j_cpu_set_threads(threads);
    openblas.blas_set_num_threads(threads);
    // the kernels' SIMD path (R4J_CPU_ISA=avx2 holds it to AVX2; OPENBLAS_CORETYPE=Haswell does that for
    // OpenBLAS, whose choice OPENBLAS_VERBOSE=2 prints)
    System.out.println("reid4j CPU kernels: " + NativeApi.r4j_cpu_isa().getString());
    qp = new FloatPointer(q.data());
    gp = new FloatPointer(g.data());
    out = new FloatPointer((long) nq * ng);
    qn = new FloatPointer((long) nq);
    gn = new FloatPointer((long) ng);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (FloatPointer p : new FloatPointer[] {qp, gp, out, qn, gn}) p.close();
  }

  @Benchmark
  public FloatMatrix javaPlain() {
    return java.pairwise(q, g, Metric.SQEUCLIDEAN);
  }

  @Benchmark
  public FloatMatrix cpuApi() {
    return cpu.pairwise(q, g, Metric.SQEUCLIDEAN);
  }

  @Benchmark
  public int cpuRaw() {
    int s = NativeApi.r4j_cpu_pairwise(qp, nq, gp, ng, d, Metric.SQEUCLIDEAN.code, out);
    if (s != 0) throw new IllegalStateException(NativeApi.r4j_last_error().getString());
    return s;
  }

  /**
   * cpuRaw as every call was before the kernels kept their scratch memory between calls: what was
   * kept is freed first, so the packed gallery lands in fresh pages that fault in on first touch.
   */
  @Benchmark
  public int cpuRawFreshScratch() {
    NativeApi.r4j_cpu_scratch_release();
    return cpuRaw();
  }

  /** OpenBLAS sgemm for -2 q g^T only: the lower bound of a GEMM-based distance. */
  @Benchmark
  public FloatPointer openblasSgemmOnly() {
    openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasTrans, nq, ng, d, -2f, qp, d, gp,
        d, 0f, out, ng);
    return out;
  }

  /** OpenBLAS sgemm plus the norm terms: |q|^2 + |g|^2 - 2 q g^T, clamped at 0. */
  @Benchmark
  public FloatPointer openblasDistance() {
    sqNorms(qp, nq, qn);
    sqNorms(gp, ng, gn);
    openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasTrans, nq, ng, d, -2f, qp, d, gp,
        d, 0f, out, ng);
    float[] gNorm = new float[ng];
    gn.get(gNorm);
    IntStream.range(0, threads).parallel().forEach(t -> {
      float[] row = new float[ng];
      for (int i = t; i < nq; i += threads) {
        long off = (long) i * ng;
        FloatPointer o = new FloatPointer(out).position(off);
        o.get(row, 0, ng);
        float a = qn.get(i);
        for (int j = 0; j < ng; j++) row[j] = Math.max(0f, row[j] + a + gNorm[j]);
        o.put(row, 0, ng);
      }
    });
    return out;
  }

  private void sqNorms(FloatPointer x, int n, FloatPointer dst) {
    // Dot of each row with itself via sdot, one call per row.
    for (int i = 0; i < n; i++) {
      FloatPointer row = new FloatPointer(x).position((long) i * d);
      dst.put(i, openblas.cblas_sdot(d, row, 1, row, 1));
    }
  }
}
