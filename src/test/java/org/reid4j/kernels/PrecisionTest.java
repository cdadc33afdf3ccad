package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Kernels#withPrecision}: TF32 and TF32X3 only where there are tensor cores (the CUDA
 * backend; in CI the CUDA emulator, which models TF32 operands), FP32 everywhere; the CUDA
 * distances at each precision against the CPU's FP32 ones within that precision's error; and the
 * calling thread left at FP32 after each call.
 */
class PrecisionTest {
  @Test
  void parsesTheThreeNamesAndListsThemOtherwise() {
    assertEquals(Precision.FP32, Precision.parse("fp32"));
    assertEquals(Precision.TF32X3, Precision.parse(" TF32x3 "));
    assertEquals(Precision.TF32, Precision.parse("tf32"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("bf16"));
    assertTrue(e.getMessage().contains("'bf16'") && e.getMessage().contains("fp32, tf32x3 or tf32"), e.getMessage());
    assertEquals("tf32x3", Precision.TF32X3.label());
  }

  @Test
  void hostBackendsHaveOnlyFp32() {
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU}) {
      if (Kernels.unavailableReason(b) != null) continue;
      Kernels k = Kernels.create(b);
      assertEquals(Precision.FP32, k.precision());
      assertSame(k, k.withPrecision(Precision.FP32));
      for (Precision p : new Precision[] {Precision.TF32, Precision.TF32X3}) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> k.withPrecision(p));
        assertTrue(e.getMessage().contains(p.label()) && e.getMessage().contains("cuda backend")
            && e.getMessage().contains(b.name().toLowerCase(java.util.Locale.ROOT)), e.getMessage());
      }
      assertThrows(IllegalArgumentException.class, () -> k.withPrecision(null));
    }
  }

  /** Skips without a CUDA backend, except in the cuda-emulator execution, where its absence is a failure. */
  private static void assumeCuda() {
    String why = Kernels.unavailableReason(Backend.CUDA);
    if (Boolean.getBoolean("reid4j.cuda.emulated")) assertNull(why, "the emulated CUDA device is missing");
    assumeTrue(why == null, "no CUDA backend (neither a GPU nor the emulator): " + why);
  }

  private static FloatMatrix gaussian(Random r, int rows, int d) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    return new FloatMatrix(rows, d, a);
  }

  private static float maxSqNorm(FloatMatrix x) {
    float m = 0;
    for (int i = 0; i < x.rows(); i++) {
      float s = 0;
      for (int j = 0; j < x.cols(); j++) s += x.get(i, j) * x.get(i, j);
      m = Math.max(m, s);
    }
    return m;
  }

  @Test
  void cudaDistancesAtEachPrecisionAgainstTheCpu() {
    assumeCuda();
    assumeTrue(Kernels.unavailableReason(Backend.CPU) == null);
    Kernels cuda = Kernels.create(Backend.CUDA), cpu = Kernels.create(Backend.CPU);
    Random r = new Random(7);
    int[][] shapes = {{1, 1, 1}, {5, 9, 7}, {33, 140, 64}};
    for (int[] sh : shapes) {
      FloatMatrix q = gaussian(r, sh[0], sh[2]), g = gaussian(r, sh[1], sh[2]);
      float scale = Math.max(1f, Math.max(maxSqNorm(q), maxSqNorm(g)));
      FloatMatrix want = cpu.pairwise(q, g, Metric.SQEUCLIDEAN);
      int differ = 0;
      for (Precision p : Precision.values()) {
        Kernels k = cuda.withPrecision(p);
        assertEquals(p, k.precision());
        assertSame(k, k.withPrecision(p), "asking again for the precision it has");
        assertEquals(Precision.FP32, k.withPrecision(Precision.FP32).precision());
        assertEquals(p != Precision.FP32, k.describe().contains(p.label()), k.describe());
        FloatMatrix got = k.pairwise(q, g, Metric.SQEUCLIDEAN);
        assertEquals(Precision.FP32.code, NativeApi.r4j_cuda_precision(), "the thread is left at FP32");
        // Relative error of the dot products: FP32 and TF32X3 of the order 2^-22 (times d for the
        // accumulation), TF32 2^-10 of |a| |b|.
        float tol = p == Precision.TF32 ? 4e-3f * scale : 2e-5f * scale;
        for (int i = 0; i < sh[0]; i++)
          for (int j = 0; j < sh[1]; j++) {
            float e = Math.abs(got.get(i, j) - want.get(i, j));
            assertTrue(e <= tol, p + " " + java.util.Arrays.toString(sh) + " at " + i + "," + j + ": " + got.get(i, j)
                + " vs " + want.get(i, j));
            if (p == Precision.TF32 && got.get(i, j) != want.get(i, j)) differ++;
          }
      }
      if (sh[2] >= 64) assertTrue(differ > sh[0] * sh[1] / 2, "TF32 rounding shows in most distances: " + differ);
    }
  }

  @Test
  void cudaEvaluationOnTheDeviceAtTf32x3MatchesFp32() {
    assumeCuda();
    Kernels cuda = Kernels.create(Backend.CUDA), tc = cuda.withPrecision(Precision.TF32X3);
    Random r = new Random(11);
    int nq = 12, ng = 60, d = 32, ids = 10;
    float[][] centres = new float[ids][d];
    for (float[] c : centres)
      for (int j = 0; j < d; j++) c[j] = (float) r.nextGaussian();
    int[] qp = new int[nq], qc = new int[nq], gp = new int[ng], gc = new int[ng];
    float[] qa = new float[nq * d], ga = new float[ng * d];
    for (int i = 0; i < nq; i++) {
      qp[i] = i % ids;
      qc[i] = 0;
      for (int j = 0; j < d; j++) qa[i * d + j] = centres[qp[i]][j] + 0.5f * (float) r.nextGaussian();
    }
    for (int i = 0; i < ng; i++) {
      gp[i] = i % ids;
      gc[i] = 1 + i % 3;
      for (int j = 0; j < d; j++) ga[i * d + j] = centres[gp[i]][j] + 0.5f * (float) r.nextGaussian();
    }
    FloatMatrix q = new FloatMatrix(nq, d, qa), g = new FloatMatrix(ng, d, ga);
    QueryLabels labels = new QueryLabels(qp, qc, gp, gc);
    QueryScores a = cuda.pairwiseScores(q, g, Metric.EUCLIDEAN, labels).orElseThrow();
    QueryScores b = tc.pairwiseScores(q, g, Metric.EUCLIDEAN, labels).orElseThrow();
    assertEquals(Precision.FP32.code, NativeApi.r4j_cuda_precision(), "the thread is left at FP32");
    for (int i = 0; i < nq; i++) assertEquals(a.ap()[i], b.ap()[i], 1e-6, "AP of query " + i);
  }
}
