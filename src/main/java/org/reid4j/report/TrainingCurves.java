package org.reid4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The training run at a glance: one PNG of four charts in a 2 x 2 grid, read from the trainer's
 * {@code metrics.jsonl} (one JSON object per epoch). Top left: the losses (total, id, triplet,
 * center); top right: the learning rate; bottom left: training accuracy (%); bottom right: rank-1,
 * mAP and mINP (%) on the epochs that were evaluated. A panel with no values says "no data".
 *
 * <p>The reader is tolerant: blank lines and lines that are not a JSON object (a line cut short by a
 * kill) are skipped; missing fields are simply absent from their chart; a value may be a number or
 * a numeric string, and non-finite values are skipped. Field names: {@code epoch} (else the line's
 * ordinal), {@code loss}, {@code id_loss}/{@code loss_id}, {@code triplet_loss}/{@code loss_triplet},
 * {@code center_loss}/{@code loss_center}, {@code lr}, {@code accuracy}/{@code acc},
 * {@code rank1}, {@code mAP}, {@code mINP}. Fractions in [0, 1] are shown as percentages.
 *
 * <p>Size: {@link #WIDTH} x {@link #HEIGHT} = 2 {@link #PANEL_WIDTH} x 2 {@link #PANEL_HEIGHT} =
 * 1280 x 800 pixels, whatever the data. Cost: O(epochs); rendering takes well under a second.
 */
public final class TrainingCurves {
  public static final int PANEL_WIDTH = 640;
  public static final int PANEL_HEIGHT = 400;
  public static final int WIDTH = 2 * PANEL_WIDTH;
  public static final int HEIGHT = 2 * PANEL_HEIGHT;

  private static final ObjectMapper JSON = new ObjectMapper();

  private TrainingCurves() {}

  /** One named series: the epochs where the field had a value, and those values. */
  public record Series(String name, double[] epochs, double[] values) {
    public int size() {
      return epochs.length;
    }
  }

  /** Renders metricsJsonl to outPng (written atomically). An unreadable file or one without epochs is an IOException. */
  public static void render(Path metricsJsonl, Path outPng) throws IOException {
    Png.write(draw(read(metricsJsonl)), outPng);
  }

  /**
   * The series of a metrics file, by display name ("loss", "id", "triplet", "center", "lr",
   * "accuracy", "rank1", "mAP", "mINP"), each holding only the epochs where it had a value (empty
   * series are included).
   */
  public static Map<String, Series> read(Path metricsJsonl) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    for (String line : Files.readAllLines(metricsJsonl, StandardCharsets.UTF_8)) {
      if (line.isBlank()) continue;
      try {
        JsonNode n = JSON.readTree(line);
        if (n != null && n.isObject()) rows.add(n);
      } catch (IOException e) {
        // a line cut short by a kill, or garbage: skip it
      }
    }
    if (rows.isEmpty()) throw new IOException(metricsJsonl + ": no epoch lines (has the first epoch finished?)");
    Map<String, Series> out = new LinkedHashMap<>();
    put(out, rows, "loss", "loss");
    put(out, rows, "id", "id_loss", "loss_id");
    put(out, rows, "triplet", "triplet_loss", "loss_triplet");
    put(out, rows, "center", "center_loss", "loss_center");
    put(out, rows, "lr", "lr");
    put(out, rows, "accuracy", "accuracy", "acc");
    put(out, rows, "rank1", "rank1");
    put(out, rows, "mAP", "mAP");
    put(out, rows, "mINP", "mINP");
    return out;
  }

  private static void put(Map<String, Series> out, List<JsonNode> rows, String name, String... keys) {
    double[] x = new double[rows.size()], y = new double[rows.size()];
    int n = 0;
    for (int r = 0; r < rows.size(); r++) {
      JsonNode row = rows.get(r);
      double v = Double.NaN;
      for (String k : keys) {
        v = number(row.get(k));
        if (!Double.isNaN(v)) break;
      }
      if (!Double.isFinite(v)) continue;
      double e = number(row.get("epoch"));
      x[n] = Double.isFinite(e) ? e : r + 1;
      y[n] = v;
      n++;
    }
    out.put(name, new Series(name, java.util.Arrays.copyOf(x, n), java.util.Arrays.copyOf(y, n)));
  }

  private static double number(JsonNode v) {
    if (v == null || v.isNull()) return Double.NaN;
    if (v.isNumber()) return v.asDouble();
    if (v.isTextual()) {
      try {
        return Double.parseDouble(v.asText().trim());
      } catch (NumberFormatException e) {
        return Double.NaN;
      }
    }
    return Double.NaN;
  }

  /** The picture of {@link #read}'s series, {@link #WIDTH} x {@link #HEIGHT}. */
  public static BufferedImage draw(Map<String, Series> s) {
    Png.headless();
    BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      // Losses fall (legend top right); evaluation scores rise (legend top left).
      panel(g, 0, 0, "Loss", "loss", 1, false, Styler.LegendPosition.InsideNE, s, "loss", "id", "triplet", "center");
      panel(g, 1, 0, "Learning rate", "lr", 1, false, Styler.LegendPosition.InsideNE, s, "lr");
      panel(g, 0, 1, "Training accuracy", "%", percentScale(s, "accuracy"), false, Styler.LegendPosition.InsideSE, s,
          "accuracy");
      panel(g, 1, 1, "Evaluation", "%", percentScale(s, "rank1", "mAP", "mINP"), true, Styler.LegendPosition.InsideNW,
          s, "rank1", "mAP", "mINP");
    } finally {
      g.dispose();
    }
    return img;
  }

  /** 100 when every value of the named series lies in [0, 1] (fractions), else 1. */
  private static double percentScale(Map<String, Series> s, String... names) {
    for (String n : names) {
      Series x = s.get(n);
      if (x == null) continue;
      for (double v : x.values()) if (v < 0 || v > 1) return 1;
    }
    return 100;
  }

  private static void panel(Graphics2D g, int col, int row, String title, String yTitle, double scale,
      boolean markers, Styler.LegendPosition legend, Map<String, Series> all, String... names) {
    int x = col * PANEL_WIDTH, y = row * PANEL_HEIGHT;
    List<Series> present = new ArrayList<>();
    for (String n : names) {
      Series ser = all.get(n);
      if (ser != null && ser.size() > 0) present.add(ser);
    }
    if (present.isEmpty()) {
      Png.noData(g, x, y, PANEL_WIDTH, PANEL_HEIGHT, title);
      return;
    }
    XYChart c = Png.chart(PANEL_WIDTH, PANEL_HEIGHT, title, "epoch", yTitle);
    if (names.length == 1 && names[0].equals("lr")) c.getStyler().setYAxisDecimalPattern("0.0E0");
    c.getStyler().setLegendVisible(present.size() > 1 || markers);
    c.getStyler().setLegendPosition(legend);
    for (Series ser : present) {
      double[] v = ser.values().clone();
      for (int k = 0; k < v.length; k++) v[k] *= scale;
      XYSeries xs = c.addSeries(ser.name(), ser.epochs(), v);
      // Markers where points are sparse (evaluations) or too few to see a line.
      xs.setMarker(markers || ser.size() < 3 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
    }
    g.drawImage(BitmapEncoder.getBufferedImage(c), x, y, null);
  }
}
