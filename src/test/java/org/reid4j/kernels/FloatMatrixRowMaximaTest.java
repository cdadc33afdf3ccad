package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link FloatMatrix#rowMaxima} against a plain scan, on fresh random shapes. */
class FloatMatrixRowMaximaTest {
  @Test
  void rowMaximaAreThoseOfAPlainScan() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{0, 3}, {1, 1}, {1, 7}, {5, 1}, {13, 31}, {200, 9}};
    for (int[] s : shapes) {
      float[] a = new float[s[0] * s[1]];
      for (int i = 0; i < a.length; i++) a[i] = r.nextInt(4) == 0 ? -0f : r.nextInt(7) - 5; // ties, negatives, -0
      float[] got = new FloatMatrix(s[0], s[1], a).rowMaxima();
      assertEquals(s[0], got.length);
      for (int i = 0; i < s[0]; i++) {
        float want = a[i * s[1]];
        for (int j = 1; j < s[1]; j++) want = Math.max(want, a[i * s[1] + j]);
        assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got[i]), "row " + i + " of " + s[0]);
      }
    }
    float[] nan = {1f, Float.NaN, 3f};
    assertTrue(Float.isNaN(new FloatMatrix(1, 3, nan).rowMaxima()[0]));
    assertEquals(Float.NEGATIVE_INFINITY, new FloatMatrix(2, 0, new float[0]).rowMaxima()[1]);
  }
}
