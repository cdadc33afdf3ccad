package org.reid4j.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.data.ImageSource;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;

/**
 * The TorchScript embedder on modules scripted from Java ({@link TorchScripts}): a scripted small_cnn
 * must give the features of the reid4j model it was made from; output forms and every load error.
 */
class TorchScriptEmbedderTest {
  @TempDir Path dir;

  private static final int[] SIZE = {28, 20};
  private static final double[] MEAN = {0.5};
  private static final double[] STD = {0.25};

  private static float[] random(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
    return x;
  }

  @Test
  void scriptedSmallCnnGivesTheFeaturesOfTheReidModel() throws Exception {
    for (int lastStride : new int[] {1, 2}) {
      try (ReidModel model = ServeFixtures.model(ModelSpec.defaults("small_cnn").withEmbedDim(16)
          .withLastStride(lastStride), 1, 5, 3)) {
        scriptedEqualsReidModel(model);
      }
    }
  }

  private void scriptedEqualsReidModel(ReidModel model) throws Exception {
    String tag = "last stride " + model.spec().lastStride() + ", feature ";
    for (ModelEmbedder.Feature f : ModelEmbedder.Feature.values()) {
      Path file = TorchScripts.smallCnn(model, dir.resolve("small_" + model.spec().lastStride() + f + ".pt"),
          f == ModelEmbedder.Feature.AFTER);
      try (TorchScriptEmbedder ts = new TorchScriptEmbedder(file, 1, SIZE, MEAN, STD);
          ModelEmbedder me = new ModelEmbedder(model, SIZE, MEAN, STD, f, false, "reid4j model")) {
        assertEquals(model.featureDim(), ts.dim());
        assertEquals(1, ts.channels());
        float[] x = random(5 * 28 * 20, 7);
        FloatMatrix a = ts.embed(x, 5, 28, 20), b = me.embed(x, 5, 28, 20);
        assertArrayEquals(b.data(), a.data(), 1e-5f, tag + f);
        // and through the extractor, with flip TTA and a second scale
        ImageSource src = ServeFixtures.images(6, 1, 9, Set.of());
        Extractor.Options o = Extractor.Options.defaults().withFlip(true).withScales(1.0, 1.2).withBatchSize(4);
        assertArrayEquals(Extractor.extract(me, src, o).features().data(),
            Extractor.extract(ts, src, o).features().data(), 1e-5f, tag + f);
      }
    }
  }

  @Test
  void tupleListAndPooledMapOutputsAreAccepted() throws Exception {
    String[] sources = {
        "def forward(self, x):\n    f = x.mean([2, 3]) * 2.0\n    return (f, x)\n",
        "def forward(self, x):\n    f = x.mean([2, 3]) * 2.0\n    return [f, f + 1.0]\n",
        "def forward(self, x):\n    return x.mean([2, 3], keepdim=True) * 2.0\n"};
    float[] x = random(2 * 3 * 4 * 5, 1);
    for (int k = 0; k < sources.length; k++) {
      Path f = TorchScripts.script(dir.resolve("out" + k + ".pt"), sources[k]);
      try (TorchScriptEmbedder ts = new TorchScriptEmbedder(f, 3, new int[] {4, 5}, new double[] {0, 0, 0},
          new double[] {1, 1, 1})) {
        assertEquals(3, ts.dim(), sources[k]);
        FloatMatrix m = ts.embed(x, 2, 4, 5);
        for (int n = 0; n < 2; n++)
          for (int c = 0; c < 3; c++) {
            double s = 0;
            for (int p = 0; p < 20; p++) s += x[(n * 3 + c) * 20 + p];
            assertEquals(2 * s / 20, m.get(n, c), 1e-5, sources[k]);
          }
      }
    }
  }

  @Test
  void missingFileIsAClearError() {
    Path f = dir.resolve("nope.pt");
    var e = assertThrows(NoSuchFileException.class, () -> new TorchScriptEmbedder(f, 1, SIZE, MEAN, STD));
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("no such TorchScript file"),
        e.getMessage());
  }

  @Test
  void aFileThatIsNotAnArchiveIsAClearError() throws Exception {
    Path f = Files.writeString(dir.resolve("model.pt"), "not a model");
    var e = assertThrows(IOException.class, () -> new TorchScriptEmbedder(f, 1, SIZE, MEAN, STD));
    assertTrue(e.getMessage().startsWith(f + " is not a TorchScript archive"), e.getMessage());
  }

  @Test
  void aReid4jModelFileIsNotTakenForTorchScript() throws Exception {
    Path f = dir.resolve("weights.pt");
    try (ReidModel m = ServeFixtures.smallCnn(1, 1)) {
      m.save(f);
    }
    var e = assertThrows(IOException.class, () -> new TorchScriptEmbedder(f, 1, SIZE, MEAN, STD));
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("--checkpoint"), e.getMessage());
  }

  @Test
  void wrongOutputRankIsAClearError() {
    Path f = TorchScripts.script(dir.resolve("map.pt"), "def forward(self, x):\n    return x * 2.0\n");
    var e = assertThrows(IOException.class, () -> new TorchScriptEmbedder(f, 1, SIZE, MEAN, STD));
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("shape [1, 1, 28, 20]")
        && e.getMessage().contains("expected features [1, D]"), e.getMessage());
    Path g = TorchScripts.script(dir.resolve("int.pt"), "def forward(self, x):\n    return 3\n");
    var e2 = assertThrows(IOException.class, () -> new TorchScriptEmbedder(g, 1, SIZE, MEAN, STD));
    assertTrue(e2.getMessage().contains("returned a Int"), e2.getMessage());
  }

  @Test
  void wrongChannelCountIsAClearError() throws Exception {
    try (ReidModel model = ServeFixtures.smallCnn(1, 3)) {
      Path f = TorchScripts.smallCnn(model, dir.resolve("grey.pt"), true);
      var e = assertThrows(IOException.class, () -> new TorchScriptEmbedder(f, 3, SIZE, new double[] {0.5, 0.5, 0.5},
          new double[] {0.25, 0.25, 0.25}));
      assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("[1, 3, 28, 20]")
          && e.getMessage().contains("channel count 3"), e.getMessage());
      try (TorchScriptEmbedder ok = new TorchScriptEmbedder(f, 1, SIZE, MEAN, STD)) {
        var e2 = assertThrows(IllegalArgumentException.class, () -> ok.embed(new float[3 * 28 * 20], 1, 28, 20));
        assertTrue(e2.getMessage().contains("3-channel images"), e2.getMessage());
      }
    }
    assertThrows(IllegalArgumentException.class, () -> new TorchScriptEmbedder(dir.resolve("x.pt"), 3, SIZE, MEAN, STD));
  }
}
