package org.reid4j.gallery;

import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.eval.rerank.HnswNeighbours;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/**
 * The gallery's own k-reciprocal neighbourhood graph, one immutable version per published
 * {@link Snapshot}: for every live item (a "slot", numbered in insertion order of the item's
 * current version, so slot order is the search's tie order) its feature, its {@code k1} nearest
 * other live items by (distance, slot), its largest distance to any live item (the normaliser of
 * the offline re-ranking) and its Gaussian weight vector V over its k-reciprocal-expanded set
 * R*, as {@link GraphView#weights} defines them over the gallery alone.
 *
 * <p>Distances in the graph and in online re-ranking are computed by {@link #distance}: the
 * kernels' definitions (reid4j.h) with a float dot product summed in eight lanes. It is symmetric
 * bit for bit, and a rounding apart from the kernels' values. {@link #build} finds candidates with
 * the kernels (blocks of rows against blocks of columns, never the N x N matrix) and re-scores
 * them with {@link #distance}, so the lists are exactly the k1 nearest under {@link #distance}.
 *
 * <p>Costs: per item the feature on the heap (4 d bytes: the graph keeps its own copy, so that a
 * query's distance row is one pass over the heap), about 8 k1 bytes of list and 12 |R*| bytes of
 * weights. Building: N^2 d for the distances (kernels), plus about N (k1 + 8) d for re-scoring.
 */
final class NeighbourGraph {
  /** Re-scored candidates per row beyond k1 when building. */
  private static final int SLACK = 8;

  /** One live item. {@code nbr}/{@code dist}: its k1 nearest others by (distance, slot). */
  record Node(RowMeta meta, float[] feature, float norm2, int[] nbr, float[] dist, float max, int argmax,
      int[] vCols, float[] vVals, float[] vDist) {
    /** Position of slot c in nbr, or -1. */
    int indexOf(int c) {
      for (int i = 0; i < nbr.length; i++) if (nbr[i] == c) return i;
      return -1;
    }

    Node withList(int[] nbr, float[] dist) {
      return new Node(meta, feature, norm2, nbr, dist, max, argmax, vCols, vVals, vDist);
    }

    Node withMax(float max, int argmax) {
      return new Node(meta, feature, norm2, nbr, dist, max, argmax, vCols, vVals, vDist);
    }

    Node withWeights(GraphView.Sparse v) {
      return new Node(meta, feature, norm2, nbr, dist, max, argmax, v.cols(), v.vals(), v.dist());
    }
  }

  final int k1, half;
  final Metric metric;
  /** Indexed by slot; null for a slot whose item was removed or replaced. Never changed once published. */
  final Node[] nodes;
  /** Slots in use ({@code nodes.length} may be larger) and live items. */
  final int slots, live;

  NeighbourGraph(int k1, Metric metric, Node[] nodes, int slots, int live) {
    this.k1 = k1;
    this.half = (int) Math.rint(k1 / 2.0);
    this.metric = metric;
    this.nodes = nodes;
    this.slots = slots;
    this.live = live;
  }

  // ---- distances ----

  /** The dot product summed in eight lanes (then pairwise, then the tail in order). Symmetric. */
  static float dot(float[] a, float[] b) {
    int d = a.length, k = 0;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (; k + 8 <= d; k += 8) {
      s0 += a[k] * b[k];
      s1 += a[k + 1] * b[k + 1];
      s2 += a[k + 2] * b[k + 2];
      s3 += a[k + 3] * b[k + 3];
      s4 += a[k + 4] * b[k + 4];
      s5 += a[k + 5] * b[k + 5];
      s6 += a[k + 6] * b[k + 6];
      s7 += a[k + 7] * b[k + 7];
    }
    float s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    for (; k < d; k++) s += a[k] * b[k];
    return s;
  }

  /** The metric's distance as reid4j.h defines it, from the dot product and squared norms. */
  static float distance(float[] a, float na, float[] b, float nb, Metric m) {
    float ab = dot(a, b);
    return switch (m) {
      case SQEUCLIDEAN -> Math.max(0f, na + nb - 2f * ab);
      case EUCLIDEAN -> (float) Math.sqrt(Math.max(0f, na + nb - 2f * ab));
      case COSINE -> {
        if (na == 0f || nb == 0f) yield 1f;
        float c = 1f - ab / ((float) Math.sqrt(na) * (float) Math.sqrt(nb));
        yield c > 0f ? (c < 2f ? c : 2f) : 0f;
      }
    };
  }

  float distance(int x, int y) {
    Node a = nodes[x], b = nodes[y];
    return distance(a.feature, a.norm2, b.feature, b.norm2, metric);
  }

