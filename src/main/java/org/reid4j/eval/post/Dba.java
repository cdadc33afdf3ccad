package org.reid4j.eval.post;

import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * Database-side augmentation (DBA; Arandjelovic and Zisserman 2012, as PyRetri applies it to
 * gallery features): every gallery row becomes the L2-normalised sum of itself and its k nearest
 * other gallery rows. "Nearest" is the evaluation's metric on the kernels, ordered by (distance,
 * index), the row itself left out by index (so duplicates of it count as neighbours); k above
 * {@code rows - 1} takes every other row. Cost: one gallery-versus-gallery top-(k + 1) pass, O(n^2 d),
 * plus O(n k d).
 */
public final class Dba {
  private Dba() {}

  /** The augmented copy of {@code g}; {@code k = 0} only L2-normalises. */
  public static FloatMatrix apply(Kernels kernels, FloatMatrix g, Metric metric, int k) {
    if (k < 0) throw new IllegalArgumentException("DBA: k must be 0 or more, got " + k);
    int n = g.rows(), d = g.cols();
    int take = (int) Math.min(k, Math.max(n - 1, 0));
    float[] out = new float[n * d];
    TopK top = take == 0 || n == 0 ? null : kernels.pairwiseTopk(g, g, metric, take + 1);
    float[] src = g.data();
    double[] acc = new double[d];
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < d; c++) acc[c] = src[i * d + c];
      int added = 0;
      for (int r = 0; top != null && r < top.k() && added < take; r++) {
        int j = top.index(i, r);
        if (j == i) continue;
        for (int c = 0; c < d; c++) acc[c] += src[j * d + c];
        added++;
      }
      normalizeInto(acc, out, i * d);
    }
    return new FloatMatrix(n, d, out);
  }

  /** acc scaled to unit L2 norm into out[at ..]; an all-zero sum stays zero. */
  static void normalizeInto(double[] acc, float[] out, int at) {
    double s = 0;
    for (double v : acc) s += v * v;
    double inv = s > 0 ? 1.0 / Math.sqrt(s) : 0;
    for (int c = 0; c < acc.length; c++) out[at + c] = (float) (acc[c] * inv);
  }
}
