package org.reid4j.eval.post;

import org.reid4j.eval.Features;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * Query expansion, in the two forms the retrieval toolkits define (Chum et al. 2007; Radenovic et
 * al. 2018 for the alpha weights):
 *
 * <ul>
 *   <li><b>Average QE</b> ({@code qe}, PyRetri's {@code QE}): a query becomes itself plus the sum of its
 *       k nearest gallery rows, and is searched again; {@code times} rounds, each taking its neighbours
 *       from the previous round's ranking. The caller supplies the ranking ({@link #expand}), so an
 *       ensemble can expand every member's query with the neighbours of the fused ranking.
 *   <li><b>alpha-QE</b> ({@code alpha-qe}, fast-reid's {@code aqe}): queries and gallery together; each
 *       feature becomes the mean of its k most similar features (cosine similarity of the
 *       L2-normalised features, normally including itself) weighted by similarity^alpha; {@code times}
 *       rounds, the similarities recomputed from the new features each round. A neighbour whose
 *       similarity is not positive gets weight 0 (fast-reid's plain power would give it a negative weight
 *       for odd alpha; such neighbours only appear when fewer than k items are similar at all).
 * </ul>
 *
 * <p>Both toolkits leave the expanded features unnormalised. With {@code renormalize} (eval's
 * --normalize) they are L2-normalised again, so that they stay on the unit sphere like every other
 * feature of that evaluation: for cosine, and for squared Euclidean over a normalised gallery, the
 * ranking is the same; the distances that re-ranking reads stay on one scale.
 */
public final class QueryExpansion {
  private QueryExpansion() {}

  /** Which expansion. */
  public enum Kind {
    AVERAGE("qe"), ALPHA("alpha-qe");

    public final String flag;

    Kind(String flag) {
      this.flag = flag;
    }

    /** "qe" or "alpha-qe". */
    public static Kind parse(String s) {
      for (Kind k : values()) if (k.flag.equals(s)) return k;
      throw new IllegalArgumentException("unknown query expansion '" + s + "': expected qe or alpha-qe");
    }
  }

  /** The expansion and its parameters: k neighbours, rounds, alpha (alpha-QE only). */
  public record Params(Kind kind, int k, int times, double alpha) {
    public Params {
      if (kind == null) throw new IllegalArgumentException("query expansion: kind is null");
      if (k < 1) throw new IllegalArgumentException("query expansion: k must be at least 1, got " + k);
      if (times < 1) throw new IllegalArgumentException("query expansion: times must be at least 1, got " + times);
      if (!(alpha >= 0) || Double.isInfinite(alpha))
        throw new IllegalArgumentException("query expansion: alpha must be a finite number >= 0, got " + alpha);
    }

    /** PyRetri's and fast-reid's defaults: k 10, one round, alpha 3 (alpha-QE only). */
    public static Params defaults(Kind kind) {
      return new Params(kind, 10, 1, 3);
    }
  }

  /**
   * One round of average QE: row i of q plus the gallery rows {@code nearest} lists for it (its first
   * {@code nearest.k()}), L2-normalised again when {@code renormalize}.
   */
  public static FloatMatrix expand(FloatMatrix q, FloatMatrix g, TopK nearest, boolean renormalize) {
    if (nearest.rows() != q.rows())
      throw new IllegalArgumentException("query expansion: " + nearest.rows() + " neighbour lists for " + q.rows()
          + " queries");
    if (q.cols() != g.cols())
      throw new IllegalArgumentException("query expansion: queries have " + q.cols() + " columns, gallery " + g.cols());
    int d = q.cols();
    float[] out = new float[q.rows() * d], qs = q.data(), gs = g.data();
    double[] acc = new double[d];
    for (int i = 0; i < q.rows(); i++) {
      for (int c = 0; c < d; c++) acc[c] = qs[i * d + c];
      for (int r = 0; r < nearest.k(); r++) {
        int j = nearest.index(i, r);
        for (int c = 0; c < d; c++) acc[c] += gs[j * d + c];
      }
      if (renormalize) Dba.normalizeInto(acc, out, i * d);
      else for (int c = 0; c < d; c++) out[i * d + c] = (float) acc[c];
    }
    return new FloatMatrix(q.rows(), d, out);
  }

  /**
   * alpha-QE over queries and gallery together; returns the new {query, gallery} features. Each round
   * costs one (nq + ng)-square top-k pass on the kernels.
   */
  public static FloatMatrix[] alpha(Kernels kernels, FloatMatrix q, FloatMatrix g, Params p, boolean renormalize) {
    if (q.cols() != g.cols())
      throw new IllegalArgumentException("query expansion: queries have " + q.cols() + " columns, gallery " + g.cols());
    int nq = q.rows(), n = nq + g.rows(), d = q.cols();
    float[] all = new float[n * d];
    System.arraycopy(q.data(), 0, all, 0, nq * d);
    System.arraycopy(g.data(), 0, all, nq * d, g.rows() * d);
    FloatMatrix cur = new FloatMatrix(n, d, all);
    int k = Math.min(p.k(), n);
    for (int t = 0; t < p.times() && n > 0; t++) {
      FloatMatrix unit = Features.l2Normalize(cur);
      TopK top = kernels.pairwiseTopk(unit, unit, Metric.COSINE, k);
      float[] src = cur.data(), next = new float[n * d];
      double[] acc = new double[d];
      for (int i = 0; i < n; i++) {
        java.util.Arrays.fill(acc, 0);
        for (int r = 0; r < k; r++) {
          double sim = 1.0 - top.value(i, r); // cosine distance is 1 - similarity
          double w = sim > 0 ? Math.pow(sim, p.alpha()) : 0;
          int j = top.index(i, r);
          for (int c = 0; c < d; c++) acc[c] += w * src[j * d + c];
        }
        for (int c = 0; c < d; c++) next[i * d + c] = (float) (acc[c] / k);
      }
      cur = new FloatMatrix(n, d, next);
    }
    if (renormalize) cur = Features.l2Normalize(cur);
    float[] qo = java.util.Arrays.copyOfRange(cur.data(), 0, nq * d);
    float[] go = java.util.Arrays.copyOfRange(cur.data(), nq * d, n * d);
    return new FloatMatrix[] {new FloatMatrix(nq, d, qo), new FloatMatrix(g.rows(), d, go)};
  }
}
