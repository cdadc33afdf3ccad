package org.reid4j.kernels;

/** Argument checks shared by every backend, so that all of them reject the same inputs the same way. */
public final class Checks {
  private Checks() {}

  /** Throws if any value of m is NaN or infinite, naming what and where. */
  public static void requireFinite(FloatMatrix m, String what) {
    int[] bad = m.firstNonFinite();
    if (bad != null)
      throw new IllegalArgumentException(what + " has a non-finite value (" + m.get(bad[0], bad[1]) + ") at row "
          + bad[0] + ", column " + bad[1]);
  }

  /**
   * The largest squared row norm a distance may start from: |q|^2 + |g|^2 + 2|q.g| <= 4 * this stays
   * within float32's range on every backend. Beyond it distances overflow to Inf or NaN, which
   * backends used to report differently (an error, or a silently wrong ranking).
   */
  public static final double MAX_SQUARED_NORM = Float.MAX_VALUE / 4.0;

  /**
   * {@link #requireFinite}, and every row's squared norm at most {@link #MAX_SQUARED_NORM}, in one
   * pass: the same error on every backend, naming the row and saying what to do.
   */
  public static void requireUsable(FloatMatrix m, String what) {
    for (int r = 0; r < m.rows(); r++) {
      String why = rowProblem(m.data(), r * m.cols(), m.cols(), r, what, true);
      if (why != null) throw new IllegalArgumentException(why);
    }
  }

  /**
   * What is wrong with row r, held in a[off .. off + cols), or null: its first non-finite value, or
   * (with {@code norms}) a squared norm beyond {@link #MAX_SQUARED_NORM}; the messages of
   * {@link #requireUsable(FloatMatrix, String)}.
   */
  public static String rowProblem(float[] a, int off, int cols, int r, String what, boolean norms) {
    double sq = 0;
    for (int c = 0; c < cols; c++) {
      float v = a[off + c];
      if (!Float.isFinite(v)) return what + " has a non-finite value (" + v + ") at row " + r + ", column " + c;
      sq += (double) v * v;
    }
    if (norms && sq > MAX_SQUARED_NORM)
      return String.format(java.util.Locale.ROOT, "%s row %d has squared norm %.3g, beyond what float32 distances "
          + "can hold (%.3g): its distances would overflow. L2-normalise the features (eval --normalize) or scale "
          + "them down", what, r, sq, MAX_SQUARED_NORM);
    return null;
  }

  /**
   * {@link #requireUsable(FloatMatrix, String)} for a native matrix: the same checks and message,
   * rows in parallel (the first bad row in row order is the one reported). A matrix that passed is
   * not scanned again until a writable view of it is handed out (see {@link NativeMatrix}).
   */
  public static void requireUsable(NativeMatrix m, String what) {
    if (m.knownUsable()) return;
    scan(m, what, true);
    m.markUsable();
  }

  /** {@link #requireFinite(FloatMatrix, String)} for a native matrix: the same message. */
  public static void requireFinite(NativeMatrix m, String what) {
    if (m.knownUsable()) return; // usable implies finite
    scan(m, what, false);
  }

  private static void scan(NativeMatrix m, String what, boolean norms) {
    int cols = m.cols();
    ThreadLocal<float[]> rows = ThreadLocal.withInitial(() -> new float[cols]);
    String why = firstRowProblem(m.rows(), r -> {
      float[] row = rows.get();
      m.row(r, row);
      return rowProblem(row, 0, cols, r, what, norms);
    });
    if (why != null) throw new IllegalArgumentException(why);
  }

  /**
   * {@code problem} of rows 0 .. n - 1, in parallel; the message of the first row in row order that
   * has one, or null.
   */
  public static String firstRowProblem(int n, java.util.function.IntFunction<String> problem) {
    String[] bad = new String[1];
    int[] badRow = {Integer.MAX_VALUE};
    java.util.stream.IntStream.range(0, n).parallel().forEach(r -> {
      String why = problem.apply(r);
      if (why != null)
        synchronized (badRow) {
          if (r < badRow[0]) {
            badRow[0] = r;
            bad[0] = why;
          }
        }
    });
    return bad[0];
  }

