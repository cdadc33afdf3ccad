package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.data.FashionMnist;
import org.reid4j.data.SyntheticReid;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.ReidEvaluator;
import org.reid4j.io.FeatureDir;
import org.reid4j.io.Npy;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/** The eval and synth commands end to end, in-process: results, JSON, and every input error. */
class EvalCommandTest {
  @TempDir Path tmp;

  record Run(int code, String out, String err) {}

  static Run cli(String... args) {
    PrintStream oldOut = System.out, oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = Main.run(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  private Path synth(String name) {
    Path dir = tmp.resolve(name);
    Run r = cli("synth", "--out", dir.toString(), "--ids", "40", "--cams", "3", "--dim", "24", "--distractors", "30",
        "--junk", "10", "--noise", "1.2", "--seed", "4");
    assertEquals(0, r.code(), r.err());
    return dir;
  }

  @Test
  void evalWritesJsonThatMatchesTheLibrary() throws Exception {
    Path dir = synth("case");
    Path json = tmp.resolve("out/result.json");
    Run r = cli("eval", "--dir", dir.toString(), "--backend", "java", "--json", json.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("Rank-1"), r.out());
    JsonNode j = new ObjectMapper().readTree(json.toFile());
    for (String key : new String[] {"rank1", "rank5", "rank10", "mAP", "mINP", "cmc", "queries_evaluated",
        "queries_skipped", "backend", "timings_ms"})
      assertTrue(j.has(key), "json has " + key);
    assertEquals(50, j.get("cmc").size());
    assertTrue(j.get("backend").asText().startsWith("java"));
    // Same numbers as the library computes directly.
    var q = FeatureDir.readQuery(dir);
    var g = FeatureDir.readGallery(dir);
    FloatMatrix dist = Kernels.create(Backend.JAVA).pairwise(q.features(), g.features(), Metric.SQEUCLIDEAN);
    EvalResult e = ReidEvaluator.evaluate(dist, q.pids(), q.camids(), g.pids(), g.camids());
    assertEquals(e.rank1(), j.get("rank1").asDouble(), 1e-12);
    assertEquals(e.mAP(), j.get("mAP").asDouble(), 1e-12);
    assertEquals(e.queriesEvaluated(), j.get("queries_evaluated").asInt());
  }

  @Test
  void rerankAndSixFileFormAgreeWithDirForm() throws Exception {
    Path dir = synth("case2");
    Path a = tmp.resolve("a.json"), b = tmp.resolve("b.json");
    assertEquals(0, cli("eval", "--dir", dir.toString(), "--normalize", "--rerank", "--k1", "10", "--k2", "3",
        "--backend", "java", "--json", a.toString()).code());
    String[] f = FeatureDir.FILES;
    Run r = cli("eval", "--query-features", dir.resolve(f[0]).toString(), "--query-pids", dir.resolve(f[1]).toString(),
        "--query-camids", dir.resolve(f[2]).toString(), "--gallery-features", dir.resolve(f[3]).toString(),
        "--gallery-pids", dir.resolve(f[4]).toString(), "--gallery-camids", dir.resolve(f[5]).toString(),
        "--normalize", "--rerank", "--k1", "10", "--k2", "3", "--backend", "java", "--json", b.toString());
    assertEquals(0, r.code(), r.err());
    JsonNode ja = new ObjectMapper().readTree(a.toFile()), jb = new ObjectMapper().readTree(b.toFile());
    assertEquals(ja.get("mAP").asDouble(), jb.get("mAP").asDouble(), 0.0);
    assertTrue(ja.get("timings_ms").has("rerank"));
  }

  /** A copy of dir whose features are the original ones plus Gaussian noise (the same images: pids, cameras). */
  private Path noisyCopy(Path dir, String name, long seed) throws Exception {
    Path out = tmp.resolve(name);
    java.nio.file.Files.createDirectories(out);
    java.util.Random r = new java.util.Random(seed);
    for (String f : FeatureDir.FILES) {
      if (!f.endsWith("feats.npy")) {
        java.nio.file.Files.copy(dir.resolve(f), out.resolve(f));
        continue;
      }
      FloatMatrix m = Npy.read(dir.resolve(f)).asMatrix();
      float[] a = m.data().clone();
      for (int i = 0; i < a.length; i++) a[i] += (float) r.nextGaussian();
      Npy.writeFloat32(out.resolve(f), new FloatMatrix(m.rows(), m.cols(), a));
    }
    return out;
  }

  @Test
  void postProcessingAndEnsemblesMatchTheLibrary() throws Exception {
    Path a = synth("ens-a"), b = noisyCopy(a, "ens-b", 7);
    Path json = tmp.resolve("ens.json");
    Run r = cli("eval", "--dir", a.toString(), "--dir", b.toString(), "--fusion", "distance", "--weights", "2,1",
        "--normalize", "--qe", "qe", "--qe-k", "3", "--dba-k", "2", "--backend", "java", "--json", json.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("| " + a + " |") && r.out().contains("| " + b + " |")
        && r.out().contains("| fusion: distance |"), r.out());
    JsonNode j = new ObjectMapper().readTree(json.toFile());
    assertEquals(2, j.get("members").size());
    assertEquals(2 / 3.0, j.get("members").get(0).get("weight").asDouble(), 1e-12);
    assertEquals("distance", j.get("fusion").asText());
    assertEquals(2, j.get("dba_k").asInt());
    assertEquals(3, j.get("qe").get("k").asInt());
    var ma = new org.reid4j.eval.RetrievalEval.Member("a", FeatureDir.readQuery(a), FeatureDir.readGallery(a));
    var mb = new org.reid4j.eval.RetrievalEval.Member("b", FeatureDir.readQuery(b), FeatureDir.readGallery(b));
    var o = new org.reid4j.eval.RetrievalEval.Options(Metric.SQEUCLIDEAN, true, null).withDba(2)
        .withQe(new org.reid4j.eval.post.QueryExpansion.Params(org.reid4j.eval.post.QueryExpansion.Kind.AVERAGE, 3, 1, 3))
        .withFusion(org.reid4j.eval.post.Fusion.Kind.DISTANCE, new double[] {2, 1});
    Kernels jk = Kernels.create(Backend.JAVA);
    assertEquals(org.reid4j.eval.RetrievalEval.run(jk, java.util.List.of(ma, mb), o, s -> {}).result().mAP(),
        j.get("mAP").asDouble(), 1e-12);
    assertEquals(org.reid4j.eval.RetrievalEval.run(jk, java.util.List.of(mb), o, s -> {}).result().mAP(),
        j.get("members").get(1).get("mAP").asDouble(), 1e-12);

    for (String fusion : new String[] {"vote", "concat"})
      assertEquals(0, cli("eval", "--dir", a.toString(), "--dir", b.toString(), "--fusion", fusion, "--backend", "java")
          .code(), fusion);
    Path single = tmp.resolve("single.json");
    assertEquals(0, cli("eval", "--dir", a.toString(), "--qe", "alpha-qe", "--qe-alpha", "2", "--backend", "java",
        "--json", single.toString()).code());
    assertEquals(2.0, new ObjectMapper().readTree(single.toFile()).get("qe").get("alpha").asDouble());
  }

  @Test
  void badEnsemblesAndPostProcessingOptionsAreRefused() throws Exception {
    Path a = synth("bad-a"), c = synth("bad-c");
    Npy.writeInt32(c.resolve("gallery_pids.npy"), new int[] {1, 2, 3});
    ServeCommandTest.refused(c.toString(), "eval", "--dir", a.toString(), "--dir", c.toString());
    ServeCommandTest.refused("--fusion applies only to an ensemble", "eval", "--dir", a.toString(), "--fusion", "vote");
    ServeCommandTest.refused("--qe-alpha applies only with --qe alpha-qe", "eval", "--dir", a.toString(), "--qe", "qe",
        "--qe-alpha", "2");
    ServeCommandTest.refused("--qe-k applies only with --qe", "eval", "--dir", a.toString(), "--qe-k", "2");
    ServeCommandTest.refused("--qe: unknown query expansion 'aqe'", "eval", "--dir", a.toString(), "--qe", "aqe");
    ServeCommandTest.refused("--weights has 3 values for 2 members", "eval", "--dir", a.toString(), "--dir",
        a.toString(), "--weights", "1,2,3");
    ServeCommandTest.refused("--dba-k must be 0 or more", "eval", "--dir", a.toString(), "--dba-k", "-1");
    ServeCommandTest.refused("unknown precision 'bf16': expected fp32, tf32x3 or tf32", "eval", "--dir", a.toString(),
        "--precision", "bf16");
    if (Kernels.unavailableReason(Backend.CPU) == null)  // tensor cores only on the cuda backend: no quiet FP32 instead
      ServeCommandTest.refused("--precision tf32x3: precision tf32x3 needs the cuda backend (these kernels: cpu)", "eval",
          "--dir", a.toString(), "--backend", "cpu", "--precision", "tf32x3");
    ServeCommandTest.refused("--fusion vote", "eval", "--dir", a.toString(), "--dir", a.toString(), "--fusion", "vote",
        "--rerank");
  }

  @Test
  void badInputsGiveClearErrorsAndExitCode2() throws Exception {
    Path dir = synth("bad");
    // Missing file.
    Files.delete(dir.resolve("gallery_camids.npy"));
    Run r = cli("eval", "--dir", dir.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("gallery_camids.npy"), r.err());
    // Mismatched dimensions.
    Path d2 = synth("bad2");
    Npy.writeFloat32(d2.resolve("gallery_feats.npy"), FloatMatrix.zeros(FeatureDir.readGallery(synth("tmp3")).size(), 7));
    r = cli("eval", "--dir", d2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("dimension mismatch"), r.err());
    // NaN feature: names the set, row and column.
    Path d3 = synth("bad3");
    var q = FeatureDir.readQuery(d3);
    q.features().set(2, 5, Float.NaN);
    Npy.writeFloat32(d3.resolve("query_feats.npy"), q.features());
    r = cli("eval", "--dir", d3.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("row 2, column 5") && r.err().contains("query_feats.npy"), r.err());
    // Empty gallery.
    Path d4 = synth("bad4");
    Npy.writeFloat32(d4.resolve("gallery_feats.npy"), FloatMatrix.zeros(0, 24));
    Npy.writeInt32(d4.resolve("gallery_pids.npy"), new int[0]);
    Npy.writeInt32(d4.resolve("gallery_camids.npy"), new int[0]);
    r = cli("eval", "--dir", d4.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("empty"), r.err());
    // Pids count differs from feature rows.
    Path d5 = synth("bad5");
    Npy.writeInt32(d5.resolve("query_pids.npy"), new int[3]);
    r = cli("eval", "--dir", d5.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("query_pids.npy"), r.err());
    // Bad options.
    assertEquals(2, cli("eval", "--dir", dir.toString(), "--metric", "manhattan").code());
    assertEquals(2, cli("eval").code());
    assertEquals(2, cli("eval", "--dir", d5.toString(), "--rerank", "--lambda", "1.5").code());
  }

  @Test
  void jsonIsNotWrittenWhenEvaluationFails() throws Exception {
    Path json = tmp.resolve("never.json");
    Files.writeString(json, "previous");
    Run r = cli("eval", "--dir", tmp.resolve("missing").toString(), "--json", json.toString());
    assertEquals(2, r.code());
    assertEquals("previous", Files.readString(json), "an earlier result is not lost");
  }

  @Test
  void askingForCudaWithoutAGpuIsAnErrorNotAFallback() {
    Assumptions.assumeTrue(Kernels.unavailableReason(Backend.CUDA) != null, "a CUDA device is present");
    Path dir = synth("cuda");
    Run r = cli("eval", "--dir", dir.toString(), "--backend", "cuda");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("backend 'cuda' is unavailable"), r.err());
  }

  @Test
  void fashionMnistPixelBaselineRunsWhenTheDataSetIsInstalled() throws Exception {
    Assumptions.assumeTrue(Files.exists(FashionMnist.DEFAULT_DIR.resolve("t10k-images-idx3-ubyte.gz")),
        "dataset-fashion-mnist is not installed");
    Path json = tmp.resolve("fm.json");
    Run r = cli("eval", "--data", "fashion-mnist", "--normalize", "--json", json.toString());
    assertEquals(0, r.code(), r.err());
    JsonNode j = new ObjectMapper().readTree(json.toFile());
    assertEquals(1000, j.get("queries_evaluated").asInt());
    // Raw pixels already retrieve the right class most of the time, but far from perfectly.
    assertTrue(j.get("rank1").asDouble() > 0.5 && j.get("mAP").asDouble() < 0.9, j.toString());
  }

  /**
   * --dir and the six files take the native-memory path: both give the scores of the heap path
   * (RetrievalEval.run on the same files) on every backend, plain and re-ranked; the native path must
   * change nothing but time and memory.
   */
  @Test
  void synthQueriesCapsTheQueriesCameraByCamera() throws Exception {
    Path all = tmp.resolve("q-all"), some = tmp.resolve("q-some");
    String[] base = {"--ids", "7", "--cams", "3", "--dim", "5", "--distractors", "4", "--junk", "2", "--seed", "3"};
    assertEquals(0, cli(concat(new String[] {"synth", "--out", all.toString()}, base)).code());
    Run r = cli(concat(new String[] {"synth", "--out", some.toString(), "--queries", "9"}, base));
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("9 queries"), r.out());
    org.reid4j.eval.LabelledFeatures qa = FeatureDir.readQuery(all), qs = FeatureDir.readQuery(some);
    assertEquals(7 * 2, qa.size(), "default: identities x ceil(cameras / 2)");
    assertEquals(9, qs.size());
    // camera 1's seven identities, then camera 2's first two; the gallery does not change
    int[] camids = qs.camids(), pids = qs.pids();
    for (int i = 0; i < 9; i++) {
      assertEquals(i < 7 ? 1 : 2, camids[i], "query " + i);
      assertEquals(i < 7 ? i + 1 : i - 6, pids[i], "query " + i);
    }
    assertEquals(FeatureDir.readGallery(all).size(), FeatureDir.readGallery(some).size());
    Run bad = cli("synth", "--out", tmp.resolve("q-bad").toString(), "--queries", "0");
    assertNotEquals(0, bad.code());
    assertTrue(bad.err().contains("--queries must be 1 or more, got 0"), bad.err());
    Run preset = cli("synth", "--out", tmp.resolve("q-preset").toString(), "--preset", "small", "--queries", "5");
    assertNotEquals(0, preset.code());
    assertTrue(preset.err().contains("--queries applies only without --preset"), preset.err());
  }

