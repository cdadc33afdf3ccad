package org.reid4j.kernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;

/**
 * Test oracle: the kernels written straight from their definitions in reid4j.h, dense and in
 * double precision, with no attempt at speed (full sorts, N x N matrices). Every backend is
 * compared against this.
 */
final class ReferenceKernels {
  private ReferenceKernels() {}

  /** d(a_i, b_j) for all pairs, directly from the definitions. */
  static double[][] distances(FloatMatrix a, FloatMatrix b, Metric metric) {
    double[][] out = new double[a.rows()][b.rows()];
    for (int i = 0; i < a.rows(); i++) {
      for (int j = 0; j < b.rows(); j++) out[i][j] = distance(a.row(i), b.row(j), metric);
    }
    return out;
  }

  static double distance(float[] x, float[] y, Metric metric) {
    double sq = 0, dot = 0, nx = 0, ny = 0;
    for (int k = 0; k < x.length; k++) {
      double diff = (double) x[k] - y[k];
      sq += diff * diff;
      dot += (double) x[k] * y[k];
      nx += (double) x[k] * x[k];
      ny += (double) y[k] * y[k];
    }
    return switch (metric) {
      case SQEUCLIDEAN -> sq;
      case EUCLIDEAN -> Math.sqrt(sq);
      case COSINE -> (nx == 0 || ny == 0) ? 1.0 : 1.0 - dot / (Math.sqrt(nx) * Math.sqrt(ny));
    };
  }

  /** All column indices of a row, sorted ascending by (value, index): a full stable sort. */
  static int[] order(double[] row) {
    Integer[] idx = new Integer[row.length];
    for (int j = 0; j < idx.length; j++) idx[j] = j;
    Arrays.sort(idx, Comparator.<Integer>comparingDouble(j -> row[j]).thenComparingInt(j -> j));
    return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
  }

  /** Reference top-k: the first k of the full order. Values as doubles. */
  record RefTopK(int[][] idx, double[][] val) {}

  static RefTopK topk(double[][] dist, int k) {
    int[][] idx = new int[dist.length][];
    double[][] val = new double[dist.length][k];
    for (int r = 0; r < dist.length; r++) {
      idx[r] = Arrays.copyOf(order(dist[r]), k);
      for (int j = 0; j < k; j++) val[r][j] = dist[r][idx[r][j]];
    }
    return new RefTopK(idx, val);
  }

  static double[][] toDouble(FloatMatrix m) {
    double[][] out = new double[m.rows()][m.cols()];
    for (int i = 0; i < m.rows(); i++) for (int j = 0; j < m.cols(); j++) out[i][j] = m.get(i, j);
    return out;
  }

  /** Reference batch-hard over explicit candidate lists: pos/neg index (-1 if none) per anchor. */
  record RefMining(int[] posIdx, double[] posDist, int[] negIdx, double[] negDist) {}

  static RefMining batchHard(double[][] dist, int[] anchorLabels, int[] candLabels, boolean excludeSelf) {
    int n = dist.length;
    int[] pi = new int[n], ni = new int[n];
    double[] pd = new double[n], nd = new double[n];
    for (int i = 0; i < n; i++) {
      pi[i] = -1;
      ni[i] = -1;
      pd[i] = Double.NaN;
      nd[i] = Double.NaN;
      for (int j = 0; j < candLabels.length; j++) {
        if (excludeSelf && i == j) continue;
        double d = dist[i][j];
        if (candLabels[j] == anchorLabels[i]) {
          if (pi[i] < 0 || d > pd[i]) { // strict: ties keep the smaller index
            pi[i] = j;
            pd[i] = d;
          }
        } else if (ni[i] < 0 || d < nd[i]) {
          ni[i] = j;
          nd[i] = d;
        }
      }
    }
    return new RefMining(pi, pd, ni, nd);
  }

  /**
   * k-reciprocal re-ranking transcribed densely from the definition in reid4j.h (N x N matrices,
   * double precision). original(i, j) = D(i, j) / max_k D(k, i), divided by 1 instead when that maximum is not positive.
   */
  static double[][] rerank(FloatMatrix q, FloatMatrix g, Metric metric, int k1, int k2, double lambda) {
    int nq = q.rows(), ng = g.rows(), n = nq + ng;
    float[] all = new float[n * q.cols()];
    System.arraycopy(q.data(), 0, all, 0, q.data().length);
    System.arraycopy(g.data(), 0, all, q.data().length, g.data().length);
    FloatMatrix x = new FloatMatrix(n, q.cols(), all);
    double[][] d = distances(x, x, metric);
    double[][] orig = new double[n][n];
    for (int i = 0; i < n; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < n; k++) max = Math.max(max, d[k][i]);
      for (int j = 0; j < n; j++) orig[i][j] = max > 0 ? d[i][j] / max : d[i][j];
    }
    int[][] rank = new int[n][];
    for (int i = 0; i < n; i++) rank[i] = order(orig[i]);
    int half = (int) Math.rint(k1 / 2.0);

    double[][] v = new double[n][n];
    for (int i = 0; i < n; i++) {
      List<Integer> r = reciprocal(rank, i, k1 + 1);
      TreeSet<Integer> expanded = new TreeSet<>(r);
      for (int c : r) {
        List<Integer> rc = reciprocal(rank, c, half + 1);
        long common = rc.stream().filter(r::contains).count();
        if (common > 2.0 / 3.0 * rc.size()) expanded.addAll(rc);
      }
      double sum = 0;
      for (int c : expanded) sum += Math.exp(-orig[i][c]);
      for (int c : expanded) v[i][c] = Math.exp(-orig[i][c]) / sum;
    }
    if (k2 != 1) {
      int m = Math.min(k2, n);
      double[][] vqe = new double[n][n];
      for (int i = 0; i < n; i++) {
        for (int t = 0; t < m; t++) for (int c = 0; c < n; c++) vqe[i][c] += v[rank[i][t]][c];
        for (int c = 0; c < n; c++) vqe[i][c] /= m;
      }
      v = vqe;
    }
    double[][] out = new double[nq][ng];
    for (int i = 0; i < nq; i++) {
      for (int j = 0; j < ng; j++) {
        double s = 0;
        for (int c = 0; c < n; c++) s += Math.min(v[i][c], v[nq + j][c]);
        double jac = 1 - s / (2 - s);
        out[i][j] = (1 - lambda) * jac + lambda * orig[i][nq + j];
      }
    }
    return out;
  }

  /** Members c of the m nearest of i (in rank order) that have i among their own m nearest. */
  private static List<Integer> reciprocal(int[][] rank, int i, int m) {
    int len = Math.min(m, rank.length);
    List<Integer> out = new ArrayList<>();
    for (int p = 0; p < len; p++) {
      int c = rank[i][p];
      for (int t = 0; t < len; t++) {
        if (rank[c][t] == i) {
          out.add(c);
          break;
        }
      }
    }
    return out;
  }
}
