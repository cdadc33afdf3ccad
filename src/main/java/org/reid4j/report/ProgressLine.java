package org.reid4j.report;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The periodic progress line of long loops over a known number of things:
 * {@code "<verb> 1,234/9,000 <noun> (14%)  <rate> <unit>/s  ETA 1m07s"}, at most one line every
 * {@code intervalSeconds}, none once everything is done (the caller prints its own summary).
 * A null stream (or sink) makes it silent. Thread-safe: workers on several threads may report to one line.
 */
public final class ProgressLine {
  private final Consumer<String> out;
  private final long intervalNanos, total, t0;
  private final String verb, noun, rateUnit, rateFormat;
  private long last;

  /**
   * @param verb first word ("extract", "import")
   * @param noun what is counted ("images", "items")
   * @param rateUnit the rate's unit before "/s" ("img", "items")
   * @param rateDecimals decimals of the rate
   * @param t0 {@link System#nanoTime()} when the work started
   */
  public ProgressLine(PrintStream out, double intervalSeconds, long total, long t0, String verb, String noun,
      String rateUnit, int rateDecimals) {
    this(out == null ? null : (Consumer<String>) out::println, intervalSeconds, total, t0, verb, noun, rateUnit,
        rateDecimals);
  }

  /** As above, each line (without its line break) to {@code sink} (a caller's step reporter, say). */
  public ProgressLine(Consumer<String> sink, double intervalSeconds, long total, long t0, String verb, String noun,
      String rateUnit, int rateDecimals) {
    this.out = sink;
    this.intervalNanos = (long) (Math.max(0, intervalSeconds) * 1e9);
    this.total = total;
    this.t0 = t0;
    this.last = t0;
    this.verb = verb;
    this.noun = noun;
    this.rateUnit = rateUnit;
    this.rateFormat = "%,." + rateDecimals + "f";
  }

  /** Reports {@code done} of the total if the interval has passed since the last line. */
  public synchronized void update(long done) {
    if (out == null) return;
    long now = System.nanoTime();
    if (now - last < intervalNanos || done >= total) return;
    last = now;
    double secs = (now - t0) / 1e9, rate = done / Math.max(secs, 1e-9);
    out.accept(String.format(Locale.ROOT, "%s %,d/%,d %s (%.0f%%)  " + rateFormat + " %s/s  ETA %s", verb, done, total,
        noun, 100.0 * done / total, rate, rateUnit, duration((total - done) / Math.max(rate, 1e-9))));
  }

  /** "42.0s", "3m07s", "1h02m". */
  public static String duration(double seconds) {
    if (seconds < 60) return String.format(Locale.ROOT, "%.1fs", seconds);
    long s = Math.round(seconds);
    if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
  }
}
