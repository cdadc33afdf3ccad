package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The contest augmentations against references written from their definitions: shapes, the [0, 1]
 * range, p = 0 and p = 1, and hand-checked cases.
 */
class AugmentationsTest {

  /** Random [0.05, 0.95] pixels: not constant, and no value at a clamp bound. */
  static FloatImage random(int c, int h, int w, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] d = new float[c * h * w];
    for (int i = 0; i < d.length; i++) d[i] = (float) (0.05 + 0.9 * r.nextDouble());
    return new FloatImage(c, h, w, d);
  }

  private static void assertInUnitRange(FloatImage img) {
    for (float v : img.data()) assertTrue(v >= 0f && v <= 1f, "value " + v + " outside [0, 1]");
  }

  private static float[] plane(FloatImage img, int c) {
    return Arrays.copyOfRange(img.data(), c * img.planeSize(), (c + 1) * img.planeSize());
  }

  // ---- channel shuffle ---------------------------------------------------------------------------

  @Test
  void channelShuffleIsANonIdentityPermutationOfThePlanes() {
    FloatImage a = random(3, 5, 4, 1);
    float[] before = a.data().clone();
    Set<List<Integer>> seen = new HashSet<>();
    for (long s = 0; s < 300; s++) {
      FloatImage b = Augmentations.channelShuffle(1.0).apply(a, new SplittableRandom(s));
      assertEquals(3, b.channels());
      assertEquals(5, b.height());
      assertEquals(4, b.width());
      assertNotEquals(a, b, "seed " + s + ": p = 1 always changes the channel order");
      // Each output plane is one input plane, each input plane used once.
      List<Integer> perm = new ArrayList<>();
      for (int k = 0; k < 3; k++) {
        int from = -1;
        for (int j = 0; j < 3; j++) if (Arrays.equals(plane(b, k), plane(a, j))) from = j;
        assertTrue(from >= 0, "seed " + s + ": plane " + k + " is no input plane");
        perm.add(from);
      }
      assertEquals(3, new HashSet<>(perm).size(), "seed " + s + ": " + perm);
      seen.add(perm);
    }
    assertEquals(5, seen.size(), "all five other orders of three channels occur: " + seen);
    assertFalse(seen.contains(List.of(0, 1, 2)));
    assertArrayEquals(before, a.data(), "input untouched");
  }

  @Test
  void channelShuffleAtPZeroAndOnGreyImagesReturnsTheInput() {
    FloatImage rgb = random(3, 4, 4, 2), grey = random(1, 4, 4, 3);
    for (long s = 0; s < 100; s++) {
      assertSame(rgb, Augmentations.channelShuffle(0.0).apply(rgb, new SplittableRandom(s)));
      assertSame(grey, Augmentations.channelShuffle(1.0).apply(grey, new SplittableRandom(s)));
    }
    // p = 0.5: shuffled exactly when the first draw is < 0.5.
    for (long s = 0; s < 50; s++) {
      boolean expect = new SplittableRandom(s).nextDouble() < 0.5;
      FloatImage b = Augmentations.channelShuffle(0.5).apply(rgb, new SplittableRandom(s));
      assertEquals(expect, b != rgb, "seed " + s);
    }
  }

  // ---- shift-scale-rotate ------------------------------------------------------------------------

  @Test
  void zeroShiftScaleAndRotateIsTheIdentity() {
    FloatImage a = random(3, 7, 5, 4);
    FloatImage b = Augmentations.shiftScaleRotate(1.0, 0, 0, 0).apply(a, new SplittableRandom(9));
    assertArrayEquals(a.data(), b.data(), 1e-6f);
    assertSame(a, Augmentations.shiftScaleRotate(0.0, 0.0625, 0.1, 10).apply(a, new SplittableRandom(9)));
  }

  @Test
  void integerShiftMovesPixelsAndFillsWithZero() {
    FloatImage a = random(2, 6, 5, 5);
    int dx = 2, dy = -1;
    FloatImage b = Augmentations.affine(a, dx, dy, 1, 0);
    for (int c = 0; c < 2; c++)
      for (int y = 0; y < 6; y++)
        for (int x = 0; x < 5; x++) {
          int sy = y - dy, sx = x - dx;
          float want = sy >= 0 && sy < 6 && sx >= 0 && sx < 5 ? a.get(c, sy, sx) : 0f;
          assertEquals(want, b.get(c, y, x), 1e-6f, "(" + c + "," + y + "," + x + ")");
        }
  }

  @Test
  void quarterTurnMapsPixelsAsRot90() {
    int n = 5;
    FloatImage a = random(2, n, n, 6);
    FloatImage ccw = Augmentations.affine(a, 0, 0, 1, 90);
    FloatImage cw = Augmentations.affine(a, 0, 0, 1, -90);
    for (int c = 0; c < 2; c++)
      for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
          // Counter-clockwise as displayed: input (y, x) goes to (n - 1 - x, y); clockwise to (x, n - 1 - y).
          assertEquals(a.get(c, y, x), ccw.get(c, n - 1 - x, y), 1e-6f);
          assertEquals(a.get(c, y, x), cw.get(c, x, n - 1 - y), 1e-6f);
        }
    // A half turn of a non-square image.
    FloatImage r = random(1, 4, 7, 7), half = Augmentations.affine(r, 0, 0, 1, 180);
    for (int y = 0; y < 4; y++)
      for (int x = 0; x < 7; x++) assertEquals(r.get(0, y, x), half.get(0, 3 - y, 6 - x), 1e-6f);
  }

  /**
   * Reference warp from the forward matrix [[a, b, tx], [-b, a, ty]] (a = s cos t, b = s sin t, as
   * OpenCV's getRotationMatrix2D about the centre, plus the shift), inverted as a general 2 x 2 matrix,
   * sampling a zero-padded copy of the image bilinearly.
   */
  static FloatImage referenceWarp(FloatImage img, double dx, double dy, double s, double degrees) {
    int c = img.channels(), h = img.height(), w = img.width();
    double t = Math.toRadians(degrees), a = s * Math.cos(t), b = s * Math.sin(t);
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    double tx = (1 - a) * cx - b * cy + dx, ty = b * cx + (1 - a) * cy + dy;
    double det = a * a + b * b;
    double[][] padded = new double[(h + 4) * c][w + 4]; // 2 zero pixels on every side
    for (int ch = 0; ch < c; ch++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) padded[ch * (h + 4) + y + 2][x + 2] = img.get(ch, y, x);
    FloatImage out = FloatImage.zeros(c, h, w);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        double px = x - tx, py = y - ty;
        double sx = (a * px - b * py) / det, sy = (b * px + a * py) / det; // inverse of [[a, b], [-b, a]]
        if (sx <= -1 || sy <= -1 || sx >= w || sy >= h) continue;
        int x0 = (int) Math.floor(sx), y0 = (int) Math.floor(sy);
        double fx = sx - x0, fy = sy - y0;
        for (int ch = 0; ch < c; ch++) {
          int r0 = ch * (h + 4) + y0 + 2, c0 = x0 + 2;
          double v = (1 - fy) * ((1 - fx) * padded[r0][c0] + fx * padded[r0][c0 + 1])
              + fy * ((1 - fx) * padded[r0 + 1][c0] + fx * padded[r0 + 1][c0 + 1]);
          out.set(ch, y, x, (float) v);
        }
      }
    return out;
  }

  @Test
  void shiftScaleRotateDrawsItsParametersAndWarpsAsTheReference() {
    FloatImage a = random(3, 16, 8, 8);
    double shift = 0.0625, scale = 0.1, rotate = 10;
    for (long seed = 0; seed < 40; seed++) {
      FloatImage b = Augmentations.shiftScaleRotate(1.0, shift, scale, rotate).apply(a, new SplittableRandom(seed));
      SplittableRandom r = new SplittableRandom(seed);
      assertTrue(r.nextDouble() < 1.0);
      double dx = (2 * r.nextDouble() - 1) * shift * 8, dy = (2 * r.nextDouble() - 1) * shift * 16;
      double s = 1 + (2 * r.nextDouble() - 1) * scale, deg = (2 * r.nextDouble() - 1) * rotate;
      assertTrue(Math.abs(dx) <= 0.5 && Math.abs(dy) <= 1 && Math.abs(s - 1) <= 0.1 && Math.abs(deg) <= 10);
      assertArrayEquals(referenceWarp(a, dx, dy, s, deg).data(), b.data(), 1e-5f, "seed " + seed);
      assertEquals(16, b.height());
      assertEquals(8, b.width());
      assertInUnitRange(b);
      assertNotEquals(a, b, "seed " + seed + ": p = 1 changes the image");
    }
    // Larger limits, including a zoom out that brings in the zero border.
    for (long seed = 0; seed < 20; seed++) {
      FloatImage b = Augmentations.shiftScaleRotate(1.0, 0.3, 0.5, 180).apply(a, new SplittableRandom(seed));
      SplittableRandom r = new SplittableRandom(seed);
      r.nextDouble();
      double dx = (2 * r.nextDouble() - 1) * 0.3 * 8, dy = (2 * r.nextDouble() - 1) * 0.3 * 16;
      double s = 1 + (2 * r.nextDouble() - 1) * 0.5, deg = (2 * r.nextDouble() - 1) * 180;
      assertArrayEquals(referenceWarp(a, dx, dy, s, deg).data(), b.data(), 1e-5f, "seed " + seed);
      assertInUnitRange(b);
    }
  }

  @Test
  void shiftScaleRotateRefusesBadLimits() {
    assertThrows(IllegalArgumentException.class, () -> Augmentations.shiftScaleRotate(1, -0.1, 0.1, 10));
    assertThrows(IllegalArgumentException.class, () -> Augmentations.shiftScaleRotate(1, 0.1, 1.0, 10));
    assertThrows(IllegalArgumentException.class, () -> Augmentations.shiftScaleRotate(1, 0.1, 0.1, 181));
  }

  // ---- Gaussian noise ----------------------------------------------------------------------------

  @Test
  void gaussianNoiseAddsClampedNormalNoiseOfTheGivenStd() {
    FloatImage a = random(3, 9, 7, 10);
    for (long seed = 0; seed < 20; seed++) {
      FloatImage b = Augmentations.gaussianNoise(1.0, 0.2).apply(a, new SplittableRandom(seed));
      SplittableRandom r = new SplittableRandom(seed);
      r.nextDouble();
      float[] want = new float[a.data().length];
      for (int i = 0; i < want.length; i++) want[i] = (float) Math.min(1, Math.max(0, a.data()[i] + 0.2 * r.nextGaussian()));
      assertArrayEquals(want, b.data(), 1e-6f, "seed " + seed);
      assertInUnitRange(b);
      assertNotEquals(a, b);
    }
    // On mid-grey pixels (far from the clamps) the added values have mean 0 and the given std.
    FloatImage grey = new FloatImage(3, 64, 64, filled(3 * 64 * 64, 0.5f));
    FloatImage n = Augmentations.gaussianNoise(1.0, 0.05).apply(grey, new SplittableRandom(3));
    double sum = 0, sq = 0;
    for (float v : n.data()) {
      sum += v - 0.5;
      sq += (v - 0.5) * (v - 0.5);
    }
    int count = n.data().length;
    double mean = sum / count, std = Math.sqrt(sq / count - mean * mean);
    assertEquals(0, mean, 0.003, "mean " + mean);
    assertEquals(0.05, std, 0.0025, "std " + std);
  }

  @Test
  void gaussianNoiseOffOrZeroStdChangesNothing() {
    FloatImage a = random(3, 5, 5, 11);
    for (long seed = 0; seed < 50; seed++) {
      assertSame(a, Augmentations.gaussianNoise(0.0, 0.2).apply(a, new SplittableRandom(seed)));
      assertSame(a, Augmentations.gaussianNoise(1.0, 0.0).apply(a, new SplittableRandom(seed)));
    }
    assertThrows(IllegalArgumentException.class, () -> Augmentations.gaussianNoise(1, -0.1));
  }

  // ---- salt and pepper ---------------------------------------------------------------------------

  @Test
  void saltAndPepperSetsAboutTheAmountOfPixelsToBlackOrWhite() {
    FloatImage a = random(3, 64, 64, 12);
    double amount = 0.1;
    int pixels = 64 * 64;
    for (long seed = 0; seed < 10; seed++) {
      FloatImage b = Augmentations.saltPepper(1.0, amount).apply(a, new SplittableRandom(seed));
      assertInUnitRange(b);
      int changed = 0, salt = 0;
      for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
          boolean same = true;
          for (int c = 0; c < 3; c++) same &= b.get(c, y, x) == a.get(c, y, x);
          if (same) continue;
          changed++;
          float v = b.get(0, y, x);
          assertTrue(v == 0f || v == 1f, "a changed pixel is black or white, got " + v);
          for (int c = 1; c < 3; c++) assertEquals(v, b.get(c, y, x), "the same in every channel");
          if (v == 1f) salt++;
        }
      // Binomial(4096, 0.1): mean 410, sd 19; 6 sd either way.
      assertTrue(Math.abs(changed - amount * pixels) < 6 * Math.sqrt(pixels * amount * (1 - amount)),
          "seed " + seed + ": " + changed + " of " + pixels + " changed");
      assertTrue(Math.abs(salt - changed / 2.0) < 6 * Math.sqrt(changed / 4.0), "seed " + seed + ": salt " + salt
          + " of " + changed);
    }
  }

  @Test
  void saltAndPepperOffOrZeroAmountChangesNothing() {
    FloatImage a = random(1, 16, 16, 13);
    for (long seed = 0; seed < 50; seed++) {
      assertSame(a, Augmentations.saltPepper(0.0, 0.5).apply(a, new SplittableRandom(seed)));
      assertSame(a, Augmentations.saltPepper(1.0, 0.0).apply(a, new SplittableRandom(seed)));
      assertNotEquals(a, Augmentations.saltPepper(1.0, 0.1).apply(a, new SplittableRandom(seed)));
    }
    assertThrows(IllegalArgumentException.class, () -> Augmentations.saltPepper(1, 1.5));
  }

  static float[] filled(int n, float v) {
    float[] d = new float[n];
    Arrays.fill(d, v);
    return d;
  }
}
