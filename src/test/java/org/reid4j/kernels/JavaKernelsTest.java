package org.reid4j.kernels;

/** The plain-Java kernels against the shared contract. */
class JavaKernelsTest extends KernelsContractTest {
  private static final Kernels KERNELS = new JavaKernels();

  @Override
  protected Kernels kernels() {
    return KERNELS;
  }
}
