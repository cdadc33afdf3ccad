package org.reid4j.eval;

import java.util.LinkedHashMap;
import java.util.Map;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * Query-versus-gallery evaluation as one call: check the inputs, optionally L2-normalise, compute
 * the distance (plain or k-reciprocal re-ranked) on the chosen kernels, then CMC/mAP/mINP. Times
 * each step. Memory: the [nq, ng] distance matrix (4 nq ng bytes) plus the inputs.
 */
public final class RetrievalEval {

  /** What to run. */
  public record Options(Metric metric, boolean normalize, RerankParams rerank) {
    public static Options defaults() {
      return new Options(Metric.SQEUCLIDEAN, false, null);
    }
  }

  /** Result, the [nq, ng] distance it was computed from, the backend that ran, and milliseconds per step (in order). */
  public record Report(EvalResult result, FloatMatrix distance, String backend, Map<String, Long> timingsMs) {}

  private RetrievalEval() {}

  public static Report run(Kernels kernels, LabelledFeatures query, LabelledFeatures gallery, Options options) {
    return run(kernels, query, gallery, options, step -> {});
  }

  /** As above, announcing each step to {@code progress} before it starts (for long runs). */
  public static Report run(Kernels kernels, LabelledFeatures query, LabelledFeatures gallery, Options options,
      java.util.function.Consumer<String> progress) {
    Map<String, Long> t = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    Checks.requireSameDim(query.features(), query.name() + " features", gallery.features(), gallery.name() + " features");
    if (gallery.size() == 0) throw new IllegalArgumentException(gallery.name() + " is empty: nothing to rank");
    if (query.size() == 0) throw new IllegalArgumentException(query.name() + " is empty: nothing to evaluate");
    query.requireFinite();
    gallery.requireFinite();
    if (options.normalize()) {
      query = query.l2Normalized();
      gallery = gallery.l2Normalized();
    }
    t.put("prepare", ms(t0));
    long t1 = System.nanoTime();
    long n = (long) query.size() + gallery.size();
    progress.accept(options.rerank() == null
        ? String.format("distances %,d x %,d (%s) ...", query.size(), gallery.size(), options.metric())
        : String.format("re-ranking %,d items (k1 %d, k2 %d, lambda %.2f): %,d x %,d distance pass ...", n,
            options.rerank().k1(), options.rerank().k2(), options.rerank().lambda(), n, n));
    FloatMatrix dist = options.rerank() == null
        ? kernels.pairwise(query.features(), gallery.features(), options.metric())
        : kernels.rerank(query.features(), gallery.features(), options.metric(), options.rerank());
    t.put(options.rerank() == null ? "distance" : "rerank", ms(t1));
    long t2 = System.nanoTime();
    progress.accept(String.format("evaluating %,d queries ...", query.size()));
    EvalResult r = ReidEvaluator.evaluate(dist, query.pids(), query.camids(), gallery.pids(), gallery.camids());
    t.put("evaluate", ms(t2));
    return new Report(r, dist, kernels.describe(), t);
  }

  private static long ms(long since) {
    return (System.nanoTime() - since) / 1_000_000;
  }
}
