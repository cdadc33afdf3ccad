package org.reid4j.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.reid4j.eval.Features;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.kernels.FloatMatrix;
import scala.Tuple2;

/**
 * Feature tables in Parquet, the format {@link SparkExtraction} writes: one row per image with columns
 * {@code id} (string), {@code pid} (int), {@code camid} (int) and {@code feature} (array of float, the
 * same length on every row). Read either onto the driver (labelled features for evaluation) or, for
 * the graph, straight into blocks on the executors.
 */
public final class FeatureTables {
  private FeatureTables() {}

  /** The schema of a feature table. */
  public static final StructType SCHEMA = new StructType(new StructField[] {
      DataTypes.createStructField("id", DataTypes.StringType, false),
      DataTypes.createStructField("pid", DataTypes.IntegerType, false),
      DataTypes.createStructField("camid", DataTypes.IntegerType, false),
      DataTypes.createStructField("feature", DataTypes.createArrayType(DataTypes.FloatType, false), false)});

  /** Reads a table, checking that it has the feature table's columns (by name, with compatible types). */
  public static Dataset<Row> read(SparkSession spark, String path) {
    Dataset<Row> t = spark.read().parquet(path);
    requireColumns(t.schema(), path, List.of("id", "pid", "camid", "feature"));
    return t.select("id", "pid", "camid", "feature");
  }

  static void requireColumns(StructType schema, String path, List<String> names) {
    for (String name : names) {
      StructField f = Arrays.stream(schema.fields()).filter(x -> x.name().equals(name)).findFirst().orElseThrow(
          () -> new IllegalArgumentException(path + ": no column '" + name + "' (has " + Arrays.toString(
              schema.fieldNames()) + "; a feature table has id, pid, camid and feature)"));
      DataType want = switch (name) {
        case "id" -> DataTypes.StringType;
        case "pid", "camid" -> DataTypes.IntegerType;
        default -> null;
      };
      if (want != null && !f.dataType().equals(want))
        throw new IllegalArgumentException(path + ": column '" + name + "' is " + f.dataType().simpleString()
            + ", expected " + want.simpleString());
      if (want == null && !(f.dataType() instanceof ArrayType a && a.elementType().equals(DataTypes.FloatType)))
        throw new IllegalArgumentException(path + ": column 'feature' is " + f.dataType().simpleString()
            + ", expected array<float>");
    }
  }

  /** One row's feature, checked: present, of the expected length (when dim > 0) and finite. */
  static float[] feature(Row r, int column, String path, int dim) {
    if (r.isNullAt(column))
      throw new IllegalArgumentException(path + ": item '" + r.getString(0) + "' has no feature (null)");
    List<Object> v = r.getList(column);
    if (dim > 0 && v.size() != dim)
      throw new IllegalArgumentException(path + ": item '" + r.getString(0) + "' has a feature of " + v.size()
          + " values, expected " + dim + " (as the first row)");
    float[] f = new float[v.size()];
    for (int k = 0; k < f.length; k++) {
      Object x = v.get(k);
      if (!(x instanceof Float y) || !Float.isFinite(y))
        throw new IllegalArgumentException(path + ": item '" + r.getString(0) + "' has a non-finite or missing value "
            + "at feature index " + k + " (" + x + ")");
      f[k] = y;
    }
    return f;
  }

  /** The whole table on the driver as labelled features, in the table's row order. */
  public static LabelledFeatures collect(SparkSession spark, String path, String name) {
    List<Row> rows = read(spark, path).collectAsList();
    if (rows.isEmpty()) throw new IllegalArgumentException(path + ": the " + name + " table has no rows");
    int n = rows.size(), d = rows.get(0).isNullAt(3) ? 0 : rows.get(0).getList(3).size();
    if (d < 1) throw new IllegalArgumentException(path + ": item '" + rows.get(0).getString(0) + "' has an empty feature");
    float[] a = new float[Math.multiplyExact(n, d)];
    int[] pids = new int[n], camids = new int[n];
    for (int i = 0; i < n; i++) {
      Row r = rows.get(i);
      System.arraycopy(feature(r, 3, path, d), 0, a, i * d, d);
      pids[i] = r.getInt(1);
      camids[i] = r.getInt(2);
    }
    return new LabelledFeatures(name, new FloatMatrix(n, d, a), pids, camids);
  }

  /** What {@link #blocks} made: the blocks and the sizes of each side. */
  public record Blocks(JavaRDD<FeatureBlock> rdd, int numBlocks, long queries, long gallery, int dim) {
    public int items() {
      return Math.toIntExact(queries + gallery);
    }
  }

  /**
   * The rows of the query table, then those of the gallery table, as blocks of blockRows rows, one per
   * partition, built on the executors (the features never pass through the driver). Row order within a
   * table is the order Spark reads its files in, the same as {@link #collect}.
   *
   * @param normalize L2-normalise each feature
   */
  public static Blocks blocks(SparkSession spark, String queryPath, String galleryPath, int blockRows,
      boolean normalize) {
    if (blockRows < 1) throw new IllegalArgumentException("--block-rows must be at least 1, got " + blockRows);
    JavaPairRDD<Row, Long> q = read(spark, queryPath).javaRDD().zipWithIndex();
    JavaPairRDD<Row, Long> g = read(spark, galleryPath).javaRDD().zipWithIndex();
    long nq = q.count(), ng = g.count();
    if (nq == 0) throw new IllegalArgumentException(queryPath + ": the query table has no rows");
    if (ng == 0) throw new IllegalArgumentException(galleryPath + ": the gallery table has no rows");
    if (nq + ng > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException(nq + " queries + " + ng + " gallery rows is too many items for one graph");
    int dim = feature(first(q), 3, queryPath, 0).length;
    if (dim < 1) throw new IllegalArgumentException(queryPath + ": the first item has an empty feature");
    int numBlocks = (int) ((nq + ng + blockRows - 1) / blockRows);
    long offset = nq;
    JavaPairRDD<Integer, Tuple2<Long, float[]>> rows = q
        .mapToPair(t -> new Tuple2<>((int) (t._2() / blockRows),
            new Tuple2<>(t._2(), prepared(t._1(), queryPath, dim, normalize))))
        .union(g.mapToPair(t -> new Tuple2<>((int) ((t._2() + offset) / blockRows),
            new Tuple2<>(t._2() + offset, prepared(t._1(), galleryPath, dim, normalize)))));
    JavaRDD<FeatureBlock> blocks = rows.groupByKey(new HashPartitioner(numBlocks)).map(t -> {
      List<Tuple2<Long, float[]>> members = new ArrayList<>();
      t._2().forEach(members::add);
      members.sort((x, y) -> Long.compare(x._1(), y._1()));
      int start = t._1() * blockRows, n = members.size();
      float[] data = new float[n * dim];
      for (int r = 0; r < n; r++) {
        if (members.get(r)._1() != start + r)
          throw new IllegalStateException("block " + t._1() + " is missing item " + (start + r));
        System.arraycopy(members.get(r)._2(), 0, data, r * dim, dim);
      }
      return new FeatureBlock(t._1(), start, n, dim, data);
    });
    return new Blocks(blocks, numBlocks, nq, ng, dim);
  }

  private static Row first(JavaPairRDD<Row, Long> t) {
    return t.keys().first();
  }

  private static float[] prepared(Row r, String path, int dim, boolean normalize) {
    float[] f = feature(r, 3, path, dim);
    // the core's normalisation, so that the graph's features are bit for bit those of `reid4j eval --normalize`
    return normalize ? Features.l2Normalize(new FloatMatrix(1, f.length, f)).data() : f;
  }
}
