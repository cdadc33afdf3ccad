package org.reid4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.eval.Features;
import org.reid4j.eval.Verification;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

class VerificationThresholdTest {
  @TempDir Path dir;

  @Test
  void jsonRoundTrip() throws IOException {
    VerificationThreshold t = new VerificationThreshold("COSINE", true, 0.4321, 1e-3, 0.87, 9.5e-4, 0.995, 2048,
        123_456, 2_000_000);
    assertEquals("cosine", t.metric());
    Path file = VerificationThreshold.fileIn(dir.resolve("ckpt"));
    assertEquals(dir.resolve("ckpt").resolve("threshold.json"), file);
    t.save(file);
    assertEquals(t, VerificationThreshold.load(file));
    // Atomic write: nothing but the file is left in the folder.
    try (Stream<Path> s = Files.list(file.getParent())) {
      assertEquals(List.of(file), s.toList());
    }
    String text = Files.readString(file);
    assertTrue(text.contains("\"format\" : \"reid4j.verification-threshold\""), text);
    assertTrue(text.contains("\"threshold\" : 0.4321"), text);

    // Unknown statistics are written as null and read back as NaN.
    VerificationThreshold bare = VerificationThreshold.of("euclidean", false, 1.25);
    bare.save(file);
    VerificationThreshold back = VerificationThreshold.load(file);
    assertEquals(bare, back);
    assertTrue(Double.isNaN(back.targetFpr()));
    assertTrue(Files.readString(file).contains("\"auc\" : null"));
  }

  @Test
  void loadErrorsNameTheFileAndTheProblem() throws IOException {
    Path file = dir.resolve("threshold.json");
    assertIo(() -> VerificationThreshold.load(file), "no verification threshold at " + file);
    Files.writeString(file, "{ not json");
    assertIo(() -> VerificationThreshold.load(file), "not valid JSON");
    Files.writeString(file, "[1, 2]");
    assertIo(() -> VerificationThreshold.load(file), "expected a JSON object");
    Files.writeString(file, "{\"metric\": \"cosine\", \"normalize\": true}");
    assertIo(() -> VerificationThreshold.load(file), "missing field 'threshold'");
    Files.writeString(file, "{\"metric\": \"cosine\", \"normalize\": \"yes\", \"threshold\": 0.5}");
    assertIo(() -> VerificationThreshold.load(file), "'normalize' must be true or false");
    Files.writeString(file, "{\"metric\": \"manhattan\", \"normalize\": true, \"threshold\": 0.5}");
    assertIo(() -> VerificationThreshold.load(file), "unknown metric 'manhattan'");
    Files.writeString(file, "{\"format\": \"something-else\", \"metric\": \"cosine\", \"normalize\": true,"
        + " \"threshold\": 0.5}");
    assertIo(() -> VerificationThreshold.load(file), "format is 'something-else'");
    // Minimal and unknown fields are fine.
    Files.writeString(file, "{\"metric\": \"cosine\", \"normalize\": true, \"threshold\": 0.5, \"extra\": 1}");
    assertEquals(VerificationThreshold.of("cosine", true, 0.5), VerificationThreshold.load(file));
  }

  static void assertIo(org.junit.jupiter.api.function.Executable e, String part) {
    IOException ex = assertThrows(IOException.class, e);
    assertTrue(ex.getMessage().contains(part), "message '" + ex.getMessage() + "' should contain '" + part + "'");
  }

  static void assertArg(org.junit.jupiter.api.function.Executable e, String part) {
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
    assertTrue(ex.getMessage().contains(part), "message '" + ex.getMessage() + "' should contain '" + part + "'");
  }

  @Test
  void sameIdentityOnConstructedVectors() {
    VerificationThreshold cos = VerificationThreshold.of("cosine", true, 0.1);
    // (1, 0) vs (2, 0.2): cosine similarity 2 / (1 * sqrt(4.04)) = 0.995 -> distance 0.005.
    assertEquals(1 - 2 / Math.sqrt(4.04), cos.distance(new float[] {1, 0}, new float[] {2, 0.2f}), 1e-6);
    assertTrue(cos.sameIdentity(new float[] {1, 0}, new float[] {2, 0.2f}));
    assertFalse(cos.sameIdentity(new float[] {1, 0}, new float[] {0, 3}));
    assertEquals(1.0, cos.distance(new float[] {1, 0}, new float[] {0, 3}), 1e-7);

    VerificationThreshold euc = VerificationThreshold.of("euclidean", false, 5);
    assertEquals(5.0, euc.distance(new float[] {0, 0}, new float[] {3, 4}), 1e-6);
    assertTrue(euc.sameIdentity(new float[] {0, 0}, new float[] {3, 4})); // <= is "same"
    assertFalse(euc.sameIdentity(new float[] {0, 0}, new float[] {3, 4.01f}));
    VerificationThreshold sq = VerificationThreshold.of("sqeuclidean", false, 24.9);
    assertEquals(25.0, sq.distance(new float[] {0, 0}, new float[] {3, 4}), 1e-5);
    assertFalse(sq.sameIdentity(new float[] {0, 0}, new float[] {3, 4}));
    // Normalised squared Euclidean: (1,0) vs (0,5) -> |(1,0) - (0,1)|^2 = 2.
    assertEquals(2.0, VerificationThreshold.of("sqeuclidean", true, 1).distance(new float[] {1, 0},
        new float[] {0, 5}), 1e-6);
  }

