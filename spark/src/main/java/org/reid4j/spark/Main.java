package org.reid4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.eval.rerank.ListRecall;
import org.reid4j.io.AtomicFiles;
import org.reid4j.io.FeatureDir;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * {@code spark-submit --class org.reid4j.spark.Main reid4j-spark.jar COMMAND ...}: reid4j's batch jobs.
 * Without a master from spark-submit (plain {@code java}), they run on {@code local[*]}.
 */
@Command(name = "reid4j-spark", mixinStandardHelpOptions = true, subcommands = {Main.Extract.class,
    Main.Graph.class, Main.Rerank.class, Main.CheckGraph.class}, description = "reid4j's batch jobs on Apache Spark.")
public final class Main implements Callable<Integer> {
  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs a command; bad input prints "error: ..." and gives exit code 2, a failure 1. */
  public static int run(String... args) {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      Throwable root = e;
      while (root.getCause() != null && !(root instanceof IllegalArgumentException)) root = root.getCause();
      System.err.println("error: " + (root instanceof IllegalArgumentException ? root.getMessage() : e));
      return root instanceof IllegalArgumentException ? 2 : 1;
    });
    return cl.execute(args);
  }

  @Override
  public Integer call() {
    new CommandLine(this).usage(System.out);
    return 0;
  }

  /** A Spark session for one command; stopped at the end only if the command started it. */
  record Session(SparkSession spark, boolean owned) implements AutoCloseable {
    @Override
    public void close() {
      if (owned) spark.stop();
    }
  }

  static Session session(String app) {
    scala.Option<SparkSession> running = SparkSession.getDefaultSession();
    if (running.isDefined() && !running.get().sparkContext().isStopped()) return new Session(running.get(), false);
    SparkSession.Builder b = SparkSession.builder().appName("reid4j " + app);
    if (!new org.apache.spark.SparkConf().contains("spark.master")) b.master("local[*]");
    return new Session(b.getOrCreate(), true);
  }

  /** The rows of a, then those of b (same width); b itself when a has no rows (no copy of a large gallery). */
  static FloatMatrix concat(FloatMatrix a, FloatMatrix b) {
    if (a.rows() == 0) return b;
    float[] v = java.util.Arrays.copyOf(a.data(), Math.addExact(a.data().length, b.data().length));
    System.arraycopy(b.data(), 0, v, a.data().length, b.data().length);
    return new FloatMatrix(a.rows() + b.rows(), a.cols(), v);
  }

  static void writeJson(Path file, Object value) throws IOException {
    if (file == null) return;
    AtomicFiles.writeString(file, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsString(value) + "\n");
    System.out.println("wrote " + file);
  }

  /** Query and gallery: an eval folder of .npy files on the driver, or two feature tables. */
  static final class Sides {
    @Option(names = "--dir", paramLabel = "DIR", description = "Features in the layout of `reid4j eval --dir` "
        + "(query_feats.npy, query_pids.npy, ...), read on the driver.")
    Path dir;

    @Option(names = "--query", paramLabel = "TABLE", description = "Query feature table (Parquet, from `extract`).")
    String query;

    @Option(names = "--gallery", paramLabel = "TABLE", description = "Gallery feature table (Parquet).")
    String gallery;

    @Option(names = "--items", paramLabel = "FILE", description = "Unlabelled items: one float32 [N, D] .npy file, "
        + "read on the driver (a graph of them alone: no queries, no evaluation).")
    Path items;

    void check() {
      int given = (dir != null ? 1 : 0) + (items != null ? 1 : 0) + (query != null || gallery != null ? 1 : 0);
      if (given != 1 || (query != null) != (gallery != null))
        throw new IllegalArgumentException("give the features as --dir DIR, as --query TABLE and --gallery TABLE, or "
            + "as --items FILE");
    }

    /** The features a graph was built from: normalised as it was, and of its item counts (else refused). */
    LabelledFeatures[] forGraph(SparkSession spark, GraphStore.Meta meta, String graph) throws IOException {
      LabelledFeatures[] qg = collect(spark, meta.normalize());
      if (qg[0].size() + qg[1].size() != meta.items() || qg[0].size() != meta.queries())
        throw new IllegalArgumentException(graph + " was built from " + meta.queries() + " queries + " + meta.gallery()
            + " gallery rows, these features have " + qg[0].size() + " + " + qg[1].size());
      return qg;
    }

    LabelledFeatures[] collect(SparkSession spark, boolean normalize) throws IOException {
      if (items != null) {
        FloatMatrix all = org.reid4j.io.Npy.read(items).asMatrix();
        LabelledFeatures g = new LabelledFeatures("items", all, new int[all.rows()], new int[all.rows()]);
        LabelledFeatures q = new LabelledFeatures("none", new FloatMatrix(0, all.cols(), new float[0]), new int[0],
            new int[0]);
        return normalize ? new LabelledFeatures[] {q, g.l2Normalized()} : new LabelledFeatures[] {q, g};
      }
      LabelledFeatures q = dir != null ? FeatureDir.readQuery(dir) : FeatureTables.collect(spark, query, "query");
      LabelledFeatures g = dir != null ? FeatureDir.readGallery(dir) : FeatureTables.collect(spark, gallery, "gallery");
      q.requireFinite();
      g.requireFinite();
      if (q.features().cols() != g.features().cols())
        throw new IllegalArgumentException("queries have " + q.features().cols() + " feature values, the gallery "
            + g.features().cols());
      return normalize ? new LabelledFeatures[] {q.l2Normalized(), g.l2Normalized()} : new LabelledFeatures[] {q, g};
    }
  }

  @Command(name = "extract", mixinStandardHelpOptions = true, description = {
      "Features of a list of images (CSV with a header path,pid,camid, or Parquet), one model per executor, "
          + "as a feature table (Parquet: id, pid, camid, feature).",
      "The model options are those of `reid4j extract`: --checkpoint F or --torchscript F --input-size H,W, "
          + "--normalize, --flip, --batch N, ..."})
  static final class Extract implements Callable<Integer> {
    @Option(names = "--list", required = true, paramLabel = "FILE", description = "The images: CSV or Parquet.")
    String list;

    @Option(names = "--root", paramLabel = "DIR", description = "Folder relative paths are resolved against "
        + "(visible to every executor).")
    String root;

    @Option(names = "--out", required = true, paramLabel = "TABLE", description = "Output feature table (Parquet).")
    String out;

    @Option(names = "--partitions", paramLabel = "N", defaultValue = "0",
        description = "Tasks to spread the images over (default: as the list is partitioned).")
    int partitions;

    @Option(names = "--overwrite", description = "Replace an existing output table.")
    boolean overwrite;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the summary as JSON (on the driver).")
    Path json;

    @Unmatched
    List<String> modelWords = new ArrayList<>();

    @Override
    public Integer call() throws IOException {
      if (partitions < 0) throw new IllegalArgumentException("--partitions must be 0 or more, got " + partitions);
      try (Session session = session("extract")) {
        SparkSession spark = session.spark();
        SparkExtraction.Summary s = SparkExtraction.run(spark, list, root, modelWords, partitions, out, overwrite);
        System.out.println(SparkExtraction.describe(s) + "; wrote " + out);
        if (!s.skippedExamples().isEmpty()) System.out.println("skipped, e.g.: " + s.skippedExamples());
        writeJson(json, s);
      }
      return 0;
    }
  }

  @Command(name = "knn-graph", mixinStandardHelpOptions = true, description = {
      "The exact k-nearest-neighbour graph of the query and gallery items (queries first), block by block: each "
          + "task one block of rows against one group of column blocks, top-k merged per row. Written as a Parquet "
          + "table (item, neighbours, distances, row_max) that `rerank` reads."})
  static final class Graph implements Callable<Integer> {
    @CommandLine.Mixin
    Sides sides = new Sides();

    @Option(names = "--out", required = true, paramLabel = "TABLE", description = "Output graph table (Parquet).")
    String out;

    @Option(names = "--metric", paramLabel = "M", defaultValue = "sqeuclidean",
        description = "sqeuclidean, euclidean or cosine (default ${DEFAULT-VALUE}).")
    String metric;

    @Option(names = "--normalize", description = "L2-normalise the features first.")
    boolean normalize;

    @Option(names = "--length", paramLabel = "L",
        description = "Neighbours kept per item (default: what re-ranking with --k1 and --k2 needs, max(k1 + 1, k2)).")
    Integer length;

    @Option(names = "--k1", paramLabel = "K", defaultValue = "20", description = "Re-ranking k1 the graph is for (default ${DEFAULT-VALUE}).")
    int k1;

    @Option(names = "--k2", paramLabel = "K", defaultValue = "6", description = "Re-ranking k2 (default ${DEFAULT-VALUE}).")
    int k2;

    @Option(names = "--block-rows", paramLabel = "N", defaultValue = "4096",
        description = "Items per block; tiles = blocks (blocks + 1) / 2, those on and above the diagonal "
            + "(default ${DEFAULT-VALUE}).")
    int blockRows;

    @Option(names = "--backend", paramLabel = "B", defaultValue = "auto",
        description = "Kernels in the executors: auto, cpu, cuda or java (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--column-groups", paramLabel = "G",
        description = "Partitions the column blocks are gathered into, and the row blocks too (at most the shard's "
            + "blocks): tasks = row groups x G, each merging its tiles' lists before the shuffle (default: 4 per core "
            + "of the cluster, at most the blocks).")
    Integer columnGroups;

    @Option(names = "--row-blocks", paramLabel = "FROM:TO",
        description = "Build the lists of row blocks FROM .. TO - 1 only (one shard of the graph; default: all).")
    String rowBlocks;

    @Option(names = "--overwrite", description = "Replace an existing graph table.")
    boolean overwrite;

    @Option(names = "--json", paramLabel = "FILE", description = "Write how it went as JSON (on the driver).")
    Path json;

    @Override
    public Integer call() throws IOException {
      sides.check();
      Metric m = Metric.parse(metric);
      Backend b = Backend.parse(backend);
      if (blockRows < 1) throw new IllegalArgumentException("--block-rows must be at least 1, got " + blockRows);
      RerankParams p = new RerankParams(k1, k2, 0.3f);
      try (Session session = session("knn-graph")) {
        SparkSession spark = session.spark();
        long t0 = System.nanoTime();
        FeatureTables.Blocks blocks;
        if (sides.dir != null || sides.items != null) {
          LabelledFeatures[] qg = sides.collect(spark, normalize);
          FloatMatrix items = concat(qg[0].features(), qg[1].features());
          var rdd = KnnGraph.parallelize(JavaSparkContext.fromSparkContext(spark.sparkContext()), items, blockRows);
          blocks = new FeatureTables.Blocks(rdd, rdd.getNumPartitions(), qg[0].size(), qg[1].size(),
              items.cols());
        } else {
          blocks = FeatureTables.blocks(spark, sides.query, sides.gallery, blockRows, normalize);
        }
        int n = blocks.items();
        int len = length != null ? length : KReciprocal.listLength(p, n);
        if (len < 1 || len > n)
          throw new IllegalArgumentException("--length must be in [1, " + n + "] (the items), got " + len);
        int[] range = rowBlocks == null ? new int[] {0, blocks.numBlocks()} : range(rowBlocks, blocks.numBlocks());
        int groups = columnGroups != null ? columnGroups
            : KnnGraph.defaultColumnGroups(blocks.numBlocks(), spark.sparkContext().defaultParallelism());
        if (groups < 1 || groups > blocks.numBlocks())
          throw new IllegalArgumentException("--column-groups must be in [1, " + blocks.numBlocks() + "] (the blocks), "
              + "got " + groups);
        long tasks = KnnGraph.tasks(range[0], range[1], groups);
        long tiles = KnnGraph.tiles(blocks.numBlocks(), range[0], range[1]);
        System.out.printf(Locale.ROOT, "knn-graph: %d items (%d queries, %d gallery) of dim %d, %d blocks of %d rows; "
            + "lists of row blocks %d..%d in %d groups against %d column groups (%d tasks, %d tiles of %d), "
            + "%d neighbours each, %s%n", n, blocks.queries(), blocks.gallery(), blocks.dim(), blocks.numBlocks(),
            blockRows, range[0], range[1] - 1, KnnGraph.rowGroups(range[0], range[1], groups), groups, tasks,
            tiles, (long) (range[1] - range[0]) * blocks.numBlocks(), len, m);
        LongAccumulator tilesDone = spark.sparkContext().longAccumulator("knn-graph tiles");
        JavaPairRDD<Integer, PartialLists> built = KnnGraph.build(blocks.rdd(), blocks.numBlocks(), m, len, b,
            range[0], range[1], groups, tilesDone);
        GraphStore.Meta meta = new GraphStore.Meta(n, (int) blocks.queries(), (int) blocks.gallery(), len, m.name(),
            normalize, blocks.dim(), blockRows, blocks.numBlocks(), range[0] * blockRows,
            (int) Math.min(n, (long) range[1] * blockRows));
        TaskProgress progress = new TaskProgress(System.out, 10, tasks, tiles, tilesDone::value, "knn-graph", "tiles");
        spark.sparkContext().addSparkListener(progress);
        try {
          GraphStore.write(spark, built, meta, out, overwrite);
        } finally {
          spark.sparkContext().removeSparkListener(progress);
          blocks.rdd().unpersist(false);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        int listed = meta.lastItem() - meta.firstItem();
        System.out.printf(Locale.ROOT, "wrote %s: the lists of %d items in %.1f s (%.0f items/s)%n", out, listed, s,
            listed / s);
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("graph", meta);
        report.put("seconds", s);
        report.put("master", spark.sparkContext().master());
        writeJson(json, report);
      }
      return 0;
    }
  }

  /** "A:B" with 0 <= A < B <= blocks. */
  static int[] range(String text, int blocks) {
    String[] p = text.split(":", -1);
    try {
      int a = Integer.parseInt(p[0].trim()), b = Integer.parseInt(p[1].trim());
      if (p.length == 2 && a >= 0 && a < b && b <= blocks) return new int[] {a, b};
    } catch (RuntimeException e) {
      // the message below
    }
    throw new IllegalArgumentException("--row-blocks: expected FROM:TO with 0 <= FROM < TO <= " + blocks
        + " (the blocks), got '" + text + "'");
  }

  @Command(name = "rerank", mixinStandardHelpOptions = true, description = {
      "k-reciprocal re-ranking from a kNN graph, and the Market-1501 evaluation (Rank-1, mAP, mINP), on the driver."})
  static final class Rerank implements Callable<Integer> {
    @CommandLine.Mixin
    Sides sides = new Sides();

    @Option(names = "--graph", required = true, paramLabel = "TABLE", description = "A graph from `knn-graph`.")
    String graph;

    @Option(names = "--k1", paramLabel = "K", defaultValue = "20", description = "(default ${DEFAULT-VALUE})")
    int k1;

    @Option(names = "--k2", paramLabel = "K", defaultValue = "6", description = "(default ${DEFAULT-VALUE})")
    int k2;

    @Option(names = "--lambda", paramLabel = "L", defaultValue = "0.3", description = "(default ${DEFAULT-VALUE})")
    float lambda;

    @Option(names = "--backend", paramLabel = "B", defaultValue = "auto",
        description = "Kernels for the query-gallery distances on the driver (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the scores as JSON.")
    Path json;

    @Override
    public Integer call() throws IOException {
      sides.check();
      RerankParams p = new RerankParams(k1, k2, lambda);
      Kernels kernels = Kernels.create(Backend.parse(backend));
      try (Session session = session("rerank")) {
        SparkSession spark = session.spark();
        GraphStore.Meta meta = GraphStore.meta(spark, graph);
        LabelledFeatures[] qg = sides.forGraph(spark, meta, graph);
        int n = meta.items();
        KnnGraph.Lists lists = GraphStore.read(spark, graph, KReciprocal.listLength(p, n));
        GraphRerank.Result r = GraphRerank.run(qg[0], qg[1], lists, meta.metricValue(), p, kernels,
            System.out::println);
        EvalResult e = r.eval();
        System.out.printf(Locale.ROOT, "re-ranked from %s (%s, k1 %d, k2 %d, lambda %.2f): Rank-1 %.2f%%  mAP %.2f%%  "
            + "mINP %.2f%%  (%d queries)%n", graph, meta.metric().toLowerCase(Locale.ROOT), k1, k2, lambda,
            100 * e.rank1(), 100 * e.mAP(), 100 * e.mINP(), qg[0].size());
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("graph", graph);
        report.put("rerank", Map.of("k1", k1, "k2", k2, "lambda", lambda));
        report.put("rank1", e.rank1());
        report.put("rank5", e.rank5());
        report.put("rank10", e.rank10());
        report.put("mAP", e.mAP());
        report.put("mINP", e.mINP());
        report.put("timings_ms", r.timingsMs());
        writeJson(json, report);
      }
      return 0;
    }
  }

  @Command(name = "check-graph", mixinStandardHelpOptions = true, description = {
      "A graph against a direct computation for a random sample of its items (on the driver): recall of each "
          + "exact list, and the largest difference of a written distance from the same pair's direct one."})
  static final class CheckGraph implements Callable<Integer> {
    @CommandLine.Mixin
    Sides sides = new Sides();

    @Option(names = "--graph", required = true, paramLabel = "TABLE", description = "A graph from `knn-graph`.")
    String graph;

    @Option(names = "--sample", paramLabel = "N", defaultValue = "1000", description = "Items to check (default ${DEFAULT-VALUE}).")
    int sample;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1", description = "(default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--backend", paramLabel = "B", defaultValue = "auto",
        description = "Kernels for the direct distances (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the report as JSON.")
    Path json;

    @Override
    public Integer call() throws IOException {
      sides.check();
      if (sample < 1) throw new IllegalArgumentException("--sample must be at least 1, got " + sample);
      Kernels kernels = Kernels.create(Backend.parse(backend));
      try (Session session = session("check-graph")) {
        SparkSession spark = session.spark();
        GraphStore.Meta meta = GraphStore.meta(spark, graph);
        LabelledFeatures[] qg = sides.forGraph(spark, meta, graph);
        FloatMatrix items = concat(qg[0].features(), qg[1].features());
        int span = meta.lastItem() - meta.firstItem();
        int[] picked = ListRecall.sample(span, sample, seed); // all when sample >= span
        for (int k = 0; k < picked.length; k++) picked[k] += meta.firstItem();
        KnnGraph.Lists lists = GraphStore.readItems(spark, graph, picked);
        GraphCheck.Report r = GraphCheck.check(items, lists, meta.metricValue(), kernels, picked);
        System.out.printf(Locale.ROOT, "checked %d items of %s against %s: recall@%d %.4f (worst %.4f), largest "
            + "distance difference %.3g, largest row-maximum difference %.3g (%.1f s)%n", r.sampled(), graph,
            kernels.describe(), r.length(), r.recall(), r.minRecall(), r.maxDistanceError(), r.maxRowMaxError(),
            r.seconds());
        writeJson(json, r);
      }
      return 0;
    }
  }
}
