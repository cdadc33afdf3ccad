package org.reid4j.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.train.Checkpoints;
import org.reid4j.train.Optimizers;

/** Loading models for inference from training checkpoints and bare model files. */
class ModelLoaderTest {
  @TempDir Path dir;

  /** Writes model as reid4j train does: a checkpoint with metadata and the config. */
  static Path checkpoint(ReidModel model, TrainConfig cfg, Path dir) throws Exception {
    Optimizers.Groups adam = Optimizers.forModel(new Optimizers.Settings("adam", 1e-3, 0, 0, 1, 0.9), model);
    Checkpoints.Meta meta = new Checkpoints.Meta(Checkpoints.FORMAT, 3, 42, model.numClasses(), "test",
        Checkpoints.signature(model), 1, -1, 0, 1.0, "now", Map.of(), cfg.toYaml(), null);
    return new Checkpoints(dir.resolve("checkpoints")).save("best", meta, new Checkpoints.State(model, adam, null, null));
  }

  private static float[] features(ModelEmbedder e) {
    float[] x = new float[4 * 28 * 20];
    for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i * 0.37);
    return e.embed(x, 4, 28, 20).data();
  }

  /**
   * A checkpoint whose bytes were damaged after it was written, or that holds NaN weights, is refused
   * on load, naming the entry (it used to give features off by up to 223, or all-NaN features, exit 0).
   */
  @Test
  void damagedOrNonFiniteWeightsAreRefused() throws Exception {
    TrainConfig cfg = ServeFixtures.config("small_cnn", 1);
    try (ReidModel m = ServeFixtures.model(ModelSpec.from(cfg.model()), 1, 7, 4)) {
      Tensor w = m.stateDict().get("backbone.conv2.weight");
      assertNotNull(w, m.stateDict().keySet().toString());
      try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
        w.fill_(new org.bytedeco.pytorch.Scalar(0.123456789f)); // a byte pattern to find in the file
      }
      Path f = checkpoint(m, cfg, dir.resolve("flip"));
      ModelLoader.load(f, null, List.of()).model().close(); // intact: loads
      byte[] bytes = Files.readAllBytes(f);
      int bits = Float.floatToIntBits(0.123456789f);
      byte[] pattern = {(byte) bits, (byte) (bits >> 8), (byte) (bits >> 16), (byte) (bits >> 24)};
      int at = indexOf(bytes, pattern);
      assertTrue(at > 0, "the weight's bytes are in the archive");
      for (int i = 0; i < 40; i++) bytes[at + 4 * i + 3] ^= 0x40; // 40 flipped bytes, as in the report
      Files.write(f, bytes);
      IOException e = assertThrows(IOException.class, () -> ModelLoader.load(f, null, List.of()));
      assertTrue(e.getMessage().contains("damaged") && e.getMessage().contains("backbone.conv2.weight"),
          e.getMessage());

      try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
        w.fill_(new org.bytedeco.pytorch.Scalar(Float.NaN));
      }
      Path nan = checkpoint(m, cfg, dir.resolve("nan"));
      e = assertThrows(IOException.class, () -> ModelLoader.load(nan, null, List.of()));
      assertTrue(e.getMessage().contains("non-finite") && e.getMessage().contains("backbone.conv2.weight"),
          e.getMessage());
    }
  }

  /** MODEL.NECK=none over a BNNeck checkpoint used to drop the neck's weights silently. */
  @Test
  void overridesThatWouldDropWeightsAreRefused() throws Exception {
    TrainConfig cfg = ServeFixtures.config("small_cnn", 1);
    assertEquals("bnneck", cfg.model().neck());
    try (ReidModel m = ServeFixtures.model(ModelSpec.from(cfg.model()), 1, 7, 4)) {
      Path f = checkpoint(m, cfg, dir.resolve("neck"));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> ModelLoader.load(f, null, List.of("MODEL.NECK=none")));
      assertTrue(e.getMessage().contains("does not use") && e.getMessage().contains("neck"), e.getMessage());
    }
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
      return i;
    }
    return -1;
  }

  @Test
  void checkpointLoadsWithItsStoredConfig() throws Exception {
    TrainConfig cfg = ServeFixtures.config("small_cnn", 1);
    try (ReidModel m = ServeFixtures.model(ModelSpec.from(cfg.model()), 1, 7, 4)) {
      Path f = checkpoint(m, cfg, dir);
      ModelLoader.Loaded l = ModelLoader.load(f, null, List.of());
      assertNotNull(l.metaOrNull());
      assertEquals(7, l.model().numClasses());
      assertEquals(cfg, l.config());
      try (ModelEmbedder a = ModelLoader.embedder(l, null);
          ModelEmbedder b = ModelEmbedder.of(m, cfg, null)) {
        assertArrayEquals(features(b), features(a), 0f);
        assertArrayEquals(new int[] {28, 20}, a.inputSize());
        assertTrue(a.toString().contains("epoch 3"), a.toString());
      }
    }
  }

  @Test
  void bareModelFileNeedsAConfig() throws Exception {
    TrainConfig cfg = ServeFixtures.config("small_cnn", 1);
    Path f = dir.resolve("model.pt");
    try (ReidModel m = ServeFixtures.model(ModelSpec.from(cfg.model()), 1, 4, 5)) {
      m.save(f);
      var e = assertThrows(IllegalArgumentException.class, () -> ModelLoader.load(f, null, List.of()));
      assertTrue(e.getMessage().contains("--config"), e.getMessage());
      ModelLoader.Loaded l = ModelLoader.load(f, cfg, List.of());
      assertNull(l.metaOrNull());
      assertEquals(4, l.model().numClasses());
      try (ModelEmbedder a = ModelLoader.embedder(l, ModelEmbedder.Feature.BEFORE);
          ModelEmbedder b = ModelEmbedder.of(m, cfg, ModelEmbedder.Feature.BEFORE)) {
        assertArrayEquals(features(b), features(a), 0f);
      }
    }
  }

  @Test
  void aConfigForAnotherArchitectureNamesTheMismatch() throws Exception {
    TrainConfig cfg = ServeFixtures.config("small_cnn", 1);
    Path f = dir.resolve("model.pt");
    try (ReidModel m = ServeFixtures.model(ModelSpec.from(cfg.model()), 1, 4, 5)) {
      m.save(f);
    }
    var e = assertThrows(IllegalArgumentException.class,
        () -> ModelLoader.load(f, cfg, List.of("MODEL.EMBED_DIM=32")));
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("shape"), e.getMessage());
    var e2 = assertThrows(IllegalArgumentException.class, () -> ModelLoader.load(f, ServeFixtures.config("small_cnn", 3),
        List.of()));
    assertTrue(e2.getMessage().contains("backbone.conv1.weight"), e2.getMessage());
  }

  @Test
  void missingOrForeignFilesAreClearErrors() throws Exception {
    Path missing = dir.resolve("runs/x/best.pt");
    var e = assertThrows(NoSuchFileException.class, () -> ModelLoader.load(missing, null, List.of()));
    assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("no such checkpoint"),
        e.getMessage());
    Path text = java.nio.file.Files.writeString(dir.resolve("notes.pt"), "hello");
    var e2 = assertThrows(java.io.IOException.class, () -> ModelLoader.load(text, null, List.of()));
    assertTrue(e2.getMessage().contains(text + " is not a reid4j checkpoint"), e2.getMessage());
    Path ts = TorchScripts.script(dir.resolve("ts.pt"), "def forward(self, x):\n    return x.mean([2, 3])\n");
    var e3 = assertThrows(Exception.class, () -> ModelLoader.load(ts, ServeFixtures.config("small_cnn", 1), List.of()));
    assertTrue(e3.getMessage().contains("--torchscript"), e3.getMessage());
  }
}
