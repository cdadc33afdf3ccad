package org.reid4j.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingCurvesTest {
  @TempDir Path dir;

  /** Reads a PNG back and checks it is one of the expected size. */
  static BufferedImage readPng(Path png, int width, int height) throws IOException {
    assertTrue(Files.size(png) > 0, png + " is empty");
    BufferedImage img = ImageIO.read(png.toFile());
    assertNotNull(img, png + " is not a readable image");
    assertEquals(width, img.getWidth(), "width");
    assertEquals(height, img.getHeight(), "height");
    return img;
  }

  /** True when the image has at least {@code min} distinct colours (i.e. something was drawn). */
  static boolean hasContent(BufferedImage img, int min) {
    java.util.Set<Integer> colours = new java.util.HashSet<>();
    for (int y = 0; y < img.getHeight(); y += 3)
      for (int x = 0; x < img.getWidth(); x += 3) colours.add(img.getRGB(x, y));
    return colours.size() >= min;
  }

  @Test
  void rendersTheTrainersMetricsFile() throws IOException {
    // The trainer's field names; evaluation fields every 5 epochs; a blank line and a cut-off last line.
    StringBuilder s = new StringBuilder();
    for (int e = 1; e <= 12; e++) {
      double lr = e <= 3 ? 3.5e-4 * e / 3 : 3.5e-4;
      s.append(String.format(java.util.Locale.ROOT,
          "{\"epoch\":%d,\"iterations\":%d,\"loss\":%.4f,\"id_loss\":%.4f,\"triplet_loss\":%.4f,\"center_loss\":%.4f,"
              + "\"accuracy\":%.4f,\"lr\":%g,\"seconds\":1.5", e, 100 * e, 8.0 / e, 6.0 / e, 1.5 / e, 0.5 / e,
          1 - 1.0 / e, lr));
      if (e % 5 == 0) s.append(String.format(java.util.Locale.ROOT,
          ",\"rank1\":%.3f,\"rank5\":0.9,\"mAP\":%.3f,\"mINP\":%.3f,\"best\":true", 0.5 + e / 40.0, 0.3 + e / 40.0,
          0.1 + e / 50.0));
      s.append("}\n");
      if (e == 6) s.append("\n");
    }
    s.append("{\"epoch\":13,\"loss\":0.6");
    Path metrics = dir.resolve("metrics.jsonl");
    Files.writeString(metrics, s);

    Map<String, TrainingCurves.Series> series = TrainingCurves.read(metrics);
    assertEquals(12, series.get("loss").size());
    assertEquals(12, series.get("triplet").size());
    assertArrayEquals(new double[] {5, 10}, series.get("rank1").epochs());
    assertEquals(2, series.get("mAP").size());

    Path png = dir.resolve("out").resolve("curves.png");
    TrainingCurves.render(metrics, png);
    BufferedImage img = readPng(png, TrainingCurves.WIDTH, TrainingCurves.HEIGHT);
    assertEquals(1280, img.getWidth());
    assertEquals(800, img.getHeight());
    assertTrue(hasContent(img, 5));
    try (Stream<Path> files = Files.list(png.getParent())) {
      assertEquals(List.of(png), files.toList(), "only the PNG, no temporary file");
    }
  }

  @Test
  void toleratesAliasesMissingFieldsAndOddValues() throws IOException {
    Path metrics = dir.resolve("metrics.jsonl");
    // Alternative names (loss_id, acc), no epoch field on one line, a "NaN" string, no evaluation at all.
    Files.writeString(metrics, String.join("\n",
        "{\"epoch\":1,\"loss\":2.0,\"loss_id\":1.5,\"loss_triplet\":0.5,\"acc\":0.2,\"lr\":0.001}",
        "{\"epoch\":2,\"loss\":\"NaN\",\"loss_id\":1.2,\"acc\":0.4}",
        "{\"loss\":1.0,\"acc\":\"0.6\"}", "not json at all", "[1,2,3]"));
    Map<String, TrainingCurves.Series> s = TrainingCurves.read(metrics);
    assertArrayEquals(new double[] {1, 3}, s.get("loss").epochs(), "NaN skipped, missing epoch = line ordinal");
    assertArrayEquals(new double[] {1.5, 1.2}, s.get("id").values());
    assertArrayEquals(new double[] {0.2, 0.4, 0.6}, s.get("accuracy").values(), 1e-12);
    assertEquals(0, s.get("rank1").size());
    assertEquals(0, s.get("center").size());
    Path png = dir.resolve("curves.png");
    TrainingCurves.render(metrics, png);
    readPng(png, 1280, 800);

    // A constant learning rate (flat series: XChart must pick a y range itself).
    Files.writeString(metrics, "{\"epoch\":1,\"lr\":0.01}\n{\"epoch\":2,\"lr\":0.01}\n{\"epoch\":3,\"lr\":0.01}\n");
    TrainingCurves.render(metrics, png);
    readPng(png, 1280, 800);

    // A single epoch with nothing but its loss.
    Files.writeString(metrics, "{\"epoch\":1,\"loss\":3.2}\n");
    TrainingCurves.render(metrics, png);
    readPng(png, 1280, 800);
  }

  @Test
  void emptyOrMissingFileIsAnError() throws IOException {
    Path metrics = dir.resolve("metrics.jsonl");
    Files.writeString(metrics, "\n\n");
    IOException e = assertThrows(IOException.class, () -> TrainingCurves.render(metrics, dir.resolve("x.png")));
    assertTrue(e.getMessage().contains("no epoch lines"), e.getMessage());
    assertThrows(IOException.class, () -> TrainingCurves.render(dir.resolve("missing.jsonl"), dir.resolve("x.png")));
    assertTrue(Files.notExists(dir.resolve("x.png")));
  }
}
