package org.reid4j.gallery;

import java.util.ArrayList;
import java.util.List;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * Exact k-nearest search over a {@link Snapshot}, block by block: each block's eligible rows (visible,
 * not excluded, matching the filters) are copied into one heap matrix and handed to
 * {@link Kernels#pairwiseTopk}; the per-block lists are merged into each query's running list by
 * (distance, global index). Because excluded rows never reach the kernels, every block answers
 * with its true k best eligible rows and the merged answer is exact; the [queries, gallery]
 * distance matrix is never held.
 *
 * <p>The global index orders rows as the gallery holds them: segments oldest first, then the delta,
 * i.e. insertion order of each item's current version. It breaks ties between equal distances.
 */
final class Searcher {
  private final Kernels kernels;
  private final Metric metric;
  private final int dimension, blockRows;

  Searcher(Kernels kernels, Metric metric, int dimension, int blockRows) {
    this.kernels = kernels;
    this.metric = metric;
    this.dimension = dimension;
    this.blockRows = blockRows;
  }

  /** The running k best of one query, ascending by (distance, global index). */
  private static final class Best {
    float[] dist = new float[0];
    long[] global = new long[0];
    RowMeta[] meta = new RowMeta[0];
    int n;
  }

  List<List<Hit>> search(Snapshot s, FloatMatrix q, SearchOptions o) {
    int nq = q.rows(), k = o.k();
    Best[] best = new Best[nq];
    for (int i = 0; i < nq; i++) best[i] = new Best();
    long base = 0;
    int[] pick = new int[blockRows];
    for (Segment seg : s.segments()) {
      for (int r0 = 0; r0 < seg.rows; r0 += blockRows) {
        int r1 = Math.min(seg.rows, r0 + blockRows), n = 0;
        for (int r = r0; r < r1; r++) if (s.visible(seg.dead, r) && (!o.selective() || seg.metas[r].matches(o))) pick[n++] = r;
        if (n == 0) continue;
        float[] g = new float[n * dimension];
        for (int j = 0; j < n; j++) seg.copyRow(pick[j], g, j * dimension);
        block(q, new FloatMatrix(n, dimension, g), pick, base, seg.metas, k, best);
      }
      base += seg.rows;
    }
    Delta.View d = s.delta();
    for (int r0 = 0; r0 < d.count(); r0 += blockRows) {
      int r1 = Math.min(d.count(), r0 + blockRows), n = 0;
      for (int r = r0; r < r1; r++) if (s.visible(d.dead(), r) && (!o.selective() || d.metas()[r].matches(o))) pick[n++] = r;
      if (n == 0) continue;
      float[] g = new float[n * dimension];
      for (int j = 0; j < n; j++) System.arraycopy(d.features(), pick[j] * dimension, g, j * dimension, dimension);
      block(q, new FloatMatrix(n, dimension, g), pick, base, d.metas(), k, best);
    }
    List<List<Hit>> out = new ArrayList<>(nq);
    for (Best b : best) {
      List<Hit> hits = new ArrayList<>(b.n);
      for (int j = 0; j < b.n; j++) hits.add(new Hit(b.meta[j].id(), b.dist[j], j + 1, b.meta[j].pid(), b.meta[j].camid()));
      out.add(List.copyOf(hits));
    }
    return out;
  }

  /** The block's k best eligible rows (pick[j] is the block row of matrix row j), merged into best. */
  private void block(FloatMatrix q, FloatMatrix g, int[] pick, long base, RowMeta[] metas, int k, Best[] best) {
    int kb = Math.min(k, g.rows());
    TopK t = kernels.pairwiseTopk(q, g, metric, kb);
    for (int i = 0; i < q.rows(); i++) {
      Best b = best[i];
      int cap = Math.min(k, b.n + kb);
      float[] nd = new float[cap];
      long[] ng = new long[cap];
      RowMeta[] nm = new RowMeta[cap];
      int x = 0, y = 0;
      for (int m = 0; m < cap; m++) {
        boolean takeOld;
        if (y >= kb) takeOld = true;
        else if (x >= b.n) takeOld = false;
        else {
          float vy = t.value(i, y);
          long gy = base + pick[t.index(i, y)];
          takeOld = b.dist[x] < vy || (b.dist[x] == vy && b.global[x] < gy);
        }
        if (takeOld) {
          nd[m] = b.dist[x];
          ng[m] = b.global[x];
          nm[m] = b.meta[x++];
        } else {
          int row = pick[t.index(i, y)];
          nd[m] = t.value(i, y++);
          ng[m] = base + row;
          nm[m] = metas[row];
        }
      }
      b.dist = nd;
      b.global = ng;
      b.meta = nm;
      b.n = cap;
    }
  }
}
