package org.reid4j.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.reid4j.eval.post.Dba;
import org.reid4j.eval.post.Fusion;
import org.reid4j.eval.post.QueryExpansion;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.eval.rerank.ListRecall;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NativeMatrix;
import org.reid4j.kernels.QueryLabels;
import org.reid4j.kernels.QueryScores;
import org.reid4j.kernels.RerankParams;
import org.reid4j.kernels.TopK;
import org.reid4j.report.ProgressLine;

/**
 * Query-versus-gallery evaluation as one call: check the inputs, then the retrieval pipeline in the
 * order normalise -> DBA -> query expansion -> distance -> k-reciprocal re-ranking, then
 * CMC/mAP/mINP. Times each step.
 *
 * <p>An ensemble is several {@link Member}s (the same images in the same order, features from
 * different models): normalisation, DBA and alpha-QE transform each member's features; the distance
 * is fused ({@link Fusion}); average QE takes its neighbours from the fused ranking and expands every
 * member's queries with them; re-ranking runs on the fused distance (Java code: the native kernels
 * take features, not a fused distance). One member is a plain evaluation.
 *
 * <p>Memory: the [nq, ng] distance matrix (4 nq ng bytes; one more while an ensemble's members are
 * summed) plus the inputs and their transformed copies. One model without the matrix kept
 * ({@code keepDistance} false) and with HNSW candidates, or one whose matrix would not fit in a Java
 * array, is scored a block of queries at a time instead ({@link #BLOCK_VALUES} distances at once), so
 * that a million-item evaluation needs memory for its features and neighbour lists, not for nq x ng.
 */
public final class RetrievalEval {

  /**
   * What to run.
   *
   * @param dbaK database-side augmentation's neighbours (0 = off)
   * @param qe query expansion, or null
   * @param fusion how members are fused (ignored for one member)
   * @param weights members' weights (null = equal; ignored for one member)
   * @param candidates where re-ranking takes its neighbour lists from (null = exact; HNSW needs rerank)
   * @param recallSample with HNSW candidates for one model: items whose lists are compared with the
   *     exact ones ({@link ListRecall}; 0 = none)
   */
  public record Options(Metric metric, boolean normalize, RerankParams rerank, int dbaK, QueryExpansion.Params qe,
      Fusion.Kind fusion, double[] weights, Candidates candidates, int recallSample) {
    public Options {
      if (recallSample < 0)
        throw new IllegalArgumentException("the list recall sample must be 0 or more items, got " + recallSample);
      if (metric == null) throw new IllegalArgumentException("metric is null");
      if (candidates == null) candidates = Candidates.EXACT;
      if (!candidates.exact() && rerank == null)
        throw new IllegalArgumentException("HNSW candidates are for re-ranking: give re-ranking parameters too");
      if (dbaK < 0) throw new IllegalArgumentException("DBA: k must be 0 or more, got " + dbaK);
      if (fusion == null) fusion = Fusion.Kind.DISTANCE;
      weights = weights == null ? null : weights.clone();
    }

    public Options(Metric metric, boolean normalize, RerankParams rerank, int dbaK, QueryExpansion.Params qe,
        Fusion.Kind fusion, double[] weights, Candidates candidates) {
      this(metric, normalize, rerank, dbaK, qe, fusion, weights, candidates, 0);
    }

    public Options(Metric metric, boolean normalize, RerankParams rerank, int dbaK, QueryExpansion.Params qe,
        Fusion.Kind fusion, double[] weights) {
      this(metric, normalize, rerank, dbaK, qe, fusion, weights, Candidates.EXACT);
    }

    public Options(Metric metric, boolean normalize, RerankParams rerank) {
      this(metric, normalize, rerank, 0, null, Fusion.Kind.DISTANCE, null);
    }

    public static Options defaults() {
      return new Options(Metric.SQEUCLIDEAN, false, null);
    }

    public Options withDba(int k) {
      return new Options(metric, normalize, rerank, k, qe, fusion, weights, candidates, recallSample);
    }

    public Options withQe(QueryExpansion.Params p) {
      return new Options(metric, normalize, rerank, dbaK, p, fusion, weights, candidates, recallSample);
    }

    public Options withFusion(Fusion.Kind kind, double[] memberWeights) {
      return new Options(metric, normalize, rerank, dbaK, qe, kind, memberWeights, candidates, recallSample);
    }

    /** Re-ranking's neighbour lists from c (exact or HNSW). */
    public Options withCandidates(Candidates c) {
      return new Options(metric, normalize, rerank, dbaK, qe, fusion, weights, c, recallSample);
    }

    /** HNSW lists compared with the exact ones on this many sampled items (0: not measured). */
    public Options withRecallSample(int items) {
      return new Options(metric, normalize, rerank, dbaK, qe, fusion, weights, candidates, items);
    }

    @Override
    public double[] weights() {
      return weights == null ? null : weights.clone();
    }
  }

