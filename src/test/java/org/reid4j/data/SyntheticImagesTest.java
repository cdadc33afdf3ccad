package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticImagesTest {
  @TempDir Path tmp;

  private static final SyntheticImages.Spec SPEC = new SyntheticImages.Spec(6, 4, 3, 2, 32, 64, 5, 3, 7);

  @Test
  void writesTheMarketLayoutThatTheReaderReads() throws IOException {
    Path root = tmp.resolve("Market-1501-v15.09.15");
    SyntheticImages.Counts c = SyntheticImages.write(root, SPEC);
    assertEquals(6 * 3 * 2, c.train());
    assertEquals(4 * 3, c.query());
    assertEquals(4 * 3 * 2 + 5 + 3, c.gallery());
    assertTrue(c.summary().contains("query 12 images / 4 ids"), c.summary());

    ReidDataset d = Market1501.open(tmp, 3); // found as the versioned subfolder
    ImageSource tr = d.train(), q = d.query(), g = d.gallery();
    assertEquals(c.train(), tr.size());
    assertEquals(6, tr.numClasses());
    for (int i = 0; i < tr.size(); i++) {
      assertEquals(i / 6, tr.pid(i), "relabelled 0..5 in file order");
      assertEquals(tr.pid(i) + 1, tr.originalPid(i), "training pids 1..6");
      assertEquals(i / 2 % 3, tr.camid(i));
    }
    assertEquals(c.query(), q.size());
    assertArrayEquals(new int[] {7, 8, 9, 10}, Arrays.stream(q.pids()).distinct().sorted().toArray(), "test pids 7..10");
    assertArrayEquals(new int[] {0, 1, 2}, Arrays.stream(q.camids()).distinct().sorted().toArray());
    for (int pid = 7; pid <= 10; pid++) {
      final int p = pid;
      assertEquals(3, Arrays.stream(q.pids()).filter(x -> x == p).count(), "one query per identity and camera");
    }
    assertEquals(c.gallery(), g.size());
    int[] gp = g.pids();
    assertEquals(5, Arrays.stream(gp).filter(x -> x == 0).count(), "distractors");
    assertEquals(3, Arrays.stream(gp).filter(x -> x == -1).count(), "junk");
    assertEquals(24, Arrays.stream(gp).filter(x -> x >= 7 && x <= 10).count());
    for (int i : new int[] {0, tr.size() - 1}) {
      FloatImage img = tr.load(i);
      assertEquals(3, img.channels());
      assertEquals(32, img.width());
      assertEquals(64, img.height());
    }
    FloatImage img = g.load(g.size() - 1);
    assertEquals(32, img.width());
    assertEquals(64, img.height());
  }

  @Test
  void sameSeedSameBytesOtherSeedOtherImages() throws IOException {
    Path a = tmp.resolve("a"), b = tmp.resolve("b"), c = tmp.resolve("c");
    SyntheticImages.write(a, SPEC);
    SyntheticImages.write(b, SPEC);
    SyntheticImages.write(c, new SyntheticImages.Spec(6, 4, 3, 2, 32, 64, 5, 3, 8));
    List<Path> fa = files(a), fb = files(b), fc = files(c);
    assertEquals(fa.stream().map(a::relativize).toList(), fb.stream().map(b::relativize).toList());
    assertEquals(fa.stream().map(a::relativize).toList(), fc.stream().map(c::relativize).toList(), "names do not depend on the seed");
    int differ = 0;
    for (int i = 0; i < fa.size(); i++) {
      assertArrayEquals(Files.readAllBytes(fa.get(i)), Files.readAllBytes(fb.get(i)), fa.get(i).toString());
      if (!Arrays.equals(Files.readAllBytes(fa.get(i)), Files.readAllBytes(fc.get(i)))) differ++;
    }
    assertEquals(fa.size(), differ, "another seed changes every image");
  }

  @Test
  void identityIsVisibleAcrossCameras() throws IOException {
    // a coarse colour descriptor (4 x 8 block means): images of one identity are closer to each other
    // than to other identities' images, so that a network has something to learn
    SyntheticImages.write(tmp, new SyntheticImages.Spec(12, 1, 4, 3, 64, 128, 0, 0, 3));
    ImageSource tr = Market1501.open(tmp, 3).train();
    float[][] desc = new float[tr.size()][];
    for (int i = 0; i < tr.size(); i++) desc[i] = blocks(tr.load(i));
    double same = 0, other = 0;
    long nSame = 0, nOther = 0;
    int nearestSameId = 0;
    for (int i = 0; i < tr.size(); i++) {
      double best = Double.MAX_VALUE;
      int bestJ = -1;
      for (int j = 0; j < tr.size(); j++) {
        if (i == j) continue;
        double d = 0;
        for (int k = 0; k < desc[i].length; k++) d += (desc[i][k] - desc[j][k]) * (desc[i][k] - desc[j][k]);
        if (tr.pid(i) == tr.pid(j)) { same += d; nSame++; } else { other += d; nOther++; }
        if (d < best) { best = d; bestJ = j; }
      }
      if (tr.pid(bestJ) == tr.pid(i)) nearestSameId++;
    }
    assertTrue(same / nSame < 0.7 * (other / nOther), "same " + same / nSame + " vs other " + other / nOther);
    assertTrue(nearestSameId > tr.size() / 3, nearestSameId + " of " + tr.size() + " nearest neighbours share the id");
    assertTrue(nearestSameId < tr.size(), "not trivially separable at the pixel level");
  }

  @Test
  void refusesANonEmptyFolderAndBadSpecs() throws IOException {
    Fixtures.files(tmp.resolve("query"), "0001_c1s1_000001_00.jpg");
    IOException e = assertThrows(IOException.class, () -> SyntheticImages.write(tmp, SPEC));
    assertTrue(e.getMessage().contains("not empty"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new SyntheticImages.Spec(6, 4, 1, 2, 32, 64, 0, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new SyntheticImages.Spec(0, 4, 3, 2, 32, 64, 0, 0, 1));
  }

  @Test
  void cliWritesImagesAndRefusesOptionsOfTheOtherMode() throws IOException {
    Path dir = tmp.resolve("cli");
    assertEquals(0, org.reid4j.cli.Main.run("synth", "--market-images", dir.toString(), "--ids", "3", "--test-ids", "2",
        "--cams", "2", "--per-cam", "1", "--width", "16", "--height", "32", "--seed", "5"));
    ReidDataset d = Market1501.open(dir, 3);
    assertEquals(6, d.train().size());
    assertEquals(4, d.query().size());
    assertEquals(4 + 2, d.gallery().size(), "2 x 2 x 1 + 2 distractors + 0 junk");
    assertEquals(2, org.reid4j.cli.Main.run("synth", "--market-images", tmp.resolve("x").toString(), "--dim", "8"));
    assertEquals(2, org.reid4j.cli.Main.run("synth", "--out", tmp.resolve("y").toString(), "--width", "8"));
    assertEquals(2, org.reid4j.cli.Main.run("synth", "--out", tmp.resolve("y").toString(), "--market-images",
        tmp.resolve("z").toString()));
    assertEquals(2, org.reid4j.cli.Main.run("synth", "--market-images", dir.toString()), "not empty");
  }

  private static float[] blocks(FloatImage img) {
    int w = img.width(), h = img.height(), bw = 4, bh = 8;
    float[] out = new float[3 * bw * bh];
    float[] px = img.data();
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) out[(c * bh + y * bh / h) * bw + x * bw / w] += px[(c * h + y) * w + x];
    return out;
  }

  private static List<Path> files(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile).sorted().toList();
    }
  }
}
