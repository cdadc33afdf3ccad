package org.reid4j.kernels;

/**
 * Per-query Market-1501 scores of a distance matrix, as the device computes them where the matrix
 * was made (see {@code reid4j.h}, section 7; {@code org.reid4j.eval.ReidEvaluator} turns them into
 * CMC, mAP and mINP). For query i:
 *
 * @param first the 1-based rank of its first match; 0 when not evaluated (pid -1, or a NaN distance
 *     in its row); -1 when it has no match in the gallery
 * @param ap its average precision (0 unless {@code first[i] >= 1})
 * @param inp its inverse negative penalty, P / rank of the last match (0 unless {@code first[i] >= 1})
 * @param nanColumn the first gallery column whose distance is NaN, else -1
 */
public record QueryScores(int[] first, double[] ap, double[] inp, int[] nanColumn) {
  public QueryScores {
    int n = first.length;
    if (ap.length != n || inp.length != n || nanColumn.length != n)
      throw new IllegalArgumentException("query scores of different lengths: " + n + ", " + ap.length + ", "
          + inp.length + ", " + nanColumn.length);
  }

  public int size() {
    return first.length;
  }
}