  /** {@link #pairwiseInputs(FloatMatrix, FloatMatrix)} for native matrices: the same checks and messages. */
  public static void pairwiseInputs(NativeMatrix q, NativeMatrix g) {
    if (q == null || g == null) throw new IllegalArgumentException("null matrix");
    if (q.cols() < 1)
      throw new IllegalArgumentException("query features must have at least one column, got " + q.cols());
    if (q.cols() != g.cols())
      throw new IllegalArgumentException("dimension mismatch: query features has " + q.cols() + " columns but "
          + "gallery features has " + g.cols());
    requireUsable(q, "query features");
    requireUsable(g, "gallery features");
  }

  public static void requireSameDim(FloatMatrix a, String aName, FloatMatrix b, String bName) {
    if (a.cols() != b.cols())
      throw new IllegalArgumentException("dimension mismatch: " + aName + " has " + a.cols() + " columns but "
          + bName + " has " + b.cols());
  }

  public static void requireDim(FloatMatrix m, String what) {
    if (m.cols() < 1) throw new IllegalArgumentException(what + " must have at least one column, got " + m.cols());
  }

  public static void requireLabels(int[] labels, FloatMatrix m, String what) {
    if (labels == null) throw new IllegalArgumentException(what + " labels are null");
    if (labels.length != m.rows())
      throw new IllegalArgumentException(what + " has " + m.rows() + " rows but " + labels.length + " labels");
  }

  /**
   * Throws if the distance matrix given to topk holds a NaN (no order is defined), naming the first;
   * infinities are valid distances.
   */
  public static void requireNoNaN(FloatMatrix dist, String what) {
    float[] d = dist.data();
    for (int i = 0; i < d.length; i++) {
      if (Float.isNaN(d[i]))
        throw new IllegalArgumentException(
            what + ": distance matrix has NaN at row " + i / dist.cols() + ", column " + i % dist.cols());
    }
  }

  /** The buffer holds rows x cols floats from its position on. */
  public static void bufferRows(java.nio.FloatBuffer b, int rows, int cols, String what) {
    if (b == null) throw new IllegalArgumentException(what + " is null");
    if (rows < 0) throw new IllegalArgumentException(what + ": negative row count " + rows);
    if ((long) rows * cols > b.remaining())
      throw new IllegalArgumentException(what + ": [" + rows + ", " + cols + "] needs " + (long) rows * cols
          + " floats, the buffer has " + b.remaining() + " from its position");
  }

  public static void requireK(int k, int cols, String what) {
    if (k < 0 || k > cols)
      throw new IllegalArgumentException(what + ": k must be in [0, " + cols + "], got " + k);
  }

  /** The checks every pairwise-style call makes. */
  public static void pairwiseInputs(FloatMatrix q, FloatMatrix g) {
    requireDim(q, "query features");
    requireSameDim(q, "query features", g, "gallery features");
    requireUsable(q, "query features");
    requireUsable(g, "gallery features");
  }

  /** The checks of {@link Kernels#pairLists}. */
  public static void pairListsInputs(FloatMatrix a, FloatMatrix b, Metric metric, int k) {
    if (k < 1) throw new IllegalArgumentException("pairLists: k must be at least 1, got " + k);
    if (metric == null) throw new IllegalArgumentException("pairLists: metric is null");
    if (a == null || b == null) throw new IllegalArgumentException("pairLists: null matrix");
    pairwiseInputs(a, b);
  }

  /** The checks of in-batch mining. */
  public static void batchHardInputs(FloatMatrix x, int[] labels) {
    requireDim(x, "embeddings");
    requireLabels(labels, x, "embeddings");
    requireUsable(x, "embeddings");
  }

  /** The checks of mining against a feature memory. */
  public static void batchHardMemoryInputs(FloatMatrix anchors, int[] anchorLabels, FloatMatrix memory,
      int[] memoryLabels) {
    requireDim(anchors, "anchors");
    requireSameDim(anchors, "anchors", memory, "memory");
    requireLabels(anchorLabels, anchors, "anchors");
    requireLabels(memoryLabels, memory, "memory");
    requireUsable(anchors, "anchors");
    requireUsable(memory, "memory");
  }
}
