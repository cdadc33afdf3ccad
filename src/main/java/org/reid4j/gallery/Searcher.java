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
  static final class Best {
    float[] dist = new float[0];
    long[] global = new long[0];
    RowMeta[] meta = new RowMeta[0];
    int n;

    List<Hit> hits() {
      List<Hit> hits = new ArrayList<>(n);
      for (int j = 0; j < n; j++) hits.add(new Hit(meta[j].id(), dist[j], j + 1, meta[j].pid(), meta[j].camid()));
      return List.copyOf(hits);
    }
  }

  /**
   * One piece of a snapshot's search: rows r0 .. r1 - 1 of a segment, or of the delta when seg is
   * null; base is the global index of the segment's (or the delta's) row 0.
   */
  record Piece(Segment seg, int r0, int r1, long base) {}

  /**
   * The snapshot's rows cut into pieces of at most chunkRows rows (a segment or the delta whole
   * when chunkRows is Integer.MAX_VALUE; pieces of a segment kept packed on the CPU rounded up to a
   * multiple of its {@link ResidentRows#rowAlignment()}), in global order.
   * Running every piece, in any order, into the same lists gives the search's answer: each piece
   * merges its true k best eligible rows by (distance, global index), a total order.
   */
  static List<Piece> pieces(Snapshot s, int chunkRows) {
    if (chunkRows < 1) throw new IllegalArgumentException("pieces must hold at least 1 row, got " + chunkRows);
    List<Piece> out = new ArrayList<>();
    long base = 0;
    for (Segment seg : s.segments()) {
      // A copy kept packed on the CPU is searched from the start of a packed panel: its pieces are
      // rounded up to whole panels.
      ResidentRows dev = seg.mirror();
      int align = dev == null ? 1 : dev.rowAlignment();
      int step = (int) Math.min(Integer.MAX_VALUE, ((long) chunkRows + align - 1) / align * align);
      for (int r0 = 0; r0 < seg.rows; r0 += Math.min(step, seg.rows - r0))
        out.add(new Piece(seg, r0, r0 + Math.min(step, seg.rows - r0), base));
      base += seg.rows;
    }
    int nd = s.delta().count();
    for (int r0 = 0; r0 < nd; r0 += Math.min(chunkRows, nd - r0))
      out.add(new Piece(null, r0, r0 + Math.min(chunkRows, nd - r0), base));
    return out;
  }

  List<List<Hit>> search(Snapshot s, FloatMatrix q, SearchOptions o) {
    Best[] best = new Best[q.rows()];
    for (int i = 0; i < best.length; i++) best[i] = new Best();
    for (Piece p : pieces(s, Integer.MAX_VALUE)) run(p, s, q, o, best);
    List<List<Hit>> out = new ArrayList<>(best.length);
    for (Best b : best) out.add(b.hits());
    return out;
  }

  /** Merges the piece's k best eligible rows for each query (row i of q) into best[i]. */
  void run(Piece p, Snapshot s, FloatMatrix q, SearchOptions o, Best[] best) {
    if (best.length != q.rows())
      throw new IllegalArgumentException(q.rows() + " queries but " + best.length + " lists");
    int nq = q.rows(), k = o.k();
    if (p.seg() == null) {
      Delta.View d = s.delta();
      copiedBlocks(q, p.r0(), p.r1(), r -> s.visible(d.dead(), r) && (!o.selective() || d.metas()[r].matches(o)),
          (r, dst, off) -> System.arraycopy(d.features(), r * dimension, dst, off, dimension), p.base(), d.metas(), k,
          best);
      return;
    }
    Segment seg = p.seg();
    ResidentRows dev = seg.mirror();
    for (int r0 = p.r0(); r0 < p.r1(); ) {
      // A range: the whole piece where it is mirrored on the device, else the part in one memory map.
      int end = dev != null ? p.r1() : Math.min(p.r1(), seg.mapEnd(r0)), n = end - r0, eligible = 0;
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
        TopK kept = eligible == n ? t : keepOnly(t, nq, Math.min(k, eligible), j -> eligible(s, seg, first + j, o));
        merge(kept, nq, eligible, j -> first + j, p.base(), seg.metas, k, best);
      } else { // few eligible rows: they are copied
        copiedBlocks(q, r0, end, r -> eligible(s, seg, r, o), seg::copyRow, p.base(), seg.metas, k, best);
      }
      r0 = end;
    }
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

  /** Copies row r's features into dst from offset off. */
  private interface RowCopy {
    void row(int r, float[] dst, int off);
  }

  /**
   * Rows r0 .. end - 1 that pass keep, copied (copy) into one matrix a block of rows at a time; each
   * block's k best merged into best (the segment's or the delta's row 0 is global index base).
   */
  private void copiedBlocks(FloatMatrix q, int r0, int end, java.util.function.IntPredicate keep, RowCopy copy,
      long base, RowMeta[] metas, int k, Best[] best) {
    int[] pick = new int[blockRows];
    for (int b0 = r0; b0 < end; b0 += blockRows) {
      int b1 = Math.min(end, b0 + blockRows), m = 0;
      for (int r = b0; r < b1; r++) if (keep.test(r)) pick[m++] = r;
      if (m == 0) continue;
      float[] g = new float[m * dimension];
      for (int j = 0; j < m; j++) copy.row(pick[j], g, j * dimension);
      TopK t = kernels.pairwiseTopk(q, new FloatMatrix(m, dimension, g), metric, Math.min(k, m));
      merge(t, q.rows(), m, j -> pick[j], base, metas, k, best);
    }
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
