package org.reid4j.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;

/** Finds out which backends can run here and builds their {@link Kernels}. */
final class Backends {
  private Backends() {}

  static Kernels create(Backend backend) {
    return switch (backend) {
      case JAVA -> new JavaKernels();
      case CPU -> {
        requireNative();
        yield new NativeKernels(false);
      }
      case CUDA -> {
        requireCuda();
        yield new NativeKernels(true);
      }
      case AUTO -> {
        if (nativeError() == null && cudaError() == null) yield new NativeKernels(true);
        if (nativeError() == null) yield new NativeKernels(false);
        yield new JavaKernels();
      }
    };
  }

  /** Null if the native library loaded, else why not. */
  static String nativeError() {
    Throwable t = NativeApi.loadError();
    if (t == null) return null;
    return "the native kernels library could not be loaded (" + t + "); was the project built with `mvn package`?";
  }

  /** Null if the CUDA backend can run, else why not. */
  static String cudaError() {
    String nat = nativeError();
    if (nat != null) return nat;
    if (NativeApi.r4j_cuda_compiled() == 0)
      return "reid4j was built without CUDA (nvcc was not found at build time)";
    try (IntPointer count = new IntPointer(1)) {
      int status = NativeApi.r4j_cuda_device_count(count);
      if (status != NativeApi.R4J_OK) return "CUDA device query failed: " + lastError();
      if (count.get() < 1) return "no CUDA device found (no GPU or no NVIDIA driver on this machine)";
    }
    return null;
  }

  static void requireNative() {
    String e = nativeError();
    if (e != null) throw new BackendUnavailableException("backend 'cpu' is unavailable: " + e);
  }

  static void requireCuda() {
    String e = cudaError();
    if (e != null) throw new BackendUnavailableException("backend 'cuda' is unavailable: " + e);
  }

  static String lastError() {
    BytePointer p = NativeApi.r4j_last_error();
    return p == null ? "" : p.getString();
  }
}
