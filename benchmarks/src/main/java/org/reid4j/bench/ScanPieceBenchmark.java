package org.reid4j.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.ResidentRows;

/**
 * One pass of the shared scan ({@code serve}'s search) over {@code rows} x 512 random gallery rows,
 * cut into pieces of {@code piece} rows, each piece one top-k call (k = 10) for all {@code queries}
 * queries: what a piece size costs. {@code mapped} reads the rows in place from a direct buffer (a
 * memory-mapped segment's layout; each call packs what it reads), {@code packed} searches rows kept
 * packed in native memory ({@code serve --packed-rows}). The merge of the pieces' lists in Java is not
 * included (it is the same for every piece size up to the number of calls).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g"})
public class ScanPieceBenchmark {
  static final int D = 512, K = 10;

  @Param({"100352"})
  public int rows;

  @Param({"8", "64"})
  public int queries;

  @Param({"2048", "8192", "32768", "100352"})
  public int piece;

  Kernels kernels;
  FloatBuffer mapped;
  ResidentRows packed;
  FloatMatrix q;

  @Setup(Level.Trial)
  public void setup() {
    kernels = Kernels.create(Backend.CPU);
    FloatMatrix g = Shapes.gaussian(rows, D, 7);
    mapped = ByteBuffer.allocateDirect(g.data().length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    mapped.put(g.data()).flip();
    packed = kernels.residentRows(D, Metric.SQEUCLIDEAN, rows).orElseThrow();
    packed.append(g);
    q = Shapes.gaussian(queries, D, 8);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    packed.close();
  }

  @Benchmark
  public long mapped() {
    long sum = 0;
    for (int r0 = 0; r0 < rows; r0 += piece) {
      int n = Math.min(piece, rows - r0);
      sum += kernels.pairwiseTopk(q, mapped.duplicate().position(r0 * D), n, Metric.SQEUCLIDEAN, K).indices()[0];
    }
    return sum;
  }

  @Benchmark
  public long packed() {
    long sum = 0;
    for (int r0 = 0; r0 < rows; r0 += piece)
      sum += packed.topk(q, r0, Math.min(piece, rows - r0), K).indices()[0];
    return sum;
  }
}
