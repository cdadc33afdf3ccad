package org.reid4j.data;

import java.util.SplittableRandom;
import org.reid4j.config.TrainConfig;

/**
 * The image transforms of the BoT recipe, on {@link FloatImage}s, and the train/test pipelines built
 * from a {@link TrainConfig}. Training (BoT's {@code build_transforms}, with the optional contest
 * augmentations of {@link Augmentations} in brackets, each only when its INPUT probability is > 0):
 * resize (or RescalePad) -> random horizontal flip -> [shift-scale-rotate] -> zero pad + random crop
 * -> [channel shuffle] -> [Gaussian noise] -> [salt-and-pepper] -> normalise -> random erasing. The
 * geometric steps come first; the colour and noise steps work on [0, 1] pixels and keep them in
 * [0, 1], so normalisation sees the pixel range it expects. Test: resize -> normalise. Each step
 * allocates its output image; cost is linear in the pixels.
 */
public final class Transforms {
  private Transforms() {}

  /** The training pipeline of cfg's INPUT group. */
  public static Transform train(TrainConfig cfg) {
    TrainConfig.Input in = cfg.input();
    int h = in.sizeTrain()[0], w = in.sizeTrain()[1];
    Transform t = in.rescalePad() ? rescalePad(h, w) : resize(h, w);
    if (in.flipProb() > 0) t = t.then(horizontalFlip(in.flipProb()));
    if (in.ssrProb() > 0)
      t = t.then(Augmentations.shiftScaleRotate(in.ssrProb(), in.ssrShift(), in.ssrScale(), in.ssrRotate()));
    if (in.padding() > 0) t = t.then(padCrop(in.padding(), h, w));
    if (in.channelShuffleProb() > 0) t = t.then(Augmentations.channelShuffle(in.channelShuffleProb()));
    if (in.noiseProb() > 0) t = t.then(Augmentations.gaussianNoise(in.noiseProb(), in.noiseStd()));
    if (in.saltPepperProb() > 0) t = t.then(Augmentations.saltPepper(in.saltPepperProb(), in.saltPepperAmount()));
    t = t.then(normalize(in.pixelMean(), in.pixelStd()));
    if (in.reProb() > 0) t = t.then(randomErasing(in.reProb(), in.reArea()[0], in.reArea()[1], in.reAspect(), null));
    return t;
  }

  /** The test pipeline: resize (or RescalePad) to INPUT.SIZE_TEST, then normalise. */
  public static Transform test(TrainConfig cfg) {
    TrainConfig.Input in = cfg.input();
    int h = in.sizeTest()[0], w = in.sizeTest()[1];
    return (in.rescalePad() ? rescalePad(h, w) : resize(h, w)).then(normalize(in.pixelMean(), in.pixelStd()));
  }

  /**
   * Bilinear resize to h x w with half-pixel centres (source coordinate (x + 0.5) * in / out - 0.5),
   * as PIL and torch's {@code align_corners=False}. When shrinking, the triangle filter widens to
   * the scale factor (PIL's antialiasing), so every source pixel contributes; when enlarging this is
   * plain bilinear interpolation with edge clamping. An image already h x w is returned as is.
   */
  public static Transform resize(int h, int w) {
    requirePositive(h, w);
    return (img, rnd) -> resizeImage(img, h, w);
  }

  /** Flips left-right (reverses every row) with probability p. */
  public static Transform horizontalFlip(double p) {
    return (img, rnd) -> {
      if (!(rnd.nextDouble() < p)) return img;
      float[] out = new float[img.data().length];
      int w = img.width();
      for (int row = 0; row < img.channels() * img.height(); row++) {
        int base = row * w;
        for (int x = 0; x < w; x++) out[base + x] = img.data()[base + w - 1 - x];
      }
      return new FloatImage(img.channels(), img.height(), w, out);
    };
  }