  @Test
  void distanceIsTheKernelsDistance() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    Kernels java = Kernels.create(Backend.JAVA);
    for (Metric m : Metric.values()) {
      for (boolean norm : new boolean[] {false, true}) {
        float[] a = new float[37], b = new float[37];
        for (int k = 0; k < a.length; k++) {
          a[k] = (float) r.nextGaussian();
          b[k] = (float) r.nextGaussian();
        }
        FloatMatrix fa = new FloatMatrix(1, a.length, a.clone()), fb = new FloatMatrix(1, b.length, b.clone());
        if (norm) {
          fa = Features.l2Normalize(fa);
          fb = Features.l2Normalize(fb);
        }
        float want = java.pairwise(fa, fb, m).get(0, 0);
        VerificationThreshold t = VerificationThreshold.of(m.name(), norm, 1);
        assertEquals(want, t.distance(a, b), 0, "seed " + seed + " " + m + " normalize " + norm);
      }
    }
  }

  @Test
  void badVectorsSayWhatIsWrong() {
    VerificationThreshold t = new VerificationThreshold("cosine", true, 0.3, 1e-3, 0.9, 1e-3, 0.99, 3, 10, 100);
    assertArg(() -> t.sameIdentity(new float[] {1, 2, 3}, new float[] {1, 2}), "lengths differ: a has 3, b has 2");
    assertArg(() -> t.sameIdentity(new float[] {1, 2, Float.NaN}, new float[] {1, 2, 3}),
        "embedding a has a non-finite value (NaN) at index 2");
    assertArg(() -> t.distance(new float[] {1, 2, 3}, new float[] {1, Float.POSITIVE_INFINITY, 3}),
        "embedding b has a non-finite value (Infinity) at index 1");
    assertArg(() -> t.distance(new float[] {1, 2}, new float[] {1, 2}), "fitted on 3-dimensional");
    assertArg(() -> t.distance(null, new float[] {1, 2, 3}), "embedding a is null");
    assertArg(() -> VerificationThreshold.of("cosine", true, 0).distance(new float[0], new float[0]), "is empty");
    assertArg(() -> VerificationThreshold.of("cosine", true, Double.NaN), "threshold must be finite");
    assertArg(() -> VerificationThreshold.of("hamming", true, 1), "unknown metric");
  }

  @Test
  void fittedFromAVerificationResult() throws IOException {
    // genuine {0.1, 0.2, 0.3}, impostors {0.25, 0.4, 0.5, 0.6}: FPR <= 0.25 -> threshold 0.3, TPR 1.
    Verification.Result r = Verification.fromDistances(new float[] {0.1f, 0.2f, 0.3f},
        new float[] {0.25f, 0.4f, 0.5f, 0.6f}, Metric.COSINE, true, List.of(0.25));
    VerificationThreshold t = VerificationThreshold.fromResult(r, 0.25);
    assertEquals((double) 0.3f, t.threshold());
    assertEquals(1.0, t.tprAtTarget());
    assertEquals(0.25, t.fprAtThreshold());
    assertEquals(0.25, t.targetFpr());
    assertEquals(11 / 12., t.auc(), 1e-12);
    assertEquals("cosine", t.metric());
    assertEquals(3, t.genuinePairs());
    assertEquals(4, t.impostorPairs());
    t.save(dir.resolve("threshold.json"));
    assertEquals(t, VerificationThreshold.load(dir.resolve("threshold.json")));
    // The closest pair is an impostor: nothing reaches FPR 0.
    Verification.Result bad = Verification.fromDistances(new float[] {0.5f}, new float[] {0.1f, 0.9f},
        Metric.COSINE, true, List.of());
    assertArg(() -> VerificationThreshold.fromResult(bad, 0.0), "no threshold reaches FPR <= 0");
  }

  @Test
  void endToEndOnSeparableFeatures() {
    // Two tight clusters per identity direction: every genuine pair is closer than every impostor.
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int ids = 10, per = 4, d = 16;
    float[] v = new float[ids * per * d];
    int[] pids = new int[ids * per];
    for (int i = 0; i < ids * per; i++) {
      pids[i] = i / per;
      for (int k = 0; k < d; k++) v[i * d + k] = (k == pids[i] ? 10f : 0f) + 0.1f * (float) r.nextGaussian();
    }
    FloatMatrix x = new FloatMatrix(ids * per, d, v);
    Verification.Result res = Verification.evaluate(Kernels.create(Backend.JAVA), x, pids, null,
        Verification.Options.defaults());
    assertEquals(1.0, res.auc(), 0, "seed " + seed);
    VerificationThreshold t = VerificationThreshold.fromResult(res, 1e-4);
    assertEquals(1.0, t.tprAtTarget(), 0, "seed " + seed);
    assertEquals(d, t.dim());
    for (int i = 0; i < x.rows(); i++) {
      for (int j = 0; j < x.rows(); j++) {
        assertEquals(pids[i] == pids[j], t.sameIdentity(x.row(i), x.row(j)), "seed " + seed + " pair " + i + "," + j);
      }
    }
  }
}
