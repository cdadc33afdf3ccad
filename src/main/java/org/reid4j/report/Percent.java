package org.reid4j.report;

import java.util.Locale;

/** Fractions shown as percentages without claiming perfection they do not have. */
public final class Percent {
  private Percent() {}

  /**
   * {@code fraction} as a percentage with {@code digits} decimals, or more where that would round a
   * value that is not exactly 1 (or 0) to "100.0" (or "0.0"): 0.9997 is "99.97", not "100.0". No % sign.
   */
  public static String of(double fraction, int digits) {
    double p = 100 * fraction;
    if (!Double.isFinite(p)) return String.valueOf(p);
    for (int d = Math.max(0, digits); d < 9; d++) {
      String s = String.format(Locale.ROOT, "%." + d + "f", p);
      double shown = Double.parseDouble(s);
      if (!(shown >= 100 && fraction < 1) && !(shown <= 0 && fraction > 0)) return s;
    }
    return String.format(Locale.ROOT, "%.9f", p);
  }

  /** {@link #of} with one decimal. */
  public static String of(double fraction) {
    return of(fraction, 1);
  }
}
