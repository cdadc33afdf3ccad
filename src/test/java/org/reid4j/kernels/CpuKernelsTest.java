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
}
