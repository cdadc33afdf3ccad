package org.reid4j.gallery;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A {@link NeighbourGraph} as it would be with one extra item E (the query, id {@link #E}) added,
 * or as it is (no extra item), and the k-reciprocal weights of any item in it, defined exactly as
 * {@link org.reid4j.eval.rerank.KReciprocal} defines them over all items:
 *
 * <ul>
 *   <li>list(x): x itself, then its others by (distance, slot), E placed before the others it
 *       ties with (offline re-ranking numbers queries before the gallery). Self first is a
 *       convention: offline re-ranking sorts x among its exact duplicates by index.
 *   <li>R(x) = { c in the first k1 + 1 of list(x) : x in the first k1 + 1 of list(c) };
 *       R_half(c) likewise with half + 1, half = round-half-even(k1 / 2).
 *   <li>R*(x) = R(x) plus every R_half(c), c in R(x), with |R_half(c) & R(x)| > 2/3 |R_half(c)|.
 *   <li>V(x, c) = exp(-D(x, c) / M(x)) over R*(x), normalised to sum 1, M(x) the largest distance
 *       of x to any item (divided by 1 when it is not positive).
 * </ul>
 * E's list and distances come from its distance row to every live slot, so nothing here is
 * approximate: an item's lists in the view are its stored list with E inserted where E is nearer.
 * Not thread-safe for writing; concurrent reads (weights of different items) are fine.
 */
final class GraphView {
  /** The extra item's id. Sorts before every slot, as a query's index precedes the gallery's offline. */
  static final int E = -1;

  /** A sparse row: ascending ids, values, and the raw distances the values came from. */
  record Sparse(int[] cols, float[] vals, float[] dist) {}

  final NeighbourGraph g;
  final int k1, half;
  private final float[] row;
  private final int[] eNbr;
  private final float eMax;
  private final ConcurrentHashMap<Integer, int[]> halfSets = new ConcurrentHashMap<>();

  /** The graph as it is, with its own k1. */
  GraphView(NeighbourGraph g) {
    this(g, g.k1, null, null, 0f);
  }

  /**
   * The graph with E added: row[y] = D(E, y) for every slot, eNbr = E's nearest slots (at least
   * k1 of them, or all), eMax = E's largest distance; k1 = the re-ranking's k1 (at most the graph's).
   */
  GraphView(NeighbourGraph g, int k1, float[] row, int[] eNbr, float eMax) {
    this.g = g;
    this.k1 = k1;
    this.half = (int) Math.rint(k1 / 2.0);
    this.row = row;
    this.eNbr = eNbr;
    this.eMax = eMax;
  }

  /** How many of y's stored others precede E (E goes before equal distances); MAX_VALUE without E. */
  int pos(int y) {
    if (row == null) return Integer.MAX_VALUE;
    float v = row[y];
    float[] d = g.nodes[y].dist();
    int lo = 0, hi = d.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (d[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether c is among the first m of list(y). */
  boolean in(int y, int m, int c) {
    if (m <= 0) return false;
    if (c == y) return true;
    int cap = m - 1;
    if (y == E) {
      for (int i = 0; i < Math.min(cap, eNbr.length); i++) if (eNbr[i] == c) return true;
      return false;
    }
    int p = pos(y);
    if (c == E) return p < cap;
    int i = g.nodes[y].indexOf(c);
    if (i < 0) return false;
    return i + (p <= i ? 1 : 0) < cap;
  }

  /** The first m of list(x) (fewer if the view holds fewer items). */
  int[] list(int x, int m) {
    int[] out = new int[Math.max(0, m)];
    if (m <= 0) return out;
    int n = 0;
    out[n++] = x;
    if (x == E) {
      for (int i = 0; i < eNbr.length && n < m; i++) out[n++] = eNbr[i];
    } else {
      int[] nb = g.nodes[x].nbr();
      int p = pos(x), i = 0;
      boolean eDone = row == null;
      while (n < m) {
        if (!eDone && i == p) {
          out[n++] = E;
          eDone = true;
        } else if (i < nb.length) out[n++] = nb[i++];
        else break;
      }
    }
    return n == m ? out : Arrays.copyOf(out, n);
  }

  /** D(x, c): from the lists, the stored weights' distances, or the features. */
  float dist(int x, int c) {
    if (x == c) return 0f;
    if (x == E) return row[c];
    if (c == E) return row[x];
    NeighbourGraph.Node a = g.nodes[x];
    int i = a.indexOf(c);
    if (i >= 0) return a.dist()[i];
    if (a.vCols() != null) {
      int j = Arrays.binarySearch(a.vCols(), c);
      if (j >= 0) return a.vDist()[j];
    }
    NeighbourGraph.Node b = g.nodes[c];
    i = b.indexOf(x);
    if (i >= 0) return b.dist()[i];
    return g.distance(x, c);
  }

  /** M(x): the largest distance of x to any item of the view (0 for itself). */
  float max(int x) {
    if (x == E) return eMax;
    float m = g.nodes[x].max();
    return row != null && row[x] > m ? row[x] : m;
  }

  /** R(x): the k1-reciprocal set, in list order. */
  int[] reciprocal(int x) {
    return reciprocal(x, k1 + 1);
  }

  private int[] reciprocal(int x, int m) {
    int[] t = list(x, m);
    int n = 0;
    for (int c : t) if (in(c, m, x)) t[n++] = c;
    return Arrays.copyOf(t, n);
  }

  private int[] halfSet(int c) {
    return halfSets.computeIfAbsent(c, cc -> reciprocal(cc, half + 1));
  }

  /** V(x) before query expansion. */
  Sparse weights(int x) {
    int[] r = reciprocal(x);
    int[] sortedR = r.clone();
    Arrays.sort(sortedR);
    int total = r.length;
    int[][] halves = new int[r.length][];
    for (int t = 0; t < r.length; t++) total += (halves[t] = halfSet(r[t])).length;
    int[] expanded = Arrays.copyOf(r, total);
    int size = r.length;
    for (int[] rc : halves) {
      int common = 0;
      for (int y : rc) if (Arrays.binarySearch(sortedR, y) >= 0) common++;
      if (common > 2.0 / 3.0 * rc.length) {
        System.arraycopy(rc, 0, expanded, size, rc.length);
        size += rc.length;
      }
    }
    Arrays.sort(expanded, 0, size);
    int u = 0;
    for (int t = 0; t < size; t++) if (t == 0 || expanded[t] != expanded[t - 1]) expanded[u++] = expanded[t];
    int[] cols = Arrays.copyOf(expanded, u);
    float m = max(x);
    float[] vals = new float[u], dist = new float[u];
    double sum = 0;
    for (int t = 0; t < u; t++) {
      dist[t] = dist(x, cols[t]);
      float orig = m > 0f ? dist[t] / m : dist[t];
      vals[t] = (float) Math.exp(-orig);
      sum += vals[t];
    }
    for (int t = 0; t < u; t++) vals[t] = (float) (vals[t] / sum);
    return new Sparse(cols, vals, dist);
  }
}
