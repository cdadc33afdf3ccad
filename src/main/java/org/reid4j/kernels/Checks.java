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

  public static void requireK(int k, int cols, String what) {
    if (k < 0 || k > cols)
      throw new IllegalArgumentException(what + ": k must be in [0, " + cols + "], got " + k);
  }

  /** The checks every pairwise-style call makes. */
  public static void pairwiseInputs(FloatMatrix q, FloatMatrix g) {
    requireDim(q, "query features");
    requireSameDim(q, "query features", g, "gallery features");
    requireFinite(q, "query features");
    requireFinite(g, "gallery features");
  }

  /** The checks of in-batch mining. */
  public static void batchHardInputs(FloatMatrix x, int[] labels) {
    requireDim(x, "embeddings");
    requireLabels(labels, x, "embeddings");
    requireFinite(x, "embeddings");
  }

  /** The checks of mining against a feature memory. */
  public static void batchHardMemoryInputs(FloatMatrix anchors, int[] anchorLabels, FloatMatrix memory,
      int[] memoryLabels) {
    requireDim(anchors, "anchors");
    requireSameDim(anchors, "anchors", memory, "memory");
    requireLabels(anchorLabels, anchors, "anchors");
    requireLabels(memoryLabels, memory, "memory");
    requireFinite(anchors, "anchors");
    requireFinite(memory, "memory");
  }
}