  /** One model's features of the query and gallery images; {@code name} is used in messages. */
  public record Member(String name, LabelledFeatures query, LabelledFeatures gallery) {}

  /**
   * Result, the [nq, ng] distance it was computed from (null when it was scored on the device and
   * not kept: see {@link #run(Kernels, List, Options, Consumer, boolean)}), the backend that ran, and
   * milliseconds per step (in order); with HNSW candidates and {@link Options#recallSample}, how near
   * their lists came to the exact ones (else null).
   */
  public record Report(EvalResult result, FloatMatrix distance, String backend, Map<String, Long> timingsMs,
      ListRecall listRecall) {
    public Report(EvalResult result, FloatMatrix distance, String backend, Map<String, Long> timingsMs) {
      this(result, distance, backend, timingsMs, null);
    }
  }

  private RetrievalEval() {}

  public static Report run(Kernels kernels, LabelledFeatures query, LabelledFeatures gallery, Options options) {
    return run(kernels, query, gallery, options, step -> {});
  }

  /** As above, announcing each step to {@code progress} before it starts (for long runs). */
  public static Report run(Kernels kernels, LabelledFeatures query, LabelledFeatures gallery, Options options,
      Consumer<String> progress) {
    return run(kernels, List.of(new Member(query.name(), query, gallery)), options, progress);
  }

  /** As above, with the choice of {@link #run(Kernels, List, Options, Consumer, boolean)}. */
  public static Report run(Kernels kernels, LabelledFeatures query, LabelledFeatures gallery, Options options,
      Consumer<String> progress, boolean keepDistance) {
    return run(kernels, List.of(new Member(query.name(), query, gallery)), options, progress, keepDistance);
  }

  /** An ensemble's (or, with one member, a model's) evaluation; the report keeps the distance matrix. */
  public static Report run(Kernels kernels, List<Member> members, Options options, Consumer<String> progress) {
    return run(kernels, members, options, progress, true);
  }

