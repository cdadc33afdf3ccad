package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.FloatBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BatchTest {
  static FloatImage[] images(Random r, int n, int c, int h, int w) {
    FloatImage[] a = new FloatImage[n];
    for (int i = 0; i < n; i++) {
      float[] d = new float[c * h * w];
      for (int k = 0; k < d.length; k++) d[k] = (float) r.nextGaussian();
      a[i] = new FloatImage(c, h, w, d);
    }
    return a;
  }

  static float[] joined(FloatImage[] a) {
    int per = a.length == 0 ? 0 : a[0].data().length;
    float[] out = new float[a.length * per];
    for (int i = 0; i < a.length; i++) System.arraycopy(a[i].data(), 0, out, i * per, per);
    return out;
  }

  /** Kept-apart images give the joined array, the same copies (small and multi-threaded large batches) and images. */
  @Test
  void imagesKeptApartCopyAsTheJoinedArray() {
    Random r = new Random(5);
    // the last is over a million values: copied by several threads
    for (int[] s : new int[][] {{1, 1, 1, 1}, {3, 3, 5, 4}, {0, 3, 2, 2}, {64, 3, 64, 32}, {20, 3, 128, 144}}) {
      FloatImage[] parts = images(r, s[0], s[1], s[2], s[3]);
      int[] ids = new int[s[0]];
      Batch b = Batch.of(parts, s[1], s[2], s[3], ids, ids, ids);
      float[] want = joined(parts);
      for (int pad : new int[] {0, 7}) { // at the buffer's position; what is before and after stays
        FloatBuffer dst = FloatBuffer.allocate(want.length + 2 * pad);
        for (int k = 0; k < dst.capacity(); k++) dst.put(k, -1f);
        dst.position(pad);
        b.copyImagesTo(dst);
        assertEquals(pad, dst.position(), "the position is left as it was");
        float[] got = new float[want.length];
        dst.duplicate().get(got);
        assertArrayEquals(want, got);
        for (int k = 0; k < pad; k++) {
          assertEquals(-1f, dst.get(k));
          assertEquals(-1f, dst.get(pad + want.length + k));
        }
      }
      if (s[0] > 0) assertArrayEquals(parts[s[0] - 1].data(), b.image(s[0] - 1).data());
      assertArrayEquals(want, b.images());
      assertSame(b.images(), b.images(), "joined once");
      Batch whole = new Batch(s[0], s[1], s[2], s[3], want, ids, ids, ids);
      FloatBuffer dst = FloatBuffer.allocate(want.length);
      whole.copyImagesTo(dst);
      assertArrayEquals(want, dst.array());
    }
  }

  @Test
  void refusesMixedShapesAndSmallBuffers() {
    Random r = new Random(6);
    FloatImage[] parts = {images(r, 1, 3, 4, 4)[0], images(r, 1, 3, 4, 5)[0]};
    int[] ids = new int[2];
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Batch.of(parts, 3, 4, 4, ids, ids, ids));
    assertTrue(e.getMessage().contains("image 1"), e.getMessage());
    Batch ok = Batch.of(images(r, 2, 3, 4, 4), 3, 4, 4, ids, ids, ids);
    e = assertThrows(IllegalArgumentException.class, () -> ok.copyImagesTo(FloatBuffer.allocate(95)));
    assertTrue(e.getMessage().contains("95") && e.getMessage().contains("96"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Batch.of(images(r, 2, 3, 4, 4), 3, 4, 4, new int[1], ids, ids));
  }
}
