package org.reid4j.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.reid4j.cli.ExtractCommand;
import org.reid4j.data.Batch;
import org.reid4j.data.FileImageSource;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.serve.Embedder;
import org.reid4j.serve.Extractor;

/**
 * Distributed feature extraction: a list of images (columns {@code path}, {@code pid}, {@code camid}; CSV
 * with a header line, or Parquet) and a model → a feature table ({@link FeatureTables#SCHEMA}; the id is
 * the path as listed). Each executor loads the model once (from the same words as {@code reid4j extract}:
 * {@code --checkpoint F} or {@code --torchscript F --input-size H,W}, ...) and shares it between its
 * tasks, whose forward passes take turns while their decoding runs in parallel; the native tensors of
 * each batch are freed when the batch is done (the model and its input buffer live as long as the executor). Images that cannot be read are left out, counted and named (up to
 * 20 per partition), as {@code reid4j extract} does.
 */
public final class SparkExtraction {
  private SparkExtraction() {}

  /** What an extraction did. */
  public record Summary(long images, long extracted, long skipped, List<String> skippedExamples, int dim,
      double seconds) {}

  /** Reads a list of images: Parquet when the path ends in .parquet (or is a Parquet folder), else CSV. */
  public static Dataset<Row> readList(SparkSession spark, String path) {
    boolean parquet = path.endsWith(".parquet") || path.endsWith(".parquet/");
    Dataset<Row> t = parquet ? spark.read().parquet(path)
        : spark.read().option("header", "true").option("inferSchema", "false").option("mode", "FAILFAST").csv(path);
    for (String c : List.of("path", "pid", "camid"))
      if (!List.of(t.columns()).contains(c))
        throw new IllegalArgumentException(path + ": no column '" + c + "' (has " + String.join(", ", t.columns())
            + "; an image list has a header line path,pid,camid)");
    return t.select(t.col("path").cast(DataTypes.StringType), t.col("pid").cast(DataTypes.StringType),
        t.col("camid").cast(DataTypes.StringType));
  }

  /**
   * Extracts the features of every image of list and writes them as a feature table at out (nothing
   * is written when the model words are wrong: they are checked on the driver first).
   *
   * @param root folder that relative paths are resolved against (visible to every executor), or null
   * @param partitions how many tasks share the images (0: as the list is partitioned)
   */
  public static Summary run(SparkSession spark, String listPath, String root, List<String> modelWords,
      int partitions, String out, boolean overwrite) throws IOException {
    long t0 = System.nanoTime();
    int dim;
    try (ExtractCommand.OpenedModel m = ExtractCommand.openModel(modelWords)) { // fails here, not in the executors
      dim = m.embedder().dim();
    }
    Dataset<Row> list = readList(spark, listPath);
    JavaRDD<Row> rows = list.javaRDD();
    if (partitions > 0) rows = rows.repartition(partitions);
    LongAccumulator skipped = spark.sparkContext().longAccumulator("reid4j skipped images");
    CollectionAccumulator<String> examples = spark.sparkContext().collectionAccumulator("reid4j skipped examples");
    List<String> words = List.copyOf(modelWords);
    JavaRDD<Row> features = rows.mapPartitions(
        it -> extractPartition(it, listPath, root, words, skipped, examples));
    TaskProgress progress = new TaskProgress(System.out, 10, features.getNumPartitions(), "extract", "partitions");
    spark.sparkContext().addSparkListener(progress);
    try {
      spark.createDataFrame(features, FeatureTables.SCHEMA).write()
          .mode(overwrite ? org.apache.spark.sql.SaveMode.Overwrite : org.apache.spark.sql.SaveMode.ErrorIfExists)
          .parquet(out);
    } finally {
      spark.sparkContext().removeSparkListener(progress);
    }
    long total = list.count(), extracted = spark.read().parquet(out).count();
    List<String> ex = new ArrayList<>(examples.value());
    return new Summary(total, extracted, skipped.value(), ex.subList(0, Math.min(ex.size(), 20)), dim,
        (System.nanoTime() - t0) / 1e9);
  }

