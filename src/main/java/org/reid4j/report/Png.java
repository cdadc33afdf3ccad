package org.reid4j.report;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.reid4j.io.AtomicFiles;

/** What the report pictures share: headless AWT, atomic PNG writes, one chart style, a "no data" panel. */
final class Png {
  private Png() {}

  /** Series colours: distinguishable, colour-blind friendly (Okabe-Ito). */
  static final Color[] PALETTE = {new Color(0, 114, 178), new Color(213, 94, 0), new Color(0, 158, 115),
      new Color(204, 121, 167), new Color(230, 159, 0), new Color(86, 180, 233), new Color(0, 0, 0)};

  /** Asks for headless AWT unless the caller already chose; only effective before AWT first starts. */
  static void headless() {
    if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
  }

  /** Writes img as PNG so that readers never see a half-written file; creates parent folders. */
  static void write(BufferedImage img, Path out) throws IOException {
    if (out == null) throw new IllegalArgumentException("output path is null");
    AtomicFiles.write(out, os -> {
      if (!ImageIO.write(img, "png", os)) throw new IOException("no PNG writer in this Java runtime");
    });
  }

  /** An XY chart of the given pixel size in the house style (white, grid, legend inside). */
  static XYChart chart(int width, int height, String title, String xTitle, String yTitle) {
    headless();
    XYChart c = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle)
        .build();
    Styler s = c.getStyler();
    s.setChartBackgroundColor(Color.WHITE);
    s.setPlotBackgroundColor(Color.WHITE);
    s.setLegendPosition(Styler.LegendPosition.InsideNE);
    s.setLegendBorderColor(new Color(200, 200, 200));
    s.setSeriesColors(PALETTE);
    s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    s.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    s.setMarkerSize(5);
    s.setAntiAlias(true);
    c.getStyler().setPlotGridLinesColor(new Color(225, 225, 225));
    c.getStyler().setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
    return c;
  }

  /** A white panel with a title and a grey "no data" in the middle. */
  static void noData(Graphics2D g, int x, int y, int w, int h, String title) {
    g.setColor(Color.WHITE);
    g.fillRect(x, y, w, h);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    FontMetrics fm = g.getFontMetrics();
    g.drawString(title, x + (w - fm.stringWidth(title)) / 2, y + 8 + fm.getAscent());
    g.setColor(Color.GRAY);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
    fm = g.getFontMetrics();
    String msg = "no data";
    g.drawString(msg, x + (w - fm.stringWidth(msg)) / 2, y + h / 2);
  }
}
