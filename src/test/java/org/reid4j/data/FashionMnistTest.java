package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.kernels.FloatMatrix;

class FashionMnistTest {
  @TempDir Path tmp;

  /** Writes a Fashion-MNIST-layout fixture with n images and random labels; returns the labels. */
  static int[] writeFixture(Path dir, String which, int n, long seed) throws IOException {
    SplittableRandom r = new SplittableRandom(seed);
    byte[] img = new byte[n * 28 * 28];
    byte[] lab = new byte[n];
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) {
      labels[i] = r.nextInt(10);
      lab[i] = (byte) labels[i];
      for (int k = 0; k < 784; k++) img[i * 784 + k] = (byte) r.nextInt(256);
    }
    org.reid4j.io.IdxTest.write(dir.resolve(which + "-images-idx3-ubyte.gz"), new int[] {n, 28, 28}, img, true);
    org.reid4j.io.IdxTest.write(dir.resolve(which + "-labels-idx1-ubyte.gz"), new int[] {n}, lab, true);
    return labels;
  }

  @Test
  void retrievalSplitTakesTheFirstHundredOfEachClassInFileOrder() throws IOException {
    int[] labels = writeFixture(tmp, "t10k", 1500, 7);
    FashionMnist.Split test = FashionMnist.load(tmp, "t10k");
    FashionMnist.RetrievalSplit s = FashionMnist.retrievalSplit(test);
    int[] perClass = new int[10];
    for (int l : labels) perClass[l]++;
    int expectedQueries = Arrays.stream(perClass).map(c -> Math.min(c, 100)).sum();
    assertEquals(expectedQueries, s.queryIdx().length);
    assertEquals(1500 - expectedQueries, s.galleryIdx().length);
    // Reference: walk the file, count per class.
    int[] seen = new int[10];
    int qi = 0;
    for (int i = 0; i < labels.length; i++) {
      if (seen[labels[i]]++ < 100) assertEquals(i, s.queryIdx()[qi++], "query " + qi);
    }
    int[] all = new int[1500];
    for (int i : s.queryIdx()) all[i]++;
    for (int i : s.galleryIdx()) all[i]++;
    for (int c : all) assertEquals(1, c, "every image is in exactly one of query and gallery");
    FloatMatrix f = FashionMnist.pixelFeatures(test, s.queryIdx());
    assertEquals(784, f.cols());
    assertEquals((test.images().unsigned(s.queryIdx()[3] * 784 + 5)) / 255f, f.get(3, 5));
    assertArrayEquals(Arrays.stream(s.queryIdx()).map(i -> labels[i]).toArray(), FashionMnist.labels(test, s.queryIdx()));
  }

  @Test
  void missingDataSaysHowToInstallIt() {
    IOException e = assertThrows(IOException.class, () -> FashionMnist.load(tmp.resolve("nowhere"), "t10k"));
    assertTrue(e.getMessage().contains("apt-get install -y dataset-fashion-mnist"), e.getMessage());
  }

  @Test
  void mismatchedCountsAreAnError() throws IOException {
    writeFixture(tmp, "t10k", 20, 1);
    org.reid4j.io.IdxTest.write(tmp.resolve("t10k-labels-idx1-ubyte.gz"), new int[] {19}, new byte[19], true);
    IOException e = assertThrows(IOException.class, () -> FashionMnist.load(tmp, "t10k"));
    assertTrue(e.getMessage().contains("do not match"), e.getMessage());
  }
}
