package org.reid4j.loadtest;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations as people write them on a command line: {@code 30s}, {@code 2m}, {@code 500ms}, {@code 1.5s}, {@code 1h}. */
public final class Durations {
  private Durations() {}

  private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m|h)");

  /**
   * The duration {@code text} names: a non-negative number and a unit (ms, s, m or h), nothing else.
   *
   * @throws IllegalArgumentException naming {@code option} and the expected form
   */
  public static Duration parse(String option, String text) {
    Matcher m = FORM.matcher(text == null ? "" : text.strip().toLowerCase(Locale.ROOT));
    if (!m.matches())
      throw new IllegalArgumentException(option + " \"" + text + "\": expected a number and a unit (ms, s, m or h), "
          + "like 30s, 2m or 500ms");
    long nanosPerUnit = switch (m.group(2)) {
      case "ms" -> 1_000_000L;
      case "s" -> 1_000_000_000L;
      case "m" -> 60_000_000_000L;
      default -> 3_600_000_000_000L;
    };
    double nanos = Double.parseDouble(m.group(1)) * nanosPerUnit;
    if (nanos > 7 * 24 * 3_600e9)
      throw new IllegalArgumentException(option + " \"" + text + "\": longer than a week");
    return Duration.ofNanos(Math.round(nanos));
  }

  /** Short and readable: {@code 500ms}, {@code 30s}, {@code 1.5s}, {@code 2m}, {@code 2m30s}, {@code 1h5m}. */
  public static String format(Duration d) {
    long ms = d.toMillis();
    if (ms < 1000) return ms + "ms";
    if (ms < 60_000) return (ms % 1000 == 0 ? Long.toString(ms / 1000) : String.format(Locale.ROOT, "%.1f", ms / 1e3))
        + "s";
    long s = Math.round(ms / 1e3), h = s / 3600, m = s % 3600 / 60, sec = s % 60;
    if (h > 0) return h + "h" + (m > 0 ? m + "m" : "");
    return m + "m" + (sec > 0 ? sec + "s" : "");
  }
}
