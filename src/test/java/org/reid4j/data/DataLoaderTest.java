package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataLoaderTest {
  @TempDir Path tmp;

  /** n synthetic 3 x 12 x 8 images, pid = i / 5; the listed indices fail to load. */
  static final class Synthetic implements ImageSource {
    final int n;
    final Set<Integer> bad;

    Synthetic(int n, Set<Integer> bad) {
      this.n = n;
      this.bad = bad;
    }

    public int size() {
      return n;
    }

    public int pid(int i) {
      return i / 5;
    }

    public int camid(int i) {
      return i % 2;
    }

    public FloatImage load(int i) throws IOException {
      if (bad.contains(i)) throw new IOException("synthetic #" + i + ": corrupt image");
      SplittableRandom r = new SplittableRandom(i);
      float[] d = new float[3 * 12 * 8];
      for (int k = 0; k < d.length; k++) d[k] = (float) r.nextDouble();
      return new FloatImage(3, 12, 8, d);
    }

    public String describe(int i) {
      return "synthetic #" + i;
    }

    public int numClasses() {
      return (n + 4) / 5;
    }
  }

  private static final Transform AUG = Transforms.horizontalFlip(0.5).then(Transforms.padCrop(2, 12, 8))
      .then(Transforms.randomErasing(0.5, 0.02, 0.4, 0.3, null));

  private static List<Batch> drain(DataLoader l) {
    List<Batch> out = new ArrayList<>();
    try (l) {
      while (l.hasNext()) out.add(l.next());
    }
    return out;
  }

  private static void assertSameBatches(List<Batch> a, List<Batch> b) {
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertArrayEquals(a.get(i).indices(), b.get(i).indices(), "batch " + i);
      assertArrayEquals(a.get(i).pids(), b.get(i).pids(), "batch " + i);
      assertArrayEquals(a.get(i).images(), b.get(i).images(), "batch " + i);
    }
  }

  @Test
  void identicalBatchesWhateverTheNumberOfWorkers() {
    Synthetic src = new Synthetic(200, Set.of());
    List<int[]> batches = new PKSampler(src.pids(), 4, 4, 11).epoch(0);
    List<Batch> zero = drain(new DataLoader(src, batches, AUG, 0, 1, 99));
    List<Batch> one = drain(new DataLoader(src, batches, AUG, 1, 2, 99));
    List<Batch> four = drain(new DataLoader(src, batches, AUG, 4, 3, 99));
    assertEquals(batches.size(), one.size());
    assertSameBatches(one, four);
    assertSameBatches(one, zero);
    Batch b = one.get(0);
    assertEquals(16, b.size());
    assertEquals(3, b.channels());
    assertArrayEquals(batches.get(0), b.indices(), "in order");
    assertEquals(src.pid(b.indices()[5]), b.pids()[5]);
    assertEquals(src.camid(b.indices()[5]), b.camids()[5]);
    List<Batch> otherSeed = drain(new DataLoader(src, batches, AUG, 2, 2, 100));
    assertFalse(java.util.Arrays.equals(one.get(0).images(), otherSeed.get(0).images()), "the seed matters");
  }

  @Test
  void corruptImagesAreSkippedCountedAndReplacedOrDropped() {
    Synthetic src = new Synthetic(40, Set.of(7, 20));
    // Batch 0: pid 1 (5..9) contains bad 7 -> replaced by another pid-1 image of the batch.
    // Batch 1: pid 4 appears only through index 20 (bad) -> dropped. Batch 2: all bad -> not delivered.
    List<int[]> batches = List.of(new int[] {0, 1, 5, 7, 9, 2}, new int[] {20, 30, 31}, new int[] {7, 20},
        new int[] {10, 11});
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    List<Batch> out;
    DataLoader loader;
    try {
      System.setErr(new PrintStream(captured, true));
      loader = new DataLoader(src, batches, Transform.identity(), 2, 2, 5);
      out = drain(loader);
    } finally {
      System.setErr(err);
    }
    assertEquals(3, out.size(), "the empty batch is not delivered");
    Batch b0 = out.get(0);
    assertEquals(6, b0.size());
    assertEquals(1, b0.pids()[3]);
    assertEquals(9, b0.indices()[3], "nearest same-pid image, later first");
    assertArrayEquals(b0.image(4).data(), b0.image(3).data());
    Batch b1 = out.get(1);
    assertArrayEquals(new int[] {30, 31}, b1.indices(), "no other pid-4 image: dropped");
    assertArrayEquals(new int[] {10, 11}, out.get(2).indices());
    assertEquals(4, loader.skippedImages());
    String log = captured.toString();
    assertEquals(2, log.lines().count(), "one line per bad image: " + log);
    assertTrue(log.contains("synthetic #7") && log.contains("synthetic #20"), log);
  }

  @Test
  void corruptJpegFileInTheMiddleOfARealRun() throws IOException {
    List<Path> files = new ArrayList<>();
    int[] pids = new int[12];
    for (int i = 0; i < 12; i++) {
      files.add(Fixtures.image(tmp.resolve(i + ".jpg"), 16, 32, i, "jpg"));
      pids[i] = i / 3;
    }
    Files.write(files.get(5), new byte[] {(byte) 0xff, (byte) 0xd8, 1, 2, 3}); // a JPEG header and garbage
    FileImageSource src = new FileImageSource("t", files, pids, new int[12], 3);
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    try {
      System.setErr(new PrintStream(captured, true));
      DataLoader l = DataLoader.sequential(src, 4, Transforms.resize(64, 32), 2);
      List<Batch> out = drain(l);
      assertEquals(3, out.size());
      assertArrayEquals(new int[] {4, 6, 7}, out.get(1).indices(), "sequential loaders leave failures out");
      assertEquals(64, out.get(1).height());
      assertEquals(1, l.skippedImages());
    } finally {
      System.setErr(err);
    }
    assertTrue(captured.toString().contains(files.get(5).toString()), captured.toString());
  }

  @Test
  void closeStopsTheWorkers() throws InterruptedException {
    Synthetic src = new Synthetic(500, Set.of());
    List<int[]> batches = new PKSampler(src.pids(), 4, 4, 1).epoch(0);
    DataLoader l = new DataLoader(src, batches, AUG, 3, 4, 1);
    assertTrue(l.hasNext());
    l.next();
    String prefix = l.threadNamePrefix();
    assertTrue(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().startsWith(prefix)));
    l.close();
    assertTrue(l.isTerminated());
    assertFalse(l.hasNext());
    for (int i = 0; i < 50 && Thread.getAllStackTraces().keySet().stream()
        .anyMatch(t -> t.getName().startsWith(prefix) && t.isAlive()); i++) Thread.sleep(20);
    assertFalse(Thread.getAllStackTraces().keySet().stream()
        .anyMatch(t -> t.getName().startsWith(prefix) && t.isAlive()), "worker threads ended");
  }

  @Test
  void transformErrorsAreNotSwallowed() {
    Synthetic src = new Synthetic(10, Set.of());
    Transform broken = (img, rnd) -> {
      throw new IllegalStateException("bug");
    };
    try (DataLoader l = new DataLoader(src, List.of(new int[] {0, 1}), broken, 1, 1, 0)) {
      assertThrows(IllegalStateException.class, l::next);
    }
  }

  @Test
  void throughputSanity() {
    Synthetic src = new Synthetic(1000, Set.of());
    List<int[]> batches = new PKSampler(src.pids(), 8, 4, 2).epoch(0);
    long t0 = System.nanoTime();
    int images = 0;
    for (Batch b : drain(new DataLoader(src, batches, AUG, 2, 4, 3))) images += b.size();
    double s = (System.nanoTime() - t0) / 1e9;
    assertTrue(images > 0);
    System.out.printf("DataLoaderTest: %d synthetic 12x8 images in %.3f s (%.0f images/s, 2 workers)%n", images, s,
        images / s);
  }
}
