package org.reid4j.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopKWithMax;
import scala.Tuple2;

/**
 * The exact k-nearest-neighbour graph of N items, built block by block on Spark: the items are cut
 * into blocks of rows (one partition each); a task takes one row block against one group of column
 * blocks and, tile by tile, keeps for each row the {@code length} nearest columns by (distance, index)
 * and the row's largest distance (one fused pass of the kernels, {@link Kernels#pairwiseTopkWithMax}),
 * merging as it goes; the partial lists of a row block are then merged across the groups (a reduce by
 * row block). The result is, for every item, its first {@code length} neighbours among all N (itself
 * included) and its largest distance: what k-reciprocal re-ranking needs from the N x N pass, without
 * any machine holding more than a block pair of it.
 *
 * <p>Cost: N^2 d multiply-adds over (N / block)^2 tiles in (N / block) x groups tasks; the shuffle
 * carries N * length (index, distance) pairs per column group. Each executor keeps one kernel instance
 * per backend.
 */
public final class KnnGraph {
  private KnnGraph() {}

  /** The merged lists of the rows of each block, keyed by block number. */
  public static JavaPairRDD<Integer, PartialLists> build(JavaRDD<FeatureBlock> blocks, int numBlocks, Metric metric,
      int length, Backend backend) {
    return build(blocks, numBlocks, metric, length, backend, 0, numBlocks, numBlocks);
  }

  /**
   * The lists of the rows of blocks fromBlock .. toBlock - 1 only, against all items: one shard of a graph
   * (several jobs, or clusters, can each build a range of row blocks). The column blocks are gathered into
   * columnGroups partitions: a task takes one row block against one group, merging its tiles' lists as it
   * goes (Spark's map-side combine), so that the shuffle carries one partial list per row block and group
   * rather than one per tile. The blocks RDD is persisted (memory and disk) for the tiles to share:
   * unpersist it when the result has been written.
   */
  public static JavaPairRDD<Integer, PartialLists> build(JavaRDD<FeatureBlock> blocks, int numBlocks, Metric metric,
      int length, Backend backend, int fromBlock, int toBlock, int columnGroups) {
    if (metric == null) throw new IllegalArgumentException("metric is null");
    if (backend == null) throw new IllegalArgumentException("backend is null");
    if (length < 1) throw new IllegalArgumentException("list length must be at least 1, got " + length);
    if (numBlocks < 1) throw new IllegalArgumentException("there must be at least one block, got " + numBlocks);
    if (fromBlock < 0 || toBlock > numBlocks || fromBlock >= toBlock)
      throw new IllegalArgumentException("row blocks " + fromBlock + ":" + toBlock + " are not a range within [0, "
          + numBlocks + "]");
    if (columnGroups < 1 || columnGroups > numBlocks)
      throw new IllegalArgumentException("column groups must be in [1, " + numBlocks + "] (the blocks), got "
          + columnGroups);
    JavaRDD<FeatureBlock> cached = blocks.persist(StorageLevel.MEMORY_AND_DISK());
    JavaRDD<FeatureBlock> rows = fromBlock == 0 && toBlock == numBlocks ? cached
        : cached.filter(b -> b.block() >= fromBlock && b.block() < toBlock);
    JavaRDD<FeatureBlock> columns = columnGroups == numBlocks ? cached : cached.coalesce(columnGroups);
    return rows.cartesian(columns)
        .mapToPair(t -> new Tuple2<>(t._1().block(), tile(t._1(), t._2(), metric, length, backend)))
        .reduceByKey(new HashPartitioner(toBlock - fromBlock), PartialLists::merge);
  }

  /** Column groups when none are asked for: about four tasks per core per row block, at most one per block. */
  public static int defaultColumnGroups(int numBlocks, int parallelism) {
    return Math.max(1, Math.min(numBlocks, 4 * Math.max(1, parallelism)));
  }

