package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The 3 x 3 median and Gaussian filters against plain references on random images of awkward sizes. */
class DenoiseTest {
  private static final int[][] SIZES = {{1, 1}, {1, 7}, {5, 1}, {2, 2}, {3, 3}, {7, 5}, {9, 13}};

  /** The image with its border pixels repeated once on every side (edge clamping), as [c][h + 2][w + 2]. */
  private static double[][][] edgePadded(FloatImage img) {
    int h = img.height(), w = img.width();
    double[][][] p = new double[img.channels()][h + 2][w + 2];
    for (int c = 0; c < img.channels(); c++)
      for (int y = -1; y <= h; y++)
        for (int x = -1; x <= w; x++)
          p[c][y + 1][x + 1] = img.get(c, Math.min(h - 1, Math.max(0, y)), Math.min(w - 1, Math.max(0, x)));
    return p;
  }

  private static FloatImage referenceMedian(FloatImage img) {
    double[][][] p = edgePadded(img);
    FloatImage out = FloatImage.zeros(img.channels(), img.height(), img.width());
    for (int c = 0; c < img.channels(); c++)
      for (int y = 0; y < img.height(); y++)
        for (int x = 0; x < img.width(); x++) {
          List<Double> window = new ArrayList<>();
          for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) window.add(p[c][y + i][x + j]);
          Collections.sort(window);
          out.set(c, y, x, window.get(4).floatValue());
        }
    return out;
  }

  /** A 2-D (not separable) Gaussian kernel exp(-(dx^2 + dy^2) / (2 sigma^2)), normalised to sum 1. */
  private static FloatImage referenceGaussian(FloatImage img, double sigma) {
    double[][] k = new double[3][3];
    double total = 0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) total += k[i][j] = Math.exp(-((i - 1) * (i - 1) + (j - 1) * (j - 1)) / (2 * sigma * sigma));
    double[][][] p = edgePadded(img);
    FloatImage out = FloatImage.zeros(img.channels(), img.height(), img.width());
    for (int c = 0; c < img.channels(); c++)
      for (int y = 0; y < img.height(); y++)
        for (int x = 0; x < img.width(); x++) {
          double s = 0;
          for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) s += k[i][j] / total * p[c][y + i][x + j];
          out.set(c, y, x, (float) s);
        }
    return out;
  }

  @Test
  void medianMatchesThePlainReference() {
    long seed = 0;
    for (int[] hw : SIZES)
      for (int c : new int[] {1, 3}) {
        FloatImage img = AugmentationsTest.random(c, hw[0], hw[1], seed++);
        FloatImage got = Denoise.MEDIAN.transform().apply(img, null);
        assertEquals(referenceMedian(img), got, c + "x" + hw[0] + "x" + hw[1]);
      }
    FloatImage one = new FloatImage(1, 1, 1, new float[] {0.3f});
    assertEquals(one, Denoise.MEDIAN.transform().apply(one, null), "a 1 x 1 image is its own neighbourhood");
  }

  @Test
  void medianRemovesAnIsolatedSaltPixel() {
    FloatImage grey = new FloatImage(1, 5, 5, AugmentationsTest.filled(25, 0.4f));
    FloatImage salted = grey.copy();
    salted.set(0, 2, 2, 1f);
    salted.set(0, 0, 0, 0f); // a corner: clamping gives it four copies of itself, still a minority of 9
    assertEquals(grey, Denoise.MEDIAN.transform().apply(salted, null));
  }

  @Test
  void gaussianMatchesTheTwoDimensionalReference() {
    long seed = 100;
    for (int[] hw : SIZES)
      for (int c : new int[] {1, 3}) {
        FloatImage img = AugmentationsTest.random(c, hw[0], hw[1], seed++);
        FloatImage got = Denoise.GAUSSIAN.transform().apply(img, null);
        assertArrayEquals(referenceGaussian(img, Denoise.SIGMA).data(), got.data(), 1e-6f, c + "x" + hw[0] + "x" + hw[1]);
        if (hw[0] * hw[1] > 1) assertNotEquals(img, got, "smoothing changes a random image");
      }
    FloatImage flat = new FloatImage(3, 4, 6, AugmentationsTest.filled(72, 0.7f));
    assertArrayEquals(flat.data(), Denoise.GAUSSIAN.transform().apply(flat, null).data(), 1e-6f);
  }

  @Test
  void noneIsTheIdentityAndParsingNamesTheOption() {
    FloatImage img = AugmentationsTest.random(3, 4, 4, 7);
    assertSame(img, Denoise.NONE.transform().apply(img, new SplittableRandom(1)));
    assertEquals(Denoise.MEDIAN, Denoise.parse("--denoise", "Median"));
    assertEquals(Denoise.GAUSSIAN, Denoise.parse("--denoise", "gaussian"));
    var e = assertThrows(IllegalArgumentException.class, () -> Denoise.parse("--denoise", "bilateral"));
    assertTrue(e.getMessage().contains("--denoise") && e.getMessage().contains("bilateral")
        && e.getMessage().contains("median"), e.getMessage());
  }
}
