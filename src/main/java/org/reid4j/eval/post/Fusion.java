package org.reid4j.eval.post;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.reid4j.eval.Features;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * Model ensembles: several members' features of the same queries and gallery, fused into one
 * ranking. The 3rd-place team of the Huawei DIGIX 2020 retrieval contest fused six models and found
 * distance averaging better than voting or concatenation; all three are here.
 *
 * <ul>
 *   <li>{@link Kind#DISTANCE}: the weighted mean of the members' distance matrices, each divided by its
 *       own mean over the query x gallery matrix first, so that a member whose distances are ten
 *       times larger (another metric scale, unnormalised features) does not outvote the rest; a
 *       member whose mean distance is 0 is divided by 1. The same divisors serve re-ranking's
 *       item-to-item distances ({@link #itemDistance}).
 *   <li>{@link Kind#VOTE}: each member's top 10 of a query votes with weights 1, 1/2, 1/3, ... by rank
 *       (times the member's weight) (the 2nd-place team's rule); gallery items are ranked by votes, and
 *       ties (the unvoted items among them) by the fused distance. The matrix this returns only orders
 *       each row: voted items get values below the row's smallest fused distance.
 *   <li>{@link Kind#CONCAT}: the members' L2-normalised features joined, member m's block scaled by
 *       sqrt(w_m), so that the squared Euclidean distance of the joined features is the weighted sum
 *       of the members'; then the ensemble is one member.
 * </ul>
 *
 * Weights are normalised to sum 1.
 */
public final class Fusion {
  private Fusion() {}

  /** How members are fused. */
  public enum Kind {
    DISTANCE, VOTE, CONCAT;

    public static Kind parse(String s) {
      for (Kind k : values()) if (k.name().equalsIgnoreCase(s)) return k;
      throw new IllegalArgumentException("unknown fusion '" + s + "': expected distance, vote or concat");
    }

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The ranks a member votes with, and the weight of rank r (0-based): 1 / (r + 1). */
  public static final int VOTE_DEPTH = 10;

  /** weights normalised to sum 1; null means equal weights for {@code members}. */
  public static double[] normalizedWeights(double[] weights, int members) {
    if (members < 1) throw new IllegalArgumentException("an ensemble needs at least one member");
    if (weights == null) {
      double[] w = new double[members];
      Arrays.fill(w, 1.0 / members);
      return w;
    }
    if (weights.length != members)
      throw new IllegalArgumentException("--weights has " + weights.length + " values for " + members + " members");
    double sum = 0;
    for (double w : weights) {
      if (!(w > 0) || Double.isInfinite(w))
        throw new IllegalArgumentException("--weights: each weight must be a finite number > 0, got " + w);
      sum += w;
    }
    double[] out = new double[members];
    for (int m = 0; m < members; m++) out[m] = weights[m] / sum;
    return out;
  }

  /** The members' rows joined, each member L2-normalised and scaled by sqrt(weight). */
  public static FloatMatrix concat(List<FloatMatrix> members, double[] weights) {
    int rows = members.get(0).rows(), cols = 0;
    for (FloatMatrix m : members) {
      if (m.rows() != rows)
        throw new IllegalArgumentException("concat: members have " + rows + " and " + m.rows() + " rows");
      cols += m.cols();
    }
    float[] out = new float[Math.multiplyExact(rows, cols)];
    int at = 0;
    for (int m = 0; m < members.size(); m++) {
      FloatMatrix u = Features.l2Normalize(members.get(m));
      float s = (float) Math.sqrt(weights[m]);
      int d = u.cols();
      for (int r = 0; r < rows; r++)
        for (int c = 0; c < d; c++) out[r * cols + at + c] = u.data()[r * d + c] * s;
      at += d;
    }
    return new FloatMatrix(rows, cols, out);
  }

  /** Fused distances and the divisor each member's distances were scaled by. */
  public record Fused(FloatMatrix distance, double[] scales) {}

  /** sum_m w_m D_m / mean(D_m), D_m the member's query x gallery distances on the kernels. */
  public static Fused distance(Kernels kernels, List<FloatMatrix> qs, List<FloatMatrix> gs, double[] w, Metric metric) {
    int nq = qs.get(0).rows(), ng = gs.get(0).rows();
    float[] acc = new float[Math.multiplyExact(nq, ng)];
    double[] scales = new double[qs.size()];
    for (int m = 0; m < qs.size(); m++) {
      float[] d = kernels.pairwise(qs.get(m), gs.get(m), metric).data();
      double sum = 0;
      for (float v : d) sum += v;
      double mean = d.length == 0 ? 0 : sum / d.length;
      scales[m] = mean > 0 && Double.isFinite(mean) ? mean : 1;
      float f = (float) (w[m] / scales[m]);
      for (int i = 0; i < d.length; i++) acc[i] += f * d[i];
    }
    return new Fused(new FloatMatrix(nq, ng, acc), scales);
  }

  /** The fused distance between re-ranking's items (queries first, then gallery rows), with the given divisors. */
  public static KReciprocal.ItemDistance itemDistance(List<FloatMatrix> qs, List<FloatMatrix> gs, double[] w,
      double[] scales, Metric metric) {
    int members = qs.size();
    KReciprocal.ItemDistance[] each = new KReciprocal.ItemDistance[members];
    float[] f = new float[members];
    for (int m = 0; m < members; m++) {
      each[m] = KReciprocal.ItemDistance.of(qs.get(m), gs.get(m), metric);
      f[m] = (float) (w[m] / scales[m]);
    }
    return (i, j) -> {
      float s = 0;
      for (int m = 0; m < members; m++) s += f[m] * each[m].between(i, j);
      return s;
    };
  }

  /**
   * The vote ranking as a matrix that orders each row: members' top-{@value #VOTE_DEPTH} lists vote
   * w_m / (rank + 1); voted items first by (votes descending, fused distance, index), then the rest
   * by fused distance.
   */
  public static FloatMatrix vote(Kernels kernels, List<FloatMatrix> qs, List<FloatMatrix> gs, double[] w,
      Metric metric, FloatMatrix fused) {
    int nq = fused.rows(), ng = fused.cols();
    int depth = Math.min(VOTE_DEPTH, ng);
    TopK[] tops = new TopK[qs.size()];
    for (int m = 0; m < qs.size(); m++) tops[m] = kernels.pairwiseTopk(qs.get(m), gs.get(m), metric, depth);
    float[] out = fused.data().clone();
    double[] score = new double[ng];
    int[] voted = new int[qs.size() * depth];
    for (int i = 0; i < nq; i++) {
      int c = 0;
      for (int m = 0; m < tops.length; m++)
        for (int r = 0; r < depth; r++) {
          int j = tops[m].index(i, r);
          if (score[j] == 0) voted[c++] = j;
          score[j] += w[m] / (r + 1);
        }
      float rowMin = Float.POSITIVE_INFINITY;
      for (int j = 0; j < ng; j++) rowMin = Math.min(rowMin, out[i * ng + j]);
      Integer[] order = new Integer[c];
      for (int t = 0; t < c; t++) order[t] = voted[t];
      int row = i;
      Arrays.sort(order, (a, b) -> {
        int byVotes = Double.compare(score[b], score[a]);
        if (byVotes != 0) return byVotes;
        int byDist = Float.compare(fused.data()[row * ng + a], fused.data()[row * ng + b]);
        return byDist != 0 ? byDist : Integer.compare(a, b);
      });
      for (int p = 0; p < c; p++) out[i * ng + order[p]] = rowMin - (c - p);
      for (int t = 0; t < c; t++) score[voted[t]] = 0;
    }
    return new FloatMatrix(nq, ng, out);
  }
}
