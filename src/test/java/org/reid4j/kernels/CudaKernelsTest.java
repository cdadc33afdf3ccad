package org.reid4j.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;

/** The contract on the CUDA kernels; skipped (with the reason) on machines without a usable GPU. */
class CudaKernelsTest extends KernelsContractTest {
  @BeforeEach
  void requireGpu() {
    String why = Kernels.unavailableReason(Backend.CUDA);
    Assumptions.assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
  }

  @Override
  protected Kernels kernels() {
    return Kernels.create(Backend.CUDA);
  }
}
