package org.reid4j.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * One status line for the training loop. On a terminal it redraws a carriage-return bar at most
 * four times a second; otherwise (a log file, a CI console) it prints a full line every
 * {@code logPeriod} iterations and at the last iteration of each epoch, so logs stay readable.
 * Costs a string format per shown update, nothing per hidden one.
 */
public final class ProgressBar {
  private static final long REDRAW_NANOS = 250_000_000L;
  private static final int BAR = 20;

  private final PrintStream out;
  private final boolean tty;
  private final int logPeriod;
  private long lastDraw;
  private int lastWidth;

  /**
   * @param tty redraw in place (true when the output is a terminal, see {@link #isTerminal()})
   * @param logPeriod print every this many iterations when not a terminal (>= 1)
   */
  public ProgressBar(PrintStream out, boolean tty, int logPeriod) {
    this.out = out;
    this.tty = tty;
    this.logPeriod = Math.max(1, logPeriod);
  }

  /** True when stdout is an interactive terminal. */
  public static boolean isTerminal() {
    return System.console() != null && System.getenv("REID4J_NO_TTY") == null;
  }

  /** What one update shows. {@code etaSeconds} < 0 hides the ETA. */
  public record Status(int epoch, int maxEpochs, int iter, int itersPerEpoch, double loss, double idLoss,
      double tripletLoss, double centerLoss, double accuracy, double lr, double imagesPerSecond, double etaSeconds) {}

  /** Shows the status of iteration {@code s.iter()} (1-based within its epoch). */
  public void update(Status s) {
    boolean last = s.iter() >= s.itersPerEpoch();
    if (tty) {
      long now = System.nanoTime();
      if (!last && now - lastDraw < REDRAW_NANOS) return;
      lastDraw = now;
      String line = format(s, true);
      int pad = Math.max(0, lastWidth - line.length());
      out.print("\r" + line + " ".repeat(pad));
      lastWidth = line.length();
      if (last) {
        out.println();
        lastWidth = 0;
      }
      out.flush();
    } else if (last || s.iter() % logPeriod == 0) {
      out.println(format(s, false));
    }
  }

  /** Prints a message on its own line without garbling a bar that is being redrawn. */
  public void println(String message) {
    if (tty && lastWidth > 0) {
      out.print("\r" + " ".repeat(lastWidth) + "\r");
      lastWidth = 0;
    }
    out.println(message);
  }

  static String format(Status s, boolean withBar) {
    StringBuilder b = new StringBuilder(160);
    b.append(String.format(Locale.ROOT, "epoch %d/%d ", s.epoch() + 1, s.maxEpochs()));
    if (withBar) {
      int filled = (int) Math.round(BAR * (double) s.iter() / Math.max(1, s.itersPerEpoch()));
      b.append('[').append("#".repeat(Math.min(BAR, filled))).append(".".repeat(Math.max(0, BAR - filled)))
          .append("] ");
    }
    b.append(String.format(Locale.ROOT, "%d/%d loss %.4f (id %.4f tri %.4f cen %.4f) acc %.3f lr %.2e %,.0f img/s",
        s.iter(), s.itersPerEpoch(), s.loss(), s.idLoss(), s.tripletLoss(), s.centerLoss(), s.accuracy(), s.lr(),
        s.imagesPerSecond()));
    if (s.etaSeconds() >= 0) b.append(" ETA ").append(duration(s.etaSeconds()));
    return b.toString();
  }

  /** "42s", "3m07s", "1h02m". */
  public static String duration(double seconds) {
    long s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s";
    if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
  }
}
