package org.reid4j.spark;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.ReidEvaluator;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * k-reciprocal re-ranking and the Market-1501 evaluation from a kNN graph, on the driver: the graph
 * replaces the N x N pass (the only O(N^2 d) step), so what is left costs O(nq ng d) for the raw
 * query-gallery distances (native kernels) plus the sparse steps of {@link KReciprocal}. Memory: the
 * features of both sides, the [nq, ng] distances and the lists.
 */
public final class GraphRerank {
  private GraphRerank() {}

  /** The scores, the re-ranked [nq, ng] distances and the time of each step. */
  public record Result(EvalResult eval, FloatMatrix distance, Map<String, Long> timingsMs) {}

  /**
   * Re-ranks queries q against gallery g with the lists of all nq + ng items (queries first), which
   * must be at least {@link KReciprocal#listLength} long (longer lists are cut), and evaluates.
   */
  public static Result run(LabelledFeatures q, LabelledFeatures g, KnnGraph.Lists lists, Metric metric,
      RerankParams params, Kernels kernels) {
    int nq = q.size(), ng = g.size(), n = nq + ng;
    if (lists.items() != n)
      throw new IllegalArgumentException("the graph has " + lists.items() + " items, but there are " + nq
          + " queries + " + ng + " gallery rows = " + n + " (build it from the same query and gallery tables)");
    if (q.features().cols() != g.features().cols())
      throw new IllegalArgumentException("queries have " + q.features().cols() + " feature values, the gallery "
          + g.features().cols());
    int len = KReciprocal.listLength(params, n);
    if (lists.length() < len)
      throw new IllegalArgumentException("the graph keeps " + lists.length() + " neighbours per item, re-ranking with "
          + params + " needs " + len);
    KnnGraph.Lists cut = cut(lists, len);
    Map<String, Long> ms = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    FloatMatrix raw = kernels.pairwise(q.features(), g.features(), metric);
    long t1 = System.nanoTime();
    FloatMatrix rr = KReciprocal.rerankFromLists(q.features(), g.features(), metric, params, len, cut.idx(),
        cut.dist(), cut.max(), raw);
    long t2 = System.nanoTime();
    EvalResult eval = ReidEvaluator.evaluate(rr, q.pids(), q.camids(), g.pids(), g.camids());
    long t3 = System.nanoTime();
    ms.put("query_gallery_distances", (t1 - t0) / 1_000_000);
    ms.put("rerank_from_graph", (t2 - t1) / 1_000_000);
    ms.put("evaluate", (t3 - t2) / 1_000_000);
    return new Result(eval, rr, ms);
  }

  /** The first len entries of every list. */
  static KnnGraph.Lists cut(KnnGraph.Lists l, int len) {
    if (l.length() == len) return l;
    int n = l.items();
    int[] idx = new int[n * len];
    float[] dist = new float[n * len];
    for (int i = 0; i < n; i++) {
      System.arraycopy(l.idx(), i * l.length(), idx, i * len, len);
      System.arraycopy(l.dist(), i * l.length(), dist, i * len, len);
    }
    return new KnnGraph.Lists(n, len, idx, dist, Arrays.copyOf(l.max(), n));
  }
}