  /**
   * As above; without {@code keepDistance}, a backend that can score the matrix where it computed it
   * (CUDA: {@link Kernels#pairwiseScores}, {@link Kernels#rerankScores}) does so for one member with
   * exact candidates, so that the [nq, ng] matrix never crosses to the host, and the report's
   * distance is null. The scores are those of the host evaluator on the same matrix.
   */
  public static Report run(Kernels kernels, List<Member> members, Options options, Consumer<String> progress,
      boolean keepDistance) {
    Map<String, Long> t = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    check(members, options);
    int count = members.size();
    double[] w = count == 1 ? new double[] {1} : Fusion.normalizedWeights(options.weights(), count);
    Member first = members.get(0);
    LabelledFeatures q0 = first.query(), g0 = first.gallery();
    List<FloatMatrix> qs = new ArrayList<>(), gs = new ArrayList<>();
    for (Member m : members) {
      qs.add(options.normalize() ? Features.l2Normalize(m.query().features()) : m.query().features());
      gs.add(options.normalize() ? Features.l2Normalize(m.gallery().features()) : m.gallery().features());
    }
    Fusion.Kind fusion = count == 1 ? Fusion.Kind.DISTANCE : options.fusion();
    if (fusion == Fusion.Kind.CONCAT) {
      qs = new ArrayList<>(List.of(Fusion.concat(qs, w)));
      gs = new ArrayList<>(List.of(Fusion.concat(gs, w)));
      w = new double[] {1};
      fusion = Fusion.Kind.DISTANCE;
    }
    t.put("prepare", ms(t0));

    if (options.dbaK() > 0) {
      long t1 = System.nanoTime();
      progress.accept(String.format("database-side augmentation: %,d gallery rows, k %d ...", g0.size(),
          options.dbaK()));
      for (int m = 0; m < gs.size(); m++) gs.set(m, Dba.apply(kernels, gs.get(m), options.metric(), options.dbaK()));
      t.put("dba", ms(t1));
    }
    QueryExpansion.Params qe = options.qe();
    if (qe != null && qe.kind() == QueryExpansion.Kind.ALPHA) {
      long t1 = System.nanoTime();
      progress.accept(String.format("alpha query expansion: %,d items, k %d, alpha %s, %d round(s) ...",
          q0.size() + g0.size(), qe.k(), qe.alpha(), qe.times()));
      for (int m = 0; m < qs.size(); m++) {
        FloatMatrix[] e = QueryExpansion.alpha(kernels, qs.get(m), gs.get(m), qe, options.normalize());
        qs.set(m, e[0]);
        gs.set(m, e[1]);
      }
      t.put("qe", ms(t1));
    }

    long t1 = System.nanoTime();
    Metric metric = options.metric();
    boolean single = qs.size() == 1;
    progress.accept(String.format("distances %,d x %,d (%s%s) ...", q0.size(), g0.size(), metric,
        single ? "" : ", " + qs.size() + " members fused by " + fusion));
    Fusion.Fused fused = single ? null : Fusion.distance(kernels, qs, gs, w, metric);
    FloatMatrix ranking = single ? null : fusion == Fusion.Kind.VOTE
        ? Fusion.vote(kernels, qs, gs, w, metric, fused.distance()) : fused.distance();
    if (qe != null && qe.kind() == QueryExpansion.Kind.AVERAGE) {
      for (int round = 0; round < qe.times(); round++) {
        int k = Math.min(qe.k(), g0.size());
        TopK nearest = single ? kernels.pairwiseTopk(qs.get(0), gs.get(0), metric, k) : kernels.topk(ranking, k);
        for (int m = 0; m < qs.size(); m++)
          qs.set(m, QueryExpansion.expand(qs.get(m), gs.get(m), nearest, options.normalize()));
        if (!single) {
          fused = Fusion.distance(kernels, qs, gs, w, metric);
          ranking = fusion == Fusion.Kind.VOTE ? Fusion.vote(kernels, qs, gs, w, metric, fused.distance())
              : fused.distance();
        }
      }
      t.put("qe", t.getOrDefault("qe", 0L) + ms(t1));
      t1 = System.nanoTime();
    }
    FloatMatrix dist = null;
    QueryScores scores = null;
    ListRecall recall = null;
    QueryLabels labels = new QueryLabels(q0.pids(), q0.camids(), g0.pids(), g0.camids());
    boolean scoreOnDevice = !keepDistance && single && options.candidates().exact();
    if (options.rerank() != null) {
      RerankParams rp = options.rerank();
      long n = (long) q0.size() + g0.size();
      Candidates cand = options.candidates();
      if (cand.exact()) {
        // too large for one [nq, ng] array: exact lists from the kernels' list pass (no N x N matrix),
        // then re-ranked and scored a block of queries at a time, as for HNSW candidates
        boolean blocked = single && !keepDistance && !fits(q0.size(), g0.size());
        progress.accept(blocked ? exactInBlocksStep(q0.size(), g0.size(), rp) : exactRerankStep(n, rp));
        if (scoreOnDevice) scores = kernels.rerankScores(qs.get(0), gs.get(0), metric, rp, labels).orElse(null);
        if (scores == null && blocked) {
          scores = exactInBlocks(kernels, qs.get(0), gs.get(0), null, metric, rp, labels, progress);
        } else if (scores == null) {
          if (single) requireKeepable(q0.size(), g0.size());
          dist = single ? kernels.rerank(qs.get(0), gs.get(0), metric, rp)
              : KReciprocal.rerank(q0.size(), g0.size(), Fusion.itemDistance(qs, gs, w, fused.scales(), metric), rp);
        }
      } else {
        progress.accept(String.format("re-ranking %,d items (k1 %d, k2 %d, lambda %.2f): candidates from %s, "
            + "%,d x %,d query-gallery distances%s ...", n, rp.k1(), rp.k2(), rp.lambda(), cand.describe(), q0.size(),
            g0.size(), keepDistance ? "" : " in blocks of queries, re-ranked and scored block by block"));
        FloatMatrix q = qs.get(0), g = gs.get(0);
        int block = blockRows(q0.size(), g0.size());
        if (keepDistance) requireKeepable(q0.size(), g0.size());
        FloatMatrix raw = keepDistance ? kernels.pairwise(q, g, metric) : null;
        float[] queryMax = raw != null ? raw.rowMaxima() : queryRowMaxima(kernels, q, g, metric, progress, block);
        KReciprocal.Rows rows = KReciprocal.rows(q, g, metric, rp.clampedTo(n), cand, queryMax, progress);
        if (options.recallSample() > 0) {
          progress.accept(String.format("comparing the lists of %,d sampled items with the exact ones ...",
              Math.min(n, options.recallSample())));
          recall = ListRecall.measure(kernels, q, g, metric, rows,
              ListRecall.sample((int) n, options.recallSample(), ListRecall.SEED));
          progress.accept("candidate lists: " + recall.describe());
        }
        if (raw != null) {
          float[] d = raw.data();
          int ng = g0.size();
          IntStream.range(0, q0.size()).parallel().forEach(i -> rows.row(i, d, i * ng, d, i * ng));
          dist = raw;
        } else {
          scores = scoreInBlocks(kernels, q, g, metric, labels, rows, progress, block);
        }
      }
      t.put(scores != null ? "rerank+evaluate" : "rerank", ms(t1));
    } else {
      if (scoreOnDevice) scores = kernels.pairwiseScores(qs.get(0), gs.get(0), metric, labels).orElse(null);
      if (scores == null && single && !keepDistance && !fits(q0.size(), g0.size()))
        scores = scoreInBlocks(kernels, qs.get(0), gs.get(0), metric, labels, null, progress,
            blockRows(q0.size(), g0.size()));
      if (scores == null && single) requireKeepable(q0.size(), g0.size());
      if (scores == null) dist = single ? kernels.pairwise(qs.get(0), gs.get(0), metric) : ranking;
      t.put(scores != null ? "distance+evaluate" : "distance", ms(t1));
    }
    EvalResult r;
    if (scores != null) {
      r = ReidEvaluator.fromScores(scores);
    } else {
      long t2 = System.nanoTime();
      progress.accept(String.format("evaluating %,d queries ...", q0.size()));
      r = ReidEvaluator.evaluate(dist, q0.pids(), q0.camids(), g0.pids(), g0.camids());
      t.put("evaluate", ms(t2));
    }
    return new Report(r, dist, kernels.describe(), t, recall);
  }

