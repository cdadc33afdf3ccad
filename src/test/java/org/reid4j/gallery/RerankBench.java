package org.reid4j.gallery;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.reid4j.data.SyntheticReid;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.ReidEvaluator;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * Online re-ranking against plain search and offline re-ranking (not a test): the Market-shaped
 * synthetic case (3,368 queries x 15,913 gallery rows, d 2048, L2-normalised as {@code eval
 * --normalize} does, squared Euclidean), imported into a gallery (ids = row numbers, pid and camid
 * from the case), on the cpu backend. Plain: the kernels' distance matrix; offline: {@code
 * Kernels.rerank} as {@code eval --rerank}; online: one {@link Gallery#search} per query with
 * {@code rerank(20, 6, 0.3, L)} returning all L candidates, the other items ranked after them by
 * their plain distance. All three are scored by {@link ReidEvaluator} (same pid and camera: junk).
 * Run with {@code java -Xmx8g -cp <test classpath> org.reid4j.gallery.RerankBench [seed] [L | exact |
 * hnsw:M:EF ...]} and OMP_WAIT_POLICY=PASSIVE: the online part runs once per neighbour-graph index
 * given (default exact), each graph built anew and, for HNSW, its lists' recall@k1 measured against
 * the exact graph's (built first).
 */
public final class RerankBench {
  private RerankBench() {}

  public static void main(String[] args) throws Exception {
    long seed = args.length > 0 ? Long.parseLong(args[0]) : 1;
    List<Integer> lList = new ArrayList<>();
    List<Candidates> indexes = new ArrayList<>();
    for (String a : Arrays.copyOfRange(args, Math.min(1, args.length), args.length)) {
      if (a.equals("exact")) indexes.add(Candidates.EXACT);
      else if (a.startsWith("hnsw:")) {
        String[] f = a.split(":");
        indexes.add(Candidates.hnsw(Integer.parseInt(f[1]), Integer.parseInt(f[2])));
      } else lList.add(Integer.parseInt(a));
    }
    int[] ls = lList.isEmpty() ? new int[] {300} : lList.stream().mapToInt(Integer::intValue).toArray();
    if (indexes.isEmpty()) indexes.add(Candidates.EXACT);
    RerankParams p = RerankParams.DEFAULT;
    SyntheticReid.Case c = SyntheticReid.build(SyntheticReid.Spec.market(seed));
    LabelledFeatures q = c.query().l2Normalized(), g = c.gallery().l2Normalized();
    int nq = q.size(), ng = g.size(), d = g.features().cols();
    Kernels cpu = Kernels.create(Backend.CPU);
    System.out.printf(Locale.ROOT, "case: %d queries x %d gallery, d %d; %s; cores %d%n", nq, ng, d, cpu.describe(),
        Runtime.getRuntime().availableProcessors());

    long t0 = System.nanoTime();
    EvalResult plain = evaluate(cpu.pairwise(q.features(), g.features(), Metric.SQEUCLIDEAN), q, g);
    System.out.printf(Locale.ROOT, "plain:   mAP %.4f  R1 %.4f  (%.1f s)%n", plain.mAP(), plain.rank1(), secs(t0));
    t0 = System.nanoTime();
    EvalResult offline = evaluate(cpu.rerank(q.features(), g.features(), Metric.SQEUCLIDEAN, p), q, g);
    System.out.printf(Locale.ROOT, "offline: mAP %.4f  R1 %.4f  (%.1f s, all queries at once)%n", offline.mAP(),
        offline.rank1(), secs(t0));

    Path dir = Files.createTempDirectory("rerank-bench");
    GalleryOptions opts = GalleryOptions.of(d).backend(Backend.CPU).fsync(false);
    NeighbourGraph exact = null;
    try {
      try (Gallery gal = Gallery.open(dir, opts)) {
        List<Item> items = new ArrayList<>(ng);
        for (int i = 0; i < ng; i++)
          items.add(Item.of(Integer.toString(i), g.features().row(i)).withPid(g.pids()[i]).withCamid(g.camids()[i]));
        gal.addAll(items);
        gal.checkpoint();
        if (indexes.stream().anyMatch(x -> !x.exact())) {
          t0 = System.nanoTime();
          gal.buildNeighbours(p.k1());
          exact = gal.neighbourGraph();
          System.out.printf(Locale.ROOT, "exact graph build (k1 %d, %d items), the reference: %.1f s%n", p.k1(), ng,
              secs(t0));
        }
      }
      for (Candidates index : indexes) online(dir, opts.index(index), exact, q, g, plain, offline, ls, cpu);
    } finally {
      try (var files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) Files.deleteIfExists(f);
      }
      Files.deleteIfExists(dir);
    }
  }

  /** One neighbour-graph index: build, recall against the exact graph (if given), online search per L. */
  private static void online(Path dir, GalleryOptions opts, NeighbourGraph exact, LabelledFeatures q,
      LabelledFeatures g, EvalResult plain, EvalResult offline, int[] ls, Kernels cpu) throws java.io.IOException {
    RerankParams p = RerankParams.DEFAULT;
    int nq = q.size(), ng = g.size();
    try (Gallery gal = Gallery.open(dir, opts)) {
      long t0 = System.nanoTime();
      gal.buildNeighbours(p.k1(), System.out::println);
      System.out.printf(Locale.ROOT, "%s graph build (k1 %d, %d items): %.1f s%n", opts.index().describe(), p.k1(),
          ng, secs(t0));
      NeighbourGraph graph = gal.neighbourGraph();
      if (exact != null && !opts.index().exact()) {
        long found = 0, wanted = 0, maxBelow = 0;
        for (int i = 0; i < ng; i++) {
          java.util.Set<Integer> want = new java.util.HashSet<>();
          for (int j : exact.nodes[i].nbr()) want.add(j);
          for (int j : graph.nodes[i].nbr()) if (want.contains(j)) found++;
          wanted += want.size();
          if (graph.nodes[i].max() < exact.nodes[i].max()) maxBelow++;
        }
        System.out.printf(Locale.ROOT, "recall@%d of the lists against the exact graph's: %.4f; largest distance below"
            + " the exact one for %d of %d items%n", p.k1(), found / (double) wanted, maxBelow, ng);
      }
      long[] rowNs = new long[500];
      for (int i = 0; i < rowNs.length; i++) {
        float[] qi = q.features().row(i);
        long s = System.nanoTime();
        graph.row(qi, NeighbourGraph.dot(qi, qi));
        rowNs[i] = System.nanoTime() - s;
      }
      Arrays.sort(rowNs);
      System.out.printf(Locale.ROOT, "the query's distance row alone (one pass over the features): median %.1f ms%n",
          rowNs[rowNs.length / 2] / 1e6);
      for (int l : ls) {
        SearchOptions o = SearchOptions.top(l).rerank(p.k1(), p.k2(), p.lambda(), l);
        for (int i = 0; i < 20; i++) gal.search(q.features().row(i), o); // warm-up
        FloatMatrix plainDist = cpu.pairwise(q.features(), g.features(), Metric.SQEUCLIDEAN);
        float[] dist = new float[nq * ng];
        long[] ns = new long[nq];
        for (int i = 0; i < nq; i++) {
          float[] qi = q.features().row(i);
          long s = System.nanoTime();
          List<Hit> hits = gal.search(qi, o);
          ns[i] = System.nanoTime() - s;
          for (int j = 0; j < ng; j++) dist[i * ng + j] = 1f + plainDist.data()[i * ng + j];
          for (Hit h : hits) dist[i * ng + Integer.parseInt(h.id())] = h.distance();
        }
        EvalResult online = evaluate(new FloatMatrix(nq, ng, dist), q, g);
        Arrays.sort(ns);
        double ratio = (online.mAP() - plain.mAP()) / (offline.mAP() - plain.mAP());
        System.out.printf(Locale.ROOT, "%s online L %d: mAP %.4f  R1 %.4f  gain ratio %.3f  per query median %.1f ms,"
            + " p99 %.1f ms%n", opts.index().describe(), l, online.mAP(), online.rank1(), ratio, ns[nq / 2] / 1e6,
            ns[(int) (nq * 0.99)] / 1e6);
      }
    }
  }

  private static EvalResult evaluate(FloatMatrix dist, LabelledFeatures q, LabelledFeatures g) {
    return ReidEvaluator.evaluate(dist, q.pids(), q.camids(), g.pids(), g.camids());
  }

  private static double secs(long since) {
    return (System.nanoTime() - since) / 1e9;
  }
}
