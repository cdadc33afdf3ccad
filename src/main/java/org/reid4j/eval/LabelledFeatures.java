package org.reid4j.eval;

import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;

/**
 * Feature rows with their person ids and camera ids: one side (query or gallery) of a retrieval
 * evaluation. pid -1 marks junk, pid 0 distractors (Market-1501 conventions).
 *
 * @param name what this is, used in error messages ("query", "gallery", a file name)
 */
public record LabelledFeatures(String name, FloatMatrix features, int[] pids, int[] camids) {
  public LabelledFeatures {
    if (pids.length != features.rows())
      throw new IllegalArgumentException(name + ": " + features.rows() + " feature rows but " + pids.length + " pids");
    if (camids.length != features.rows())
      throw new IllegalArgumentException(name + ": " + features.rows() + " feature rows but " + camids.length
          + " camids");
  }

  public int size() {
    return features.rows();
  }

  /** Throws if a feature is NaN or infinite, naming this set, the row and the column. */
  public void requireFinite() {
    Checks.requireFinite(features, name + " features");
  }

  /** A copy whose rows are scaled to unit L2 norm (zero rows stay zero). */
  public LabelledFeatures l2Normalized() {
    return new LabelledFeatures(name, Features.l2Normalize(features), pids, camids);
  }
}
