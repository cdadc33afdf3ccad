package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;

class ReadersTest {
  @TempDir Path tmp;

  private Path market() throws IOException {
    Path m = tmp.resolve("Market-1501-v15.09.15");
    Fixtures.files(m.resolve("bounding_box_train"), "0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg",
        "0007_c3s2_000100_01.jpg", "0007_c6s4_000200_02.jpg", "0010_c5s3_000300_01.jpg", "Thumbs.db");
    Fixtures.files(m.resolve("query"), "0002_c1s1_001051_00.jpg", "0007_c2s1_000001_00.jpg");
    Fixtures.files(m.resolve("bounding_box_test"), "-1_c1s1_000401_03.jpg", "0000_c6s1_000151_01.jpg",
        "0002_c4s1_000076_01.jpg", "0007_c2s1_000201_01.jpg", "readme.txt");
    return m;
  }

  @Test
  void market1501LayoutPidsCamerasAndRelabelling() throws IOException {
    market();
    ReidDataset d = Market1501.open(tmp, 3); // finds the versioned subfolder
    assertEquals("market1501", d.name());
    ImageSource tr = d.train();
    assertEquals(5, tr.size(), "Thumbs.db ignored");
    assertEquals(3, tr.numClasses());
    assertArrayEquals(new int[] {0, 0, 1, 1, 2}, tr.pids(), "2, 7, 10 -> 0, 1, 2 (ascending)");
    assertEquals(7, tr.originalPid(2));
    assertArrayEquals(new int[] {0, 1, 2, 5, 4}, tr.camids(), "c1 -> camid 0");
    assertTrue(tr.describe(0).endsWith("0002_c1s1_000451_03.jpg"), tr.describe(0));
    assertArrayEquals(new int[] {2, 7}, d.query().pids(), "query keeps the data set's ids");
    ImageSource g = d.gallery();
    assertEquals(4, g.size(), "readme.txt ignored");
    assertArrayEquals(new int[] {-1, 0, 2, 7}, g.pids(), "junk -1 and distractor 0 kept in the gallery");
    assertArrayEquals(new int[] {0, 5, 3, 1}, g.camids());
    FloatImage img = tr.load(0);
    assertEquals(3, img.channels());
    assertEquals(16, img.height());
    assertEquals(8, img.width());
    assertTrue(d.summary().contains("train 5 images / 3 ids"), d.summary());
  }

  @Test
  void market1501TrainingDropsJunk() throws IOException {
    Path m = market();
    Fixtures.files(m.resolve("bounding_box_train"), "-1_c1s1_000001_01.jpg");
    assertEquals(5, Market1501.open(m, 3).train().size());
  }

  @Test
  void market1501MalformedNameIsAnErrorNamingTheFile() throws IOException {
    Path m = market();
    Fixtures.files(m.resolve("query"), "img_0001.jpg");
    IOException e = assertThrows(IOException.class, () -> Market1501.open(m, 3));
    assertTrue(e.getMessage().contains("img_0001.jpg") && e.getMessage().contains("0002_c1s1_000451_03.jpg"),
        e.getMessage());
  }

  @Test
  void market1501MissingFolders() throws IOException {
    IOException e = assertThrows(IOException.class, () -> Market1501.open(tmp, 3));
    assertTrue(e.getMessage().contains("bounding_box_train") && e.getMessage().contains(tmp.toString()), e.getMessage());
    Path m = market();
    try (var s = Files.list(m.resolve("query"))) {
      for (Path f : s.toList()) Files.delete(f);
    }
    Files.delete(m.resolve("query"));
    e = assertThrows(IOException.class, () -> Market1501.open(m, 3));
    assertTrue(e.getMessage().contains(m.resolve("query").toString()), e.getMessage());
  }

