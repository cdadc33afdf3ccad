package org.reid4j.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.Denoise;
import org.reid4j.data.FloatImage;
import org.reid4j.data.ImageSource;
import org.reid4j.data.Transform;
import org.reid4j.data.Transforms;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/**
 * Extraction against the same computation done by hand with tensors: plain, flip TTA, multi-scale,
 * L2 normalisation, skipped images, and the error cases.
 */
class ExtractorTest {
  private static final float TOL = 2e-5f;
  private static ReidModel model;
  private static ModelEmbedder embedder;
  private static TrainConfig cfg;
  private static ImageSource src;

  @BeforeAll
  static void setUp() {
    cfg = ServeFixtures.config("small_cnn", 1);
    model = ServeFixtures.smallCnn(1, 11);
    embedder = ModelEmbedder.of(model, cfg, null);
    src = ServeFixtures.images(7, 1, 5, Set.of());
  }

  @AfterAll
  static void tearDown() {
    embedder.close();
    model.close();
  }

  /** Images [from, to) of src through resize(h, w) + normalise, as an [n, C, h, w] float array. */
  private static float[] prepared(ImageSource s, int[] idx, int h, int w) throws Exception {
    Transform t = Transforms.resize(h, w).then(Transforms.normalize(cfg.input().pixelMean(), cfg.input().pixelStd()));
    float[] out = null;
    for (int k = 0; k < idx.length; k++) {
      FloatImage img = t.apply(s.load(idx[k]), new SplittableRandom(0));
      if (out == null) out = new float[idx.length * img.data().length];
      System.arraycopy(img.data(), 0, out, k * img.data().length, img.data().length);
    }
    return out;
  }

  private static int[] range(int n) {
    int[] r = new int[n];
    for (int i = 0; i < n; i++) r[i] = i;
    return r;
  }

  /** model.embed on the tensor, and on its horizontal flip when flip, averaged. */
  private static float[] manual(float[] x, int n, int h, int w, boolean flip) {
    try (PointerScope s = new PointerScope()) {
      Tensor t = Tensors.fromFloats(x, Tensors.CPU, n, 1, h, w);
      Tensor f = model.embed(t);
      if (flip) f = f.add(model.embed(t.flip(3))).div(Tensors.scalar(2));
      return Tensors.toFloats(f);
    }
  }

  @Test
  void plainExtractionEqualsAManualForwardPass() throws Exception {
    Extractor.Result r = Extractor.extract(embedder, src, Extractor.Options.defaults().withBatchSize(3));
    assertEquals(7, r.features().rows());
    assertEquals(model.featureDim(), r.features().cols());
    assertArrayEquals(range(7), r.kept());
    assertEquals(0, r.skipped().length);
    assertArrayEquals(manual(prepared(src, range(7), 28, 20), 7, 28, 20, false), r.features().data(), TOL);
  }

  @Test
  void flipAveragesTheFeatureOfTheMirroredImage() throws Exception {
    Extractor.Result r = Extractor.extract(embedder, src, Extractor.Options.defaults().withFlip(true).withWorkers(0));
    float[] want = manual(prepared(src, range(7), 28, 20), 7, 28, 20, true);
    assertArrayEquals(want, r.features().data(), TOL);
    float[] plain = manual(prepared(src, range(7), 28, 20), 7, 28, 20, false);
    assertTrue(maxAbsDiff(plain, want) > 1e-3, "the flip must change the feature for this test to mean anything");
  }

  @Test
  void multiScaleAveragesTheFeaturesOfEveryScaleThenNormalizes() throws Exception {
    Extractor.Result r = Extractor.extract(embedder, src,
        Extractor.Options.defaults().withScales(1.0, 1.3).withFlip(true).withNormalize(true).withBatchSize(4));
    float[] a = manual(prepared(src, range(7), 28, 20), 7, 28, 20, true);
    float[] b = manual(prepared(src, range(7), 36, 26), 7, 36, 26, true); // round(1.3 * 28), round(1.3 * 20)
    int d = model.featureDim();
    float[] want = new float[a.length];
    for (int i = 0; i < 7; i++) {
      double ss = 0;
      for (int k = 0; k < d; k++) {
        float v = (a[i * d + k] * 2 + b[i * d + k] * 2) / 4; // mean over {1.0, flip} x {1.3, flip}
        want[i * d + k] = v;
        ss += (double) v * v;
      }
      for (int k = 0; k < d; k++) want[i * d + k] /= (float) Math.sqrt(ss);
    }
    assertArrayEquals(want, r.features().data(), TOL);
    for (int i = 0; i < 7; i++) {
      double ss = 0;
      for (float v : r.features().row(i)) ss += v * v;
      assertEquals(1.0, ss, 1e-5);
    }
  }

