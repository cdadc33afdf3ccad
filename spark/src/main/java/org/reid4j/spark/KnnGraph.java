package org.reid4j.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.LongAccumulator;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.PairLists;
import org.reid4j.kernels.TopKWithMax;
import scala.Tuple2;

/**
 * The exact k-nearest-neighbour graph of N items, built block by block on Spark: the items are cut
 * into blocks of rows; the distance matrix is symmetric, so only its tiles on and above the diagonal
 * are computed, each once for both of its blocks ({@link Kernels#pairLists}: every distance of the tile
 * is offered to its row's list and, transposed, to its column's; the native CPU kernels do it in one
 * pass). A diagonal tile is a block against itself ({@link Kernels#neighbourLists}). For each row the
 * lists keep the {@code length} nearest items by (distance, index) and the row's largest distance;
 * the partial lists of a block, found in different tiles, are merged (a reduce by block). The result
 * is, for every item, its first {@code length} neighbours among all N (itself included) and its
 * largest distance: what k-reciprocal re-ranking needs from the N x N pass, without any machine
 * holding more than a few blocks of it.
 *
 * <p>Tasks: the row blocks and the column blocks are each gathered into groups, and a task takes one
 * row group against one column group, computing the tiles (i, j) among them that are on or above the
 * diagonal (or, when building a shard, every tile whose column block lies outside the shard) and
 * merging all its lists by block before the shuffle. So the shuffle carries about one partial list per
 * block and group, and the arithmetic is about half of N^2 d multiply-adds.
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
   * columnGroups partitions and the shard's row blocks into {@link #rowGroups} (see the class comment);
   * a tile whose two blocks both lie in the shard is computed once, for both. The blocks RDD is persisted
   * (memory and disk) for the tiles to share: unpersist it when the result has been written.
   */
  public static JavaPairRDD<Integer, PartialLists> build(JavaRDD<FeatureBlock> blocks, int numBlocks, Metric metric,
      int length, Backend backend, int fromBlock, int toBlock, int columnGroups) {
    return build(blocks, numBlocks, metric, length, backend, fromBlock, toBlock, columnGroups, null);
  }

  /**
   * As above, each task adding the tiles it computed to {@code tilesDone} (if not null) as it goes: on the
   * driver its value reaches {@link #tiles} when the stage is done, a measure of progress where tasks differ
   * in size (a task of the diagonal computes half the tiles of another, some compute none).
   */
  public static JavaPairRDD<Integer, PartialLists> build(JavaRDD<FeatureBlock> blocks, int numBlocks, Metric metric,
      int length, Backend backend, int fromBlock, int toBlock, int columnGroups, LongAccumulator tilesDone) {
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
    boolean whole = fromBlock == 0 && toBlock == numBlocks;
    JavaRDD<FeatureBlock> rows = whole ? cached : cached.filter(b -> b.block() >= fromBlock && b.block() < toBlock);
    int rowGroups = rowGroups(fromBlock, toBlock, columnGroups);
    // A shard's blocks sit in a few of the input's partitions, which gathering neighbours would put into a
    // few groups: spread them with a shuffle of the shard's rows instead (any grouping gives the same lists).
    if (rowGroups < rows.getNumPartitions() || !whole) rows = rows.coalesce(rowGroups, !whole);
    JavaRDD<FeatureBlock> columns = columnGroups < cached.getNumPartitions() ? cached.coalesce(columnGroups) : cached;
    return rows.cartesian(columns)
        .mapPartitionsToPair(pairs -> tiles(pairs, fromBlock, toBlock, metric, length, backend, tilesDone))
        .reduceByKey(new HashPartitioner(toBlock - fromBlock), PartialLists::merge);
  }

  /** The row groups {@link #build} uses for a shard: as many as the column groups, at most the shard's blocks. */
  public static int rowGroups(int fromBlock, int toBlock, int columnGroups) {
    return Math.max(1, Math.min(toBlock - fromBlock, columnGroups));
  }

  /** The tasks of {@link #build}'s tile stage (empty ones included): row groups x column groups. */
  public static long tasks(int fromBlock, int toBlock, int columnGroups) {
    return (long) rowGroups(fromBlock, toBlock, columnGroups) * columnGroups;
  }

  /** The tiles {@link #build} computes for a shard of row blocks: those on and above the diagonal within it, all others. */
  public static long tiles(int numBlocks, int fromBlock, int toBlock) {
    long inside = toBlock - fromBlock;
    return inside * (inside + 1) / 2 + inside * (numBlocks - inside);
  }

  /** Column groups when none are asked for: about four tasks per core per row block, at most one per block. */
  public static int defaultColumnGroups(int numBlocks, int parallelism) {
    return Math.max(1, Math.min(numBlocks, 4 * Math.max(1, parallelism)));
  }

  /**
   * One task: the tiles among its (row block, column block) pairs that the shard [fromBlock, toBlock)
   * needs from it, each pair inside the shard once (row block <= column block), merged by block.
   */
  static Iterator<Tuple2<Integer, PartialLists>> tiles(Iterator<Tuple2<FeatureBlock, FeatureBlock>> pairs,
      int fromBlock, int toBlock, Metric metric, int length, Backend backend, LongAccumulator tilesDone) {
    Map<Integer, PartialLists> merged = new TreeMap<>();
    while (pairs.hasNext()) {
      Tuple2<FeatureBlock, FeatureBlock> t = pairs.next();
      FeatureBlock a = t._1(), b = t._2();
      int i = a.block(), j = b.block();
      boolean inside = j >= fromBlock && j < toBlock;
      if (inside && j < i) continue; // the task holding (j, i) computes it
      if (i == j) {
        merged.merge(i, diagonal(a, metric, length, backend), PartialLists::merge);
      } else if (inside) {
        PartialLists[] both = pair(a, b, metric, length, backend);
        merged.merge(i, both[0], PartialLists::merge);
        merged.merge(j, both[1], PartialLists::merge);
      } else {
        merged.merge(i, tile(a, b, metric, length, backend), PartialLists::merge);
      }
      if (tilesDone != null) tilesDone.add(1);
    }
    List<Tuple2<Integer, PartialLists>> out = new ArrayList<>(merged.size());
    for (Map.Entry<Integer, PartialLists> e : merged.entrySet()) out.add(new Tuple2<>(e.getKey(), e.getValue()));
    return out.iterator();
  }

  private static void requireSameDim(FeatureBlock a, FeatureBlock b) {
    if (a.dim() != b.dim())
      throw new IllegalArgumentException("block " + a.block() + " has " + a.dim() + " columns, block " + b.block()
          + " " + b.dim());
  }

  /**
   * One tile for one side: the lists of the rows of a against the columns of b (global indices b.start() ..),
   * and each row's largest distance to them.
   */
  static PartialLists tile(FeatureBlock a, FeatureBlock b, Metric metric, int length, Backend backend) {
    requireSameDim(a, b);
    if (a.rows() == 0 || b.rows() == 0) return PartialLists.empty(a.start(), a.rows(), length);
    // one pass: the native CPU kernels select each row's nearest and take its maximum without holding the tile
    return partial(a, b, kernels(backend).pairwiseTopkWithMax(a.matrix(), b.matrix(), metric,
        Math.min(length, b.rows())), length);
  }

  /** One tile for both sides: the lists of a's rows against b, and of b's rows against a. */
  static PartialLists[] pair(FeatureBlock a, FeatureBlock b, Metric metric, int length, Backend backend) {
    requireSameDim(a, b);
    if (a.rows() == 0 || b.rows() == 0)
      return new PartialLists[] {PartialLists.empty(a.start(), a.rows(), length),
          PartialLists.empty(b.start(), b.rows(), length)};
    PairLists both = kernels(backend).pairLists(a.matrix(), b.matrix(), metric, length);
    return new PartialLists[] {partial(a, b, both.aToB(), length), partial(b, a, both.bToA(), length)};
  }

  /** A diagonal tile: the lists of a's rows among a's own rows (each row's list holds the row itself). */
  static PartialLists diagonal(FeatureBlock a, Metric metric, int length, Backend backend) {
    if (a.rows() == 0) return PartialLists.empty(a.start(), 0, length);
    FloatMatrix none = new FloatMatrix(0, a.dim(), new float[0]);
    return partial(a, a, kernels(backend).neighbourLists(a.matrix(), none, metric, Math.min(length, a.rows()), null),
        length);
  }

  /** Lists of rows' nearest columns (indices within cols) as partial lists of global indices. */
  private static PartialLists partial(FeatureBlock rows, FeatureBlock cols, TopKWithMax t, int length) {
    PartialLists out = PartialLists.empty(rows.start(), rows.rows(), length);
    int keep = t.nearest().k();
    for (int r = 0; r < rows.rows(); r++) {
      out.max[r] = t.rowMax()[r];
      for (int p = 0; p < keep; p++) {
        out.idx[r * length + p] = cols.start() + t.nearest().index(r, p);
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
