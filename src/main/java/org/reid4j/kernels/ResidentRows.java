package org.reid4j.kernels;

import java.nio.FloatBuffer;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * Rows [n, dimension] kept resident in the kernels' own memory between searches, so that a search
 * sends only its queries. On the CUDA device ({@code r4j_cuda_rows_*} in
 * reid4j.h): append uploads only the new rows (with their norms, computed on the device), and
 * {@link #topk} sends only the queries. Results are those of {@link Kernels#pairwiseTopk} on the
 * CUDA backend over the same rows, bit for bit. Get one from {@link Kernels#deviceRows} of a CUDA
 * {@link Kernels}.
 *
 * <p>On the native CPU backend ({@link Kernels#residentRows}) the rows are kept the same way in
 * native memory, packed for the distance kernels ({@code r4j_cpu_memory_*}), up to a capacity fixed
 * at creation; {@link #topk} then searches from any multiple of {@link #rowAlignment()} rows (the
 * start of a packed panel) and gives the CPU backend's {@link Kernels#pairwiseTopk} results bit for
 * bit without packing the rows per call.
 *
 * <p>Thread-safe: searches run concurrently with each other; {@link #append} and {@link #close}
 * wait for the searches in progress and exclude new ones meanwhile (a read/write lock). The device
 * memory is held until {@link #close}, which must be called (there is no finalizer); closing twice
 * is harmless. Every size is checked here, in Java, before the native call.
 */
public final class ResidentRows implements AutoCloseable {
  private final int dimension;
  private final Metric metric;
  private final int capacity; // the CPU memory's rows at most; -1 on the device (it grows)
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  // Guarded by lock: the native handle (null once closed) and the rows it holds.
  private Pointer handle;
  private int rows;

  private ResidentRows(int dimension, Metric metric, Pointer handle, int capacity) {
    this.dimension = dimension;
    this.metric = metric;
    this.handle = handle;
    this.capacity = capacity;
  }

  private boolean cpu() {
    return capacity >= 0;
  }

  /**
   * The row0 of every {@link #topk} must be a multiple of this: 1 on the device; on the CPU 32, so a
   * search starts a packed panel of the rows ({@code R4J_CPU_MEMORY_ROW_ALIGN}).
   */
  public int rowAlignment() {
    return cpu() ? NativeApi.CPU_MEMORY_ROW_ALIGN : 1;
  }

  /** Empty rows of {@code dimension} floats on the current CUDA device (the caller checked CUDA is usable). */
  static ResidentRows create(int dimension, Metric metric) {
    return open(dimension, metric, -1);
  }

  /** Empty rows of {@code dimension} floats packed in native memory for at most {@code capacity} rows (CPU). */
  static ResidentRows createPacked(int dimension, Metric metric, int capacity) {
    if (capacity < 0) throw new IllegalArgumentException("capacity must be at least 0, got " + capacity);
    return open(dimension, metric, capacity);
  }

  /** The native handle: on the CUDA device when capacity < 0, else a CPU memory of that capacity. */
  private static ResidentRows open(int dimension, Metric metric, int capacity) {
    if (dimension < 1) throw new IllegalArgumentException("dimension must be at least 1, got " + dimension);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    if (capacity < 0) Backends.requireCuda();
    try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
      int st = capacity < 0 ? NativeApi.r4j_cuda_rows_create(dimension, metric.code, out)
          : NativeApi.r4j_cpu_memory_create(capacity, dimension, metric.code, out);
      ResidentRows r = new ResidentRows(dimension, metric, out.get(0), capacity);
      r.check(st, "create");
      return r;
    }
  }

  public int dimension() {
    return dimension;
  }

  public Metric metric() {
    return metric;
  }

  /** How many rows are held (0 once closed). */
  public int rows() {
    lock.readLock().lock();
    try {
      return rows;
    } finally {
      lock.readLock().unlock();
    }
  }

  public boolean isClosed() {
    lock.readLock().lock();
    try {
      return handle == null;
    } finally {
      lock.readLock().unlock();
    }
  }

  /**
   * Uploads the rows of {@code m} after those held. They are checked as every kernel checks its
   * inputs (finite, of usable norm). On failure (e.g. the device is full) nothing is added.
   *
   * @throws IllegalArgumentException if m has another number of columns, a non-finite value or a
   *     row of unusable norm, or the count would pass 2^31 - 1
   * @throws IllegalStateException if closed, or the device failed (the message says how)
   */
  public void append(FloatMatrix m) {
    if (m == null) throw new IllegalArgumentException("rows are null");
    requireCols(m.cols(), "appended rows");
    Checks.requireUsable(m, "appended rows");
    if (m.rows() == 0) return;
    try (PointerScope scope = new PointerScope()) {
      FloatPointer p = new FloatPointer((long) m.rows() * dimension);
      p.put(m.data());
      append(p, m.rows());
    }
  }

  /**
   * Uploads {@code n} rows read in place from a direct buffer, from its position (a memory-mapped
   * gallery segment, say). As for {@link Kernels#pairwiseTopk(FloatMatrix, FloatBuffer, int, Metric, int)},
   * the rows are not checked: the caller vouches that they are finite and of usable norm.
   *
   * @throws IllegalArgumentException if the buffer is not direct or holds fewer than n rows from
   *     its position, or the count would pass 2^31 - 1
   * @throws IllegalStateException if closed, or the device failed
   */
  public void append(FloatBuffer rowsBuffer, int n) {
    Checks.bufferRows(rowsBuffer, n, dimension, "appended rows");
    if (!rowsBuffer.isDirect())
      throw new IllegalArgumentException("appended rows: the buffer must be direct (use append(FloatMatrix) for heap data)");
    if (n == 0) return;
    try (PointerScope scope = new PointerScope()) {
      // Sliced first: JavaCPP's Pointer(Buffer) misplaces the address of a buffer whose position is not 0.
      append(new FloatPointer(rowsBuffer.slice()), n);
    }
  }

  private void append(FloatPointer p, int n) {
    lock.writeLock().lock();
    try {
      requireOpen();
      if (n > Integer.MAX_VALUE - rows)
        throw new IllegalArgumentException("appended rows: " + n + " rows after the " + rows
            + " held would pass 2^31 - 1 rows");
      if (cpu() && n > capacity - rows)
        throw new IllegalArgumentException("appended rows: " + n + " rows after the " + rows
            + " held would pass the capacity of " + capacity);
      check(cpu() ? NativeApi.r4j_cpu_memory_write(handle, rows, p, n) : NativeApi.r4j_cuda_rows_append(handle, p, n),
          "append");
      rows += n;
    } finally {
      lock.writeLock().unlock();
    }
  }

  /**
   * The k nearest of rows {@code row0 .. row0 + nrows - 1} for every row of q, indices relative to
   * row0, ascending by (distance, index) as {@link Kernels#pairwiseTopk}.
   *
   * @throws IllegalArgumentException if q has another number of columns, a non-finite value or a
   *     row of unusable norm, the range is not within the rows held, or k is outside [0, nrows]
   * @throws IllegalStateException if closed, or the device failed
   */
  public TopK topk(FloatMatrix q, int row0, int nrows, int k) {
    return topkIfOpen(q, row0, nrows, k).orElseThrow(() -> new IllegalStateException(closedMessage()));
  }

  /**
   * {@link #topk}, or empty if these rows are closed (before or while this call waited for an
   * append or a close), for readers that may race with the owner's close and have another way to
   * answer.
   */
  public Optional<TopK> topkIfOpen(FloatMatrix q, int row0, int nrows, int k) {
    if (q == null) throw new IllegalArgumentException("query features are null");
    requireCols(q.cols(), "query features");
    Checks.requireUsable(q, "query features");
    if (row0 < 0 || nrows < 0)
      throw new IllegalArgumentException("topk: row0 and nrows must be at least 0, got " + row0 + " and " + nrows);
    Checks.requireK(k, nrows, "topk");
    if (row0 % rowAlignment() != 0)
      throw new IllegalArgumentException("topk: rows kept on the CPU are searched from a multiple of "
          + rowAlignment() + " rows, got row0 " + row0);
    var held = lock.readLock(); // searches only read the rows, on either side
    held.lock();
    try {
      if (handle == null) return Optional.empty();
      if (row0 > rows - nrows)
        throw new IllegalArgumentException("topk: rows [" + row0 + ", " + row0 + " + " + nrows + ") are outside the "
            + rows + " rows held");
      try (PointerScope scope = new PointerScope()) {
        long n = Math.max(1L, (long) q.rows() * k);
        FloatPointer qp = new FloatPointer(Math.max(1L, q.data().length));
        qp.put(q.data());
        FloatPointer vals = new FloatPointer(n);
        IntPointer idx = new IntPointer(n);
        check(cpu() ? NativeApi.r4j_cpu_memory_topk(handle, row0, nrows, qp, q.rows(), k, vals, idx)
            : NativeApi.r4j_cuda_rows_topk(handle, row0, nrows, qp, q.rows(), k, vals, idx), "topk");
        float[] v = new float[q.rows() * k];
        int[] i = new int[q.rows() * k];
        vals.get(v);
        idx.get(i);
        return Optional.of(new TopK(q.rows(), k, v, i));
      }
    } finally {
      held.unlock();
    }
  }

  /** Frees the device memory, after the searches in progress. Idempotent. */
  @Override
  public void close() {
    lock.writeLock().lock();
    try {
      if (handle == null) return;
      if (cpu()) NativeApi.r4j_cpu_memory_free(handle);
      else NativeApi.r4j_cuda_rows_free(handle);
      handle = null;
      rows = 0;
    } finally {
      lock.writeLock().unlock();
    }
  }

  @Override
  public String toString() {
    return "ResidentRows[" + rows() + " x " + dimension + ", " + metric + (cpu() ? ", CPU, capacity " + capacity : "")
        + (isClosed() ? ", closed]" : "]");
  }

  private void requireCols(int cols, String what) {
    if (cols != dimension)
      throw new IllegalArgumentException(what + " have " + cols + " columns, the " + kind() + " have " + dimension);
  }

  private void requireOpen() {
    if (handle == null) throw new IllegalStateException(closedMessage());
  }

  private String kind() {
    return cpu() ? "resident rows" : "device rows";
  }

  private String closedMessage() {
    return "these " + kind() + " (dimension " + dimension + ") are closed";
  }

  private void check(int status, String what) {
    if (status != NativeApi.R4J_OK)
      throw new IllegalStateException(kind() + ": " + what + " failed (status " + status + "): " + Backends.lastError());
  }
}
