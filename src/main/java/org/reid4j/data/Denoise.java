package org.reid4j.data;

import java.util.Arrays;
import java.util.Locale;

/**
 * Denoising filters applied to a decoded test image before resizing (extract / serve
 * {@code --denoise}): a 3 x 3 median (removes salt-and-pepper pixels) or a 3 x 3 Gaussian of sigma
 * 0.8 (the sigma OpenCV derives for a 3 x 3 kernel; smooths sensor noise). Both work on each channel
 * separately; the image border is handled by clamping (a neighbour outside the image is the nearest
 * edge pixel), so the output has the input's size and a constant image stays constant (the Gaussian
 * up to float rounding). Cost: 9 values per pixel (the median sorts them; the Gaussian runs as two
 * 3-tap passes).
 */
public enum Denoise {
  /** No filtering. */
  NONE,
  /** The median of each pixel's 3 x 3 neighbourhood. */
  MEDIAN,
  /** Separable 3 x 3 Gaussian blur, sigma 0.8. */
  GAUSSIAN;

  /** The Gaussian's sigma in pixels. */
  public static final double SIGMA = 0.8;

  /** The filter as a transform ({@link #NONE}: the identity). */
  public Transform transform() {
    return switch (this) {
      case NONE -> Transform.identity();
      case MEDIAN -> (img, rnd) -> median3x3(img);
      case GAUSSIAN -> (img, rnd) -> gaussian3x3(img);
    };
  }

  /** The lower-case name, as the option takes it. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * none, median or gaussian (any case).
   *
   * @param option the option name for the error message, e.g. {@code --denoise}
   */
  public static Denoise parse(String option, String text) {
    for (Denoise d : values()) if (d.label().equals(text.trim().toLowerCase(Locale.ROOT))) return d;
    throw new IllegalArgumentException(option + ": expected none, median or gaussian, got '" + text + "'");
  }

  static FloatImage median3x3(FloatImage img) {
    int h = img.height(), w = img.width();
    float[] in = img.data(), out = new float[in.length], nine = new float[9];
    for (int c = 0; c < img.channels(); c++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          int k = 0;
          for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
              nine[k++] = in[(c * h + clamp(y + dy, h)) * w + clamp(x + dx, w)];
          Arrays.sort(nine);
          out[(c * h + y) * w + x] = nine[4];
        }
    return new FloatImage(img.channels(), h, w, out);
  }

  static FloatImage gaussian3x3(FloatImage img) {
    double e = Math.exp(-1 / (2 * SIGMA * SIGMA));
    float side = (float) (e / (1 + 2 * e)), mid = (float) (1 / (1 + 2 * e));
    int h = img.height(), w = img.width();
    float[] in = img.data(), tmp = new float[in.length], out = new float[in.length];
    for (int row = 0; row < img.channels() * h; row++) // horizontal pass
      for (int x = 0; x < w; x++) {
        int r = row * w;
        tmp[r + x] = side * in[r + clamp(x - 1, w)] + mid * in[r + x] + side * in[r + clamp(x + 1, w)];
      }
    for (int c = 0; c < img.channels(); c++) // vertical pass
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          int p = c * h * w + x;
          out[p + y * w] = side * tmp[p + clamp(y - 1, h) * w] + mid * tmp[p + y * w] + side * tmp[p + clamp(y + 1, h) * w];
        }
    return new FloatImage(img.channels(), h, w, out);
  }

  private static int clamp(int i, int n) {
    return i < 0 ? 0 : i >= n ? n - 1 : i;
  }
}
