package org.reid4j.gallery;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One query's online k-reciprocal re-ranking against a {@link NeighbourGraph} (see
 * {@link SearchOptions#rerank} for what it computes and how that relates to {@code eval --rerank}).
 *
 * <p>Steps: (1) the query's distance row to every live item (one pass over the features) gives its
 * k1 nearest, its largest distance M(q), and the L best eligible items (exact). (2)
 * With the query added as the extra item of a {@link GraphView}, the items whose weights V change
 * are found exactly: those the query enters the k1 list of (and the items it pushes out), those
 * whose maximum it exceeds, and R(c) of every c whose k1/2-reciprocal set it changes; their V is
 * recomputed, every other item's stored V is used as it is. The candidates are the L best plus
 * every eligible item that the query's expanded V weighs and that item's stored k1 nearest.
 * (3) Query expansion: V of the query
 * and of each candidate becomes the mean of V over its k2 nearest (itself first, the query
 * included where it is nearer). (4) Jaccard distance 1 - s / (2 - s), s = sum_c min(V_q(c),
 * V_g(c)), and the final distance (1 - lambda) Jaccard + lambda D(q, g) / M(q).
 *
 * <p>Cost: the pass of step 1 (N d), plus work on the candidates and the few items near the
 * query: about (L k2 + |changed|) k1^2 operations; nothing of order N^2.
 */
final class OnlineRerank {
  private OnlineRerank() {}

  static List<Hit> search(NeighbourGraph g, float[] q, SearchOptions o) {
    SearchOptions.Rerank p = o.rerank();
    if (g.live == 0)
      throw new IllegalStateException("re-ranking needs at least one item in the gallery; it is empty");
    long n = g.live + 1L; // the query and the gallery, as offline re-ranking counts them
    int k1 = (int) Math.min(p.k1(), n), k2 = (int) Math.min(p.k2(), n);
    float[] row = g.row(q, NeighbourGraph.dot(q, q));
    NeighbourGraph.Top qTop = NeighbourGraph.nearest(row, -1, Math.max(k1, k2));
    int[] nearest = candidates(g, row, o, Math.max(o.k(), p.candidates()));
    GraphView view = new GraphView(g, k1, row, qTop.idx(), qTop.max());
    BitSet dirty = k1 == g.k1 ? changed(g, view, row) : null; // null: every item (other k1 than the graph's)

    Map<Integer, GraphView.Sparse> v = new HashMap<>();
    GraphView.Sparse vq = expand(view, GraphView.E, k2, dirty, v);
    int[] cand = withGraphNeighbours(g, nearest, vq, o);
    float mq = qTop.max();
    float[] fin = new float[cand.length];
    for (int i = 0; i < cand.length; i++) {
      int c = cand[i];
      float s = minSum(vq, expand(view, c, k2, dirty, v));
      float jac = 1f - s / (2f - s);
      float orig = mq > 0f ? row[c] / mq : row[c];
      fin[i] = (1f - p.lambda()) * jac + p.lambda() * orig;
    }
    Integer[] order = new Integer[cand.length];
    for (int i = 0; i < order.length; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> fin[a] != fin[b] ? Float.compare(fin[a], fin[b]) : Integer.compare(cand[a], cand[b]));
    List<Hit> hits = new ArrayList<>(Math.min(o.k(), cand.length));
    for (int r = 0; r < Math.min(o.k(), cand.length); r++) {
      RowMeta m = g.nodes[cand[order[r]]].meta();
      hits.add(new Hit(m.id(), fin[order[r]], r + 1, m.pid(), m.camid()));
    }
    return List.copyOf(hits);
  }

  /** The L nearest eligible slots by (distance, slot). */
  private static int[] candidates(NeighbourGraph g, float[] row, SearchOptions o, int l) {
    int[] idx = new int[l];
    float[] val = new float[l];
    int size = 0;
    for (int j = 0; j < g.slots; j++) {
      NeighbourGraph.Node nd = g.nodes[j];
      if (nd == null) continue;
      float d = row[j];
      if (size == l && !(d < val[size - 1])) continue;
      if (o.selective() && !nd.meta().matches(o)) continue;
      int p = size == l ? size - 1 : size++;
      while (p > 0 && d < val[p - 1]) {
        val[p] = val[p - 1];
        idx[p] = idx[p - 1];
        p--;
      }
      val[p] = d;
      idx[p] = j;
    }
    return Arrays.copyOf(idx, size);
  }

  /**
   * The candidates plus, for every item c that V of the query (after expansion) weighs, c and its
   * stored k1 nearest, where eligible: the items whose weights can overlap the query's even when
   * they are far from it.
   */
  private static int[] withGraphNeighbours(NeighbourGraph g, int[] cand, GraphView.Sparse vq, SearchOptions o) {
    BitSet in = new BitSet(g.slots);
    for (int c : cand) in.set(c);
    int[] out = Arrays.copyOf(cand, cand.length + vq.cols().length * (g.k1 + 1));
    int n = cand.length;
    for (int c : vq.cols()) {
      if (c == GraphView.E) continue;
      NeighbourGraph.Node nc = g.nodes[c];
      for (int t = -1; t < nc.nbr().length; t++) {
        int y = t < 0 ? c : nc.nbr()[t];
        if (in.get(y) || o.selective() && !g.nodes[y].meta().matches(o)) continue;
        in.set(y);
        out[n++] = y;
      }
    }
    return Arrays.copyOf(out, n);
  }

  /** The items whose V differs with the query added (see the class comment). */
  private static BitSet changed(NeighbourGraph g, GraphView view, float[] row) {
    BitSet dirty = new BitSet(g.slots);
    List<Integer> changedHalf = new ArrayList<>();
    int k1 = g.k1, half = g.half;
    for (int y = 0; y < g.slots; y++) {
      NeighbourGraph.Node n = g.nodes[y];
      if (n == null) continue;
      float v = row[y];
      if (v > n.max()) dirty.set(y);
      int len = n.nbr().length;
      if (!(len < k1 || v <= n.dist()[k1 - 1])) continue; // the query wins ties
      dirty.set(y);
      if (len == k1) dirty.set(n.nbr()[k1 - 1]);
      if (half > 0 && (len < half || v <= n.dist()[half - 1])) {
        changedHalf.add(y);
        if (len >= half) changedHalf.add(n.nbr()[half - 1]);
      }
    }
    for (int c : changedHalf) for (int x : view.reciprocal(c)) if (x != GraphView.E) dirty.set(x);
    return dirty;
  }

  /** V of x with the query present: stored when unchanged, else recomputed. */
  private static GraphView.Sparse weights(GraphView view, int x, BitSet dirty, Map<Integer, GraphView.Sparse> memo) {
    GraphView.Sparse s = memo.get(x);
    if (s != null) return s;
    NeighbourGraph.Node n = x == GraphView.E ? null : view.g.nodes[x];
    s = n != null && dirty != null && !dirty.get(x) ? new GraphView.Sparse(n.vCols(), n.vVals(), n.vDist())
        : view.weights(x);
    memo.put(x, s);
    return s;
  }

  /** Query expansion: the mean of V over the first k2 of list(x), accumulated in list order. */
  private static GraphView.Sparse expand(GraphView view, int x, int k2, BitSet dirty,
      Map<Integer, GraphView.Sparse> memo) {
    int[] lst = view.list(x, k2);
    if (lst.length == 1) return weights(view, x, dirty, memo);
    GraphView.Sparse[] parts = new GraphView.Sparse[lst.length];
    int total = 0;
    for (int i = 0; i < lst.length; i++) total += (parts[i] = weights(view, lst[i], dirty, memo)).cols().length;
    int[] cols = new int[total];
    float[] vals = new float[total];
    int[] at = new int[lst.length];
    int u = 0;
    while (true) {
      int c = Integer.MAX_VALUE;
      for (int i = 0; i < parts.length; i++) if (at[i] < parts[i].cols().length) c = Math.min(c, parts[i].cols()[at[i]]);
      if (c == Integer.MAX_VALUE) break;
      float acc = 0f;
      for (int i = 0; i < parts.length; i++)
        if (at[i] < parts[i].cols().length && parts[i].cols()[at[i]] == c) acc += parts[i].vals()[at[i]++];
      cols[u] = c;
      vals[u++] = acc / lst.length;
    }
    return new GraphView.Sparse(Arrays.copyOf(cols, u), Arrays.copyOf(vals, u), null);
  }

  /** sum_c min(a(c), b(c)) over the columns both hold, in ascending column order. */
  private static float minSum(GraphView.Sparse a, GraphView.Sparse b) {
    float s = 0f;
    int i = 0, j = 0;
    int[] ac = a.cols(), bc = b.cols();
    while (i < ac.length && j < bc.length) {
      if (ac[i] < bc[j]) i++;
      else if (ac[i] > bc[j]) j++;
      else s += Math.min(a.vals()[i++], b.vals()[j++]);
    }
    return s;
  }
}
