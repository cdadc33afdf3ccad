package org.reid4j.kernels;

import java.util.Locale;

/** Distance between two feature vectors; the codes match {@code R4J_*} in reid4j.h. */
public enum Metric {
  /** sum (a_k - b_k)^2, computed as |a|^2 + |b|^2 - 2 a.b, clamped at 0. The default. */
  SQEUCLIDEAN(0),
  /** sqrt of {@link #SQEUCLIDEAN}. */
  EUCLIDEAN(1),
  /** 1 - a.b / (|a| |b|); 1 when either vector is zero. */
  COSINE(2);

  public final int code;

  Metric(int code) {
    this.code = code;
  }

  /** Parses "sqeuclidean", "euclidean" or "cosine" (any case); the error lists the choices. */
  public static Metric parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown metric '" + name + "': expected sqeuclidean, euclidean or cosine");
    }
  }
}
