package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;

/**
 * The contract on the CUDA kernels; skipped (with the reason) on machines without a usable GPU.
 * The test command also runs it a second time (surefire execution {@code cuda-emulator}) with the
 * kernel library replaced by its CUDA-emulated build (src/test/cpp/cuda_emu, preloaded), so the
 * CUDA backend's Java path and kernels are checked without a GPU; there it must not skip.
 */
class CudaKernelsTest extends KernelsContractTest {
  static final boolean EMULATED = Boolean.getBoolean("reid4j.cuda.emulated");

  @BeforeEach
  void requireGpu() {
    String why = Kernels.unavailableReason(Backend.CUDA);
    if (EMULATED) {
      assertNull(why, "the CUDA emulator library was preloaded but the CUDA backend is unavailable");
      String device = kernels().describe();
      assertTrue(device.contains("emulator"), "expected the emulated device, got " + device);
      return;
    }
    Assumptions.assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
  }

  @Override
  protected Kernels kernels() {
    return Kernels.create(Backend.CUDA);
  }
}
