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
          assertArrayEquals(twice, n.toHeap().row(s[0] - 1));
          assertEquals(42f, n.get(0, 0));
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
}
