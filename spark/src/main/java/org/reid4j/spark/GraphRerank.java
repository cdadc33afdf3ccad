package org.reid4j.spark;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.ReidEvaluator;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.QueryLabels;
import org.reid4j.kernels.QueryScores;
import org.reid4j.kernels.RerankParams;

/**
 * k-reciprocal re-ranking and the Market-1501 evaluation from a kNN graph, on the driver: the graph
 * replaces the N x N pass (the only O(N^2 d) step), so what is left costs O(nq ng d) for the raw
 * query-gallery distances (native kernels) plus the sparse steps of {@link KReciprocal}.
 *
 * <p>{@link #run} scores a block of queries at a time ({@link RetrievalEval#scoreInBlocks}: the raw
 * distances of a block computed, re-ranked in place and scored, twice over the gallery in all), so
 * that memory is the features, the lists and one block, never the [nq, ng] matrix (39.6 GB at 10,000
 * queries against a million gallery rows). {@link #runKeeping} keeps the re-ranked matrix (when it
 * fits in one array); both give the same scores.
 */
public final class GraphRerank {
  private GraphRerank() {}

  /** The scores, the re-ranked [nq, ng] distances (null unless kept) and the time of each step. */
  public record Result(EvalResult eval, FloatMatrix distance, Map<String, Long> timingsMs) {}

  /**
   * Re-ranks queries q against gallery g with the lists of all nq + ng items (queries first), which
   * must be at least {@link KReciprocal#listLength} long (longer lists are cut), and evaluates, a
   * block of queries at a time (progress lines to {@code progress}, null: silent).
   */
  public static Result run(LabelledFeatures q, LabelledFeatures g, KnnGraph.Lists lists, Metric metric,
      RerankParams params, Kernels kernels, Consumer<String> progress) {
    KnnGraph.Lists cut = check(q, g, lists, params);
    int nq = q.size(), ng = g.size(), len = cut.length();
    Consumer<String> out = progress == null ? line -> {} : progress;
    Map<String, Long> ms = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    int block = RetrievalEval.blockRows(nq, ng);
    float[] queryMax = RetrievalEval.queryRowMaxima(kernels, q.features(), g.features(), metric, out, block);
    long t1 = System.nanoTime();
    KReciprocal.Rows rows = KReciprocal.rowsFromLists(q.features(), g.features(), metric, params, len, cut.idx(),
        cut.dist(), cut.max(), queryMax);
    long t2 = System.nanoTime();
    QueryScores scores = RetrievalEval.scoreInBlocks(kernels, q.features(), g.features(), metric,
        new QueryLabels(q.pids(), q.camids(), g.pids(), g.camids()), rows, out, block);
    long t3 = System.nanoTime();
    ms.put("query_row_maxima", (t1 - t0) / 1_000_000);
    ms.put("rerank_from_graph", (t2 - t1) / 1_000_000);
    ms.put("rerank_and_evaluate", (t3 - t2) / 1_000_000);
    return new Result(ReidEvaluator.fromScores(scores), null, ms);
  }

  /** {@link #run} keeping the re-ranked [nq, ng] distances (nq ng must fit in one Java array). */
  public static Result runKeeping(LabelledFeatures q, LabelledFeatures g, KnnGraph.Lists lists, Metric metric,
      RerankParams params, Kernels kernels) {
    KnnGraph.Lists cut = check(q, g, lists, params);
    FloatMatrix.requireSize(q.size(), g.size());
    Map<String, Long> ms = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    FloatMatrix raw = kernels.pairwise(q.features(), g.features(), metric);
    long t1 = System.nanoTime();
    FloatMatrix rr = KReciprocal.rerankFromLists(q.features(), g.features(), metric, params, cut.length(),
        cut.idx(), cut.dist(), cut.max(), raw);
    long t2 = System.nanoTime();
    EvalResult eval = ReidEvaluator.evaluate(rr, q.pids(), q.camids(), g.pids(), g.camids());
    long t3 = System.nanoTime();
    ms.put("query_gallery_distances", (t1 - t0) / 1_000_000);
    ms.put("rerank_from_graph", (t2 - t1) / 1_000_000);
    ms.put("evaluate", (t3 - t2) / 1_000_000);
    return new Result(eval, rr, ms);
  }

  /** The lists cut to the length re-ranking needs, after checking they belong to q and g. */
  private static KnnGraph.Lists check(LabelledFeatures q, LabelledFeatures g, KnnGraph.Lists lists,
      RerankParams params) {
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
    return cut(lists, len);
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
