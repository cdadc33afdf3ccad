package org.reid4j.gallery;

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
 */
public record GalleryOptions(int dimension, Metric metric, Backend backend, long checkpointBytes, boolean fsync,
    double compactFraction, int blockRows, boolean packedRows) {

  public GalleryOptions {
    if (dimension < 1) throw new IllegalArgumentException("dimension must be at least 1, got " + dimension);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    if (backend == null) throw new IllegalArgumentException("backend is null");
    if (checkpointBytes < 1) throw new IllegalArgumentException("checkpointBytes must be positive, got "
        + checkpointBytes);
    if (!(compactFraction > 0 && compactFraction <= 1))
      throw new IllegalArgumentException("compactFraction must be in (0, 1], got " + compactFraction);
    if (blockRows < 1) throw new IllegalArgumentException("blockRows must be at least 1, got " + blockRows);
  }

  /** Defaults: squared Euclidean, AUTO backend, checkpoint at 64 MiB of log, fsync on, compact at 30% dead. */
  public static GalleryOptions of(int dimension) {
    return new GalleryOptions(dimension, Metric.SQEUCLIDEAN, Backend.AUTO, 64L << 20, true, 0.3, 16384, false);
  }

  public GalleryOptions metric(Metric m) {
    return new GalleryOptions(dimension, m, backend, checkpointBytes, fsync, compactFraction, blockRows, packedRows);
  }

  public GalleryOptions backend(Backend b) {
    return new GalleryOptions(dimension, metric, b, checkpointBytes, fsync, compactFraction, blockRows, packedRows);
  }

  public GalleryOptions checkpointBytes(long bytes) {
    return new GalleryOptions(dimension, metric, backend, bytes, fsync, compactFraction, blockRows, packedRows);
  }

  public GalleryOptions fsync(boolean on) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, on, compactFraction, blockRows, packedRows);
  }

  public GalleryOptions compactFraction(double f) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, f, blockRows, packedRows);
  }

  public GalleryOptions blockRows(int rows) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, compactFraction, rows, packedRows);
  }

  public GalleryOptions packedRows(boolean on) {
    return new GalleryOptions(dimension, metric, backend, checkpointBytes, fsync, compactFraction, blockRows, on);
  }
}
