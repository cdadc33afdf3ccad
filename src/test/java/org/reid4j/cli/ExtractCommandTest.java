package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.cli.EvalCommandTest.Run;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.Denoise;
import org.reid4j.data.FileImageSource;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.io.FeatureDir;
import org.reid4j.io.Npy;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.model.ReidModel;
import org.reid4j.serve.Extractor;
import org.reid4j.serve.ModelEmbedder;
import org.reid4j.train.Checkpoints;
import org.reid4j.train.Optimizers;

/** {@code reid4j extract} end to end on tiny models and images written to a temporary folder. */
class ExtractCommandTest {
  @TempDir Path tmp;

  static TrainConfig config() {
    return TrainConfig.defaults().with(List.of("MODEL.BACKBONE=small_cnn", "MODEL.EMBED_DIM=16",
        "INPUT.SIZE_TEST=[24,12]", "INPUT.SIZE_TRAIN=[24,12]", "TEST.BATCH_SIZE=2", "OUTPUT_DIR=unused"));
  }

  static Path png(Path f, int w, int h, long seed) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    SplittableRandom r = new SplittableRandom(seed);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, r.nextInt(1 << 24));
    Files.createDirectories(f.getParent());
    ImageIO.write(img, f.toString().endsWith(".jpg") ? "jpg" : "png", f.toFile());
    return f;
  }

  /** A folder with two good images (one in a subfolder), a corrupt .jpg and a non-image file. */
  private Path crops() throws Exception {
    Path d = tmp.resolve("crops");
    png(d.resolve("a.png"), 10, 20, 1);
    png(d.resolve("b/c.jpg"), 16, 30, 2);
    Files.writeString(d.resolve("broken.jpg"), "not a jpeg");
    Files.writeString(d.resolve("notes.txt"), "ignored");
    return d;
  }

  static ReidModel model(TrainConfig cfg, int classes) {
    org.bytedeco.pytorch.global.torch.manual_seed(3);
    ReidModel m = ReidModel.build(cfg.model(), 3, classes);
    m.eval();
    return m;
  }

  @Test
  void imagesFolderSkipsTheCorruptFileAndListsOnlyKeptImages() throws Exception {
    TrainConfig cfg = config();
    Path cfgFile = tmp.resolve("cfg.yml");
    cfg.save(cfgFile);
    Path modelFile = tmp.resolve("model.pt");
    Path crops = crops();
    Path out = tmp.resolve("out");
    try (ReidModel m = model(cfg, 4)) {
      m.save(modelFile);
      Run r = EvalCommandTest.cli("extract", "--checkpoint", modelFile.toString(), "--config", cfgFile.toString(),
          "--images", crops.toString(), "--out", out.toString(), "--flip", "--normalize");
      assertEquals(0, r.code(), r.err());
      assertTrue(r.err().contains("broken.jpg"), r.err());
      assertEquals("a.png\nb/c.jpg\n", Files.readString(out.resolve("files.txt")));
      FloatMatrix f = Npy.read(out.resolve("feats.npy")).asMatrix();
      assertEquals(2, f.rows());
      assertEquals(16, f.cols());
      FileImageSource src = new FileImageSource("x", List.of(crops.resolve("a.png"), crops.resolve("b/c.jpg")),
          new int[2], new int[2], 3);
      try (ModelEmbedder e = ModelEmbedder.of(m, cfg, null)) {
        FloatMatrix want = Extractor.extract(e, src, Extractor.Options.defaults().withFlip(true).withNormalize(true))
            .features();
        assertArrayEquals(want.data(), f.data(), 1e-5f);
      }
      String json = Files.readString(out.resolve("extract.json"));
      assertTrue(json.contains("broken.jpg") && json.contains("\"kept\" : 2"), json);
    }
  }

  /** A train-style checkpoint of a tiny random small_cnn in dir/run/checkpoints/best.pt. */
  static Path checkpoint(Path dir) throws Exception {
    TrainConfig cfg = config();
    try (ReidModel m = model(cfg, 5)) {
      Optimizers.Groups adam = Optimizers.forModel(new Optimizers.Settings("adam", 1e-3, 0, 0, 1, 0.9), m);
      Checkpoints.Meta meta = new Checkpoints.Meta(Checkpoints.FORMAT, 1, 10, 5, "test", Checkpoints.signature(m), 1,
          -1, 0, 1.0, "now", Map.of(), cfg.toYaml(), null);
      return new Checkpoints(dir.resolve("run/checkpoints")).save("best", meta,
          new Checkpoints.State(m, adam, null, null));
    }
  }

  /** CSV query (3 images, pids 0..2, cam 0) and gallery (6 images, cam 1) lists; the gallery names one missing file
   * unless {@code complete}. Returns the "csv:Q,G" data spec. */
  static String csvData(Path dir, boolean complete) throws Exception {
    Path imgs = dir.resolve("imgs");
    StringBuilder q = new StringBuilder("path,pid,camid\n"), g = new StringBuilder();
    for (int i = 0; i < 3; i++) q.append(png(imgs.resolve("q" + i + ".png"), 12, 24, i)).append(',').append(i).append(",0\n");
    for (int i = 0; i < 6; i++) g.append(png(imgs.resolve("g" + i + ".png"), 12, 24, 10 + i)).append(',').append(i % 3)
        .append(",1\n");
    if (!complete) g.append(imgs.resolve("missing.png")).append(",2,1\n");
    Path qc = Files.writeString(dir.resolve("q.csv"), q), gc = Files.writeString(dir.resolve("g.csv"), g);
    return "csv:" + qc + "," + gc;
  }

  @Test
  void labelledDataWritesTheLayoutThatEvalReads() throws Exception {
    Path ckpt = checkpoint(tmp);
    String data = csvData(tmp, false);
    Path out = tmp.resolve("feats");
    Run r = EvalCommandTest.cli("extract", "--checkpoint", ckpt.toString(), "--data", data,
        "--out", out.toString(), "--scales", "1.0,1.25", "--feat", "before", "--batch", "4");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("img/s"), r.out());
    LabelledFeatures qf = FeatureDir.readQuery(out), gf = FeatureDir.readGallery(out);
    assertEquals(3, qf.size());
    assertEquals(6, gf.size()); // the missing file is left out
    assertArrayEquals(new int[] {0, 1, 2}, qf.pids());
    assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2}, gf.pids());
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1}, gf.camids());
    Run e = EvalCommandTest.cli("eval", "--dir", out.toString(), "--backend", "java");
    assertEquals(0, e.code(), e.err());
  }

  @Test
  void torchScriptModelOnAFolder() throws Exception {
    Path ts = torchScript("Pool", "torch.cat([x.mean([2, 3]), x.amax([2, 3])], 1)");
    Path out = tmp.resolve("ts-out");
    Run r = EvalCommandTest.cli("extract", "--torchscript", ts.toString(), "--input-size", "16,8", "--mean",
        "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--images", crops().toString(), "--out", out.toString());
    assertEquals(0, r.code(), r.err());
    FloatMatrix f = Npy.read(out.resolve("feats.npy")).asMatrix();
    assertEquals(2, f.rows());
    assertEquals(6, f.cols());
  }

  @Test
  void usageAndInputErrorsAreClear() throws Exception {
    Path missing = tmp.resolve("runs/nothing/best.pt");
    Run r = EvalCommandTest.cli("extract", "--checkpoint", missing.toString(), "--images", tmp.toString(), "--out",
        tmp.resolve("o").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains(missing.toString()) && r.err().contains("no such checkpoint file"), r.err());

    Run both = EvalCommandTest.cli("extract", "--checkpoint", "a.pt", "--torchscript", "b.pt", "--images",
        tmp.toString(), "--out", "o");
    assertEquals(2, both.code());
    assertTrue(both.err().contains("exactly one model"), both.err());

    Run noSize = EvalCommandTest.cli("extract", "--torchscript", "b.pt", "--images", tmp.toString(), "--out", "o");
    assertEquals(2, noSize.code());
    assertTrue(noSize.err().contains("--input-size"), noSize.err());

    Path bare = tmp.resolve("bare.pt");
    try (ReidModel m = model(config(), 3)) {
      m.save(bare);
    }
    Run noCfg = EvalCommandTest.cli("extract", "--checkpoint", bare.toString(), "--data", "market1501:/nowhere",
        "--out", "o");
    assertEquals(2, noCfg.code());
    assertTrue(noCfg.err().contains("--config"), noCfg.err());

    Run badData = EvalCommandTest.cli("extract", "--torchscript", "b.pt", "--input-size", "4,4", "--data", "imagenet",
        "--out", "o");
    assertEquals(2, badData.code());
    assertTrue(badData.err().contains("unknown data set 'imagenet'"), badData.err());

    Run badWorkers = EvalCommandTest.cli("extract", "--torchscript", "b.pt", "--input-size", "4,4", "--workers", "-1",
        "--images", tmp.toString(), "--out", "o");
    assertEquals(2, badWorkers.code());
    assertTrue(badWorkers.err().contains("--workers must be at least 0"), badWorkers.err());
    // the model words of the Spark jobs take the same values as extract (0: decode on the calling thread)
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ExtractCommand.openModel(List.of("--torchscript", "b.pt", "--input-size", "4,4", "--workers", "-1")));
    assertTrue(e.getMessage().contains("--workers must be at least 0"), e.getMessage());
  }

  /** A TorchScript module returning {@code expression} of its input x, saved as NAME.pt in the test's folder. */
  private Path torchScript(String name, String expression) {
    Path ts = tmp.resolve(name + ".pt");
    JitModule m = new JitModule(new QualifiedName(name));
    m.define("def forward(self, x):\n    return " + expression + "\n");
    m.save(ts.toString());
    m.close();
    return ts;
  }

  @Test
  void openModelTakesExtractsZeroWorkers() throws Exception {
    Path ts = torchScript("Mean", "x.mean([2, 3])");
    try (ExtractCommand.OpenedModel m = ExtractCommand.openModel(List.of("--torchscript", ts.toString(),
        "--input-size", "4,4", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--workers", "0"))) {
      assertEquals(0, m.options().workers());
    }
  }

  @Test
  void rotateAndDenoiseReachTheExtractorAndTheReport() throws Exception {
    TrainConfig cfg = config();
    Path cfgFile = tmp.resolve("cfg.yml");
    cfg.save(cfgFile);
    Path modelFile = tmp.resolve("model.pt");
    Path crops = crops();
    Path out = tmp.resolve("out");
    try (ReidModel m = model(cfg, 4)) {
      m.save(modelFile);
      Run r = EvalCommandTest.cli("extract", "--checkpoint", modelFile.toString(), "--config", cfgFile.toString(),
          "--images", crops.toString(), "--out", out.toString(), "--rotate", "0,-90", "--denoise", "median",
          "--normalize");
      assertEquals(0, r.code(), r.err());
      FloatMatrix f = Npy.read(out.resolve("feats.npy")).asMatrix();
      FileImageSource src = new FileImageSource("x", List.of(crops.resolve("a.png"), crops.resolve("b/c.jpg")),
          new int[2], new int[2], 3);
      try (ModelEmbedder e = ModelEmbedder.of(m, cfg, null)) {
        Extractor.Options o = Extractor.Options.defaults().withNormalize(true);
        FloatMatrix want = Extractor.extract(e, src, o.withRotations(0, 270).withDenoise(Denoise.MEDIAN)).features();
        assertArrayEquals(want.data(), f.data(), 1e-5f);
        FloatMatrix plain = Extractor.extract(e, src, o).features();
        float diff = 0;
        for (int i = 0; i < f.data().length; i++) diff = Math.max(diff, Math.abs(plain.data()[i] - f.data()[i]));
        assertTrue(diff > 1e-4, "the options change the features");
      }
      String json = Files.readString(out.resolve("extract.json"));
      assertTrue(json.replaceAll("\\s", "").contains("\"rotations\":[0,270]"), json);
      assertTrue(json.contains("\"denoise\" : \"median\""), json);
    }
  }

  @Test
  void badRotateAndDenoiseValuesAreRefusedByName() {
    for (String[] bad : new String[][] {{"--rotate", "45"}, {"--rotate", "0,90,90"}, {"--rotate", "x"},
        {"--rotate", "720"}, {"--denoise", "blur"}}) {
      Run r = EvalCommandTest.cli("extract", "--torchscript", "b.pt", "--input-size", "4,4", "--images", tmp.toString(),
          "--out", "o", bad[0], bad[1]);
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains(bad[0]) && r.err().contains(bad[1].split(",")[bad[1].split(",").length - 1]),
          r.err());
    }
    Run r = EvalCommandTest.cli("extract", "--torchscript", "b.pt", "--input-size", "4,4", "--images", tmp.toString(),
        "--out", "o", "--rotate", "45");
    assertTrue(r.err().contains("multiples of 90"), r.err());
  }
}
