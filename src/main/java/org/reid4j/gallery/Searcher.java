package org.reid4j.gallery;

import java.util.ArrayList;
import java.util.List;
import org.reid4j.kernels.ResidentRows;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * Exact k-nearest search over a {@link Snapshot}, range by range (a segment's row range on the
 * CUDA device when it is mirrored there, see {@link Segment#mirror}, else one memory map of it),
 * then the delta. A range whose rows are at least half eligible (visible, not excluded, matching
 * the filters) is handed to the kernels where it lies, with no copy (rows were checked when
 * added), asking for k + the ineligible count and dropping the ineligible rows; a range of fewer
 * eligible rows, and the delta, have their eligible rows copied into one heap matrix per block.
 * Each range or block thus answers with its true k best eligible rows, and the lists are merged
 * into each query's running list by (distance, global index): the answer is exact, and the
 * [queries, gallery] distance matrix is never held.
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
      ResidentRows dev = seg.mirror();
      for (int r0 = 0; r0 < seg.rows; ) {
        // A range: the whole segment where it is mirrored on the device, else one memory map.
        int end = dev != null ? seg.rows : seg.mapEnd(r0), n = end - r0, eligible = 0;
        for (int r = r0; r < end; r++) if (eligible(s, seg, r, o)) eligible++;
        if (2L * eligible >= n && eligible > 0) {
          // Mostly eligible: searched where it lies (only the queries travel) for its k + (ineligible
          // rows) nearest; dropping the ineligible ones leaves its k best eligible rows.
          int first = r0, kq = Math.min(n, k + (n - eligible));
          TopK t = dev == null ? kernels.pairwiseTopk(q, seg.rowsInPlace(first, n), n, metric, kq)
              : dev.topkIfOpen(q, first, n, kq).orElse(null);
          if (t == null) { // the device copy was closed since the snapshot was taken: the memory map instead
            dev = null;
            continue;
          }
          Segment sg = seg;
          TopK kept = eligible == n ? t : keepOnly(t, nq, Math.min(k, eligible), j -> eligible(s, sg, first + j, o));
          merge(kept, nq, eligible, j -> first + j, base, seg.metas, k, best);
        } else {
          // Few eligible rows: they are copied, a block at a time.
          for (int b0 = r0; b0 < end; b0 += blockRows) {
            int b1 = Math.min(end, b0 + blockRows), m = 0;
            for (int r = b0; r < b1; r++) if (eligible(s, seg, r, o)) pick[m++] = r;
            if (m == 0) continue;
            float[] g = new float[m * dimension];
            for (int j = 0; j < m; j++) seg.copyRow(pick[j], g, j * dimension);
            block(q, new FloatMatrix(m, dimension, g), pick, base, seg.metas, k, best);
          }
        }
        r0 = end;
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

  private static boolean eligible(Snapshot s, Segment seg, int r, SearchOptions o) {
    return s.visible(seg.dead, r) && (!o.selective() || seg.metas[r].matches(o));
  }

  /**
   * The first kk entries of each row of t whose column passes keep, in t's order; t holds at least
   * kk such entries in every row (it was asked for k + the ineligible count).
   */
  private static TopK keepOnly(TopK t, int nq, int kk, java.util.function.IntPredicate keep) {
    float[] v = new float[nq * kk];
    int[] ix = new int[nq * kk];
    for (int i = 0; i < nq; i++) {
      int c = 0;
      for (int y = 0; y < t.k() && c < kk; y++) {
        int j = t.index(i, y);
        if (keep.test(j)) {
          v[i * kk + c] = t.value(i, y);
          ix[i * kk + c++] = j;
        }
      }
      if (c != kk) throw new IllegalStateException("query " + i + ": " + c + " eligible rows among the " + t.k()
          + " nearest, expected " + kk);
    }
    return new TopK(nq, kk, v, ix);
  }

  /** The block's k best eligible rows (pick[j] is the block row of matrix row j), merged into best. */
  private void block(FloatMatrix q, FloatMatrix g, int[] pick, long base, RowMeta[] metas, int k, Best[] best) {
    TopK t = kernels.pairwiseTopk(q, g, metric, Math.min(k, g.rows()));
    merge(t, q.rows(), g.rows(), j -> pick[j], base, metas, k, best);
  }

  /** Merges a block's lists t (its column j is row rowOf(j) of the segment or delta) into best. */
  private static void merge(TopK t, int nq, int blockRows, java.util.function.IntUnaryOperator rowOf, long base,
      RowMeta[] metas, int k, Best[] best) {
    int kb = Math.min(k, blockRows);
    for (int i = 0; i < nq; i++) {
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
          long gy = base + rowOf.applyAsInt(t.index(i, y));
          takeOld = b.dist[x] < vy || (b.dist[x] == vy && b.global[x] < gy);
        }
        if (takeOld) {
          nd[m] = b.dist[x];
          ng[m] = b.global[x];
          nm[m] = b.meta[x++];
        } else {
          int row = rowOf.applyAsInt(t.index(i, y));
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