  @Test
  void unreadableImagesAreSkippedAndReported() throws Exception {
    ImageSource broken = ServeFixtures.images(7, 1, 5, Set.of(1, 4, 6));
    PrintStream old = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Extractor.Result r;
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      r = Extractor.extract(embedder, broken, Extractor.Options.defaults().withBatchSize(2)
          .withProgress(new PrintStream(progress, true, StandardCharsets.UTF_8), 0));
    } finally {
      System.setErr(old);
    }
    assertArrayEquals(new int[] {0, 2, 3, 5}, r.kept());
    assertArrayEquals(new int[] {1, 4, 6}, r.skipped());
    assertEquals(4, r.features().rows());
    float[] want = manual(prepared(src, r.kept(), 28, 20), 4, 28, 20, false);
    assertArrayEquals(want, r.features().data(), TOL);
    String warnings = err.toString(StandardCharsets.UTF_8);
    assertTrue(warnings.contains("test image #4") && warnings.contains("corrupt"), warnings);
    String p = progress.toString(StandardCharsets.UTF_8);
    assertTrue(p.contains("img/s") && p.contains("ETA") && p.contains("skipped 3"), p);
  }

  @Test
  void featureBeforeTheNeckIsThePooledFeature() throws Exception {
    try (ModelEmbedder before = new ModelEmbedder(model, new int[] {28, 20}, new double[] {0.5}, new double[] {0.25},
        ModelEmbedder.Feature.BEFORE, false, "test model")) {
      Extractor.Result r = Extractor.extract(before, src, Extractor.Options.defaults());
      float[] x = prepared(src, range(7), 28, 20);
      float[] want;
      try (PointerScope s = new PointerScope()) {
        want = Tensors.toFloats(model.features(Tensors.fromFloats(x, Tensors.CPU, 7, 1, 28, 20)));
      }
      assertArrayEquals(want, r.features().data(), TOL);
      assertTrue(maxAbsDiff(want, manual(x, 7, 28, 20, false)) > 1e-3, "before and after the neck must differ");
    }
  }

  @Test
  void afterTheNeckWithoutANeckIsAClearError() {
    try (ReidModel noNeck = ServeFixtures.model(ModelSpec.defaults("small_cnn").withNeck("none", "before"), 1, 3, 1)) {
      var e = assertThrows(IllegalArgumentException.class, () -> new ModelEmbedder(noNeck, new int[] {28, 20},
          new double[] {0.5}, new double[] {0.25}, ModelEmbedder.Feature.AFTER, false, "model x"));
      assertTrue(e.getMessage().contains("no neck"), e.getMessage());
    }
  }

  @Test
  void wrongImageChannelCountIsAClearError() {
    ImageSource rgb = ServeFixtures.images(3, 3, 2, Set.of());
    var e = assertThrows(IllegalArgumentException.class,
        () -> Extractor.extract(embedder, rgb, Extractor.Options.defaults()));
    assertTrue(e.getMessage().contains("3-channel image") && e.getMessage().contains("takes 1-channel"), e.getMessage());
    var e2 = assertThrows(IllegalArgumentException.class, () -> embedder.embed(new float[2 * 3 * 28 * 20], 2, 28, 20));
    assertTrue(e2.getMessage().contains("3-channel images") && e2.getMessage().contains("takes 1 channels"),
        e2.getMessage());
  }

  @Test
  void badOptionsAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> Extractor.Options.defaults().withScales());
    assertThrows(IllegalArgumentException.class, () -> Extractor.Options.defaults().withScales(1.0, -1));
    assertThrows(IllegalArgumentException.class, () -> Extractor.Options.defaults().withBatchSize(0));
  }

  @Test
  void mirrorReversesEveryRow() {
    float[] x = {1, 2, 3, 4, 5, 6};
    assertArrayEquals(new float[] {3, 2, 1, 6, 5, 4}, Extractor.mirror(x, 2, 3));
    FloatMatrix m = embedder.embed(new float[0], 0, 28, 20);
    assertEquals(0, m.rows());
  }

  static float maxAbsDiff(float[] a, float[] b) {
    float m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }

  /** One counter-clockwise quarter turn from the definition: out(i, j) = in(j, W - 1 - i). */
  private static FloatImage turn(FloatImage a) {
    FloatImage out = FloatImage.zeros(a.channels(), a.width(), a.height());
    for (int c = 0; c < a.channels(); c++)
      for (int i = 0; i < a.width(); i++)
        for (int j = 0; j < a.height(); j++) out.set(c, i, j, a.get(c, j, a.width() - 1 - i));
    return out;
  }

  /** src's images, each passed through f first, as a source. */
  private static ImageSource mapped(ImageSource s, java.util.function.UnaryOperator<FloatImage> f) {
    return new ImageSource() {
      @Override
      public FloatImage load(int i) throws java.io.IOException {
        return f.apply(s.load(i));
      }

      @Override
      public int size() {
        return s.size();
      }

      @Override
      public int pid(int i) {
        return s.pid(i);
      }

      @Override
      public int camid(int i) {
        return s.camid(i);
      }

      @Override
      public String describe(int i) {
        return s.describe(i);
      }

      @Override
      public int numClasses() {
        return s.numClasses();
      }
    };
  }

  @Test
  void rotationAveragesTheFeaturesOfEachTurnedImageResizedBackToTheInputSize() throws Exception {
    int n = src.size(), d = model.featureDim();
    float[][] single = new float[4][]; // the features of the images turned q quarter turns, one turn at a time
    for (int quarter = 0; quarter < 4; quarter++) {
      final int q = quarter;
      ImageSource turned = mapped(src, img -> {
        FloatImage t = img;
        for (int k = 0; k < q; k++) t = turn(t);
        return t;
      });
      single[q] = manual(prepared(turned, range(n), 28, 20), n, 28, 20, false);
      if (q > 0)
        assertTrue(maxAbsDiff(single[0], single[q]) > 1e-3, "a turn of " + 90 * q + " degrees must change the feature");
    }
    float[] mean = new float[n * d];
    for (float[] f : single) for (int k = 0; k < f.length; k++) mean[k] += f[k] / 4;
    Extractor.Options o = Extractor.Options.defaults().withBatchSize(3);
    assertArrayEquals(mean, Extractor.extract(embedder, src, o.withRotations(0, 90, 180, 270)).features().data(), TOL);
    for (int q = 1; q < 4; q++)
      assertArrayEquals(single[q], Extractor.extract(embedder, src, o.withRotations(90 * q)).features().data(), TOL,
          "rotation " + 90 * q + " alone (counter-clockwise)");
    assertEquals(28 * 20 * 4, new Extractor.Pipeline(embedder, o.withRotations(0, 90, 180, 270)).preparedLength(),
        "four views of the 28 x 20 input size");
  }

  @Test
  void rotationCombinesWithFlipScalesAndNormalisation() throws Exception {
    int n = src.size(), d = model.featureDim();
    ImageSource half = mapped(src, img -> turn(turn(img)));
    float[] a = manual(prepared(src, range(n), 28, 20), n, 28, 20, true);
    float[] b = manual(prepared(src, range(n), 36, 26), n, 36, 26, true);
    float[] c = manual(prepared(half, range(n), 28, 20), n, 28, 20, true);
    float[] e = manual(prepared(half, range(n), 36, 26), n, 36, 26, true);
    float[] want = new float[n * d];
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int k = i * d; k < (i + 1) * d; k++) {
        want[k] = (a[k] + b[k] + c[k] + e[k]) / 4; // each already the mean of a view and its flip
        ss += (double) want[k] * want[k];
      }
      for (int k = i * d; k < (i + 1) * d; k++) want[k] /= (float) Math.sqrt(ss);
    }
    Extractor.Result r = Extractor.extract(embedder, src, Extractor.Options.defaults().withRotations(180, 0)
        .withScales(1.0, 1.3).withFlip(true).withNormalize(true).withBatchSize(4));
    assertArrayEquals(want, r.features().data(), TOL);
  }

  @Test
  void denoiseFiltersTheDecodedImageBeforeResizing() throws Exception {
    int n = src.size();
    for (Denoise dn : new Denoise[] {Denoise.MEDIAN, Denoise.GAUSSIAN}) {
      ImageSource filtered = mapped(src, img -> dn.transform().apply(img, null));
      float[] want = manual(prepared(filtered, range(n), 28, 20), n, 28, 20, false);
      Extractor.Result r = Extractor.extract(embedder, src, Extractor.Options.defaults().withDenoise(dn));
      assertArrayEquals(want, r.features().data(), TOL, dn.label());
      assertTrue(maxAbsDiff(want, manual(prepared(src, range(n), 28, 20), n, 28, 20, false)) > 1e-4,
          dn.label() + " must change the feature");
    }
  }

  @Test
  void badRotationsAreRejected() {
    for (int[] bad : new int[][] {{45}, {0, 0}, {360}, {-90}, {}}) {
      var e = assertThrows(IllegalArgumentException.class, () -> Extractor.Options.defaults().withRotations(bad));
      assertTrue(e.getMessage().contains("rotation"), e.getMessage());
    }
    assertThrows(IllegalArgumentException.class, () -> Extractor.Options.defaults().withDenoise(null));
  }
}
