package org.reid4j.kernels;

import java.util.Locale;

/**
 * Arithmetic of the CUDA backend's distance passes (the a.b products); the codes match
 * {@code R4J_FP32}, {@code R4J_TF32X3} and {@code R4J_TF32} in reid4j.h. Row norms, selection and
 * the k-reciprocal stages stay in FP32 whatever the setting, and the host backends always compute
 * in FP32. Set one with {@link Kernels#withPrecision}.
 */
public enum Precision {
  /** FP32 fma chains: the CPU kernels' distances to float rounding. The default. */
  FP32(0),
  /**
   * Tensor cores on each value split into two TF32 parts (three products per pair): errors of the
   * FP32 order, for about twice the FP32 pass's arithmetic rate.
   */
  TF32X3(1),
  /** Tensor cores on values rounded to TF32 (10-bit mantissa): dot products off by up to ~1e-3 |a| |b|. */
  TF32(2);

  public final int code;

  Precision(int code) {
    this.code = code;
  }

  /** Parses "fp32", "tf32x3" or "tf32" (any case); the error lists the choices. */
  public static Precision parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown precision '" + name + "': expected fp32, tf32x3 or tf32");
    }
  }

  /** The lower-case name the CLI and the JSON use. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
