package org.reid4j.kernels;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The contract on the native C++ kernels. The native library is part of every normal build, so
 * its absence is a failure here, not a skip (only -Dnative.skip=true builds go without it).
 */
class CpuKernelsTest extends KernelsContractTest {
  @BeforeAll
  static void nativeLibraryIsBuilt() {
    if (Boolean.getBoolean("native.skip")) return;
    Assertions.assertNull(Kernels.unavailableReason(Backend.CPU), "the native CPU backend must load");
  }

  @org.junit.jupiter.api.BeforeEach
  void requireNative() {
    org.junit.jupiter.api.Assumptions.assumeTrue(Kernels.unavailableReason(Backend.CPU) == null,
        "native library not built (-Dnative.skip=true)");
  }

  @Override
  protected Kernels kernels() {
    return Kernels.create(Backend.CPU);
  }

  @Test
  void describeNamesTheInstructionSet() {
    String d = kernels().describe();
    Assertions.assertTrue(d.matches("cpu \\((avx512|avx2|scalar), \\d+ threads\\)"), d);
  }

  @Test
  void scratchKeptBetweenCallsAndReleased() {
    java.util.Random r = new java.util.Random(3);
    int ng = 3001, d = 257;  // buffers of 1 MiB and more: pooled
    int nq = 600;
    float[] g = new float[ng * d], q = new float[nq * d];
    for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
    for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
    FloatMatrix gm = new FloatMatrix(ng, d, g), qm = new FloatMatrix(nq, d, q);
    NativeKernels.releaseCpuScratch();
    Assertions.assertEquals(0, NativeKernels.cpuScratchBytes());
    FloatMatrix first = kernels().pairwise(qm, gm, Metric.SQEUCLIDEAN);
    long kept = NativeKernels.cpuScratchBytes();
    Assertions.assertTrue(kept >= 1 << 20, "the call's large buffers are kept: " + kept + " bytes");
    Assertions.assertArrayEquals(first.data(), kernels().pairwise(qm, gm, Metric.SQEUCLIDEAN).data(),
        "the same distances from the kept buffer");
    NativeKernels.releaseCpuScratch();
    Assertions.assertEquals(0, NativeKernels.cpuScratchBytes());
  }
}
