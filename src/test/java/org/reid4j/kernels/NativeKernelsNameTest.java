package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The CUDA device name comes from a 256-byte C buffer: what follows its NUL must not reach the user. */
class NativeKernelsNameTest {
  @Test
  void aFixedSizeCBufferEndsAtItsFirstNul() {
    assertEquals("NVIDIA H100 80GB HBM3", NativeKernels.cString("NVIDIA H100 80GB HBM3" + "\0".repeat(235)));
    assertEquals("", NativeKernels.cString("\0\0"));
    assertEquals("no nul", NativeKernels.cString("no nul"));
  }
}
