package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.reid4j.config.TrainConfig;

class TransformsTest {
  private static final SplittableRandom ANY = new SplittableRandom(0);

  private static FloatImage img(int c, int h, int w, float... v) {
    return new FloatImage(c, h, w, v);
  }

  private static FloatImage ramp(int c, int h, int w) {
    float[] d = new float[c * h * w];
    for (int i = 0; i < d.length; i++) d[i] = i + 1;
    return new FloatImage(c, h, w, d);
  }

  @Test
  void flipReversesEveryRowWhenDrawn() {
    FloatImage a = img(2, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    FloatImage f = Transforms.horizontalFlip(1.0).apply(a, new SplittableRandom(1));
    assertArrayEquals(new float[] {3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10}, f.data());
    assertSame(a, Transforms.horizontalFlip(0.0).apply(a, new SplittableRandom(1)));
    // p = 0.5: flipped exactly when the first draw is < 0.5.
    for (long s = 0; s < 50; s++) {
      boolean expect = new SplittableRandom(s).nextDouble() < 0.5;
      FloatImage g = Transforms.horizontalFlip(0.5).apply(a, new SplittableRandom(s));
      assertEquals(expect ? f : a, g, "seed " + s);
    }
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, a.data(), "input untouched");
  }

  @Test
  void padCropOffsets() {
    FloatImage a = img(1, 2, 2, 1, 2, 3, 4);
    // padding 1: padded 4x4; crop 2x2 at (top, left) drawn in that order from 0..2.
    for (long s = 0; s < 30; s++) {
      SplittableRandom r = new SplittableRandom(s);
      int top = r.nextInt(3), left = r.nextInt(3);
      float[][] padded = {{0, 0, 0, 0}, {0, 1, 2, 0}, {0, 3, 4, 0}, {0, 0, 0, 0}};
      float[] expect = {padded[top][left], padded[top][left + 1], padded[top + 1][left], padded[top + 1][left + 1]};
      assertArrayEquals(expect, Transforms.padCrop(1, 2, 2).apply(a, new SplittableRandom(s)).data(), "seed " + s);
    }
    // A hand case: top 0, left 2 -> [[0,0],[2,0]].
    FloatImage c = Transforms.crop(a, -1, 1, 2, 2);
    assertArrayEquals(new float[] {0, 0, 2, 0}, c.data());
    FloatImage same = Transforms.padCrop(0, 2, 2).apply(a, ANY);
    assertEquals(a, same);
  }

  @Test
  void resize2x2To4x4HalfPixelCentres() {
    FloatImage a = img(1, 2, 2, 0, 4, 8, 12);
    FloatImage r = Transforms.resize(4, 4).apply(a, ANY);
    // Along a row 0..4: [0, 1, 3, 4] (weights 1, .75/.25, .25/.75, 1); along a column 0..8: [0, 2, 6, 8].
    float[] expect = {
        0, 1, 3, 4,
        2, 3, 5, 6,
        6, 7, 9, 10,
        8, 9, 11, 12};
    assertArrayEquals(expect, r.data(), 1e-6f);
  }

  @Test
  void resizeDownAveragesLikePil() {
    FloatImage a = img(1, 1, 4, 0, 1, 2, 3);
    FloatImage r = Transforms.resize(1, 2).apply(a, ANY);
    // Scale 2: triangle of half-width 2 centred at 1.0 and 3.0; weights .75 .75 .25 (normalised).
    assertArrayEquals(new float[] {1.25f / 1.75f, 4f / 1.75f}, r.data(), 1e-6f);
    FloatImage constant = new FloatImage(3, 7, 5, filled(3 * 7 * 5, 0.25f));
    for (int[] hw : new int[][] {{3, 2}, {14, 10}, {7, 5}, {1, 1}, {20, 3}}) {
      FloatImage out = Transforms.resize(hw[0], hw[1]).apply(constant, ANY);
      assertEquals(hw[0], out.height());
      assertEquals(hw[1], out.width());
      for (float v : out.data()) assertEquals(0.25f, v, 1e-6f);
    }
  }

  private static float[] filled(int n, float v) {
    float[] d = new float[n];
    java.util.Arrays.fill(d, v);
    return d;
  }

  @Test
  void normalizePerChannel() {
    FloatImage a = img(2, 1, 2, 0.5f, 1f, 0f, 0.25f);
    FloatImage n = Transforms.normalize(new double[] {0.5, 0.25}, new double[] {0.5, 0.25}).apply(a, ANY);
    assertArrayEquals(new float[] {0f, 1f, -1f, 0f}, n.data(), 1e-6f);
    assertThrows(IllegalArgumentException.class,
        () -> Transforms.normalize(new double[] {0.5}, new double[] {0.5}).apply(a, ANY));
  }

  @Test
  void randomErasingNeverErasesAtPZero() {
    FloatImage a = new FloatImage(3, 32, 16, filled(3 * 32 * 16, 1f));
    Transform t = Transforms.randomErasing(0.0, 0.02, 0.4, 0.3, null);
    for (long s = 0; s < 1000; s++) assertSame(a, t.apply(a, new SplittableRandom(s)));
  }

