package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

class NativeMatrixTest {
  @Test
  void copiesRowsAndValuesBothWays() {
    Random r = new Random(3);
    for (int[] s : new int[][] {{0, 0}, {0, 3}, {1, 1}, {5, 7}, {33, 129}}) {
      float[] v = new float[s[0] * s[1]];
      for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
      FloatMatrix h = new FloatMatrix(s[0], s[1], v);
      try (NativeMatrix n = NativeMatrix.of(h)) {
        assertEquals(s[0], n.rows());
        assertEquals(s[1], n.cols());
        assertEquals(h, n.toHeap());
        float[] row = new float[s[1]];
        for (int i = 0; i < s[0]; i++) {
          n.row(i, row);
          assertArrayEquals(h.row(i), row);
          for (int j = 0; j < s[1]; j++) assertEquals(h.get(i, j), n.get(i, j));
        }
        if (s[0] > 1) {
          float[] twice = h.row(0).clone();
          for (int j = 0; j < twice.length; j++) twice[j] *= 2;
          n.setRow(s[0] - 1, twice);
          n.values(0, 1).put(0, 42f); // a view: writes reach the matrix
          n.values(s[1] + 1, 2).put(1, -7f); // index 0 is the first value asked for
          assertArrayEquals(twice, n.toHeap().row(s[0] - 1));
          assertEquals(42f, n.get(0, 0));
          assertEquals(-7f, n.get(1, 2));
          assertEquals(h.get(1, 1), n.bytes(s[1] + 1, 1).getFloat(0));
          assertEquals(s[1] * 2, n.values((long) (s[0] - 2) * s[1], s[1] * 2).remaining());
        }
      }
    }
  }

  @Test
  void refusesBadIndicesSizesAndUseAfterClose() {
    assertThrows(IllegalArgumentException.class, () -> NativeMatrix.allocate(-1, 3));
    NativeMatrix n = NativeMatrix.allocate(2, 3);
    assertThrows(IndexOutOfBoundsException.class, () -> n.get(2, 0));
    assertThrows(IndexOutOfBoundsException.class, () -> n.get(0, 3));
    assertThrows(IndexOutOfBoundsException.class, () -> n.row(-1, new float[3]));
    assertThrows(IllegalArgumentException.class, () -> n.row(0, new float[2]));
    assertThrows(IndexOutOfBoundsException.class, () -> n.values(4, 3));
    n.close();
    n.close(); // twice is harmless
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> n.get(0, 0));
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
    assertThrows(IllegalStateException.class, n::toHeap);
  }

  /**
   * Views that start past 2^31 bytes into a matrix (a .npy gallery over 2 GB is read in such pieces):
   * their indices count from their own start, so they fit in an int. The memory is reserved, not
   * touched, except for the values written.
   */
  @Test
  void viewsFarIntoALargeMatrix() {
    try (NativeMatrix n = NativeMatrix.allocate(2, 300_000_000)) {
      long far = 300_000_000L + 250_000_003L; // byte offset 2.2e9
      n.bytes(far, 4).putFloat(4, 2.5f);
      n.values(far + 2, 1).put(0, -1.25f);
      assertEquals(2.5f, n.get(1, 250_000_004));
      assertEquals(-1.25f, n.get(1, 250_000_005));
      assertEquals(2.5f, n.values(far, 2).get(1));
    }
  }

  /** Closing gives the memory back: many allocations leave JavaCPP's count of native bytes where it was. */
  @Test
  void closingFreesTheMemory() {
    long before = Pointer.totalBytes();
    for (int i = 0; i < 50; i++) {
      try (NativeMatrix n = NativeMatrix.allocate(1000, 1000)) {
        n.setRow(999, new float[1000]);
      }
    }
    assertTrue(Pointer.totalBytes() - before < 4_000_000, "native bytes grew by " + (Pointer.totalBytes() - before));
  }

  /**
   * The input check remembers a pass only until the matrix is written: a non-finite value written
   * through any writable view after a pass is still found, and the first bad row is still named.
   */
  @Test
  void aPassedCheckIsForgottenWhenTheMatrixIsWritten() {
    float nan = Float.NaN, inf = Float.POSITIVE_INFINITY;
    java.util.List<java.util.function.BiConsumer<NativeMatrix, Float>> writers = java.util.List.of(
        (n, v) -> n.setRow(3, new float[] {1, v, 2}),
        (n, v) -> n.values(10, 1).put(0, v),
        (n, v) -> n.bytes(9, 2).putFloat(4, v));
    for (var write : writers) {
      for (float bad : new float[] {nan, inf}) {
        try (NativeMatrix n = NativeMatrix.allocate(5, 3)) {
          for (int r = 0; r < 5; r++) n.setRow(r, new float[] {r, 1, -r});
          Checks.requireUsable(n, "gallery features");
          assertTrue(n.knownUsable());
          Checks.requireUsable(n, "gallery features"); // remembered: passes again
          write.accept(n, bad);
          assertFalse(n.knownUsable());
          IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
              () -> Checks.requireUsable(n, "gallery features"));
          assertTrue(e.getMessage().contains("gallery features has a non-finite value (" + bad + ") at row 3, column 1"),
              e.getMessage());
          assertThrows(IllegalArgumentException.class, () -> Checks.requireFinite(n, "gallery features"));
          assertFalse(n.knownUsable()); // a failed check remembers nothing
        }
      }
    }
    try (NativeMatrix fresh = NativeMatrix.allocate(2, 2)) {
      assertFalse(fresh.knownUsable()); // never checked
    }
  }
}
