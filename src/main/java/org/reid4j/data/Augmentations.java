package org.reid4j.data;

import java.util.SplittableRandom;

/**
 * Training augmentations that teams of the Huawei DIGIX 2020 image-retrieval contest added to the BoT
 * recipe: channel shuffle, shift-scale-rotate, Gaussian noise and salt-and-pepper noise. Each takes
 * [0, 1] pixels (so it runs before {@link Transforms#normalize}) and returns [0, 1] pixels, applies
 * with probability p (one {@code nextDouble} draw, then the draws of the step itself) and returns its
 * input itself when it does not apply. {@link Transforms#train} places them; their INPUT keys default
 * to probability 0. Cost: one pass over the pixels when applied.
 */
public final class Augmentations {
  private Augmentations() {}

  /**
   * With probability p, reorders the channel planes by a permutation drawn uniformly among those other
   * than the identity, so an applied shuffle always changes the channel order (a 3-channel image gets
   * one of the 5 other orders of RGB). A 1-channel image has no other order: it is returned unchanged.
   */
  public static Transform channelShuffle(double p) {
    return (img, rnd) -> {
      int c = img.channels();
      if (!(rnd.nextDouble() < p) || c == 1) return img;
      int[] perm = new int[c];
      do {
        for (int i = 0; i < c; i++) perm[i] = i;
        for (int i = c - 1; i > 0; i--) { // Fisher-Yates
          int j = rnd.nextInt(i + 1), t = perm[i];
          perm[i] = perm[j];
          perm[j] = t;
        }
      } while (isIdentity(perm));
      int hw = img.planeSize();
      float[] out = new float[img.data().length];
      for (int k = 0; k < c; k++) System.arraycopy(img.data(), perm[k] * hw, out, k * hw, hw);
      return new FloatImage(c, img.height(), img.width(), out);
    };
  }

  private static boolean isIdentity(int[] perm) {
    for (int i = 0; i < perm.length; i++) if (perm[i] != i) return false;
    return true;
  }

  /**
   * Shift-scale-rotate (the limits mean what albumentations' ShiftScaleRotate means by them): with
   * probability p, draws a shift dx in [-shift, shift] x width and dy in [-shift, shift] x height, a
   * zoom s in [1 - scale, 1 + scale] and an angle in [-rotate, rotate] degrees (uniform, in that
   * order), and warps the image about its centre by {@link #affine}. The output has the input's size;
   * what comes from outside the image is 0 (as the zero padding of {@link Transforms#padCrop};
   * albumentations reflects the border by default).
   *
   * @param shift fraction of the image size, in [0, 1]
   * @param scale in [0, 1)
   * @param rotate degrees, in [0, 180]
   */
  public static Transform shiftScaleRotate(double p, double shift, double scale, double rotate) {
    if (!(shift >= 0 && shift <= 1)) throw new IllegalArgumentException("shift must be in [0, 1], got " + shift);
    if (!(scale >= 0 && scale < 1)) throw new IllegalArgumentException("scale must be in [0, 1), got " + scale);
    if (!(rotate >= 0 && rotate <= 180)) throw new IllegalArgumentException("rotate must be in [0, 180], got " + rotate);
    return (img, rnd) -> {
      if (!(rnd.nextDouble() < p)) return img;
      double dx = symmetric(rnd, shift) * img.width(), dy = symmetric(rnd, shift) * img.height();
      double s = 1 + symmetric(rnd, scale), degrees = symmetric(rnd, rotate);
      return affine(img, dx, dy, s, degrees);
    };
  }

  /** Uniform in [-limit, limit]. */
  private static double symmetric(SplittableRandom rnd, double limit) {
    return (2 * rnd.nextDouble() - 1) * limit;
  }

  /**
   * The image zoomed by s and rotated by {@code degrees} counter-clockwise as displayed (y pointing
   * down) about its centre ((w - 1) / 2, (h - 1) / 2), then shifted by (dx, dy) pixels. Each output
   * pixel is the bilinear interpolation of the input at the inverse-mapped position, with 0 outside the
   * image. A 90-degree turn of a square image is numpy's rot90 (up to rounding of sin and cos); the
   * identity (0, 0, 1, 0) returns the same pixels.
   */
  static FloatImage affine(FloatImage img, double dx, double dy, double s, double degrees) {
    int c = img.channels(), h = img.height(), w = img.width(), hw = h * w;
    double a = Math.toRadians(degrees), cos = Math.cos(a) / s, sin = Math.sin(a) / s;
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    float[] in = img.data(), out = new float[in.length];
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        double u = x - cx - dx, v = y - cy - dy;
        double sx = cx + u * cos - v * sin, sy = cy + u * sin + v * cos;
        int x0 = (int) Math.floor(sx), y0 = (int) Math.floor(sy);
        if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) continue; // all four neighbours outside
        double fx = sx - x0, fy = sy - y0;
        boolean left = x0 >= 0, right = x0 + 1 < w, top = y0 >= 0, bottom = y0 + 1 < h;
        for (int ch = 0; ch < c; ch++) {
          int q = ch * hw + y0 * w + x0; // (x0, y0) in plane ch; read only where inside
          double sum = 0;
          if (top && left) sum += (1 - fx) * (1 - fy) * in[q];
          if (top && right) sum += fx * (1 - fy) * in[q + 1];
          if (bottom && left) sum += (1 - fx) * fy * in[q + w];
          if (bottom && right) sum += fx * fy * in[q + w + 1];
          out[ch * hw + y * w + x] = (float) sum;
        }
      }
    return new FloatImage(c, h, w, out);
  }

  /**
   * With probability p, adds independent N(0, std^2) noise to every value (each channel of each pixel)
   * and clamps the result to [0, 1]. std = 0 returns the input unchanged.
   */
  public static Transform gaussianNoise(double p, double std) {
    if (!(std >= 0 && std <= 1)) throw new IllegalArgumentException("noise std must be in [0, 1], got " + std);
    return (img, rnd) -> {
      if (!(rnd.nextDouble() < p) || std == 0) return img;
      float[] in = img.data(), out = new float[in.length];
      for (int i = 0; i < in.length; i++) out[i] = clamp01(in[i] + std * rnd.nextGaussian());
      return new FloatImage(img.channels(), img.height(), img.width(), out);
    };
  }

  /**
   * Salt-and-pepper noise: with probability p, each pixel independently with probability
   * {@code amount} becomes white (1 in every channel) or black (0), each with probability 1/2; the
   * other pixels keep their values. amount = 0 returns the input unchanged.
   */
  public static Transform saltPepper(double p, double amount) {
    if (!(amount >= 0 && amount <= 1))
      throw new IllegalArgumentException("salt-and-pepper amount must be in [0, 1], got " + amount);
    return (img, rnd) -> {
      if (!(rnd.nextDouble() < p) || amount == 0) return img;
      float[] out = img.data().clone();
      int hw = img.planeSize();
      for (int i = 0; i < hw; i++) {
        if (!(rnd.nextDouble() < amount)) continue;
        float v = rnd.nextBoolean() ? 1f : 0f;
        for (int ch = 0; ch < img.channels(); ch++) out[ch * hw + i] = v;
      }
      return new FloatImage(img.channels(), img.height(), img.width(), out);
    };
  }

  private static float clamp01(double v) {
    return (float) Math.min(1, Math.max(0, v));
  }
}