  /**
   * One task: the lists of the rows of a against the columns of b (global indices b.start() ..), and each
   * row's largest distance to them.
   */
  static PartialLists tile(FeatureBlock a, FeatureBlock b, Metric metric, int length, Backend backend) {
    if (a.dim() != b.dim())
      throw new IllegalArgumentException("block " + a.block() + " has " + a.dim() + " columns, block " + b.block()
          + " " + b.dim());
    PartialLists out = PartialLists.empty(a.start(), a.rows(), length);
    if (a.rows() == 0 || b.rows() == 0) return out;
    // one pass: the native CPU kernels select each row's nearest and take its maximum without holding the tile
    TopKWithMax t = kernels(backend).pairwiseTopkWithMax(a.matrix(), b.matrix(), metric, Math.min(length, b.rows()));
    int keep = t.nearest().k();
    for (int r = 0; r < a.rows(); r++) {
      out.max[r] = t.rowMax()[r];
      for (int p = 0; p < keep; p++) {
        out.idx[r * length + p] = b.start() + t.nearest().index(r, p);
        out.dist[r * length + p] = t.nearest().value(r, p);
      }
    }
    return out;
  }

  private static final ConcurrentHashMap<Backend, Kernels> KERNELS = new ConcurrentHashMap<>();

  /** This JVM's kernels for a backend (created once; the kernels are thread-safe). */
  static Kernels kernels(Backend backend) {
    return KERNELS.computeIfAbsent(backend, Kernels::create);
  }

  /** Cuts rows of a matrix, in order, into blocks of at most blockRows rows (none for zero rows). */
  public static List<FeatureBlock> cut(FloatMatrix items, int blockRows) {
    if (blockRows < 1) throw new IllegalArgumentException("block rows must be at least 1, got " + blockRows);
    int n = items.rows(), d = items.cols();
    List<FeatureBlock> out = new ArrayList<>();
    for (int start = 0, b = 0; start < n; start += blockRows, b++) {
      int rows = Math.min(blockRows, n - start);
      float[] data = new float[rows * d];
      System.arraycopy(items.data(), start * d, data, 0, rows * d);
      out.add(new FeatureBlock(b, start, rows, d, data));
    }
    return Collections.unmodifiableList(out);
  }

  /**
   * Blocks of a driver-side matrix as an RDD with one block per partition. Each block travels as a
   * broadcast (once per executor) and the partitions hold only block numbers: parallelising the blocks
   * themselves would put a block's floats into every task that reads it (each tile task reads two).
   */
  public static JavaRDD<FeatureBlock> parallelize(JavaSparkContext sc, FloatMatrix items, int blockRows) {
    List<Broadcast<FeatureBlock>> blocks = new ArrayList<>();
    for (FeatureBlock b : cut(items, blockRows)) blocks.add(sc.broadcast(b));
    List<Integer> ids = new ArrayList<>();
    for (int i = 0; i < blocks.size(); i++) ids.add(i);
    return sc.parallelize(ids, Math.max(1, ids.size())).map(i -> blocks.get(i).value());
  }

  /** The graph gathered on the driver: every item's list (N x length) and largest distance. */
  public record Lists(int items, int length, int[] idx, float[] dist, float[] max) {}

  /** Collects built lists of all n items into one {@link Lists}. */
  public static Lists collect(JavaPairRDD<Integer, PartialLists> built, int n, int length) {
    int[] idx = new int[Math.multiplyExact(n, length)];
    float[] dist = new float[idx.length], max = new float[n];
    boolean[] seen = new boolean[n];
    for (Tuple2<Integer, PartialLists> t : built.collect()) {
      PartialLists p = t._2();
      System.arraycopy(p.idx, 0, idx, p.start * length, p.rows * length);
      System.arraycopy(p.dist, 0, dist, p.start * length, p.rows * length);
      System.arraycopy(p.max, 0, max, p.start, p.rows);
      for (int r = p.start; r < p.start + p.rows; r++) seen[r] = true;
    }
    for (int i = 0; i < n; i++)
      if (!seen[i]) throw new IllegalStateException("the graph has no lists for item " + i + " of " + n);
    return new Lists(n, length, idx, dist, max);
  }
}