  /**
   * Rotates by quarterTurns x 90 degrees counter-clockwise as displayed, as numpy's {@code rot90}: one
   * turn maps input pixel (y, x) of an H x W image to (W - 1 - x, y) of the W x H output; two turns to
   * (H - 1 - y, W - 1 - x); three to (x, H - 1 - y). Odd turns swap height and width. quarterTurns is
   * taken modulo 4 (negative turns are clockwise); 0 returns the input itself.
   */
  public static Transform rotate90(int quarterTurns) {
    int k = Math.floorMod(quarterTurns, 4);
    return (img, rnd) -> {
      if (k == 0) return img;
      int c = img.channels(), h = img.height(), w = img.width();
      int oh = k == 2 ? h : w, ow = k == 2 ? w : h;
      float[] in = img.data(), out = new float[in.length];
      for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++) {
            int oy = k == 1 ? w - 1 - x : k == 2 ? h - 1 - y : x;
            int ox = k == 1 ? y : k == 2 ? w - 1 - x : h - 1 - y;
            out[(ch * oh + oy) * ow + ox] = in[(ch * h + y) * w + x];
          }
      return new FloatImage(c, oh, ow, out);
    };
  }

  /**
   * Zero-pads {@code padding} pixels on every side, then crops h x w at a uniformly random offset
   * (top in 0..H+2p-h, left in 0..W+2p-w, drawn in that order), as torchvision's Pad + RandomCrop.
   */
  public static Transform padCrop(int padding, int h, int w) {
    requirePositive(h, w);
    if (padding < 0) throw new IllegalArgumentException("padding must be >= 0, got " + padding);
    return (img, rnd) -> {
      int ph = img.height() + 2 * padding, pw = img.width() + 2 * padding;
      if (ph < h || pw < w)
        throw new IllegalArgumentException("cannot crop " + h + "x" + w + " from a padded " + ph + "x" + pw + " image");
      int top = rnd.nextInt(ph - h + 1), left = rnd.nextInt(pw - w + 1);
      return crop(img, top - padding, left - padding, h, w);
    };
  }

  /** The h x w window whose top-left corner is (y0, x0) in img's coordinates; outside pixels are 0. */
  static FloatImage crop(FloatImage img, int y0, int x0, int h, int w) {
    FloatImage out = FloatImage.zeros(img.channels(), h, w);
    for (int c = 0; c < img.channels(); c++)
      for (int y = 0; y < h; y++) {
        int sy = y0 + y;
        if (sy < 0 || sy >= img.height()) continue;
        int from = Math.max(0, -x0), to = Math.min(w, img.width() - x0);
        if (to > from)
          System.arraycopy(img.data(), (c * img.height() + sy) * img.width() + x0 + from, out.data(),
              (c * h + y) * w + from, to - from);
      }
    return out;
  }

  /** (x - mean[c]) / std[c] per channel. */
  public static Transform normalize(double[] mean, double[] std) {
    if (mean.length != std.length) throw new IllegalArgumentException(mean.length + " means but " + std.length + " stds");
    float[] m = new float[mean.length], inv = new float[std.length];
    for (int c = 0; c < mean.length; c++) {
      m[c] = (float) mean[c];
      inv[c] = (float) (1.0 / std[c]);
    }
    return (img, rnd) -> {
      if (img.channels() != m.length)
        throw new IllegalArgumentException("normalize has " + m.length + " channel means, the image has "
            + img.channels() + " channels (INPUT.PIXEL_MEAN must match INPUT.CHANNELS)");
      float[] out = new float[img.data().length];
      int hw = img.planeSize();
      for (int c = 0; c < m.length; c++)
        for (int i = c * hw; i < (c + 1) * hw; i++) out[i] = (img.data()[i] - m[c]) * inv[c];
      return new FloatImage(img.channels(), img.height(), img.width(), out);
    };
  }

  /**
   * Random erasing (Zhong et al. 2017, as in BoT): with probability p, up to 100 attempts draw a
   * target area uniform in [areaMin, areaMax] x H*W and an aspect ratio uniform in [r, 1/r]; the
   * rectangle h = round(sqrt(area * aspect)), w = round(sqrt(area / aspect)) is used when
   * h < H and w < W, placed uniformly (top then left) and filled with {@code fill[c]}. fill null = 0 in
   * every channel: after {@link #normalize} that is the per-channel mean pixel (BoT fills with fixed
   * constants instead). If no attempt fits, the image is unchanged.
   */
  public static Transform randomErasing(double p, double areaMin, double areaMax, double r, float[] fill) {
    if (!(r > 0 && r <= 1)) throw new IllegalArgumentException("aspect bound r must be in (0, 1], got " + r);
    return (img, rnd) -> {
      if (!(rnd.nextDouble() < p)) return img;
      int hh = img.height(), ww = img.width();
      for (int attempt = 0; attempt < 100; attempt++) {
        double area = hh * (double) ww * (areaMin + (areaMax - areaMin) * rnd.nextDouble());
        double aspect = r + (1 / r - r) * rnd.nextDouble();
        int eh = (int) Math.round(Math.sqrt(area * aspect)), ew = (int) Math.round(Math.sqrt(area / aspect));
        if (eh < hh && ew < ww && eh > 0 && ew > 0) {
          int top = rnd.nextInt(hh - eh + 1), left = rnd.nextInt(ww - ew + 1);
          float[] out = img.data().clone();
          for (int c = 0; c < img.channels(); c++) {
            float v = fill == null ? 0f : fill[c];
            for (int y = top; y < top + eh; y++) {
              int base = (c * hh + y) * ww;
              java.util.Arrays.fill(out, base + left, base + left + ew, v);
            }
          }
          return new FloatImage(img.channels(), hh, ww, out);
        }
      }
      return img;
    };
  }

  /**
   * Keeps the aspect ratio: zero-pads the image (content centred) to the aspect ratio of h x w, then
   * resizes to h x w. For a square target this is pad-to-square.
   */
  public static Transform rescalePad(int h, int w) {
    requirePositive(h, w);
    return (img, rnd) -> {
      int ih = img.height(), iw = img.width();
      // Target aspect h/w; grow the smaller relative side.
      int ph = ih, pw = iw;
      if ((long) ih * w > (long) iw * h) pw = (int) Math.round((double) ih * w / h);
      else ph = (int) Math.round((double) iw * h / w);
      FloatImage padded = (ph == ih && pw == iw) ? img : crop(img, -(ph - ih) / 2, -(pw - iw) / 2, ph, pw);
      return resizeImage(padded, h, w);
    };
  }

  static FloatImage resizeImage(FloatImage img, int h, int w) {
    if (img.height() == h && img.width() == w) return img;
    int c = img.channels(), ih = img.height(), iw = img.width();
    Filter fx = Filter.of(iw, w), fy = Filter.of(ih, h);
    float[] tmp = new float[c * ih * w]; // horizontal pass: c x ih x w
    for (int row = 0; row < c * ih; row++) {
      int src = row * iw, dst = row * w;
      for (int x = 0; x < w; x++) {
        float s = 0;
        int off = fx.start[x] + src, k0 = x * fx.taps;
        for (int k = 0; k < fx.count[x]; k++) s += fx.weight[k0 + k] * img.data()[off + k];
        tmp[dst + x] = s;
      }
    }
    float[] out = new float[c * h * w];
    for (int ch = 0; ch < c; ch++)
      for (int y = 0; y < h; y++) {
        int k0 = y * fy.taps, dst = (ch * h + y) * w;
        for (int k = 0; k < fy.count[y]; k++) {
          float wt = fy.weight[k0 + k];
          int src = (ch * ih + fy.start[y] + k) * w;
          for (int x = 0; x < w; x++) out[dst + x] += wt * tmp[src + x];
        }
      }
    return new FloatImage(c, h, w, out);
  }

  /** Per output position: the first source index, the number of taps and their normalised weights. */
  private record Filter(int taps, int[] start, int[] count, float[] weight) {
    static Filter of(int in, int out) {
      double scale = (double) in / out, support = Math.max(scale, 1.0);
      int taps = (int) Math.ceil(support) * 2 + 1;
      int[] start = new int[out], count = new int[out];
      float[] weight = new float[out * taps];
      for (int o = 0; o < out; o++) {
        double centre = (o + 0.5) * scale;
        int lo = Math.max(0, (int) Math.floor(centre - support)), hi = Math.min(in, (int) Math.ceil(centre + support));
        double sum = 0;
        int n = 0;
        double[] ws = new double[hi - lo];
        for (int i = lo; i < hi; i++) {
          double wgt = Math.max(0, 1 - Math.abs((i + 0.5 - centre) / support));
          ws[i - lo] = wgt;
          sum += wgt;
        }
        // Trim zero weights at both ends so that count <= taps.
        int a = 0, b = ws.length;
        while (a < b && ws[a] == 0) a++;
        while (b > a && ws[b - 1] == 0) b--;
        start[o] = lo + a;
        for (int i = a; i < b; i++) weight[o * taps + n++] = (float) (ws[i] / sum);
        count[o] = n;
      }
      return new Filter(taps, start, count, weight);
    }
  }

  private static void requirePositive(int h, int w) {
    if (h < 1 || w < 1) throw new IllegalArgumentException("target size " + h + "x" + w + " must be positive");
  }
}
