package org.reid4j.kernels;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A dense row-major float32 matrix [rows, cols] in native memory, for the hot path of evaluation:
 * {@code .npy} files are read straight into it ({@code Npy.readMatrix}), the native kernels take it
 * without copying ({@link Kernels#pairwise(NativeMatrix, NativeMatrix, Metric)} and the like) and
 * write their results into new ones, and the evaluator scores such a result row by row. It lives
 * off the Java heap, so a [3,368 x 15,913] distance matrix costs no heap and no garbage collection.
 * {@link FloatMatrix} stays the simple heap API; {@link #of} and {@link #toHeap} convert.
 *
 * <p>Owned memory: free it with {@link #close()} (try-with-resources); any use after close throws.
 * Not thread-safe for writes; concurrent reads are fine.
 *
 * <p>The kernels' input check ({@link Checks#requireUsable(NativeMatrix, String)}: every value finite,
 * every row's squared norm too) scans the whole matrix; a matrix that passed it remembers so until a
 * writable view is handed out ({@link #values}, {@link #bytes}, {@link #setRow}), so that a gallery
 * scored against many blocks of queries is scanned once, not once per block.
 */
public final class NativeMatrix implements AutoCloseable {
  private final int rows;
  private final int cols;
  private FloatPointer data;
  // Writable views handed out so far, and their count when the input check last passed (-1: never).
  private long writes;
  private long usableAt = -1;

  private NativeMatrix(int rows, int cols, FloatPointer data) {
    this.rows = rows;
    this.cols = cols;
    this.data = data;
  }

  /**
   * An uninitialised matrix. Throws IllegalArgumentException for negative sizes and when the
   * native memory cannot be had, saying how much was asked for.
   */
  public static NativeMatrix allocate(int rows, int cols) {
    if (rows < 0 || cols < 0)
      throw new IllegalArgumentException("matrix size must be non-negative, got " + rows + " x " + cols);
    long n = Math.max(1L, (long) rows * cols);
    FloatPointer p;
    try {
      p = new FloatPointer(n);
    } catch (OutOfMemoryError e) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "cannot allocate a %,d x %,d float32 matrix (%.2f GB) in native memory: %s", rows, cols, n * 4 / 1e9,
          e.getMessage()), e);
    }
    if (p.isNull())
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "cannot allocate a %,d x %,d float32 matrix (%.2f GB) in native memory", rows, cols, n * 4 / 1e9));
    return new NativeMatrix(rows, cols, p);
  }

  /** A native copy of m. */
  public static NativeMatrix of(FloatMatrix m) {
    NativeMatrix n = allocate(m.rows(), m.cols());
    n.at(0).put(m.data());
    return n;
  }

  public int rows() {
    return rows;
  }

  public int cols() {
    return cols;
  }

  /** rows * cols. */
  public long size() {
    return (long) rows * cols;
  }

  /** Whether the input check passed and no writable view was handed out since. */
  boolean knownUsable() {
    return usableAt == writes;
  }

  /** Records that the input check passed on the values as they are now. */
  void markUsable() {
    usableAt = writes;
  }

  /**
   * The values (for the native kernels of this package: they read inputs and write only matrices
   * they allocated for their result; never retain it past close).
   */
  FloatPointer pointer() {
    return live();
  }

  /**
   * Values [from, from + n) in row-major order as a buffer over the native memory (a view, no copy:
   * writes go to the matrix); the buffer's index 0 is value {@code from}.
   */
  public FloatBuffer values(long from, int n) {
    if (from < 0 || n < 0 || from + n > size())
      throw new IndexOutOfBoundsException("values " + from + " .. " + (from + n) + " of " + size());
    if (n == 0) return FloatBuffer.allocate(0);
    writes++;
    return span(from, n).asBuffer();
  }

  /**
   * Values [from, from + n) as bytes (native byte order) over the native memory: a file channel can
   * read float32 data straight into the matrix. The buffer's byte 0 is value {@code from}'s first;
   * n * 4 must be < 2^31.
   */
  public java.nio.ByteBuffer bytes(long from, int n) {
    if (from < 0 || n < 0 || from + n > size())
      throw new IndexOutOfBoundsException("values " + from + " .. " + (from + n) + " of " + size());
    if ((long) n * Float.BYTES > Integer.MAX_VALUE) throw new IllegalArgumentException(n + " values are too many bytes");
    if (n == 0) return java.nio.ByteBuffer.allocate(0);
    writes++;
    return span(from, n).asByteBuffer().order(java.nio.ByteOrder.nativeOrder());
  }

  /** Row r's values into dst[0 .. cols). */
  public void row(int r, float[] dst) {
    if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " of " + rows);
    if (dst.length < cols) throw new IllegalArgumentException("row buffer of " + dst.length + " for " + cols + " columns");
    at((long) r * cols).get(dst, 0, cols);
  }

  /** Writes src[0 .. cols) into row r. */
  public void setRow(int r, float[] src) {
    if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " of " + rows);
    if (src.length < cols) throw new IllegalArgumentException("row of " + src.length + " for " + cols + " columns");
    writes++;
    at((long) r * cols).put(src, 0, cols);
  }

  public float get(int r, int c) {
    if (r < 0 || r >= rows || c < 0 || c >= cols)
      throw new IndexOutOfBoundsException("(" + r + ", " + c + ") of " + rows + " x " + cols);
    return at((long) r * cols + c).get();
  }

  /** A heap copy (needs rows * cols < 2^31). */
  public FloatMatrix toHeap() {
    FloatMatrix.requireSize(rows, cols);
    FloatMatrix m = FloatMatrix.zeros(rows, cols);
    at(0).get(m.data());
    return m;
  }

  /**
   * A view starting at value {@code offset}: the matrix's own pointer never moves, so that threads
   * reading different rows at once do not share a position.
   */
  private FloatPointer at(long offset) {
    return new FloatPointer(live()).position(offset);
  }

  /**
   * Values [from, from + n) as a pointer of their own (its value 0 is value {@code from}), so that the
   * buffers over it count from 0 and fit in an int however far into a large matrix they start.
   */
  private FloatPointer span(long from, int n) {
    return live().getPointer(from).capacity(n).limit(n);
  }

  private FloatPointer live() {
    if (data == null) throw new IllegalStateException("the native matrix was closed");
    return data;
  }

  @Override
  public void close() {
    if (data != null) data.close();
    data = null;
  }

  @Override
  public String toString() {
    return "NativeMatrix[" + rows + " x " + cols + (data == null ? ", closed]" : "]");
  }
}