  private static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void featureFilesInNativeMemoryScoreLikeTheHeapPath() throws Exception {
    Path dir = tmp.resolve("native-case");
    Run synth = cli("synth", "--out", dir.toString(), "--ids", "30", "--cams", "3", "--dim", "16", "--distractors", "20",
        "--junk", "8", "--noise", "1.1", "--seed", "9");
    assertEquals(0, synth.code(), synth.err());
    String[] files = {"--query-features", "--query-pids", "--query-camids", "--gallery-features", "--gallery-pids",
        "--gallery-camids"};
    org.reid4j.eval.LabelledFeatures q = FeatureDir.readQuery(dir), g = FeatureDir.readGallery(dir);
    for (String backend : new String[] {"java", "cpu"}) {
      if (Kernels.unavailableReason(Backend.parse(backend)) != null) continue;
      Kernels k = Kernels.create(Backend.parse(backend));
      for (boolean reranked : new boolean[] {false, true}) {
        String[] extra = reranked ? new String[] {"--normalize", "--rerank", "--k1", "8"}
            : new String[] {"--metric", "cosine"};
        org.reid4j.eval.RetrievalEval.Options o = reranked
            ? new org.reid4j.eval.RetrievalEval.Options(Metric.SQEUCLIDEAN, true,
                new org.reid4j.kernels.RerankParams(8, 6, 0.3f))
            : new org.reid4j.eval.RetrievalEval.Options(Metric.COSINE, false, null);
        EvalResult want = org.reid4j.eval.RetrievalEval.run(k, q, g, o).result();
        for (int way = 0; way < 2; way++) {
          Path json = tmp.resolve("native-" + backend + "-" + reranked + "-" + way + ".json");
          java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("eval", "--backend", backend,
              "--json", json.toString()));
          if (way == 0) {
            args.addAll(java.util.List.of("--dir", dir.toString()));
          } else {
            for (int f = 0; f < files.length; f++) args.addAll(java.util.List.of(files[f],
                dir.resolve(FeatureDir.FILES[f]).toString()));
          }
          args.addAll(java.util.List.of(extra));
          Run r = cli(args.toArray(String[]::new));
          assertEquals(0, r.code(), r.err());
          JsonNode res = new ObjectMapper().readTree(json.toFile());
          String ctx = backend + " " + String.join(" ", extra) + (way == 0 ? " --dir" : " six files");
          assertEquals(want.rank1(), res.get("rank1").asDouble(), 0.0, ctx);
          assertEquals(want.mAP(), res.get("mAP").asDouble(), 0.0, ctx);
          assertEquals(want.mINP(), res.get("mINP").asDouble(), 0.0, ctx);
          assertEquals(want.queriesEvaluated(), res.get("queries_evaluated").asInt(), ctx);
          for (int i = 0; i < EvalResult.MAX_RANK; i++)
            assertEquals(want.cmc()[i], res.get("cmc").get(i).asDouble(), 0.0, ctx + " cmc " + (i + 1));
        }
      }
    }
  }
}
