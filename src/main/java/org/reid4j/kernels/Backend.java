package org.reid4j.kernels;

import java.util.Locale;

/** Where the kernels run. {@link #AUTO} picks CUDA when a device is present, else native CPU, else Java. */
public enum Backend {
  AUTO,
  /** Plain Java: the portable baseline, always available. */
  JAVA,
  /** Hand-written C++ (OpenMP, SIMD chosen at run time). */
  CPU,
  /** Hand-written CUDA; needs a GPU. */
  CUDA;

  public static Backend parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown backend '" + name + "': expected auto, java, cpu or cuda");
    }
  }

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }
}