  @Test
  void randomErasingAreaAndAspectBounds() {
    int h = 64, w = 32;
    FloatImage a = new FloatImage(3, h, w, filled(3 * h * w, 1f));
    Transform t = Transforms.randomErasing(1.0, 0.02, 0.4, 0.3, new float[] {-1, -2, -3});
    int erased = 0;
    double areaSum = 0;
    for (long s = 0; s < 2000; s++) {
      FloatImage e = t.apply(a, new SplittableRandom(s));
      if (e == a) continue;
      erased++;
      // The erased pixels form one rectangle, the same in every channel, filled with that channel's value.
      int y0 = h, y1 = -1, x0 = w, x1 = -1, count = 0;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          if (e.get(0, y, x) != 1f) {
            count++;
            y0 = Math.min(y0, y);
            y1 = Math.max(y1, y);
            x0 = Math.min(x0, x);
            x1 = Math.max(x1, x);
            assertEquals(-1f, e.get(0, y, x));
            assertEquals(-2f, e.get(1, y, x));
            assertEquals(-3f, e.get(2, y, x));
          }
      int eh = y1 - y0 + 1, ew = x1 - x0 + 1;
      assertEquals(eh * ew, count, "seed " + s + ": a rectangle");
      assertTrue(eh < h && ew < w, "seed " + s);
      double frac = count / (double) (h * w);
      // Rounding of the sides moves the area a little: allow one pixel row/column each way.
      assertTrue(frac >= 0.02 * 0.5 && frac <= 0.4 * 1.3, "seed " + s + ": area fraction " + frac);
      double aspect = eh / (double) ew;
      assertTrue(aspect >= 0.3 * 0.6 && aspect <= (1 / 0.3) / 0.6, "seed " + s + ": aspect " + aspect);
      areaSum += frac;
    }
    assertTrue(erased > 1900, "p = 1 erases nearly always (attempts only fail when the box does not fit): " + erased);
    double mean = areaSum / erased;
    assertTrue(mean > 0.12 && mean < 0.25, "mean erased fraction " + mean + " (uniform in [0.02, 0.4], larger "
        + "boxes fail to fit more often)");
    // p = 0.5: about half.
    int half = 0;
    Transform t5 = Transforms.randomErasing(0.5, 0.02, 0.4, 0.3, null);
    for (long s = 0; s < 2000; s++) if (t5.apply(a, new SplittableRandom(s)) != a) half++;
    assertTrue(half > 850 && half < 1150, "p = 0.5 erased " + half + " of 2000");
  }

  @Test
  void rescalePadKeepsTheAspectRatio() {
    FloatImage wide = new FloatImage(1, 10, 40, filled(400, 1f)); // h 10, w 40 -> square 40x40 -> 20x20
    FloatImage r = Transforms.rescalePad(20, 20).apply(wide, ANY);
    assertEquals(20, r.height());
    assertEquals(20, r.width());
    // Content: rows 15..24 of the 40-row padded image -> rows 7.5..12.5 of 20: rows 8..11 full, 0..6 and 13..19 empty.
    for (int x = 0; x < 20; x++) {
      for (int y = 8; y <= 11; y++) assertEquals(1f, r.get(0, y, x), 1e-6, "y " + y);
      for (int y : new int[] {0, 6, 13, 19}) assertEquals(0f, r.get(0, y, x), 1e-6, "y " + y);
    }
    // A tall 256x128 target from a square image pads left and right.
    FloatImage sq = new FloatImage(1, 8, 8, filled(64, 1f));
    FloatImage t = Transforms.rescalePad(16, 8).apply(sq, ANY);
    assertEquals(16, t.height());
    assertEquals(0f, t.get(0, 0, 0), 1e-6);
    assertEquals(0f, t.get(0, 15, 0), 1e-6);
    assertEquals(1f, t.get(0, 8, 4), 1e-6);
    assertEquals(0f, t.get(0, 2, 4), 1e-6);
  }

  @Test
  void trainAndTestPipelinesFromConfig() {
    TrainConfig cfg = TrainConfig.defaults();
    FloatImage in = ramp(3, 128, 64);
    FloatImage a = Transforms.train(cfg).apply(in, new SplittableRandom(5));
    FloatImage b = Transforms.train(cfg).apply(in, new SplittableRandom(5));
    assertEquals(a, b, "same seed, same output");
    assertEquals(3, a.channels());
    assertEquals(256, a.height());
    assertEquals(128, a.width());
    FloatImage t = Transforms.test(cfg).apply(new FloatImage(3, 128, 64, filled(3 * 128 * 64, 0.485f)), ANY);
    assertEquals(256, t.height());
    assertEquals(0f, t.get(0, 100, 50), 1e-5);
    TrainConfig q = TrainConfig.load(java.nio.file.Path.of("configs/quickstart.yml"), List.of());
    FloatImage g = Transforms.train(q).apply(new FloatImage(1, 28, 28, filled(784, 0.5f)), new SplittableRandom(1));
    assertEquals(1, g.channels());
    assertEquals(28, g.height());
    TrainConfig rp = TrainConfig.load(null, List.of("INPUT.RESCALE_PAD=true"));
    assertEquals(256, Transforms.train(rp).apply(ramp(3, 50, 50), new SplittableRandom(2)).height());
  }
  /** Reference quarter turns from the definition: out(i, j) = in(j, W - 1 - i) for one counter-clockwise turn. */
  private static FloatImage turnOnce(FloatImage a) {
    int h = a.height(), w = a.width();
    FloatImage out = FloatImage.zeros(a.channels(), w, h);
    for (int c = 0; c < a.channels(); c++)
      for (int i = 0; i < w; i++)
        for (int j = 0; j < h; j++) out.set(c, i, j, a.get(c, j, w - 1 - i));
    return out;
  }

