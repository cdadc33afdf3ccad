package org.reid4j.spark;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.cli.ExtractCommand;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.FileImageSource;
import org.reid4j.data.SyntheticReid;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.io.FeatureDir;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import org.reid4j.model.ReidModel;
import org.reid4j.serve.Extractor;
import org.reid4j.train.Checkpoints;
import org.reid4j.train.Optimizers;

/**
 * The jobs as a user runs them (through {@link Main}, on the tests' local[2] session): feature tables in,
 * a graph out, scores equal to the single-machine evaluation; extraction equal to the single-process
 * extractor; bad input refused with a message that names the file, and nothing overwritten.
 */
class SparkJobsTest {
  @TempDir Path tmp;

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Runs a command; returns {exit code, stdout + stderr}. */
  private static Object[] run(String... args) {
    SparkTestSession.get(); // Main uses this session (local[2]) and leaves it running
    PrintStream out = System.out, err = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream p = new PrintStream(buf, true, StandardCharsets.UTF_8);
    System.setOut(p);
    System.setErr(p);
    try {
      int rc = Main.run(args);
      return new Object[] {rc, buf.toString(StandardCharsets.UTF_8)};
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
  }

  private static void writeTable(SparkSession spark, LabelledFeatures f, String prefix, Path out) {
    List<Row> rows = new ArrayList<>();
    int d = f.features().cols();
    for (int i = 0; i < f.size(); i++) {
      float[] v = new float[d];
      System.arraycopy(f.features().data(), i * d, v, 0, d);
      rows.add(RowFactory.create(prefix + i, f.pids()[i], f.camids()[i], v));
    }
    spark.createDataFrame(rows, FeatureTables.SCHEMA).coalesce(1).write().parquet(out.toString());
  }

  @Test
  void graphFromTablesOrFilesThenRerankGivesTheSingleMachineScores() throws Exception {
    Random r = new Random(System.nanoTime());
    SyntheticReid.Case c = SyntheticReid.build(new SyntheticReid.Spec(30, 3, 2, 16, 20, 8, 1.5f, 0.3f, 0, 0,
        r.nextLong()));
    Path dir = tmp.resolve("feats"), qt = tmp.resolve("q.parquet"), gt = tmp.resolve("g.parquet");
    FeatureDir.write(dir, c.query(), c.gallery());
    SparkSession spark = SparkTestSession.get();
    writeTable(spark, c.query(), "q", qt);
    writeTable(spark, c.gallery(), "g", gt);

    Path g1 = tmp.resolve("graph-tables"), g2 = tmp.resolve("graph-dir"), j1 = tmp.resolve("graph.json");
    Object[] a = run("knn-graph", "--query", qt.toString(), "--gallery", gt.toString(), "--out", g1.toString(),
        "--normalize", "--block-rows", "23", "--backend", "java", "--json", j1.toString());
    assertEquals(0, a[0], (String) a[1]);
    assertEquals(c.query().size() + c.gallery().size(), JSON.readTree(j1.toFile()).at("/graph/items").asInt());
    Object[] b = run("knn-graph", "--dir", dir.toString(), "--out", g2.toString(), "--normalize", "--block-rows", "31",
        "--backend", "java");
    assertEquals(0, b[0], (String) b[1]);

    RerankParams p = RerankParams.DEFAULT;
    EvalResult want = RetrievalEval.run(Kernels.create(Backend.JAVA), c.query(), c.gallery(),
        new RetrievalEval.Options(Metric.SQEUCLIDEAN, true, p)).result();
    for (String[] input : new String[][] {{"--dir", dir.toString()}, {"--query", qt.toString(), "--gallery",
        gt.toString()}}) {
      for (Path graph : new Path[] {g1, g2}) {
        Path json = tmp.resolve("rr-" + r.nextInt(1 << 30) + ".json");
        List<String> args = new ArrayList<>(List.of("rerank", "--graph", graph.toString(), "--backend", "java",
            "--json", json.toString()));
        args.addAll(List.of(input));
        Object[] o = run(args.toArray(new String[0]));
        assertEquals(0, o[0], (String) o[1]);
        JsonNode s = JSON.readTree(json.toFile());
        String what = graph.getFileName() + " " + input[0];
        // Java kernels everywhere: the lists are exact, so the scores are those of the single machine
        assertEquals(want.mAP(), s.get("mAP").asDouble(), 1e-12, what);
        assertEquals(want.rank1(), s.get("rank1").asDouble(), 1e-12, what);
        assertEquals(want.mINP(), s.get("mINP").asDouble(), 1e-12, what);
      }
    }

    // the sampled check finds the Java-kernel graph exact
    Path cj = tmp.resolve("check.json");
    Object[] ck = run("check-graph", "--graph", g1.toString(), "--dir", dir.toString(), "--sample", "25", "--backend",
        "java", "--json", cj.toString());
    assertEquals(0, ck[0], (String) ck[1]);
    JsonNode cr = JSON.readTree(cj.toFile());
    assertEquals(25, cr.get("sampled").asInt());
    assertEquals(1.0, cr.get("recall").asDouble(), 0);
    assertEquals(0.0, cr.get("maxDistanceError").asDouble(), 0);
    assertEquals(0.0, cr.get("maxRowMaxError").asDouble(), 0);

    // one shard: the lists of row blocks 1 and 2 only, the same as the whole graph's for those items
    Path shard = tmp.resolve("graph-shard");
    Object[] sh = run("knn-graph", "--dir", dir.toString(), "--out", shard.toString(), "--normalize", "--block-rows",
        "23", "--row-blocks", "1:3", "--backend", "java");
    assertEquals(0, sh[0], (String) sh[1]);
    int[] inShard = IntStream.range(23, 69).toArray();
    KnnGraph.Lists whole = GraphStore.readItems(spark, g1.toString(), inShard);
    KnnGraph.Lists part = GraphStore.readItems(spark, shard.toString(), inShard);
    assertArrayEquals(whole.idx(), part.idx());
    assertArrayEquals(whole.dist(), part.dist(), 0f);
    String outside = assertThrows(IllegalArgumentException.class,
        () -> GraphStore.readItems(spark, shard.toString(), new int[] {22})).getMessage();
    assertTrue(outside.contains("holds no lists for item 22 (it has items 23 to 68)"), outside);
    Object[] shardRerank = run("rerank", "--graph", shard.toString(), "--dir", dir.toString());
    assertEquals(2, shardRerank[0], (String) shardRerank[1]);
    assertTrue(((String) shardRerank[1]).contains("re-ranking needs all of them"), (String) shardRerank[1]);
    Object[] badRange = run("knn-graph", "--dir", dir.toString(), "--out", tmp.resolve("z").toString(),
        "--row-blocks", "3:1");
    assertEquals(2, badRange[0], (String) badRange[1]);
    assertTrue(((String) badRange[1]).contains("--row-blocks: expected FROM:TO"), (String) badRange[1]);

    // an existing graph is not overwritten without --overwrite
    long before = Files.walk(g1).count();
    Object[] again = run("knn-graph", "--dir", dir.toString(), "--out", g1.toString(), "--backend", "java");
    assertNotEquals(0, again[0]);
    assertTrue(((String) again[1]).contains("already exists"), (String) again[1]);
    assertEquals(before, Files.walk(g1).count());
    // a graph of other items, or one too short for k1, is refused by rerank
    Object[] other = run("rerank", "--graph", g1.toString(), "--query", qt.toString(), "--gallery", qt.toString());
    assertEquals(2, other[0], (String) other[1]);
    assertTrue(((String) other[1]).contains("was built from " + c.query().size() + " queries"), (String) other[1]);
    Object[] shortOne = run("rerank", "--graph", g1.toString(), "--dir", dir.toString(), "--k1", "40");
    assertEquals(2, shortOne[0], (String) shortOne[1]);
    assertTrue(((String) shortOne[1]).contains("keeps 21 neighbours per item, 41 are needed"), (String) shortOne[1]);
    Object[] notGraph = run("rerank", "--graph", qt.toString(), "--dir", dir.toString());
    assertEquals(2, notGraph[0], (String) notGraph[1]);
    assertTrue(((String) notGraph[1]).contains("is not a reid4j kNN graph"), (String) notGraph[1]);
  }

  @Test
  void badTablesAreRefusedNamingTheFileAndTheItem() throws Exception {
    SparkSession spark = SparkTestSession.get();
    Path noFeature = tmp.resolve("nofeature.parquet");
    spark.createDataFrame(List.of(RowFactory.create("a", 1, 2)), new org.apache.spark.sql.types.StructType()
        .add("id", "string").add("pid", "int").add("camid", "int")).write().parquet(noFeature.toString());
    Object[] o = run("knn-graph", "--query", noFeature.toString(), "--gallery", noFeature.toString(), "--out",
        tmp.resolve("x").toString());
    assertEquals(2, o[0], (String) o[1]);
    assertTrue(((String) o[1]).contains(noFeature + ": no column 'feature'"), (String) o[1]);
    assertFalse(Files.exists(tmp.resolve("x")));

    Path nan = tmp.resolve("nan.parquet");
    spark.createDataFrame(List.of(RowFactory.create("ok", 1, 1, new float[] {1, 2}),
        RowFactory.create("bad-item", 1, 1, new float[] {1, Float.NaN})), FeatureTables.SCHEMA).coalesce(1).write()
        .parquet(nan.toString());
    o = run("knn-graph", "--query", nan.toString(), "--gallery", nan.toString(), "--out", tmp.resolve("y").toString(),
        "--backend", "java", "--length", "2");
    assertEquals(2, o[0], (String) o[1]);
    assertTrue(((String) o[1]).contains("item 'bad-item' has a non-finite or missing value at feature index 1"),
        (String) o[1]);
    assertFalse(Files.exists(tmp.resolve("y").resolve("_SUCCESS")), "no table is committed");
  }

  // ---- extraction ----

  private static Path png(Path f, int w, int h, long seed) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    SplittableRandom r = new SplittableRandom(seed);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, r.nextInt(1 << 24));
    Files.createDirectories(f.getParent());
    ImageIO.write(img, "png", f.toFile());
    return f;
  }

  /** A train-style checkpoint of a tiny random small_cnn. */
  private static Path checkpoint(Path dir) throws Exception {
    TrainConfig cfg = TrainConfig.defaults().with(List.of("MODEL.BACKBONE=small_cnn", "MODEL.EMBED_DIM=16",
        "INPUT.SIZE_TEST=[24,12]", "INPUT.SIZE_TRAIN=[24,12]", "TEST.BATCH_SIZE=3", "OUTPUT_DIR=unused"));
    org.bytedeco.pytorch.global.torch.manual_seed(5);
    try (ReidModel m = ReidModel.build(cfg.model(), 3, 4)) {
      m.eval();
      Optimizers.Groups adam = Optimizers.forModel(new Optimizers.Settings("adam", 1e-3, 0, 0, 1, 0.9), m);
      Checkpoints.Meta meta = new Checkpoints.Meta(Checkpoints.FORMAT, 1, 10, 4, "test", Checkpoints.signature(m), 1,
          -1, 0, 1.0, "now", Map.of(), cfg.toYaml());
      return new Checkpoints(dir.resolve("run/checkpoints")).save("best", meta,
          new Checkpoints.State(m, adam, null, null));
    }
  }

  @Test
  void extractionEqualsTheSingleProcessExtractorAndSkipsBrokenImages() throws Exception {
    Path ckpt = checkpoint(tmp), imgs = tmp.resolve("imgs");
    StringBuilder csv = new StringBuilder("path,pid,camid\n");
    List<Path> files = new ArrayList<>();
    int n = 11;
    for (int i = 0; i < n; i++) {
      Path f = png(imgs.resolve("p" + i + ".png"), 10 + i % 3, 20 + i % 5, 100 + i);
      files.add(f);
      csv.append("p").append(i).append(".png,").append(i % 4).append(',').append(i % 2).append('\n');
    }
    Files.writeString(imgs.resolve("broken.png"), "not a png");
    csv.append("broken.png,1,1\n");
    Path list = Files.writeString(tmp.resolve("list.csv"), csv), out = tmp.resolve("feats.parquet");
    Path json = tmp.resolve("extract.json");
    List<String> model = List.of("--checkpoint", ckpt.toString(), "--normalize", "--flip");
    List<String> args = new ArrayList<>(List.of("extract", "--list", list.toString(), "--root", imgs.toString(),
        "--out", out.toString(), "--partitions", "3", "--json", json.toString()));
    args.addAll(model);
    Object[] o = run(args.toArray(new String[0]));
    assertEquals(0, o[0], (String) o[1]);
    JsonNode s = JSON.readTree(json.toFile());
    assertEquals(n + 1, s.get("images").asInt());
    assertEquals(n, s.get("extracted").asInt());
    assertEquals(1, s.get("skipped").asInt());
    assertEquals("broken.png", s.get("skippedExamples").get(0).asText());

    LabelledFeatures got = FeatureTables.collect(SparkTestSession.get(), out.toString(), "extracted");
    List<Row> ids = SparkTestSession.get().read().parquet(out.toString()).select("id").collectAsList();
    Map<String, Integer> row = new HashMap<>();
    for (int i = 0; i < ids.size(); i++) row.put(ids.get(i).getString(0), i);
    int[] pids = new int[n], camids = new int[n];
    for (int i = 0; i < n; i++) {
      pids[i] = i % 4;
      camids[i] = i % 2;
    }
    try (ExtractCommand.OpenedModel m = ExtractCommand.openModel(model)) {
      Extractor.Result want = Extractor.extract(m.embedder(), new FileImageSource("ref", files, pids, camids, 3),
          m.options());
      int d = want.features().cols();
      assertEquals(d, got.features().cols());
      for (int i = 0; i < n; i++) {
        int at = row.get("p" + i + ".png");
        assertEquals(pids[i], got.pids()[at]);
        assertEquals(camids[i], got.camids()[at]);
        for (int k = 0; k < d; k++)
          assertEquals(want.features().data()[i * d + k], got.features().data()[at * d + k], 1e-6f, "image " + i);
      }
    }

    // bad model words fail on the driver before anything is written
    Path out2 = tmp.resolve("feats2.parquet");
    Object[] bad = run("extract", "--list", list.toString(), "--root", imgs.toString(), "--out", out2.toString(),
        "--checkpoint", ckpt.toString(), "--scales", "0");
    assertEquals(2, bad[0], (String) bad[1]);
    assertTrue(((String) bad[1]).contains("--scales"), (String) bad[1]);
    assertFalse(Files.exists(out2));
    Path badList = Files.writeString(tmp.resolve("bad.csv"), "file,pid,camid\nx.png,1,1\n");
    bad = run("extract", "--list", badList.toString(), "--out", out2.toString(), "--checkpoint", ckpt.toString());
    assertEquals(2, bad[0], (String) bad[1]);
    assertTrue(((String) bad[1]).contains(badList + ": no column 'path'"), (String) bad[1]);
    assertFalse(Files.exists(out2));
  }
}