  static Iterator<Row> extractPartition(Iterator<Row> it, String listPath, String root, List<String> words,
      LongAccumulator skipped, CollectionAccumulator<String> examples) {
    List<Path> files = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    while (it.hasNext()) {
      Row r = it.next();
      String path = r.isNullAt(0) ? null : r.getString(0);
      if (path == null || path.isBlank())
        throw new IllegalArgumentException(listPath + ": a row has no path (pid " + r.get(1) + ", camid " + r.get(2) + ")");
      ids.add(path);
      files.add(root == null ? Path.of(path) : Path.of(root).resolve(path));
      labels.add(new int[] {integer(r, 1, "pid", listPath, path), integer(r, 2, "camid", listPath, path)});
    }
    if (files.isEmpty()) return java.util.Collections.emptyIterator();
    Shared model = ExecutorModels.get(words);
    int[] pids = labels.stream().mapToInt(l -> l[0]).toArray(), camids = labels.stream().mapToInt(l -> l[1]).toArray();
    String name = listPath + " (partition " + (TaskContext.get() == null ? 0 : TaskContext.getPartitionId()) + ")";
    FileImageSource src = new FileImageSource(name, files, pids, camids, model.embedder().channels());
    List<Row> out = new ArrayList<>(files.size());
    // no PointerScope here: the embedder scopes each batch itself, and one around the partition would also
    // take (and free) the input buffer the embedder keeps between batches
    Extractor.Result res = Extractor.extract(model.locked(), src, model.options());
    FloatMatrix f = res.features();
    int d = f.cols();
    for (int k = 0; k < res.kept().length; k++) {
      int i = res.kept()[k];
      float[] row = new float[d];
      System.arraycopy(f.data(), k * d, row, 0, d);
      out.add(RowFactory.create(ids.get(i), pids[i], camids[i], row));
    }
    skipped.add(res.skipped().length);
    for (int k = 0; k < Math.min(20, res.skipped().length); k++) examples.add(ids.get(res.skipped()[k]));
    return out.iterator();
  }

  private static int integer(Row r, int column, String what, String listPath, String path) {
    String v = r.isNullAt(column) ? null : r.getString(column).trim();
    try {
      return Integer.parseInt(v);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(listPath + ": image " + path + " has " + what + " '" + v
          + "', expected an integer");
    }
  }

  /** One executor's model, and a view of it whose forward passes take turns. */
  record Shared(ExtractCommand.OpenedModel model, Embedder locked) {
    Embedder embedder() {
      return model.embedder();
    }

    Extractor.Options options() {
      return model.options();
    }
  }

  /** The models of this JVM, by their words: loaded on first use, closed when the JVM exits. */
  static final class ExecutorModels {
    private static final ConcurrentHashMap<List<String>, Shared> MODELS = new ConcurrentHashMap<>();

    static Shared get(List<String> words) {
      return MODELS.computeIfAbsent(words, w -> {
        try {
          ExtractCommand.OpenedModel m = ExtractCommand.openModel(w);
          Runtime.getRuntime().addShutdownHook(new Thread(m::close, "reid4j-model-close"));
          return new Shared(m, new Locked(m.embedder()));
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    }
  }

  /** An embedder whose {@link #embed} calls take turns. */
  private static final class Locked implements Embedder {
    private final Embedder e;

    Locked(Embedder e) {
      this.e = e;
    }

    @Override
    public int dim() {
      return e.dim();
    }

    @Override
    public int channels() {
      return e.channels();
    }

    @Override
    public int[] inputSize() {
      return e.inputSize();
    }

    @Override
    public double[] pixelMean() {
      return e.pixelMean();
    }

    @Override
    public double[] pixelStd() {
      return e.pixelStd();
    }

    @Override
    public synchronized FloatMatrix embed(float[] images, int n, int h, int w) {
      return e.embed(images, n, h, w);
    }

    @Override
    public synchronized FloatMatrix embed(Batch batch) {
      return e.embed(batch);
    }

    @Override
    public String toString() {
      return e.toString();
    }
  }

  static String describe(Summary s) {
    return String.format(Locale.ROOT, "%d of %d images extracted (%d skipped), dim %d, in %.1f s", s.extracted(),
        s.images(), s.skipped(), s.dim(), s.seconds());
  }
}