  @Test
  void dukeNames() throws IOException {
    Path d = tmp.resolve("DukeMTMC-reID");
    Fixtures.files(d.resolve("bounding_box_train"), "0001_c2_f0046182.jpg", "0005_c8_f0000001.jpg");
    Fixtures.files(d.resolve("query"), "0005_c1_f0000002.jpg");
    Fixtures.files(d.resolve("bounding_box_test"), "0001_c3_f0046999.jpg", "0000_c1_f0000003.jpg");
    ReidDataset ds = DukeMtmcReid.open(tmp, 1);
    assertArrayEquals(new int[] {0, 1}, ds.train().pids());
    assertArrayEquals(new int[] {1, 7}, ds.train().camids());
    assertEquals(5, ds.train().originalPid(1));
    assertArrayEquals(new int[] {0, 1}, ds.gallery().pids());
    assertEquals(1, ds.query().load(0).channels());
    Fixtures.files(d.resolve("query"), "0002_c1s1_000451_03.jpg"); // a Market name is not a Duke name
    assertThrows(IOException.class, () -> DukeMtmcReid.open(tmp, 1));
  }

  @Test
  void msmt17Lists() throws IOException {
    Path m = tmp.resolve("MSMT17_V1");
    Fixtures.files(m.resolve("train"), "0000/0000_000_01_0303morning_0015_0.jpg", "0001/0001_002_07_0303noon_0001_1.jpg");
    Fixtures.files(m.resolve("test"), "0003/0003_000_15_0303morning_0001_0.jpg", "0004/0004_001_02_0303noon_0002_0.jpg");
    Files.writeString(m.resolve("list_train.txt"), "0000/0000_000_01_0303morning_0015_0.jpg 0\n");
    Files.writeString(m.resolve("list_val.txt"), "0001/0001_002_07_0303noon_0001_1.jpg 1\n");
    Files.writeString(m.resolve("list_query.txt"), "0003/0003_000_15_0303morning_0001_0.jpg 3\n");
    Files.writeString(m.resolve("list_gallery.txt"), "0004/0004_001_02_0303noon_0002_0.jpg 4\n\n");
    ReidDataset d = Msmt17.open(tmp, 3);
    assertEquals(2, d.train().size(), "list_val.txt is part of training");
    assertArrayEquals(new int[] {0, 6}, d.train().camids());
    assertArrayEquals(new int[] {14}, d.query().camids());
    assertArrayEquals(new int[] {4}, d.gallery().pids());
    assertEquals(3, d.gallery().load(0).channels());
    Files.writeString(m.resolve("list_query.txt"), "0003/0003_000_15_0303morning_0001_0.jpg three\n");
    IOException e = assertThrows(IOException.class, () -> Msmt17.open(tmp, 3));
    assertTrue(e.getMessage().contains("list_query.txt line 1") && e.getMessage().contains("three"), e.getMessage());
    Files.writeString(m.resolve("list_query.txt"), "0003/0003_000_15_0303morning_0001_0.jpg 3\n");
    Files.delete(m.resolve("list_gallery.txt"));
    e = assertThrows(IOException.class, () -> Msmt17.open(tmp, 3));
    assertTrue(e.getMessage().contains("list_gallery.txt"), e.getMessage());
    assertThrows(IOException.class, () -> Msmt17.open(tmp.resolve("none"), 3));
  }

  @Test
  void csvWithHeaderRelativePathsAndOptionalCamid() throws IOException {
    Fixtures.files(tmp.resolve("img"), "a.jpg", "b.jpg", "c.jpg");
    Files.writeString(tmp.resolve("train.csv"), "path,pid,camid\nimg/a.jpg,40,1\n# comment\n\nimg/b.jpg, 12 ,2\n");
    Files.writeString(tmp.resolve("query.csv"), "img/c.jpg,12\n");
    Files.writeString(tmp.resolve("gallery.csv"), tmp.resolve("img/a.jpg").toAbsolutePath() + ",40,3\n");
    ReidDataset d = CsvDataset.open(tmp.resolve("train.csv"), tmp.resolve("query.csv"), tmp.resolve("gallery.csv"), 3);
    assertArrayEquals(new int[] {1, 0}, d.train().pids());
    assertEquals(40, d.train().originalPid(0));
    assertArrayEquals(new int[] {1, 2}, d.train().camids(), "CSV camids stored as given");
    assertArrayEquals(new int[] {0}, d.query().camids(), "camid defaults to 0");
    assertArrayEquals(new int[] {40}, d.gallery().pids());
    assertNotNull(d.gallery().load(0));
    Files.writeString(tmp.resolve("query.csv"), "img/c.jpg,12\nimg/a.jpg,x\n");
    IOException e = assertThrows(IOException.class,
        () -> CsvDataset.open(tmp.resolve("train.csv"), tmp.resolve("query.csv"), tmp.resolve("gallery.csv"), 3));
    assertTrue(e.getMessage().contains("query.csv line 2") && e.getMessage().contains("\"x\""), e.getMessage());
    e = assertThrows(IOException.class, () -> CsvDataset.read("csv train", tmp.resolve("nope.csv"), 3, true));
    assertTrue(e.getMessage().contains("nope.csv"), e.getMessage());
  }