  /** D(f, slot) for every slot (NaN for free slots), two threads or more for large graphs. */
  float[] row(float[] f, float norm2) {
    float[] out = new float[slots];
    int chunk = 1024;
    IntStream.range(0, (slots + chunk - 1) / chunk).parallel().forEach(b -> {
      for (int y = b * chunk; y < Math.min(slots, (b + 1) * chunk); y++) {
        Node n = nodes[y];
        out[y] = n == null ? Float.NaN : distance(f, norm2, n.feature, n.norm2, metric);
      }
    });
    return out;
  }

  /** The k nearest slots of row (excluding {@code self}, skipping NaN) by (value, slot), and the row's max. */
  static Top nearest(float[] row, int self, int k) {
    int[] idx = new int[k];
    float[] val = new float[k];
    int[] size = {0};
    int argmax = -1;
    float max = 0f;
    for (int j = 0; j < row.length; j++) {
      float v = row[j];
      if (j == self || v != v) continue;
      if (argmax < 0 || v > max) {
        max = v;
        argmax = j;
      }
      insert(idx, val, size, 0, j, v, k);
    }
    return new Top(Arrays.copyOf(idx, size[0]), Arrays.copyOf(val, size[0]), Math.max(0f, max), argmax);
  }

  /** A sorted neighbour list with the row's maximum (argmax -1: no other item). */
  record Top(int[] idx, float[] val, float max, int argmax) {}

  // ---- building ----

  /**
   * Builds the graph of the given items (slot = position in the list, which must be insertion
   * order). Candidates come from the kernels, in blocks of {@code blockRows} columns against
   * blocks of rows of at most 128 MiB of distances; each row keeps its k1 + 8 best by the kernels' values and its largest value, then the
   * candidates are re-scored with {@link #distance}. A row whose (k1 + 8)-th candidate is within
   * rounding of its k1-th (many near-equal distances) is recomputed in full with {@link #distance}.
   */
  static NeighbourGraph build(List<RowMeta> metas, List<float[]> features, Metric metric, Kernels kernels, int k1,
      int blockRows) {
    int n = metas.size();
    Node[] nodes = new Node[Math.max(16, n)];
    if (n == 0) return new NeighbourGraph(k1, metric, nodes, 0, 0);
    int d = features.get(0).length;
    float[] norms = norms(features);
    int cap = (int) Math.min(n - 1L, (long) k1 + SLACK);
    int[][] cand = new int[n][cap];
    float[][] candVal = new float[n][cap];
    int[] size = new int[n], argmax = new int[n];
    float[] max = new float[n];
    Arrays.fill(argmax, -1);
    for (int c0 = 0; c0 < n; c0 += blockRows) {
      int c1 = Math.min(n, c0 + blockRows);
      // Few large calls: each call hands the whole column block to the kernels again. A block of
      // distances is at most 2^25 floats (128 MiB).
      int rowBlock = Math.max(256, (1 << 25) / (c1 - c0));
      FloatMatrix cols = FloatMatrix.zeros(c1 - c0, d);
      for (int j = c0; j < c1; j++) System.arraycopy(features.get(j), 0, cols.data(), (j - c0) * d, d);
      for (int r0 = 0; r0 < n; r0 += rowBlock) {
        int r1 = Math.min(n, r0 + rowBlock), cc0 = c0, rr0 = r0;
        FloatMatrix rows = FloatMatrix.zeros(r1 - r0, d);
        for (int i = r0; i < r1; i++) System.arraycopy(features.get(i), 0, rows.data(), (i - r0) * d, d);
        float[] dm = kernels.pairwise(rows, cols, metric).data();
        int w = c1 - c0;
        IntStream.range(r0, r1).parallel().forEach(i -> {
          int off = (i - rr0) * w;
          for (int jj = 0; jj < w; jj++) {
            int j = cc0 + jj;
            if (j == i) continue;
            float v = dm[off + jj];
            if (argmax[i] < 0 || v > max[i]) {
              max[i] = v;
              argmax[i] = j;
            }
            insert(cand[i], candVal[i], size, i, j, v, cap);
          }
        });
      }
    }
    float maxNorm = 0f;
    for (float v : norms) maxNorm = Math.max(maxNorm, v);
    float normBound = maxNorm;
    IntStream.range(0, n).parallel().forEach(i -> {
      float[] fi = features.get(i);
      Top top;
      int s = size[i], k = Math.min(k1, n - 1);
      boolean crowded = s > k && s == cap && candVal[i][s - 1] - candVal[i][k - 1] <= rounding(metric, norms[i] + normBound);
      if (crowded || k == 0) {
        float[] r = new float[n];
        for (int j = 0; j < n; j++) r[j] = distance(fi, norms[i], features.get(j), norms[j], metric);
        top = nearest(r, i, k);
      } else {
        float[] r = new float[n];
        Arrays.fill(r, Float.NaN);
        for (int t = 0; t < s; t++) {
          int j = cand[i][t];
          r[j] = distance(fi, norms[i], features.get(j), norms[j], metric);
        }
        top = nearest(r, i, k);
        int am = argmax[i];
        top = new Top(top.idx, top.val, am < 0 ? 0f : distance(fi, norms[i], features.get(am), norms[am], metric), am);
      }
      nodes[i] = new Node(metas.get(i), fi, norms[i], top.idx, top.val, Math.max(0f, top.max), top.argmax, null, null,
          null);
    });
    return withWeights(new NeighbourGraph(k1, metric, nodes, n, n));
  }

