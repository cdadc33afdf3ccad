package org.reid4j.gallery;

import org.reid4j.eval.rerank.Candidates;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Metric;

/**
 * How a gallery is made and run. Start from {@link #of(int)} and change what differs.
 *
 * @param dimension the feature length; fixed when the gallery is created and checked on every open
 * @param metric the distance; stored at creation, and opening with another one is an error
 * @param backend the kernels searches run on ({@link Backend#AUTO} by default)
 * @param checkpointBytes when the write-ahead log grows past this, its contents move into a segment
 * @param fsync force the log to disk before acknowledging a write (on by default). Off, a write is
 *     acknowledged once it is in the operating system's cache: a killed process loses nothing, but
 *     a power loss or kernel crash may lose acknowledged writes. Only for tests and bulk imports.
 * @param compactFraction compact automatically (at a checkpoint) once deleted rows exceed this
 *     fraction of all segment rows
 * @param blockRows rows per search block: each block of the gallery is copied to the heap and handed
 *     to the kernels as one [blockRows, dimension] matrix
 * @param packedRows on the native CPU backend, keep each segment's rows packed for the distance
 *     kernels in native memory (off by default): unfiltered searches then skip packing the rows on
 *     every call (about 20% faster at 32 queries and 40% at one on a 100,000 x 512 gallery,
 *     BENCHMARKS.md) at the cost of one more copy of the segments' features in memory. The CUDA
 *     backend always keeps its copy on the device.
 * @param index where the re-ranking neighbour graph's lists come from when it is built (on the first
 *     re-ranking search, by {@link Gallery#buildNeighbours}, or after a large batch of changes):
 *     {@link Candidates#EXACT} (the default), an N x N distance pass (N^2 d); or
 *     {@link Candidates#hnsw} an HNSW graph built by Apache Lucene and searched once per item, its
 *     candidates re-scored exactly (about N ef m d: for galleries far past 100,000 items). HNSW lists
 *     are approximate (recall against exact: BENCHMARKS.md) and each item's largest distance is a
 *     lower bound; with ef of N or more they are exact. Adds and removes then keep the graph as they
 *     do any graph (one exact distance pass over the gallery per add). Not stored in the gallery.
 */
public record GalleryOptions(int dimension, Metric metric, Backend backend, long checkpointBytes, boolean fsync,
    double compactFraction, int blockRows, boolean packedRows, Candidates index) {

  public GalleryOptions {
    if (dimension < 1) throw new IllegalArgumentException("dimension must be at least 1, got " + dimension);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    if (backend == null) throw new IllegalArgumentException("backend is null");
    if (checkpointBytes < 1) throw new IllegalArgumentException("checkpointBytes must be positive, got "
        + checkpointBytes);
    if (!(compactFraction > 0 && compactFraction <= 1))
      throw new IllegalArgumentException("compactFraction must be in (0, 1], got " + compactFraction);
    if (blockRows < 1) throw new IllegalArgumentException("blockRows must be at least 1, got " + blockRows);
    if (index == null) throw new IllegalArgumentException("index is null (Candidates.EXACT or Candidates.hnsw)");
  }

  /**
   * Defaults: squared Euclidean, AUTO backend, checkpoint at 64 MiB of log, fsync on, compact at 30%
   * dead, exact neighbour graph.
   */
  public static GalleryOptions of(int dimension) {
    return new GalleryOptions(dimension, Metric.SQEUCLIDEAN, Backend.AUTO, 64L << 20, true, 0.3, 16384, false,
        Candidates.EXACT);
  }

  public GalleryOptions metric(Metric m) {
    return new GalleryOptions(dimension, m, backend, checkpointBytes, fsync, compactFraction, blockRows, packedRows,
        index);
  }

  public GalleryOptions backend(Backend b) {
    return new GalleryOptions(dimension, metric, b, checkpointBytes, fsync, compactFraction, blockRows, packedRows,
        index);
  }

  public GalleryOptions checkpointBytes(long bytes) {
    return new GalleryOptions(dimension, metric, backend, bytes, fsync, compactFraction, blockRows, packedRows, index);
  }

  public GalleryOptions fsync(boolean on) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, on, compactFraction, blockRows, packedRows,
        index);
  }

  public GalleryOptions compactFraction(double f) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, f, blockRows, packedRows, index);
  }

  public GalleryOptions blockRows(int rows) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, compactFraction, rows, packedRows,
        index);
  }

  public GalleryOptions packedRows(boolean on) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, compactFraction, blockRows, on,
        index);
  }

  public GalleryOptions index(Candidates c) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, compactFraction, blockRows,
        packedRows, c);
  }
}
