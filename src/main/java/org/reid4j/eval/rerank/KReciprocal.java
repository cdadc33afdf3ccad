package org.reid4j.eval.rerank;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.Distances;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * k-reciprocal re-ranking (Zhong, Zheng, Cao, Li, "Re-ranking Person Re-identification with
 * k-reciprocal Encoding", CVPR 2017) in plain Java, exactly as {@code reid4j.h} defines it, without
 * ever holding an N x N matrix (N = nq + ng).
 *
 * <p>Steps: (1) one pass over the distances D of all N items, row by row: each row's maximum M_i
 * and its first L = min(max(k1 + 1, k2), N) neighbours by (D, index), with original(i, j) = D(i, j)
 * / M_i (D is symmetric, so M_i is also the column maximum the definition uses; a row whose maximum
 * is not positive is divided by 1, as in the native kernels). Ordering by D is ordering by original,
 * except that the division may round two distances one float apart to one value, which would hand
 * their order to the index: every backend orders by D. The [nq, ng] block of raw distances goes
 * straight into the output. (2) R(i): the k-reciprocal set among the k1 + 1 nearest; R_half(c) likewise with
 * half = round-half-to-even(k1 / 2) (numpy's around: 20 -> 10, 5 -> 2, 7 -> 4). (3) Expansion:
 * R(i) plus every R_half(c), c in R(i), with |R_half(c) & R(i)| > 2/3 |R_half(c)|. (4) Sparse
 * V(i, c) = exp(-original(i, c)) over the expanded set, normalised to sum 1; original(i, c) comes
 * from i's neighbour list or, outside it, is recomputed from the features with {@link Distances}
 * (bit-identical); {@link #rerank(int, int, ItemDistance, RerankParams)} takes any
 * symmetric distance instead of features. (5) If k2 > 1, V(i) becomes the mean of V over the k2 nearest of i. (6) An
 * inverted index over the gallery rows of V; s(i, j) = sum_c min(V(i, c), V(j, c)); Jaccard
 * 1 - s / (2 - s). (7) out = (1 - lambda) Jaccard + lambda original.
 *
 * <p>V is kept in float32; the widely used Python reference keeps it in float16, so results agree
 * with it to about 1e-3, and exactly (up to float rounding) with the definition.
 *
 * <p>Cost: time O(N^2 d) for the distance pass (dominant), plus O(N k1^2) for the reciprocal sets,
 * O(N s k2) for query expansion and O(nq * sum_c |column c of V|) for the Jaccard step, s being the
 * mean support of a row of V (a small multiple of k1 in practice). Memory: the [nq, ng] output
 * (none with {@link #rows}, which re-ranks one query row at a time), O(N L) for the neighbour lists,
 * O(N s) for the sparse V and its inverted index, and one distance row of N floats per worker thread.
 */
public final class KReciprocal {
  private KReciprocal() {}

  /** Re-ranked [nq, ng] distances of queries q against gallery g. */
  public static FloatMatrix rerank(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params) {
    Checks.pairwiseInputs(q, g);
    return rerank(q.rows(), g.rows(), ItemDistance.of(q, g, metric), params);
  }

  /**
   * Re-ranked [nq, ng] distances under any symmetric distance between the N = nq + ng items (item i &lt;
   * nq is query i, item i &gt;= nq gallery row i - nq): for example an ensemble's fused distance. The
   * distance is asked for about N^2 times (the distance pass) plus a few times per item.
   */
  public static FloatMatrix rerank(int nq, int ng, ItemDistance distance, RerankParams params) {
    if (nq < 0 || ng < 0) throw new IllegalArgumentException("re-ranking: negative sizes " + nq + ", " + ng);
    if (params == null) throw new IllegalArgumentException("re-ranking: params is null");
    FloatMatrix.requireSize(nq, ng);
    if ((long) nq + ng > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("re-ranking: " + nq + " queries + " + ng + " gallery rows is too many");
    FloatMatrix out = FloatMatrix.zeros(nq, ng);
    if (nq == 0 || ng == 0) return out;
    return new Run(nq, ng, distance, params).compute(out);
  }

  /**
   * Re-ranked [nq, ng] distances with each item's neighbour lists taken from {@code candidates}:
   * {@link Candidates#EXACT} is {@link #rerank(FloatMatrix, FloatMatrix, Metric, RerankParams)} (and
   * ignores raw); HNSW replaces step 1's N x N pass by {@link HnswNeighbours}: each item's first L
   * neighbours come from the graph, re-scored exactly, and its row maximum M_i is the largest
   * distance from it seen (its candidates, the graph's farthest guesses and, for a query, its
   * distances to the whole gallery), which can be below the true maximum. Steps 2 onwards are
   * unchanged. With an HNSW ef of N or more the lists and maxima are those of the exact pass, and so
   * is the result (bit for bit when raw is null).
   *
   * @param raw the [nq, ng] distances of q and g under metric (from a faster kernel, say), or null:
   *     computed here with {@link Distances}
   */
  public static FloatMatrix rerank(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params,
      Candidates candidates, FloatMatrix raw) {
    return rerank(q, g, metric, params, candidates, raw, null);
  }

  /**
   * As above, the HNSW graph's build and search reporting progress lines to {@code progress} (null:
   * silent; the exact pass reports nothing).
   */
  public static FloatMatrix rerank(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params,
      Candidates candidates, FloatMatrix raw, Consumer<String> progress) {
    if (candidates == null) throw new IllegalArgumentException("re-ranking: candidates is null");
    if (candidates.exact()) return rerank(q, g, metric, params);
    Checks.pairwiseInputs(q, g);
    if (params == null) throw new IllegalArgumentException("re-ranking: params is null");
    int nq = q.rows(), ng = g.rows();
    FloatMatrix.requireSize(nq, ng);
    if (raw != null && (raw.rows() != nq || raw.cols() != ng))
      throw new IllegalArgumentException("re-ranking: raw distances are " + raw.rows() + " x " + raw.cols()
          + ", expected " + nq + " x " + ng);
    if (nq == 0 || ng == 0) return FloatMatrix.zeros(nq, ng);
    ItemDistance distance = ItemDistance.of(q, g, metric);
    Run run = new Run(nq, ng, distance, params);
    HnswNeighbours.Lists lists = HnswNeighbours.of(q, g, metric, run.listLen, candidates, progress);
    FloatMatrix out = raw != null ? new FloatMatrix(nq, ng, raw.data().clone()) : rawDistances(nq, ng, distance);
    return run.computeFrom(lists.items(), lists.length(), lists.idx(), lists.dist(), lists.largest(), out);
  }

  /**
   * Re-ranking for galleries whose [nq, ng] result is too large to hold (a million items, say): steps
   * 1-6 of the class comment are done here, once, and {@link Rows#row} then re-ranks one query's row
   * of raw distances at a time, so that a caller can compute the raw distances, re-rank and evaluate a
   * block of queries at a time. Memory: O(N L) for the lists and O(N s) for V and its index, nothing
   * of size nq x ng. Each row is bit for bit that row of {@link #rerank(FloatMatrix, FloatMatrix,
   * Metric, RerankParams, Candidates, FloatMatrix, Consumer)} given the same raw distances.
   *
   * @param queryRowMax [nq] each query's largest raw distance to the gallery under metric (the raw
   *     rows' maxima, from a first pass over them); ignored for exact candidates, whose N x N pass
   *     finds every maximum itself
   * @param progress the HNSW graph's progress lines (null: silent)
   */
  public static Rows rows(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params, Candidates candidates,
      float[] queryRowMax, Consumer<String> progress) {
    return rows(null, q, g, metric, params, candidates, queryRowMax, progress);
  }

  /**
   * {@link #rows} with exact candidates found by the kernels ({@link ExactNeighbours}: the N x N pass
   * in {@link Kernels#neighbourLists}, not in plain Java) when {@code kernels} is not
   * null; HNSW candidates as above. With kernels, the exact lists are re-scored with the distance of
   * the plain pass, so the rows are those of the plain pass except where two items tie with the
   * list's last entry to within the kernels' rounding.
   */
  public static Rows rows(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric,
      RerankParams params, Candidates candidates, float[] queryRowMax, Consumer<String> progress) {
    if (candidates == null) throw new IllegalArgumentException("re-ranking: candidates is null");
    if (params == null) throw new IllegalArgumentException("re-ranking: params is null");
    if (metric == null) throw new IllegalArgumentException("re-ranking: metric is null");
    Checks.pairwiseInputs(q, g);
    int nq = q.rows(), ng = g.rows();
    if ((long) nq + ng > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("re-ranking: " + nq + " queries + " + ng + " gallery rows is too many");
    if (nq == 0 || ng == 0)
      throw new IllegalArgumentException("re-ranking: " + (nq == 0 ? "no queries" : "the gallery is empty"));
    ItemDistance distance = ItemDistance.of(q, g, metric);
    Run run = new Run(nq, ng, distance, params);
    if (candidates.exact() && kernels == null) {
      run.distancePass(null);
    } else if (candidates.exact()) {
      ExactNeighbours.Lists lists = ExactNeighbours.of(kernels, q, g, metric, run.listLen, progress);
      // the lists' maxima are over all N items already: the queries' raw maxima add nothing
      run.setLists(lists.items(), lists.length(), lists.idx(), lists.dist(), lists.largest(), new float[nq]);
    } else {
      requireQueryMaxima(queryRowMax, nq);
      HnswNeighbours.Lists lists = HnswNeighbours.of(q, g, metric, run.listLen, candidates, progress);
      run.setLists(lists.items(), lists.length(), lists.idx(), lists.dist(), lists.largest(), queryRowMax);
    }
    run.prepare();
    return new Rows(run);
  }

  /** Re-ranked distances one query row at a time (see {@link #rows}); safe to use from several threads. */
  public static final class Rows {
    private final Run run;
    private final ThreadLocal<float[]> scratch;

    private Rows(Run run) {
      this.run = run;
      this.scratch = ThreadLocal.withInitial(() -> new float[run.ng]);
    }

    public int queries() {
      return run.nq;
    }

    public int gallery() {
      return run.ng;
    }

    /** k1 of the re-ranking parameters. */
    public int k1() {
      return run.k1;
    }

    /**
     * Item i's neighbour list as re-ranking used it (L = {@link KReciprocal#listLength} items by
     * ascending (distance, index), i itself usually first); item i &lt; nq is query i, else gallery row
     * i - nq.
     */
    public int[] neighbours(int i) {
      if (i < 0 || i >= run.n) throw new IllegalArgumentException("re-ranking: item " + i + " outside [0, " + run.n + ")");
      return Arrays.copyOfRange(run.nbr, i * run.listLen, (i + 1) * run.listLen);
    }

    /** The distance between items i and j under the metric, as the lists were scored. */
    public float distance(int i, int j) {
      if (i < 0 || i >= run.n || j < 0 || j >= run.n)
        throw new IllegalArgumentException("re-ranking: items " + i + ", " + j + " outside [0, " + run.n + ")");
      return run.dist(i, j);
    }

    /**
     * Query i's re-ranked distances to the whole gallery: out[outOff + j] from its raw distance
     * raw[rawOff + j] to gallery row j (under the metric of {@link #rows}). raw and out may be the
     * same row (re-ranked in place).
     */
    public void row(int i, float[] raw, int rawOff, float[] out, int outOff) {
      if (i < 0 || i >= run.nq)
        throw new IllegalArgumentException("re-ranking: query " + i + " outside [0, " + run.nq + ")");
      if (raw == null || out == null) throw new IllegalArgumentException("re-ranking: null row");
      if (rawOff < 0 || rawOff > raw.length - run.ng || outOff < 0 || outOff > out.length - run.ng)
        throw new IllegalArgumentException("re-ranking: a row of " + run.ng + " distances does not fit at offsets "
            + rawOff + " of " + raw.length + " and " + outOff + " of " + out.length);
      run.blendRow(i, scratch.get(), raw, rawOff, out, outOff);
    }
  }

  /**
   * Re-ranked [nq, ng] distances from neighbour lists made elsewhere (a distributed kNN graph, say):
   * steps 2 onwards of the class comment, with step 1's pass replaced by the lists. Item i's first
   * {@code length} neighbours are {@code idx[i * length ..]}, in ascending (distance, index) order, with
   * their raw distances in {@code dist}; {@code rowMax[i]} is the largest distance from item i to any
   * item (M_i; a query's is also raised to its largest raw distance to the gallery). Given the exact
   * lists and maxima of all N items, the result is that of
   * {@link #rerank(FloatMatrix, FloatMatrix, Metric, RerankParams)}, bit for bit when the distances are
   * those of {@link Distances}. The few distances outside the lists that step 4 needs are recomputed
   * from q and g.
   *
   * @param length must be {@link #listLength}(params, nq + ng)
   * @param raw the [nq, ng] distances of q and g under metric, or null: computed here with {@link Distances}
   * @throws IllegalArgumentException for lists of the wrong size, an index outside [0, N), a list out of
   *     order, or a non-finite distance or maximum (the message names the item)
   */
  public static FloatMatrix rerankFromLists(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params,
      int length, int[] idx, float[] dist, float[] rowMax, FloatMatrix raw) {
    checkLists(q, g, metric, params, length, idx, dist, rowMax);
    FloatMatrix.requireSize(q.rows(), g.rows());
    int nq = q.rows(), ng = g.rows(), n = nq + ng;
    if (raw != null && (raw.rows() != nq || raw.cols() != ng))
      throw new IllegalArgumentException("re-ranking: raw distances are " + raw.rows() + " x " + raw.cols()
          + ", expected " + nq + " x " + ng);
    if (nq == 0 || ng == 0) return FloatMatrix.zeros(nq, ng);
    ItemDistance distance = ItemDistance.of(q, g, metric);
    FloatMatrix out = raw != null ? new FloatMatrix(nq, ng, raw.data().clone()) : rawDistances(nq, ng, distance);
    return new Run(nq, ng, distance, params).computeFrom(n, length, idx, dist, rowMax, out);
  }

  /**
   * {@link #rows} from neighbour lists made elsewhere (a distributed kNN graph, say), as
   * {@link #rerankFromLists} takes them, for galleries whose [nq, ng] result is too large to hold:
   * each {@link Rows#row} is bit for bit that row of {@link #rerankFromLists} given the same lists
   * and raw distances.
   *
   * @param queryRowMax [nq] each query's largest raw distance to the gallery (the raw rows' maxima,
   *     from a first pass over them); rowMax of a query is raised to it, as rerankFromLists raises it
   *     to its raw row's maximum
   */
  public static Rows rowsFromLists(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params, int length,
      int[] idx, float[] dist, float[] rowMax, float[] queryRowMax) {
    checkLists(q, g, metric, params, length, idx, dist, rowMax);
    int nq = q.rows(), ng = g.rows();
    if (nq == 0 || ng == 0)
      throw new IllegalArgumentException("re-ranking: " + (nq == 0 ? "no queries" : "the gallery is empty"));
    requireQueryMaxima(queryRowMax, nq);
    Run run = new Run(nq, ng, ItemDistance.of(q, g, metric), params);
    run.setLists(nq + ng, length, idx, dist, rowMax, queryRowMax);
    run.prepare();
    return new Rows(run);
  }

  /** Each query's largest raw distance: nq of them, all finite. */
  private static void requireQueryMaxima(float[] queryRowMax, int nq) {
    if (queryRowMax == null || queryRowMax.length != nq)
      throw new IllegalArgumentException("re-ranking: " + (queryRowMax == null ? "no" : queryRowMax.length)
          + " query row maxima for " + nq + " queries");
    for (int i = 0; i < nq; i++)
      if (!Float.isFinite(queryRowMax[i]))
        throw new IllegalArgumentException("re-ranking: query " + i + "'s largest raw distance is "
            + queryRowMax[i] + ", expected a finite number");
  }

  /** The checks of lists made elsewhere (see {@link #rerankFromLists}). */
  private static void checkLists(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params, int length,
      int[] idx, float[] dist, float[] rowMax) {
    Checks.pairwiseInputs(q, g);
    if (params == null) throw new IllegalArgumentException("re-ranking: params is null");
    if (metric == null) throw new IllegalArgumentException("re-ranking: metric is null");
    int nq = q.rows(), ng = g.rows();
    long n = (long) nq + ng;
    if (n > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("re-ranking: " + nq + " queries + " + ng + " gallery rows is too many");
    int want = listLength(params, n);
    if (length != want)
      throw new IllegalArgumentException("re-ranking: neighbour lists of length " + length + ", expected " + want
          + " (max(k1 + 1, k2), at most the " + n + " items)");
    if (idx == null || dist == null || rowMax == null)
      throw new IllegalArgumentException("re-ranking: neighbour lists are null");
    if (idx.length != n * length || dist.length != n * length || rowMax.length != n)
      throw new IllegalArgumentException("re-ranking: neighbour lists hold " + idx.length + " indices, "
          + dist.length + " distances and " + rowMax.length + " maxima, expected " + n * length + ", "
          + n * length + " and " + n);
    for (int i = 0; i < n; i++) {
      if (!Float.isFinite(rowMax[i]))
        throw new IllegalArgumentException("re-ranking: item " + i + " has a non-finite largest distance");
      for (int p = i * length; p < (i + 1) * length; p++) {
        int at = p - i * length;
        if (idx[p] < 0 || idx[p] >= n)
          throw new IllegalArgumentException("re-ranking: item " + i + "'s neighbour " + at + " is " + idx[p]
              + ", outside [0, " + n + ")");
        if (!Float.isFinite(dist[p]))
          throw new IllegalArgumentException("re-ranking: item " + i + "'s neighbour " + at
              + " has a non-finite distance");
        if (at > 0 && (dist[p] < dist[p - 1] || dist[p] == dist[p - 1] && idx[p] <= idx[p - 1]))
          throw new IllegalArgumentException("re-ranking: item " + i + "'s neighbours are not in ascending "
              + "(distance, index) order at position " + at);
      }
    }
  }

  /** The [nq, ng] block of a distance: item i against item nq + j. */
  private static FloatMatrix rawDistances(int nq, int ng, ItemDistance distance) {
    FloatMatrix out = FloatMatrix.zeros(nq, ng);
    float[] o = out.data();
    IntStream.range(0, nq).parallel().forEach(i -> {
      for (int j = 0; j < ng; j++) o[i * ng + j] = distance.between(i, nq + j);
    });
    return out;
  }

  /** L, the neighbours kept per item: min(max(k1 + 1, k2), N). */
  public static int listLength(RerankParams params, long n) {
    return (int) Math.min(Math.max(params.k1() + 1L, params.k2()), n);
  }

  /** A symmetric distance between the items of one re-ranking call. */
  @FunctionalInterface
  public interface ItemDistance {
    float between(int i, int j);

    /** The metric's distance between the rows of q (items 0 .. nq - 1) and g (the items after them). */
    static ItemDistance of(FloatMatrix q, FloatMatrix g, Metric metric) {
      int nq = q.rows();
      float[] qNorms = Distances.squaredNorms(q), gNorms = Distances.squaredNorms(g);
      return (i, j) -> {
        boolean iq = i < nq, jq = j < nq;
        int a = iq ? i : i - nq, b = jq ? j : j - nq;
        return Distances.distance(iq ? q : g, a, iq ? qNorms[a] : gNorms[a], jq ? q : g, b,
            jq ? qNorms[b] : gNorms[b], metric);
      };
    }
  }

  /** The state of one re-ranking call. Item i < nq is query i, item i >= nq gallery row i - nq. */
  private static final class Run {
    final ItemDistance distance;
    final int nq, ng, n, k1, k2, half, listLen;
    final float lambda;
    /** Row maxima M_i. */
    final float[] rowMax;
    /** Each item's first listLen neighbours by (D, index) and their original distances. */
    final int[] nbr;
    final float[] nbrOrig;
    /** After {@link #prepare}: the query rows of V, and the inverted index over its gallery rows. */
    Sparse[] queryRows;
    int[] start, invRow;
    float[] invVal;

    Run(int nq, int ng, ItemDistance distance, RerankParams p) {
      this.distance = distance;
      this.nq = nq;
      this.ng = ng;
      n = nq + ng;
      k1 = p.k1();
      k2 = p.k2();
      lambda = p.lambda();
      half = (int) Math.rint(k1 / 2.0);
      listLen = listLength(p, n);
      if ((long) n * listLen > Integer.MAX_VALUE - 8)
        throw new IllegalArgumentException("re-ranking: neighbour lists of " + n + " x " + listLen + " do not fit");
      rowMax = new float[n];
      nbr = new int[n * listLen];
      nbrOrig = new float[n * listLen];
    }

    float dist(int i, int j) {
      return distance.between(i, j);
    }

    float original(float d, int i) {
      return rowMax[i] > 0f ? d / rowMax[i] : d; // a row whose maximum is not positive is divided by 1
    }

    FloatMatrix compute(FloatMatrix out) {
      distancePass(out.data());
      prepare();
      blendAll(out.data());
      return out;
    }

    /**
     * Step 1 from lists: item i's list and largest distance; a query's maximum is also raised to
     * queryMax[i], its largest raw distance to the gallery.
     */
    void setLists(int items, int length, int[] idx, float[] dist, float[] largest, float[] queryMax) {
      if (items != n || length != listLen)
        throw new IllegalStateException("neighbour lists of " + items + " x " + length + " for " + n + " x " + listLen);
      IntStream.range(0, n).parallel().forEach(i -> {
        rowMax[i] = i < nq ? Math.max(largest[i], queryMax[i]) : largest[i];
        for (int p = i * listLen; p < (i + 1) * listLen; p++) {
          nbr[p] = idx[p];
          nbrOrig[p] = original(dist[p], i);
        }
      });
    }

    /** Steps 2 onwards after step 1 from lists; out holds the raw [nq, ng] distances. */
    FloatMatrix computeFrom(int items, int length, int[] idx, float[] dist, float[] largest, FloatMatrix out) {
      setLists(items, length, idx, dist, largest, out.rowMaxima());
      prepare();
      blendAll(out.data());
      return out;
    }

    /** Steps 2-6 from the neighbour lists and row maxima: V and the inverted index over its gallery rows. */
    void prepare() {
      int[][] recip = reciprocalSets(k1 + 1);
      int[][] recipHalf = reciprocalSets(half + 1);
      Sparse[] v = new Sparse[n];
      IntStream.range(0, n).parallel().forEach(i -> v[i] = weights(i, recip, recipHalf));
      Sparse[] vq = k2 > 1 ? queryExpansion(v) : v;
      invertedIndex(vq);
      queryRows = Arrays.copyOf(vq, nq);
    }

    /** Step 7 for every query row of out, which holds the raw distances and receives the result. */
    void blendAll(float[] out) {
      IntStream.range(0, nq).parallel().forEach(i -> blendRow(i, new float[ng], out, i * ng, out, i * ng));
    }

    /** Step 1: row maxima, neighbour lists, raw query-gallery distances into out (unless null). */
    void distancePass(float[] out) {
      int block = 64;
      IntStream.range(0, (n + block - 1) / block).parallel().forEach(b -> {
        float[] row = new float[n];
        for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
          float max = Float.NEGATIVE_INFINITY;
          for (int j = 0; j < n; j++) {
            row[j] = dist(i, j);
            max = Math.max(max, row[j]);
          }
          rowMax[i] = max;
          if (i < nq && out != null) System.arraycopy(row, nq, out, i * ng, ng);
          topList(row, i); // by D: see the class comment
          for (int p = i * listLen; p < (i + 1) * listLen; p++) nbrOrig[p] = original(nbrOrig[p], i);
        }
      });
    }

    /** The listLen smallest of row by (value, index), ascending, into nbr/nbrOrig of item i. */
    void topList(float[] row, int i) {
      int at = i * listLen;
      // Insertion into a sorted list: listLen is small (k1 + 1), and most values are rejected
      // by one comparison with the current last entry.
      int size = 0;
      for (int j = 0; j < n; j++) {
        float v = row[j];
        if (size == listLen && !(v < nbrOrig[at + size - 1])) continue; // equal: larger index loses
        int p = size == listLen ? size - 1 : size++;
        while (p > 0 && v < nbrOrig[at + p - 1]) {
          nbrOrig[at + p] = nbrOrig[at + p - 1];
          nbr[at + p] = nbr[at + p - 1];
          p--;
        }
        nbrOrig[at + p] = v;
        nbr[at + p] = j;
      }
    }

    /** For each item i: the members of its m nearest that have i among their m nearest, in rank order. */
    int[][] reciprocalSets(int m) {
      int len = Math.min(m, listLen);
      int[][] sets = new int[n][];
      IntStream.range(0, n).parallel().forEach(i -> {
        int[] s = new int[len];
        int size = 0;
        for (int p = 0; p < len; p++) {
          int c = nbr[i * listLen + p];
          for (int r = 0; r < len; r++) {
            if (nbr[c * listLen + r] == i) {
              s[size++] = c;
              break;
            }
          }
        }
        sets[i] = Arrays.copyOf(s, size);
      });
      return sets;
    }

    /** Steps 3-4: the expanded set of item i and its normalised weights. */
    Sparse weights(int i, int[][] recip, int[][] recipHalf) {
      int[] r = recip[i];
      int[] sortedR = r.clone();
      Arrays.sort(sortedR);
      int total = r.length;
      for (int c : r) total += recipHalf[c].length;
      int[] expanded = Arrays.copyOf(r, total);
      int size = r.length;
      for (int c : r) {
        int[] rc = recipHalf[c];
        int common = 0;
        for (int x : rc) if (Arrays.binarySearch(sortedR, x) >= 0) common++;
        if (common > 2.0 / 3.0 * rc.length) {
          System.arraycopy(rc, 0, expanded, size, rc.length);
          size += rc.length;
        }
      }
      int[] cols = unique(expanded, size);
      float[] vals = new float[cols.length];
      double sum = 0;
      for (int t = 0; t < cols.length; t++) {
        vals[t] = (float) Math.exp(-originalOf(i, cols[t]));
        sum += vals[t];
      }
      for (int t = 0; t < cols.length; t++) vals[t] = (float) (vals[t] / sum);
      return new Sparse(cols, vals);
    }

    /** original(i, c): from i's neighbour list when c is in it, else recomputed from the distance. */
    float originalOf(int i, int c) {
      for (int p = 0; p < listLen; p++) if (nbr[i * listLen + p] == c) return nbrOrig[i * listLen + p];
      return original(dist(i, c), i);
    }

    /** Step 5: V(i) = mean of V over the k2 nearest of i (at most N). */
    Sparse[] queryExpansion(Sparse[] v) {
      int m = Math.min(k2, n);
      Sparse[] res = new Sparse[n];
      int block = 64;
      IntStream.range(0, (n + block - 1) / block).parallel().forEach(b -> {
        float[] acc = new float[n];
        boolean[] seen = new boolean[n];
        int[] touched = new int[n];
        for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
          int nt = 0;
          for (int p = 0; p < m; p++) {
            Sparse s = v[nbr[i * listLen + p]];
            for (int t = 0; t < s.cols.length; t++) {
              int c = s.cols[t];
              if (!seen[c]) {
                seen[c] = true;
                touched[nt++] = c;
              }
              acc[c] += s.vals[t];
            }
          }
          int[] cols = Arrays.copyOf(touched, nt);
          Arrays.sort(cols);
          float[] vals = new float[nt];
          for (int t = 0; t < nt; t++) {
            vals[t] = acc[cols[t]] / m;
            acc[cols[t]] = 0f;
            seen[cols[t]] = false;
          }
          res[i] = new Sparse(cols, vals);
        }
      });
      return res;
    }

    /** Step 6's inverted index over the gallery rows of V (column c: entries start[c] .. start[c + 1]). */
    void invertedIndex(Sparse[] v) {
      int[] start = new int[n + 1];
      for (int j = nq; j < n; j++) for (int c : v[j].cols) start[c + 1]++;
      for (int c = 0; c < n; c++) start[c + 1] += start[c];
      int[] fill = Arrays.copyOf(start, n);
      int[] invRow = new int[start[n]];
      float[] invVal = new float[start[n]];
      for (int j = nq; j < n; j++) {
        Sparse s = v[j];
        for (int t = 0; t < s.cols.length; t++) {
          int c = s.cols[t];
          invRow[fill[c]] = j - nq;
          invVal[fill[c]++] = s.vals[t];
        }
      }
      this.start = start;
      this.invRow = invRow;
      this.invVal = invVal;
    }

    /**
     * Steps 6-7 for query i: s(i, j) = sum_c min(V(i, c), V(j, c)) through the inverted index into
     * sMin (all zeros on entry, and again on return), then out[outOff + j] = (1 - lambda) Jaccard +
     * lambda raw[rawOff + j] / M_i. raw and out may be the same row.
     */
    void blendRow(int i, float[] sMin, float[] raw, int rawOff, float[] out, int outOff) {
      Sparse s = queryRows[i];
      for (int t = 0; t < s.cols.length; t++) {
        int c = s.cols[t];
        float vi = s.vals[t];
        for (int e = start[c]; e < start[c + 1]; e++) sMin[invRow[e]] += Math.min(vi, invVal[e]);
      }
      for (int j = 0; j < ng; j++) {
        float sm = sMin[j];
        sMin[j] = 0f;
        float jac = 1f - sm / (2f - sm);
        float orig = original(raw[rawOff + j], i);
        out[outOff + j] = (1f - lambda) * jac + lambda * orig;
      }
    }
  }

  /** One sparse row: ascending column indices and their values. */
  private record Sparse(int[] cols, float[] vals) {}

  private static int[] unique(int[] a, int size) {
    int[] s = Arrays.copyOf(a, size);
    Arrays.sort(s);
    int u = 0;
    for (int t = 0; t < size; t++) if (t == 0 || s[t] != s[t - 1]) s[u++] = s[t];
    return Arrays.copyOf(s, u);
  }
}
