package org.reid4j.kernels;

import java.util.stream.IntStream;
import org.reid4j.eval.rerank.KReciprocal;

/**
 * The plain-Java kernels: the portable baseline that works everywhere and that the JMH benchmarks
 * compare the native code against. Same semantics as {@code reid4j.h} (see {@link Distances} for
 * the metrics); plain scalar loops, parallel over rows with the common fork-join pool and nothing
 * else (no Vector API, no blocking), so that its speed is that of straightforward Java.
 *
 * <p>Costs: pairwise O(nq ng d) time; top-k O(rows cols log k) with a bounded heap of k entries per
 * row; the fused pairwise top-k holds one distance row per worker, never [nq, ng]; batch-hard
 * O(n^2 d) time and O(n) memory; re-ranking as {@link KReciprocal}.
 */
public final class JavaKernels implements Kernels {

  public JavaKernels() {}

  @Override
  public Backend backend() {
    return Backend.JAVA;
  }

  @Override
  public String describe() {
    return "java (" + Runtime.getRuntime().availableProcessors() + " threads)";
  }

  @Override
  public FloatMatrix pairwise(FloatMatrix q, FloatMatrix g, Metric metric) {
    Checks.pairwiseInputs(q, g);
    FloatMatrix.requireSize(q.rows(), g.rows());
    float[] qn = Distances.squaredNorms(q), gn = Distances.squaredNorms(g);
    int ng = g.rows();
    FloatMatrix out = FloatMatrix.zeros(q.rows(), ng);
    float[] o = out.data();
    IntStream.range(0, q.rows()).parallel().forEach(i -> {
      for (int j = 0; j < ng; j++) o[i * ng + j] = Distances.distance(q, i, qn[i], g, j, gn[j], metric);
    });
    return out;
  }

  @Override
  public TopK topk(FloatMatrix dist, int k) {
    Checks.requireK(k, dist.cols(), "topk");
    Checks.requireNoNaN(dist, "topk");
    float[] d = dist.data();
    int rows = dist.rows(), cols = dist.cols();
    float[] vals = new float[rows * k];
    int[] idx = new int[rows * k];
    IntStream.range(0, rows).parallel().forEach(r -> selectRow(d, r * cols, cols, k, vals, idx, r * k));
    return new TopK(rows, k, vals, idx);
  }

  @Override
  public TopK pairwiseTopk(FloatMatrix q, FloatMatrix g, Metric metric, int k) {
    Checks.pairwiseInputs(q, g);
    Checks.requireK(k, g.rows(), "pairwiseTopk");
    FloatMatrix.requireSize(q.rows(), k);
    float[] qn = Distances.squaredNorms(q), gn = Distances.squaredNorms(g);
    int ng = g.rows();
    float[] vals = new float[q.rows() * k];
    int[] idx = new int[q.rows() * k];
    // One distance row per task; the [nq, ng] matrix is never held.
    IntStream.range(0, q.rows()).parallel().forEach(i -> {
      float[] row = new float[ng];
      for (int j = 0; j < ng; j++) row[j] = Distances.distance(q, i, qn[i], g, j, gn[j], metric);
      selectRow(row, 0, ng, k, vals, idx, i * k);
    });
    return new TopK(q.rows(), k, vals, idx);
  }

  /**
   * The k smallest of src[from, from + n) by (value, column), ascending, into outVal/outIdx at
   * {@code at}. A max-heap of the k best so far (its root the worst of them) sees every value once.
   */
  static void selectRow(float[] src, int from, int n, int k, float[] outVal, int[] outIdx, int at) {
    if (k == 0) return;
    float[] hv = new float[k];
    int[] hi = new int[k];
    int size = 0;
    for (int j = 0; j < n; j++) {
      float v = src[from + j];
      if (size < k) {
        hv[size] = v;
        hi[size] = j;
        siftUp(hv, hi, size++);
      } else if (less(v, j, hv[0], hi[0])) {
        hv[0] = v;
        hi[0] = j;
        siftDown(hv, hi, 0, k);
      }
    }
    // Pop the root (largest) repeatedly: the output fills from the back.
    for (int end = k - 1; end >= 0; end--) {
      outVal[at + end] = hv[0];
      outIdx[at + end] = hi[0];
      hv[0] = hv[end];
      hi[0] = hi[end];
      siftDown(hv, hi, 0, end);
    }
  }