  /**
   * One side of an evaluation with its features in native memory ({@code Npy.readMatrix}); whoever
   * made it closes the matrix. {@code name} is used in messages.
   */
  public record NativeFeatures(String name, NativeMatrix features, int[] pids, int[] camids) {
    public NativeFeatures {
      if (pids.length != features.rows())
        throw new IllegalArgumentException(name + ": " + features.rows() + " feature rows but " + pids.length + " pids");
      if (camids.length != features.rows())
        throw new IllegalArgumentException(name + ": " + features.rows() + " feature rows but " + camids.length
            + " camids");
    }
  }

  /** Whether {@link #runNative} handles these options: one model, exact candidates, no DBA, no query expansion. */
  public static boolean nativePath(Options options) {
    return options.dbaK() == 0 && options.qe() == null && options.candidates().exact();
  }

  /**
   * {@link #run} for features in native memory: --normalize scales them in place, the native
   * kernels read them without copies and write their result into native memory, which the
   * evaluator scores row by row (or, on the CUDA backend without {@code keepDistance}, the device
   * scores it where it computed it). The same scores as {@link #run} on heap copies of the same
   * features. Only for {@link #nativePath} options.
   */
  public static Report runNative(Kernels kernels, NativeFeatures query, NativeFeatures gallery, Options options,
      Consumer<String> progress, boolean keepDistance) {
    if (!nativePath(options))
      throw new IllegalArgumentException("the native-memory path takes exact candidates without DBA or query "
          + "expansion; use run() for those");
    Map<String, Long> t = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    NativeMatrix q = query.features(), g = gallery.features();
    if (q.cols() != g.cols())
      throw new IllegalArgumentException("dimension mismatch: " + query.name() + " features has " + q.cols()
          + " columns but " + gallery.name() + " features has " + g.cols());
    if (g.rows() == 0) throw new IllegalArgumentException(gallery.name() + " is empty: nothing to rank");
    if (q.rows() == 0) throw new IllegalArgumentException(query.name() + " is empty: nothing to evaluate");
    Thread warm = keepDistance ? null : warmUp(kernels, q.cols(), options.metric(), options.rerank());
    if (options.normalize()) { // checked for NaN and infinities on the way
      Features.l2NormalizeInPlace(q, query.name() + " features");
      Features.l2NormalizeInPlace(g, gallery.name() + " features");
    } else {
      Checks.requireFinite(q, query.name() + " features");
      Checks.requireFinite(g, gallery.name() + " features");
    }
    t.put("prepare", ms(t0));
    joinWarmUp(warm);

    long t1 = System.nanoTime();
    Metric metric = options.metric();
    QueryLabels labels = new QueryLabels(query.pids(), query.camids(), gallery.pids(), gallery.camids());
    QueryScores scores = null;
    NativeMatrix dist = null;
    try {
      RerankParams rp = options.rerank();
      if (rp != null) {
        long n = (long) q.rows() + g.rows();
        boolean blocked = !keepDistance && !fits(q.rows(), g.rows());
        progress.accept(blocked ? exactInBlocksStep(q.rows(), g.rows(), rp) : exactRerankStep(n, rp));
        if (!keepDistance) scores = kernels.rerankScores(q, g, metric, rp, labels).orElse(null);
        // too large for one [nq, ng] array: the heap path's blocks, on heap copies of the features
        if (scores == null && blocked) scores = exactInBlocks(kernels, q.toHeap(), g.toHeap(), g, metric, rp, labels,
            progress);
        if (scores == null) dist = kernels.rerank(q, g, metric, rp);
        t.put(scores != null ? "rerank+evaluate" : "rerank", ms(t1));
      } else {
        progress.accept(String.format("distances %,d x %,d (%s) ...", q.rows(), g.rows(), metric));
        if (!keepDistance) scores = kernels.pairwiseScores(q, g, metric, labels).orElse(null);
        if (scores == null && !keepDistance && !fits(q.rows(), g.rows()))
          scores = scoreNativeInBlocks(kernels, q, g, metric, labels, progress, blockRows(q.rows(), g.rows()));
        if (scores == null) dist = kernels.pairwise(q, g, metric);
        t.put(scores != null ? "distance+evaluate" : "distance", ms(t1));
      }
      if (scores == null) {
        long t2 = System.nanoTime();
        progress.accept(String.format("evaluating %,d queries ...", q.rows()));
        scores = ReidEvaluator.scoreQueries(dist, query.pids(), query.camids(), gallery.pids(), gallery.camids());
        t.put("evaluate", ms(t2));
      }
      EvalResult r = ReidEvaluator.fromScores(scores);
      return new Report(r, keepDistance ? dist.toHeap() : null, kernels.describe(), t);
    } finally {
      if (dist != null) dist.close();
    }
  }

