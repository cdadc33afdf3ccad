package org.reid4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.reid4j.kernels.Metric;

/**
 * A kNN graph on storage: a Parquet table with one row per item ({@code item} int, its global index:
 * queries first, then the gallery; {@code neighbours} array of int and {@code distances} array of float,
 * ascending by (distance, index); {@code row_max} float, the item's largest distance to any item) and,
 * inside the table's folder, {@code _reid4j_graph.json}: how it was made (items, queries, gallery, list
 * length, metric, normalisation, blocks). Spark's readers skip files whose names start with "_", and
 * Spark's commit protocol leaves no table (no {@code _SUCCESS}) when a job fails, so a failed build
 * never looks like a graph.
 */
public final class GraphStore {
  private GraphStore() {}

  public static final String META = "_reid4j_graph.json";

  public static final StructType SCHEMA = new StructType(new StructField[] {
      DataTypes.createStructField("item", DataTypes.IntegerType, false),
      DataTypes.createStructField("neighbours", DataTypes.createArrayType(DataTypes.IntegerType, false), false),
      DataTypes.createStructField("distances", DataTypes.createArrayType(DataTypes.FloatType, false), false),
      DataTypes.createStructField("row_max", DataTypes.FloatType, false)});

  /**
   * How a graph was made. The table holds the lists of items firstItem .. lastItem - 1: all of them unless
   * it was built for a range of row blocks (one shard).
   */
  public record Meta(int items, int queries, int gallery, int length, String metric, boolean normalize, int dim,
      int blockRows, int blocks, int firstItem, int lastItem) {
    Metric metricValue() {
      return Metric.valueOf(metric);
    }

    boolean complete() {
      return firstItem == 0 && lastItem == items;
    }
  }

  /** Writes built lists as a graph table at path (refused if it exists, unless overwrite), then its metadata. */
  public static void write(SparkSession spark, JavaPairRDD<Integer, PartialLists> built, Meta meta, String path,
      boolean overwrite) throws IOException {
    JavaRDD<Row> rows = built.values().flatMap(p -> {
      java.util.ArrayList<Row> out = new java.util.ArrayList<>(p.rows);
      for (int r = 0; r < p.rows; r++) {
        int[] idx = java.util.Arrays.copyOfRange(p.idx, r * p.length, (r + 1) * p.length);
        float[] dist = java.util.Arrays.copyOfRange(p.dist, r * p.length, (r + 1) * p.length);
        out.add(RowFactory.create(p.start + r, idx, dist, p.max[r]));
      }
      return out.iterator();
    });
    spark.createDataFrame(rows, SCHEMA).write().mode(overwrite ? SaveMode.Overwrite : SaveMode.ErrorIfExists)
        .parquet(path);
    Path file = new Path(path, META);
    FileSystem fs = file.getFileSystem(spark.sparkContext().hadoopConfiguration());
    try (OutputStream o = fs.create(file, true)) {
      o.write((new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(meta) + "\n")
          .getBytes(StandardCharsets.UTF_8));
    }
  }

  /** The metadata of the graph at path. */
  public static Meta meta(SparkSession spark, String path) throws IOException {
    Path file = new Path(path, META);
    FileSystem fs = file.getFileSystem(spark.sparkContext().hadoopConfiguration());
    if (!fs.exists(file))
      throw new IllegalArgumentException(path + " is not a reid4j kNN graph (no " + META + "; written by "
          + "`knn-graph`, last, after the table)");
    try (InputStream in = fs.open(file)) {
      return new ObjectMapper().readValue(in, Meta.class);
    }
  }

  /**
   * The graph at path on the driver, each list cut to its first {@code length} entries (a graph built
   * with longer lists serves every shorter length).
   *
   * @throws IllegalArgumentException when the graph holds only a range of items (a shard), is too short, or
   *     its table does not match its metadata
   */
  public static KnnGraph.Lists read(SparkSession spark, String path, int length) throws IOException {
    Meta m = meta(spark, path);
    if (!m.complete())
      throw new IllegalArgumentException(path + " holds the lists of items " + m.firstItem() + " to "
          + (m.lastItem() - 1) + " of " + m.items() + " only (built with --row-blocks); re-ranking needs all of them");
    return read(spark, path, m, length, null);
  }

  /**
   * The lists of the given items only (the other rows of the result stay empty): for checking a sample of
   * a graph, or of one shard, without collecting all of it.
   */
  public static KnnGraph.Lists readItems(SparkSession spark, String path, int[] items) throws IOException {
    Meta m = meta(spark, path);
    for (int i : items)
      if (i < m.firstItem() || i >= m.lastItem())
        throw new IllegalArgumentException(path + " holds no lists for item " + i + " (it has items "
            + m.firstItem() + " to " + (m.lastItem() - 1) + ")");
    return read(spark, path, m, m.length(), items);
  }

  private static KnnGraph.Lists read(SparkSession spark, String path, Meta m, int length, int[] only) {
    if (length > m.length())
      throw new IllegalArgumentException(path + ": the graph keeps " + m.length() + " neighbours per item, "
          + length + " are needed (build it with --length " + length + " or more)");
    int n = m.items();
    int[] idx = new int[Math.multiplyExact(n, length)];
    float[] dist = new float[idx.length], max = new float[n];
    boolean[] seen = new boolean[n];
    org.apache.spark.sql.Dataset<Row> table = spark.read().parquet(path).select("item", "neighbours", "distances",
        "row_max");
    if (only != null) {
      Object[] wanted = java.util.Arrays.stream(only).boxed().toArray();
      table = table.filter(table.col("item").isin(wanted));
    }
    List<Row> rows = table.collectAsList();
    for (Row r : rows) {
      int i = r.getInt(0);
      if (i < 0 || i >= n) throw new IllegalArgumentException(path + ": item " + i + " is outside [0, " + n + ")");
      if (seen[i]) throw new IllegalArgumentException(path + ": item " + i + " appears twice");
      seen[i] = true;
      List<Object> nb = r.getList(1), ds = r.getList(2);
      if (nb.size() < length || ds.size() < length)
        throw new IllegalArgumentException(path + ": item " + i + " has " + nb.size() + " neighbours, expected "
            + m.length());
      for (int p = 0; p < length; p++) {
        idx[i * length + p] = (Integer) nb.get(p);
        dist[i * length + p] = (Float) ds.get(p);
      }
      max[i] = r.getFloat(3);
    }
    int want = only != null ? only.length : m.lastItem() - m.firstItem();
    if (rows.size() != want)
      throw new IllegalArgumentException(path + ": " + rows.size() + " items found in the table, " + want
          + " expected from " + META);
    return new KnnGraph.Lists(n, length, idx, dist, max);
  }
}