  /** (v1, i1) orders before (v2, i2). */
  private static boolean less(float v1, int i1, float v2, int i2) {
    return v1 < v2 || (v1 == v2 && i1 < i2);
  }

  private static void siftUp(float[] hv, int[] hi, int c) {
    while (c > 0) {
      int p = (c - 1) / 2;
      if (!less(hv[p], hi[p], hv[c], hi[c])) return;
      swap(hv, hi, p, c);
      c = p;
    }
  }

  private static void siftDown(float[] hv, int[] hi, int p, int size) {
    while (true) {
      int c = 2 * p + 1;
      if (c >= size) return;
      if (c + 1 < size && less(hv[c], hi[c], hv[c + 1], hi[c + 1])) c++;
      if (!less(hv[p], hi[p], hv[c], hi[c])) return;
      swap(hv, hi, p, c);
      p = c;
    }
  }

  private static void swap(float[] hv, int[] hi, int a, int b) {
    float v = hv[a];
    hv[a] = hv[b];
    hv[b] = v;
    int i = hi[a];
    hi[a] = hi[b];
    hi[b] = i;
  }

  @Override
  public HardMining batchHard(FloatMatrix x, int[] labels, Metric metric) {
    Checks.batchHardInputs(x, labels);
    return mine(x, labels, x, labels, metric, true);
  }

  @Override
  public HardMining batchHardMemory(FloatMatrix anchors, int[] anchorLabels, FloatMatrix memory, int[] memoryLabels,
      Metric metric) {
    Checks.batchHardMemoryInputs(anchors, anchorLabels, memory, memoryLabels);
    return mine(anchors, anchorLabels, memory, memoryLabels, metric, false);
  }

  /**
   * Hardest positive (largest distance, same label) and hardest negative (smallest distance, other
   * label) of every anchor among the candidates; scanning candidates in index order with strict
   * comparisons gives ties to the smaller index. With excludeSelf, candidate i is skipped for anchor i.
   */
  private static HardMining mine(FloatMatrix a, int[] al, FloatMatrix m, int[] ml, Metric metric,
      boolean excludeSelf) {
    int n = a.rows(), nm = m.rows();
    float[] an = Distances.squaredNorms(a), mn = excludeSelf ? an : Distances.squaredNorms(m);
    int[] posIdx = new int[n], negIdx = new int[n];
    float[] posDist = new float[n], negDist = new float[n];
    IntStream.range(0, n).parallel().forEach(i -> {
      int pi = -1, ni = -1;
      float pd = Float.NaN, nd = Float.NaN;
      for (int j = 0; j < nm; j++) {
        if (excludeSelf && j == i) continue;
        float dist = Distances.distance(a, i, an[i], m, j, mn[j], metric);
        if (ml[j] == al[i]) {
          if (pi < 0 || dist > pd) {
            pi = j;
            pd = dist;
          }
        } else if (ni < 0 || dist < nd) {
          ni = j;
          nd = dist;
        }
      }
      posIdx[i] = pi;
      posDist[i] = pd;
      negIdx[i] = ni;
      negDist[i] = nd;
    });
    return new HardMining(posIdx, posDist, negIdx, negDist);
  }

  @Override
  public FloatMatrix rerank(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params) {
    Checks.pairwiseInputs(q, g);
    return KReciprocal.rerank(q, g, metric, params.clampedTo((long) q.rows() + g.rows()));
  }
}