  /**
   * The first call of a GPU kernel in a process pays for loading it onto the device (CUDA loads kernels lazily) and
   * the memory pool for its first growth. This makes the scoring call that is coming, on a problem of 8 queries and
   * 64 gallery items of the same width, metric and re-ranking parameters, on another thread while the caller still
   * normalises and checks its features (host backends have no scoring call: nothing runs). On an H200, eval's
   * scoring step on the Market-shaped case took 45 ms with it and 183 ms without (re-ranked: 63 and 190 ms). A
   * failure is left for the real call to report. {@code REID4J_EVAL_WARMUP=0} switches it off, for comparisons.
   */
  static Thread warmUp(Kernels kernels, int d, Metric metric, RerankParams rp) {
    if (d < 1 || "0".equals(System.getenv("REID4J_EVAL_WARMUP"))) return null;
    Thread t = new Thread(() -> {
      int nq = 8, ng = 64;
      java.util.Random rnd = new java.util.Random(1);
      try (NativeMatrix q = NativeMatrix.allocate(nq, d); NativeMatrix g = NativeMatrix.allocate(ng, d)) {
        float[] row = new float[d];
        for (NativeMatrix m : List.of(q, g))
          for (int r = 0; r < m.rows(); r++) {
            for (int k = 0; k < d; k++) row[k] = (float) rnd.nextGaussian();
            m.setRow(r, row);
          }
        int[] qp = new int[nq], qc = new int[nq], gp = new int[ng], gc = new int[ng];
        for (int i = 0; i < nq; i++) qp[i] = i % 4;
        for (int j = 0; j < ng; j++) {
          gp[j] = j % 4;
          gc[j] = 1;
        }
        QueryLabels labels = new QueryLabels(qp, qc, gp, gc);
        if (rp != null) kernels.rerankScores(q, g, metric, rp, labels);
        else kernels.pairwiseScores(q, g, metric, labels);
      } catch (RuntimeException | OutOfMemoryError e) {
        // the real call meets the same problem and reports it
      }
    }, "reid4j-warm-up");
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static void joinWarmUp(Thread warm) {
    if (warm == null) return;
    try {
      warm.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Raw distances per block of queries: at most this many values (128 MB) at a time. */
  static final long BLOCK_VALUES = 1L << 25;

  /**
   * HNSW re-ranking and evaluation without the [nq, ng] matrix, for galleries where it would not fit
   * (a million items) is three steps: {@link #queryRowMaxima} computes the raw distances a block of
   * queries at a time and keeps each query's largest; {@link KReciprocal#rows} builds the lists and
   * V (or {@link KReciprocal#rowsFromLists}, from lists made elsewhere; exact re-ranking skips the
   * first step, its lists know every maximum); {@link #scoreInBlocks} computes each block's raw
   * distances again, re-ranks its rows in place and scores them. The raw distances are computed twice (nq ng d each time, on the kernels) to hold
   * one block instead of all of them. The scores equal those of the dense path on the same raw
   * distances.
   *
   * <p>This is the first step: each query's largest raw distance to the gallery, the distances
   * computed a block of queries at a time.
   */
  public static float[] queryRowMaxima(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric,
      Consumer<String> progress, int block) {
    int nq = q.rows();
    float[] queryMax = new float[nq];
    ProgressLine line = new ProgressLine(progress, 10, nq, System.nanoTime(), "raw distances (row maxima)",
        "queries", "queries", 0);
    try (BlockDistances raw = new BlockDistances(kernels, g, null, metric)) {
      for (int from = 0; from < nq; from += block) {
        int to = Math.min(nq, from + block);
        float[] blockMax = raw.of(q, from, to).rowMaxima();
        System.arraycopy(blockMax, 0, queryMax, from, to - from);
        line.update(to);
      }
    }
    return queryMax;
  }

  /**
   * The scores of q against g a block of queries at a time: each block's raw distances from the
   * kernels, re-ranked in place by {@code rows} (unless null), then scored; the blocks' scores
   * joined in query order. Holds one block of distances at a time.
   */
  public static QueryScores scoreInBlocks(Kernels kernels, FloatMatrix q, FloatMatrix g, Metric metric,
      QueryLabels labels, KReciprocal.Rows rows, Consumer<String> progress, int block) {
    return scoreInBlocks(kernels, q, g, null, metric, labels, rows, progress, block);
  }

  /** As above; {@code nativeG}, if not null, holds g's values in native memory already (not closed here). */
  static QueryScores scoreInBlocks(Kernels kernels, FloatMatrix q, FloatMatrix g, NativeMatrix nativeG, Metric metric,
      QueryLabels labels, KReciprocal.Rows rows, Consumer<String> progress, int block) {
    if (block < 1) throw new IllegalArgumentException("block of " + block + " queries");
    int nq = q.rows(), ng = g.rows();
    Joined joined = new Joined(nq);
    ProgressLine line = new ProgressLine(progress, 10, nq, System.nanoTime(),
        rows == null ? "distances and scores" : "re-rank and score", "queries", "queries", 0);
    try (BlockDistances distances = new BlockDistances(kernels, g, nativeG, metric)) {
      for (int from = 0; from < nq; from += block) {
        int to = Math.min(nq, from + block), base = from;
        FloatMatrix raw = distances.of(q, from, to);
        float[] d = raw.data();
        if (rows != null)
          IntStream.range(0, to - from).parallel().forEach(r -> rows.row(base + r, d, r * ng, d, r * ng));
        joined.put(from, ReidEvaluator.scoreQueries(raw, Arrays.copyOfRange(labels.queryPids(), from, to),
            Arrays.copyOfRange(labels.queryCamids(), from, to), labels.galleryPids(), labels.galleryCamids()));
        line.update(to);
      }
    }
    return joined.scores();
  }

  /**
   * Raw distances of blocks of query rows against one heap gallery. Where the kernels are native the
   * gallery is copied into native memory once and checked once (then remembered as checked: {@link
   * NativeMatrix}), so that each block costs its own rows and the kernel, not a copy and a scan of
   * the whole gallery; the Java kernels read the heap gallery directly. Same distances either way.
   */
  static final class BlockDistances implements AutoCloseable {
    private final Kernels kernels;
    private final FloatMatrix g;
    private final Metric metric;
    private final NativeMatrix gallery;
    private final boolean owned;

    /** nativeG: g's values in native memory already (the caller's, used as they are and not closed), or null. */
    BlockDistances(Kernels kernels, FloatMatrix g, NativeMatrix nativeG, Metric metric) {
      this.kernels = kernels;
      this.g = g;
      this.metric = metric;
      boolean java = kernels.backend() == Backend.JAVA;
      this.owned = !java && nativeG == null;
      this.gallery = java ? null : nativeG != null ? nativeG : NativeMatrix.of(g);
    }

    /** Distances [to - from, ng] of query rows [from, to). */
    FloatMatrix of(FloatMatrix q, int from, int to) {
      if (gallery == null) return kernels.pairwise(q.rowRange(from, to), g, metric);
      try (NativeMatrix qb = NativeMatrix.of(q.rowRange(from, to)); NativeMatrix d = kernels.pairwise(qb, gallery,
          metric)) {
        return d.toHeap();
      }
    }

    @Override
    public void close() {
      if (owned) gallery.close();
    }
  }

  /**
   * {@link #scoreInBlocks} without re-ranking for features in native memory: each block of query
   * rows is copied into a native matrix of its own, scored against g, and freed with its distances.
   */
  static QueryScores scoreNativeInBlocks(Kernels kernels, NativeMatrix q, NativeMatrix g, Metric metric,
      QueryLabels labels, Consumer<String> progress, int block) {
    if (block < 1) throw new IllegalArgumentException("block of " + block + " queries");
    int nq = q.rows();
    Joined joined = new Joined(nq);
    ProgressLine line = new ProgressLine(progress, 10, nq, System.nanoTime(), "distances and scores", "queries",
        "queries", 0);
    float[] row = new float[q.cols()];
    for (int from = 0; from < nq; from += block) {
      int to = Math.min(nq, from + block);
      try (NativeMatrix qb = NativeMatrix.allocate(to - from, q.cols())) {
        for (int r = from; r < to; r++) {
          q.row(r, row);
          qb.setRow(r - from, row);
        }
        try (NativeMatrix d = kernels.pairwise(qb, g, metric)) {
          joined.put(from, ReidEvaluator.scoreQueries(d, Arrays.copyOfRange(labels.queryPids(), from, to),
              Arrays.copyOfRange(labels.queryCamids(), from, to), labels.galleryPids(), labels.galleryCamids()));
        }
      }
      line.update(to);
    }
    return joined.scores();
  }

  /** Per-query scores of consecutive blocks of queries, joined in query order. */
  private static final class Joined {
    final int[] first, nanAt;
    final double[] ap, inp;

    Joined(int nq) {
      first = new int[nq];
      nanAt = new int[nq];
      ap = new double[nq];
      inp = new double[nq];
    }

    void put(int from, QueryScores s) {
      int n = s.size();
      System.arraycopy(s.first(), 0, first, from, n);
      System.arraycopy(s.ap(), 0, ap, from, n);
      System.arraycopy(s.inp(), 0, inp, from, n);
      System.arraycopy(s.nanColumn(), 0, nanAt, from, n);
    }

    QueryScores scores() {
      return new QueryScores(first, ap, inp, nanAt);
    }
  }

  /** Queries per block: as many as keep a block within {@link #BLOCK_VALUES} distances, at least one. */
  public static int blockRows(int nq, int ng) {
    return (int) Math.max(1, Math.min(nq, BLOCK_VALUES / Math.max(1, ng)));
  }

  private static boolean fits(int nq, int ng) {
    return (long) nq * ng <= matrixLimit;
  }

  /**
   * The most values an [nq, ng] result may have to be made whole (a Java array's limit); tests lower
   * it to take the paths of galleries that do not fit on small cases.
   */
  static volatile long matrixLimit = Integer.MAX_VALUE - 8;

  /** The [nq, ng] result kept whole fits in a Java array; else a message that says what to do. */
  private static void requireKeepable(int nq, int ng) {
    if (!fits(nq, ng))
      throw new IllegalArgumentException("the " + nq + " x " + ng + " distance matrix does not fit in "
          + "memory as one array; evaluate without keeping it (eval: without --plots), which re-ranks and scores "
          + "a block of queries at a time");
  }

  /**
   * Exact re-ranking and its scores without the [nq, ng] matrix: the exact lists from the kernels'
   * list pass ({@link KReciprocal#rows} with kernels), then the raw distances
   * re-ranked and scored a block of queries at a time.
   */
  private static QueryScores exactInBlocks(Kernels kernels, FloatMatrix q, FloatMatrix g, NativeMatrix nativeG,
      Metric metric, RerankParams rp, QueryLabels labels, Consumer<String> progress) {
    RerankParams p = rp.clampedTo((long) q.rows() + g.rows());
    KReciprocal.Rows rows = KReciprocal.rows(kernels, q, g, metric, p, Candidates.EXACT, null, progress);
    return scoreInBlocks(kernels, q, g, nativeG, metric, labels, rows, progress, blockRows(q.rows(), g.rows()));
  }

  private static String exactInBlocksStep(int nq, int ng, RerankParams rp) {
    long n = (long) nq + ng;
    return String.format("re-ranking %,d items (k1 %d, k2 %d, lambda %.2f): exact lists from the %,d x %,d distance "
        + "pass without its matrix, then %,d x %,d query-gallery distances re-ranked and scored a block of "
        + "queries at a time ...", n, rp.k1(), rp.k2(), rp.lambda(), n, n, nq, ng);
  }

  private static String exactRerankStep(long n, RerankParams rp) {
    return String.format("re-ranking %,d items (k1 %d, k2 %d, lambda %.2f): %,d x %,d distance pass ...", n, rp.k1(),
        rp.k2(), rp.lambda(), n, n);
  }

  /** Each member usable, and all of them about the same images (pids and camids equal, row by row). */
  private static void check(List<Member> members, Options options) {
    if (members.isEmpty()) throw new IllegalArgumentException("nothing to evaluate: no features given");
    for (Member m : members) {
      LabelledFeatures q = m.query(), g = m.gallery();
      Checks.requireSameDim(q.features(), q.name() + " features", g.features(), g.name() + " features");
      if (g.size() == 0) throw new IllegalArgumentException(g.name() + " is empty: nothing to rank");
      if (q.size() == 0) throw new IllegalArgumentException(q.name() + " is empty: nothing to evaluate");
      q.requireFinite();
      g.requireFinite();
    }
    Member a = members.get(0);
    for (Member b : members.subList(1, members.size())) {
      sameItems(a.name(), a.query(), b.name(), b.query(), "query");
      sameItems(a.name(), a.gallery(), b.name(), b.gallery(), "gallery");
    }
    if (members.size() > 1 && options.fusion() != Fusion.Kind.CONCAT && !options.candidates().exact())
      throw new IllegalArgumentException("HNSW candidates need one feature vector per item: give one --dir, or "
          + "--fusion concat for an ensemble (a fused distance has no vectors to build a graph over)");
    if (members.size() > 1 && options.fusion() == Fusion.Kind.VOTE && options.rerank() != null)
      throw new IllegalArgumentException("re-ranking needs distances between gallery items, which --fusion vote does "
          + "not give (it ranks each query's list); use --fusion distance or concat with --rerank");
  }

  private static void sameItems(String an, LabelledFeatures a, String bn, LabelledFeatures b, String side) {
    if (a.size() != b.size())
      throw new IllegalArgumentException("ensemble members must describe the same images: " + bn + " has " + b.size()
          + " " + side + " rows, " + an + " has " + a.size());
    for (int i = 0; i < a.size(); i++)
      if (a.pids()[i] != b.pids()[i] || a.camids()[i] != b.camids()[i])
        throw new IllegalArgumentException("ensemble members must describe the same images in the same order: " + bn
            + "'s " + side + " row " + i + " is pid " + b.pids()[i] + ", camera " + b.camids()[i] + "; " + an
            + "'s is pid " + a.pids()[i] + ", camera " + a.camids()[i]);
  }

  private static long ms(long since) {
    return (System.nanoTime() - since) / 1_000_000;
  }
}
