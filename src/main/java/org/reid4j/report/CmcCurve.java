package org.reid4j.report;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.reid4j.eval.EvalResult;

/**
 * CMC curves as a PNG: matching rate (%) against rank 1..50 (or the length of the given CMC), one
 * line per named curve, e.g. "baseline" and "+ re-ranking" in one chart. The legend gives each
 * curve's rank-1 and, when known, its mAP. The y axis runs from the lowest value rounded down to a
 * multiple of 10 (at most 90) to 100.
 *
 * <p>Size: always {@link #WIDTH} x {@link #HEIGHT} = 800 x 600 pixels.
 */
public final class CmcCurve {
  public static final int WIDTH = 800;
  public static final int HEIGHT = 600;

  private CmcCurve() {}

  /**
   * One curve.
   *
   * @param cmc matching rates at ranks 1..cmc.length, fractions in [0, 1]
   * @param mAP mean average precision as a fraction, or NaN if unknown (then not shown)
   */
  public record Curve(String name, double[] cmc, double mAP) {
    public Curve {
      if (name == null || name.isBlank()) throw new IllegalArgumentException("curve name is empty");
      if (cmc == null || cmc.length == 0) throw new IllegalArgumentException("curve '" + name + "': cmc is empty");
      for (int r = 0; r < cmc.length; r++)
        if (!(cmc[r] >= 0 && cmc[r] <= 1))
          throw new IllegalArgumentException(
              "curve '" + name + "': cmc[" + r + "] = " + cmc[r] + " is not a fraction in [0, 1]");
      if (!Double.isNaN(mAP) && !(mAP >= 0 && mAP <= 1))
        throw new IllegalArgumentException("curve '" + name + "': mAP = " + mAP + " is not a fraction in [0, 1]");
      cmc = cmc.clone();
    }

    /** The curve of an evaluation (its 50 CMC ranks and its mAP). */
    public static Curve of(String name, EvalResult r) {
      return new Curve(name, r.cmc(), r.mAP());
    }

    String label() {
      String s = String.format(Locale.ROOT, "%s: R1 %s%%", name, Percent.of(cmc[0]));
      return Double.isNaN(mAP) ? s : s + String.format(Locale.ROOT, ", mAP %s%%", Percent.of(mAP));
    }
  }

  /** One evaluation's CMC; the title gets its mAP appended. */
  public static void render(EvalResult result, String title, Path outPng) throws IOException {
    String t = String.format(Locale.ROOT, "%s (mAP %s%%)", title, Percent.of(result.mAP()));
    render(List.of(Curve.of("CMC", result)), t, outPng);
  }

  /** A bare CMC (fractions at ranks 1..n), without mAP. */
  public static void render(double[] cmc, String title, Path outPng) throws IOException {
    render(List.of(new Curve("CMC", cmc, Double.NaN)), title, outPng);
  }

  /** Several curves in one chart (names must differ). */
  public static void render(List<Curve> curves, String title, Path outPng) throws IOException {
    Png.write(draw(curves, title), outPng);
  }

  /** The chart as an image, {@link #WIDTH} x {@link #HEIGHT}. */
  public static BufferedImage draw(List<Curve> curves, String title) {
    if (curves == null || curves.isEmpty()) throw new IllegalArgumentException("no CMC curves to draw");
    XYChart c = Png.chart(WIDTH, HEIGHT, title == null ? "CMC" : title, "rank", "matching rate (%)");
    c.getStyler().setXAxisDecimalPattern("#");
    c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideSE);
    double lowest = 1;
    int maxRank = 1;
    java.util.Set<String> names = new java.util.HashSet<>();
    for (Curve cv : curves) {
      if (!names.add(cv.name())) throw new IllegalArgumentException("two CMC curves named '" + cv.name() + "'");
      double[] x = new double[cv.cmc().length], y = new double[x.length];
      for (int r = 0; r < x.length; r++) {
        x[r] = r + 1;
        y[r] = 100 * cv.cmc()[r];
        lowest = Math.min(lowest, cv.cmc()[r]);
      }
      maxRank = Math.max(maxRank, x.length);
      XYSeries s = c.addSeries(cv.label(), x, y);
      s.setMarker(x.length <= 20 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
    }
    c.getStyler().setYAxisMin(Math.min(90.0, 10 * Math.floor(10 * lowest)));
    c.getStyler().setYAxisMax(100.0);
    c.getStyler().setXAxisMin(1.0);
    c.getStyler().setXAxisMax((double) Math.max(maxRank, 2));
    return BitmapEncoder.getBufferedImage(c);
  }
}
