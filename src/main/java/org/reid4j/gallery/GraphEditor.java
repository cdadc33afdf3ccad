package org.reid4j.gallery;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps a {@link NeighbourGraph} exact under adds and removes; only the gallery's writer (under its
 * lock) calls it. Changes go to a private copy of the slot array (copied once per batch);
 * {@link #freeze} publishes it as a new immutable version, so searches never see a half-applied
 * change.
 *
 * <p>An add computes the new item's distance row (one pass over the graph), takes its k1 nearest,
 * inserts it into every list where it is nearer than the k1-th (it loses ties: its slot is the
 * newest), and raises the maxima it exceeds. A remove recomputes, with one distance row each, the
 * lists that held the item and the maxima it attained. Then the weights V of exactly the items
 * whose V can have changed are recomputed: the items whose list or maximum changed, the items a
 * changed list dropped or took in, and R(c) for every c whose k1/2-reciprocal set may have changed
 * (R is symmetric, so these are all items x with c in R(x)). Cost of an add: one pass over the
 * features plus O(affected k1^2); of a remove: one pass per list that held the item.
 */
final class GraphEditor {
  private NeighbourGraph base;
  private NeighbourGraph.Node[] nodes;
  private int slots, live, changes;
  private boolean copied;
  private final Map<String, Integer> slotOf = new HashMap<>();

  GraphEditor(NeighbourGraph g) {
    base = g;
    nodes = g.nodes;
    slots = g.slots;
    live = g.live;
    for (int s = 0; s < g.slots; s++) if (g.nodes[s] != null) slotOf.put(g.nodes[s].meta().id(), s);
  }

  int k1() {
    return base.k1;
  }

  int live() {
    return live;
  }

  /** Changes since the last {@link #freeze}. */
  int changes() {
    return changes;
  }

  /** The current state as an immutable version (the same object while nothing changed). */
  NeighbourGraph freeze() {
    if (copied) {
      base = new NeighbourGraph(base.k1, base.metric, nodes, slots, live);
      copied = false;
      changes = 0;
    }
    return base;
  }

  private NeighbourGraph work() {
    return new NeighbourGraph(base.k1, base.metric, nodes, slots, live);
  }

  private void copy(int need) {
    if (!copied || need > nodes.length) {
      nodes = Arrays.copyOf(nodes, Math.max(nodes.length, need + (need >> 1) + 16));
      copied = true;
    }
  }

  void add(RowMeta meta, float[] feature) {
    changes++;
    copy(slots + 1);
    int k1 = base.k1, half = base.half;
    int a = slots++;
    float na = NeighbourGraph.dot(feature, feature);
    float[] row = work().row(feature, na);
    BitSet dirty = new BitSet();
    List<Integer> changedHalf = new ArrayList<>();
    for (int y = 0; y < a; y++) {
      NeighbourGraph.Node n = nodes[y];
      if (n == null) continue;
      float v = row[y];
      if (v > n.max()) {
        n = n.withMax(v, a);
        dirty.set(y);
      }
      int len = n.nbr().length;
      if (len < k1 || v < n.dist()[k1 - 1]) { // a is the newest: it loses ties
        int p = 0;
        while (p < len && n.dist()[p] <= v) p++;
        int keep = Math.min(len + 1, k1);
        int[] nb = new int[keep];
        float[] nd = new float[keep];
        System.arraycopy(n.nbr(), 0, nb, 0, p);
        System.arraycopy(n.dist(), 0, nd, 0, p);
        nb[p] = a;
        nd[p] = v;
        System.arraycopy(n.nbr(), p, nb, p + 1, keep - p - 1);
        System.arraycopy(n.dist(), p, nd, p + 1, keep - p - 1);
        if (len == k1) dirty.set(n.nbr()[k1 - 1]);
        if (p < half) {
          changedHalf.add(y);
          if (len >= half) changedHalf.add(n.nbr()[half - 1]);
        }
        n = n.withList(nb, nd);
        dirty.set(y);
      }
      nodes[y] = n;
    }
    NeighbourGraph.Top t = NeighbourGraph.nearest(row, a, k1);
    nodes[a] = new NeighbourGraph.Node(meta, feature, na, t.idx(), t.val(), t.max(), t.argmax(), null, null, null);
    live++;
    Integer old = slotOf.put(meta.id(), a);
    if (old != null) throw new IllegalStateException("graph: id '" + meta.id() + "' added twice without a remove");
    dirty.set(a);
    GraphView view = new GraphView(work());
    for (int c : changedHalf) for (int x : view.reciprocal(c)) dirty.set(x);
    reweigh(view, dirty);
  }

  /** Removes the item with this id (nothing if the graph does not hold it). */
  void remove(String id) {
    Integer boxed = slotOf.remove(id);
    if (boxed == null) return;
    changes++;
    copy(slots);
    int r = boxed, half = base.half;
    BitSet dirty = new BitSet(), relist = new BitSet();
    GraphView before = new GraphView(work());
    for (int y = 0; y < slots; y++) {
      NeighbourGraph.Node n = nodes[y];
      if (n == null || y == r) continue;
      if (n.argmax() == r) relist.set(y);
      int i = n.indexOf(r);
      if (i < 0) continue;
      relist.set(y);
      if (i < half) {
        for (int x : before.reciprocal(y)) dirty.set(x);
        if (n.nbr().length > half) for (int x : before.reciprocal(n.nbr()[half])) dirty.set(x);
      }
    }
    nodes[r] = null;
    live--;
    NeighbourGraph w = work();
    for (int y = relist.nextSetBit(0); y >= 0; y = relist.nextSetBit(y + 1)) {
      NeighbourGraph.Node n = nodes[y];
      NeighbourGraph.Top t = NeighbourGraph.nearest(w.row(n.feature(), n.norm2()), y, base.k1);
      if (n.indexOf(r) >= 0) {
        n = n.withList(t.idx(), t.val());
        if (t.idx().length == base.k1) dirty.set(t.idx()[base.k1 - 1]);
      }
      nodes[y] = n.withMax(t.max(), t.argmax());
      dirty.set(y);
    }
    dirty.clear(r);
    reweigh(new GraphView(work()), dirty);
  }

  private void reweigh(GraphView view, BitSet dirty) {
    int[] xs = dirty.stream().filter(x -> nodes[x] != null).toArray();
    GraphView.Sparse[] v = new GraphView.Sparse[xs.length];
    java.util.stream.IntStream.range(0, xs.length).parallel().forEach(i -> v[i] = view.weights(xs[i]));
    for (int i = 0; i < xs.length; i++) nodes[xs[i]] = nodes[xs[i]].withWeights(v[i]);
  }
}