  /**
   * As {@link #build(List, List, Metric, Kernels, int, int)} with each item's candidates taken from
   * {@code index}: {@link Candidates#EXACT} is that build; HNSW takes each item's k1 nearest and its
   * largest distance from {@link HnswNeighbours} over the features (Lucene's graph, the candidates
   * re-scored with {@link #distance}, so the lists are sorted by (distance, slot) as in the exact
   * build, but may miss a nearer item; the largest distance is a lower bound of the true one). With
   * an ef of N or more the lists and maxima are the exact build's. Progress lines of the HNSW graph's
   * build and search go to {@code progress} (null: none).
   */
  static NeighbourGraph build(List<RowMeta> metas, List<float[]> features, Metric metric, Kernels kernels, int k1,
      int blockRows, Candidates index, Consumer<String> progress) {
    int n = metas.size();
    if (index.exact() || n < 2) return build(metas, features, metric, kernels, k1, blockRows);
    float[] norms = norms(features);
    int k = Math.min(k1, n - 1), len = k + 1;
    HnswNeighbours.Lists l = HnswNeighbours.of(features, metric, len, index,
        (i, j) -> distance(features.get(i), norms[i], features.get(j), norms[j], metric), progress);
    Node[] nodes = new Node[Math.max(16, n)];
    IntStream.range(0, n).parallel().forEach(i -> {
      int[] nbr = new int[k];
      float[] dist = new float[k];
      int t = 0;
      for (int r = 0; r < len && t < k; r++) { // the list holds i itself unless k + 1 others tie at 0
        int j = l.idx()[i * len + r];
        if (j == i) continue;
        nbr[t] = j;
        dist[t++] = l.dist()[i * len + r];
      }
      nodes[i] = new Node(metas.get(i), features.get(i), norms[i], nbr, dist, l.largest()[i], l.farthest()[i], null,
          null, null);
    });
    return withWeights(new NeighbourGraph(k1, metric, nodes, n, n));
  }

  private static float[] norms(List<float[]> features) {
    float[] norms = new float[features.size()];
    for (int i = 0; i < norms.length; i++) norms[i] = dot(features.get(i), features.get(i));
    return norms;
  }

  /** The graph with every node's weights V computed from its lists and maxima. */
  private static NeighbourGraph withWeights(NeighbourGraph lists) {
    int n = lists.slots;
    Node[] nodes = lists.nodes;
    GraphView view = new GraphView(lists);
    GraphView.Sparse[] v = new GraphView.Sparse[n];
    IntStream.range(0, n).parallel().forEach(i -> v[i] = view.weights(i));
    for (int i = 0; i < n; i++) nodes[i] = nodes[i].withWeights(v[i]);
    return lists;
  }

  /**
   * A generous bound on how far two float computations of one distance can differ (different
   * summation orders), for vectors whose squared norms sum to at most {@code norms}.
   */
  static float rounding(Metric m, float norms) {
    float sq = 4e-6f * norms;
    return switch (m) {
      case SQEUCLIDEAN -> sq;
      case EUCLIDEAN -> (float) Math.sqrt(sq);
      case COSINE -> 4e-6f;
    };
  }

  private static void insert(int[] idx, float[] val, int[] size, int i, int j, float v, int cap) {
    int s = size[i];
    if (cap == 0) return;
    if (s == cap && !(v < val[s - 1])) return; // columns arrive in ascending order: equal keeps the earlier
    int p = s == cap ? s - 1 : s++;
    while (p > 0 && v < val[p - 1]) {
      val[p] = val[p - 1];
      idx[p] = idx[p - 1];
      p--;
    }
    val[p] = v;
    idx[p] = j;
    size[i] = s;
  }
}