  @Test
  void rotate90TurnsCounterClockwiseAsRot90() {
    FloatImage a = ramp(2, 2, 3); // rows [1 2 3] [4 5 6] in channel 0
    FloatImage one = Transforms.rotate90(1).apply(a, ANY);
    assertEquals(3, one.height());
    assertEquals(2, one.width());
    // numpy.rot90([[1, 2, 3], [4, 5, 6]]) = [[3, 6], [2, 5], [1, 4]]
    assertArrayEquals(new float[] {3, 6, 2, 5, 1, 4}, java.util.Arrays.copyOf(one.data(), 6));
    FloatImage r = AugmentationsTest.random(3, 5, 4, 21), expect = r;
    for (int k = 0; k <= 5; k++) {
      assertEquals(expect, Transforms.rotate90(k).apply(r, ANY), k + " quarter turns");
      assertEquals(expect, Transforms.rotate90(k - 4).apply(r, ANY), (k - 4) + " quarter turns");
      expect = turnOnce(expect);
    }
    assertSame(r, Transforms.rotate90(0).apply(r, ANY));
    assertEquals(turnOnce(turnOnce(turnOnce(r))), Transforms.rotate90(-1).apply(r, ANY), "-1 is clockwise");
    // The warp of shift-scale-rotate turns the same way.
    FloatImage sq = AugmentationsTest.random(1, 6, 6, 22);
    assertArrayEquals(Transforms.rotate90(1).apply(sq, ANY).data(), Augmentations.affine(sq, 0, 0, 1, 90).data(), 1e-6f);
  }

  @Test
  void defaultConfigTrainPipelineIsTheBotOneWithTheContestAugmentationsOff() {
    TrainConfig cfg = TrainConfig.defaults();
    TrainConfig.Input in = cfg.input();
    assertEquals(0.0, in.channelShuffleProb());
    assertEquals(0.0, in.ssrProb());
    assertEquals(0.0, in.noiseProb());
    assertEquals(0.0, in.saltPepperProb());
    Transform bot = Transforms.resize(256, 128).then(Transforms.horizontalFlip(0.5)).then(Transforms.padCrop(10, 256, 128))
        .then(Transforms.normalize(in.pixelMean(), in.pixelStd()))
        .then(Transforms.randomErasing(0.5, 0.02, 0.4, 0.3, null));
    FloatImage img = AugmentationsTest.random(3, 100, 40, 23);
    for (long s = 0; s < 5; s++)
      assertEquals(bot.apply(img, new SplittableRandom(s)), Transforms.train(cfg).apply(img, new SplittableRandom(s)));
  }

  @Test
  void contestAugmentationsRunInTheDocumentedOrder() {
    TrainConfig cfg = TrainConfig.load(null, List.of("INPUT.CHANNEL_SHUFFLE_PROB=1", "INPUT.SSR_PROB=1",
        "INPUT.NOISE_PROB=1", "INPUT.NOISE_STD=0.1", "INPUT.SALT_PEPPER_PROB=1", "INPUT.SALT_PEPPER_AMOUNT=0.05",
        "INPUT.SIZE_TRAIN=[32,16]", "INPUT.PADDING=2"));
    TrainConfig.Input in = cfg.input();
    Transform want = Transforms.resize(32, 16).then(Transforms.horizontalFlip(0.5))
        .then(Augmentations.shiftScaleRotate(1, 0.0625, 0.1, 10)).then(Transforms.padCrop(2, 32, 16))
        .then(Augmentations.channelShuffle(1)).then(Augmentations.gaussianNoise(1, 0.1))
        .then(Augmentations.saltPepper(1, 0.05));
    Transform norm = Transforms.normalize(in.pixelMean(), in.pixelStd());
    Transform erase = Transforms.randomErasing(0.5, 0.02, 0.4, 0.3, null);
    FloatImage img = AugmentationsTest.random(3, 50, 30, 24);
    for (long s = 0; s < 5; s++) {
      FloatImage got = Transforms.train(cfg).apply(img, new SplittableRandom(s));
      SplittableRandom r = new SplittableRandom(s);
      FloatImage pixels = want.apply(img, r);
      for (float v : pixels.data()) assertTrue(v >= 0 && v <= 1, "[0, 1] before normalising: " + v);
      assertEquals(erase.apply(norm.apply(pixels, r), r), got, "seed " + s);
      assertEquals(3, got.channels());
      assertEquals(32, got.height());
      assertEquals(16, got.width());
    }
  }
}
