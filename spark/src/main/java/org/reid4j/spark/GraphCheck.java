package org.reid4j.spark;

import java.util.Arrays;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * A graph checked against a direct computation for a sample of its items: each sampled item's whole
 * distance row is computed on the driver (in chunks of rows), its exact first L neighbours taken, and
 * compared with the graph's list: recall (the share of the exact list that the graph holds) and the
 * largest difference between a distance the graph wrote and the same pair's distance computed directly.
 */
public final class GraphCheck {
  private GraphCheck() {}

  /**
   * @param recall mean share of each sampled item's exact list found in its graph list
   * @param minRecall the worst item's share
   * @param maxDistanceError largest |graph distance - direct distance| over the sampled lists' entries
   * @param maxRowMaxError largest |graph row maximum - direct row maximum|
   */
  public record Report(int sampled, int length, double recall, double minRecall, double maxDistanceError,
      double maxRowMaxError, double seconds) {}

  /** Checks the lists of the picked items against a direct computation over all items. */
  public static Report check(FloatMatrix items, KnnGraph.Lists lists, Metric metric, Kernels kernels, int[] picked) {
    long t0 = System.nanoTime();
    int n = items.rows(), len = lists.length(), d = items.cols();
    if (lists.items() != n)
      throw new IllegalArgumentException("the graph has " + lists.items() + " items, the features " + n);
    if (picked.length == 0) throw new IllegalArgumentException("no items to check");
    double recallSum = 0, minRecall = 1, maxErr = 0, maxMaxErr = 0;
    int chunk = (int) Math.max(1, Math.min(256, (64L << 20) / Math.max(1, n)));
    for (int c0 = 0; c0 < picked.length; c0 += chunk) {
      int rows = Math.min(chunk, picked.length - c0);
      float[] q = new float[rows * d];
      for (int r = 0; r < rows; r++) System.arraycopy(items.data(), picked[c0 + r] * d, q, r * d, d);
      FloatMatrix dist = kernels.pairwise(new FloatMatrix(rows, d, q), items, metric);
      TopK exact = kernels.topk(dist, len);
      for (int r = 0; r < rows; r++) {
        int i = picked[c0 + r];
        float[] row = Arrays.copyOfRange(dist.data(), r * n, (r + 1) * n);
        float max = Float.NEGATIVE_INFINITY;
        for (float v : row) max = Math.max(max, v);
        maxMaxErr = Math.max(maxMaxErr, Math.abs(max - lists.max()[i]));
        int[] mine = Arrays.copyOfRange(lists.idx(), i * len, (i + 1) * len);
        Arrays.sort(mine);
        int found = 0;
        for (int p = 0; p < len; p++) if (Arrays.binarySearch(mine, exact.index(r, p)) >= 0) found++;
        double recall = (double) found / len;
        recallSum += recall;
        minRecall = Math.min(minRecall, recall);
        for (int p = i * len; p < (i + 1) * len; p++)
          maxErr = Math.max(maxErr, Math.abs(lists.dist()[p] - row[lists.idx()[p]]));
      }
    }
    return new Report(picked.length, len, recallSum / picked.length, minRecall, maxErr, maxMaxErr,
        (System.nanoTime() - t0) / 1e9);
  }
}