  /**
   * Only a first line that looks like a header is skipped: a data line with a mistyped pid or four
   * fields is an error naming the line; junk rows (pid -1) are left out of the training list.
   */
  @Test
  void csvFirstLineIsAHeaderOnlyWhenItLooksLikeOne() throws IOException {
    Fixtures.files(tmp.resolve("img"), "p0_0.png", "p0_1.png", "p1_0.png");
    Path csv = tmp.resolve("t.csv");
    Files.writeString(csv, "img/p0_0.png,O,0\nimg/p0_1.png,0,0\n");
    IOException e = assertThrows(IOException.class, () -> CsvDataset.read("csv train", csv, 3, true));
    assertTrue(e.getMessage().contains("line 1") && e.getMessage().contains("\"O\""), e.getMessage());
    Files.writeString(csv, "img/p0_0.png,0,0,7\nimg/p0_1.png,0,0\n");
    e = assertThrows(IOException.class, () -> CsvDataset.read("csv train", csv, 3, true));
    assertTrue(e.getMessage().contains("line 1"), e.getMessage());
    Files.writeString(csv, "file,identity,camera\nimg/p0_0.png,5,0\nimg/p1_0.png,-1,0\nimg/p0_1.png,5,1\n");
    ImageSource train = CsvDataset.read("csv train", csv, 3, true);
    assertEquals(2, train.size(), "header skipped, junk row left out");
    assertEquals(1, train.numClasses());
    ImageSource gallery = CsvDataset.read("csv gallery", csv, 3, false);
    assertEquals(3, gallery.size(), "junk stays in a gallery, where the protocol drops it");
  }

  @Test
  void openFromConfig() throws IOException {
    market();
    ReidDataset d = ReidDataset.open(TrainConfig.load(null, List.of("DATALOADER.DATASET=market1501",
        "DATALOADER.ROOT=" + tmp)));
    assertEquals(5, d.train().size());
    FashionMnistTest.writeFixture(tmp, "train", 50, 3);
    int[] testLabels = FashionMnistTest.writeFixture(tmp, "t10k", 30, 4);
    ReidDataset f = ReidDataset.open(TrainConfig.load(Path.of("configs/quickstart.yml"),
        List.of("DATALOADER.ROOT=" + tmp)));
    assertEquals("fashion-mnist", f.name());
    assertEquals(50, f.train().size());
    assertEquals(10, f.train().numClasses());
    assertEquals(30, f.query().size() + f.gallery().size());
    assertEquals(30, f.query().size(), "fewer than 100 per class: all are queries");
    assertEquals(testLabels[0], f.query().pid(0));
    assertEquals(0, f.query().camid(0));
    FloatImage img = f.train().load(7);
    assertEquals(1, img.channels());
    assertEquals(28, img.height());
    FashionMnist.Split train = FashionMnist.load(tmp, "train");
    assertArrayEquals(train.pixels(7), img.data());
    assertTrue(f.train().describe(7).contains("#7"));
    Path csv = tmp.resolve("missing.csv");
    IOException e = assertThrows(IOException.class, () -> ReidDataset.open(TrainConfig.load(null, List.of(
        "DATALOADER.DATASET=csv", "DATALOADER.TRAIN_CSV=" + csv, "DATALOADER.QUERY_CSV=" + csv,
        "DATALOADER.GALLERY_CSV=" + csv))));
    assertTrue(e.getMessage().contains("missing.csv"));
  }
}
