package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The resident mining memory of every available backend against {@link Kernels#batchHardMemory} of
 * the same backend on a plain mirror of the rows: bit for bit, through FIFO writes that wrap around
 * the capacity, with the memory partly and fully filled; and its refusals.
 */
class MiningMemoryTest {
  static List<Kernels> backends() {
    List<Kernels> ks = new ArrayList<>();
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU, Backend.CUDA})
      if (Kernels.unavailableReason(b) == null) ks.add(Kernels.create(b));
    return ks;
  }

  static FloatMatrix gaussian(Random r, int rows, int d) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    return new FloatMatrix(rows, d, a);
  }

  @Test
  void fifoWritesMineAsTheMirrorDoes() {
    Random r = new Random(41);
    for (Kernels k : backends())
      for (int trial = 0; trial < 12; trial++) {
        int cap = 1 + r.nextInt(90), d = 1 + r.nextInt(40), batch = 1 + r.nextInt(30);
        Metric metric = Metric.values()[r.nextInt(3)];
        float[] mirror = new float[cap * d];
        int[] labels = new int[cap];
        int head = 0, filled = 0;
        try (MiningMemory mem = k.miningMemory(cap, d, metric)) {
          for (int step = 0; step < 5; step++) {
            FloatMatrix rows = gaussian(r, batch, d);
            int[] lab = new int[batch];
            for (int i = 0; i < batch; i++) lab[i] = r.nextInt(4);
            for (int done = 0; done < batch; ) {
              int slot = (head + done) % cap, n = Math.min(batch - done, cap - slot);
              float[] part = java.util.Arrays.copyOfRange(rows.data(), done * d, (done + n) * d);
              mem.write(slot, new FloatMatrix(n, d, part));
              System.arraycopy(part, 0, mirror, slot * d, n * d);
              System.arraycopy(lab, done, labels, slot, n);
              done += n;
            }
            head = (head + batch) % cap;
            filled = Math.min(cap, filled + batch);
            FloatMatrix a = gaussian(r, 1 + r.nextInt(20), d);
            int[] al = new int[a.rows()];
            for (int i = 0; i < al.length; i++) al[i] = r.nextInt(4);
            int[] used = java.util.Arrays.copyOf(labels, filled);
            HardMining got = mem.batchHard(a, al, used);
            HardMining want = k.batchHardMemory(a, al, new FloatMatrix(filled, d,
                java.util.Arrays.copyOf(mirror, filled * d)), used, metric);
            String what = k.describe() + " trial " + trial + " step " + step;
            assertArrayEquals(want.posIdx(), got.posIdx(), what);
            assertArrayEquals(want.negIdx(), got.negIdx(), what);
            assertArrayEquals(want.posDist(), got.posDist(), what);
            assertArrayEquals(want.negDist(), got.negDist(), what);
          }
        }
      }
  }

  @Test
  void badWritesAndCallsAreRefusedAndLeaveTheMemoryAsItWas() {
    Random r = new Random(42);
    for (Kernels k : backends()) {
      MiningMemory mem = k.miningMemory(6, 3, Metric.EUCLIDEAN);
      FloatMatrix rows = gaussian(r, 6, 3);
      mem.write(0, rows);
      int[] labels = {0, 0, 1, 1, 2, 2};
      FloatMatrix a = gaussian(r, 2, 3);
      HardMining before = mem.batchHard(a, new int[] {0, 1}, labels);
      FloatMatrix nan = gaussian(r, 1, 3);
      nan.data()[1] = Float.NaN;
      assertThrows(IllegalArgumentException.class, () -> mem.write(2, nan));
      assertTrue(assertThrows(IllegalArgumentException.class, () -> mem.write(5, gaussian(r, 2, 3))).getMessage()
          .contains("pass the capacity 6"));
      assertThrows(IllegalArgumentException.class, () -> mem.write(-1, gaussian(r, 1, 3)));
      assertThrows(IllegalArgumentException.class, () -> mem.write(0, gaussian(r, 1, 4)));
      assertThrows(IllegalArgumentException.class, () -> mem.batchHard(a, new int[] {0, 1}, new int[7]));
      assertThrows(IllegalArgumentException.class, () -> mem.batchHard(gaussian(r, 2, 2), new int[] {0, 1}, labels));
      assertThrows(IllegalArgumentException.class, () -> mem.batchHard(a, new int[] {0}, labels));
      HardMining after = mem.batchHard(a, new int[] {0, 1}, labels);
      assertArrayEquals(before.posIdx(), after.posIdx(), k.describe());
      assertArrayEquals(before.negDist(), after.negDist(), k.describe());
      HardMining empty = mem.batchHard(a, new int[] {0, 1}, new int[0]);
      assertArrayEquals(new int[] {-1, -1}, empty.posIdx());
      mem.close();
      mem.close();
      assertThrows(IllegalStateException.class, () -> mem.batchHard(a, new int[] {0, 1}, labels));
      assertThrows(IllegalArgumentException.class, () -> k.miningMemory(-1, 3, Metric.COSINE));
      assertThrows(IllegalArgumentException.class, () -> k.miningMemory(3, 0, Metric.COSINE));
    }
  }
}
