package org.reid4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.reid4j.data.FashionMnist;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.post.Fusion;
import org.reid4j.eval.post.QueryExpansion;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.io.AtomicFiles;
import org.reid4j.io.FeatureDir;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NativeMatrix;
import org.reid4j.kernels.Precision;
import org.reid4j.kernels.RerankParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code reid4j eval}: CMC / mAP / mINP of query features against gallery features. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Evaluate retrieval (Market-1501 protocol): Rank-1/5/10, mAP, mINP.",
        "Inputs: --dir DIR with query_feats.npy, query_pids.npy, query_camids.npy, gallery_feats.npy, "
            + "gallery_pids.npy, gallery_camids.npy; or the six files one by one; or --checkpoint FILE with "
            + "--data NAME[:ROOT] (extract with a trained model, then evaluate); or --data fashion-mnist alone "
            + "(raw-pixel features on the Fashion-MNIST test split: the no-training baseline)."})
public final class EvalCommand implements Callable<Integer> {
  @Option(names = "--dir", paramLabel = "DIR",
      description = "Folder with the six .npy files. Repeat it for an ensemble: each folder one model's features of "
          + "the same images in the same order.")
  List<Path> dirs = new ArrayList<>();

  @Option(names = "--query-features", paramLabel = "FILE", description = "Query features: float32/64 .npy, [nq, d].")
  Path queryFeatures;
  @Option(names = "--query-pids", paramLabel = "FILE", description = "Query person ids: int32/64 .npy, [nq].")
  Path queryPids;
  @Option(names = "--query-camids", paramLabel = "FILE", description = "Query camera ids: int32/64 .npy, [nq].")
  Path queryCamids;
  @Option(names = "--gallery-features", paramLabel = "FILE", description = "Gallery features: float32/64 .npy, [ng, d].")
  Path galleryFeatures;
  @Option(names = "--gallery-pids", paramLabel = "FILE", description = "Gallery person ids (-1 = junk): .npy, [ng].")
  Path galleryPids;
  @Option(names = "--gallery-camids", paramLabel = "FILE", description = "Gallery camera ids: int32/64 .npy, [ng].")
  Path galleryCamids;

  @Option(names = "--data", paramLabel = "NAME[:ROOT]",
      description = "A labelled data set: with --checkpoint any of fashion-mnist, market1501, dukemtmc, msmt17, "
          + "csv:Q.csv,G.csv; alone, fashion-mnist evaluated on raw pixels. ROOT: the data set's folder (default for "
          + "fashion-mnist: " + "/usr/share/datasets/fashion-mnist).")
  String data;

  @Option(names = "--checkpoint", paramLabel = "FILE", description = "A reid4j checkpoint: extract --data's features with it first.")
  Path checkpoint;

  @Option(names = "--flip", description = "With --checkpoint: flip test-time augmentation.")
  boolean flip;

  @Option(names = "--device", paramLabel = "D", defaultValue = "auto",
      description = "With --checkpoint: where the model runs, auto, cpu or cuda (default ${DEFAULT-VALUE}).")
  String device = "auto";

  @Option(names = "--plots", paramLabel = "DIR",
      description = "Write cmc.png, and ranked.png (each query beside its top 10) when the images are at hand.")
  Path plots;

  @Option(names = "--plot-queries", paramLabel = "N", defaultValue = "8",
      description = "With --plots: queries in ranked.png, 1 or more (default ${DEFAULT-VALUE}).")
  int plotQueries;

  @Option(names = "--normalize", description = "L2-normalise all features first.")
  boolean normalize;

  @Option(names = "--metric", paramLabel = "METRIC", defaultValue = "sqeuclidean",
      description = "sqeuclidean, euclidean or cosine (default ${DEFAULT-VALUE}).")
  String metric;

  @Option(names = "--rerank", description = "Apply k-reciprocal re-ranking (Zhong et al. 2017).")
  boolean rerank;

  @Option(names = "--k1", paramLabel = "K1", defaultValue = "20",
      description = "With --rerank: k-reciprocal neighbours (default ${DEFAULT-VALUE}).") int k1;
  @Option(names = "--k2", paramLabel = "K2", defaultValue = "6",
      description = "With --rerank: neighbours for query expansion (default ${DEFAULT-VALUE}).") int k2;

  @Option(names = "--lambda", paramLabel = "LAMBDA", defaultValue = "0.3",
      description = "With --rerank: weight of the original distance, 0..1 (default ${DEFAULT-VALUE}).")
  float lambda;

  @Mixin CandidateOptions neighbours = new CandidateOptions();

  @Option(names = "--hnsw-recall", paramLabel = "N", defaultValue = "1000",
      description = "With --candidates hnsw: compare the lists of N sampled items with their exact nearest (one "
          + "top-k pass of N rows against all items on the kernels) and report recall@k1 (default ${DEFAULT-VALUE}; "
          + "0: skip).")
  int hnswRecall = 1000;

  @Option(names = "--dba-k", paramLabel = "K", defaultValue = "0",
      description = "Database-side augmentation: each gallery feature becomes the L2-normalised sum of itself and its K "
          + "nearest gallery features (default ${DEFAULT-VALUE}: off).")
  int dbaK;

  @Option(names = "--qe", paramLabel = "KIND",
      description = "Query expansion: qe (the query plus the sum of its top-k gallery features, searched again; "
          + "PyRetri's QE) or alpha-qe (queries and gallery together, each the similarity^alpha-weighted mean of its "
          + "top-k; fast-reid's aqe).")
  String qe;

  @Option(names = "--qe-k", paramLabel = "K", defaultValue = "10",
      description = "With --qe: neighbours combined (default ${DEFAULT-VALUE}).")
  int qeK;

  @Option(names = "--qe-times", paramLabel = "N", defaultValue = "1",
      description = "With --qe: rounds of expansion (default ${DEFAULT-VALUE}).")
  int qeTimes;

  @Option(names = "--qe-alpha", paramLabel = "A", defaultValue = "3",
      description = "With --qe alpha-qe: the similarity exponent (default ${DEFAULT-VALUE}).")
  double qeAlpha;

  @Option(names = "--fusion", paramLabel = "HOW", defaultValue = "distance",
      description = "With several --dir: distance (weighted mean of each member's distances divided by their mean), "
          + "vote (each member's top 10 votes 1, 1/2, 1/3, ...) or concat (L2-normalised features joined) "
          + "(default ${DEFAULT-VALUE}).")
  String fusion;

  @Option(names = "--weights", paramLabel = "W,..",
      description = "With several --dir: the members' weights in --dir order, normalised to sum 1 (default: equal).")
  String weightsText;

  @Option(names = "--backend", paramLabel = "BACKEND", defaultValue = "auto",
      description = "Kernels: auto, java, cpu or cuda (default ${DEFAULT-VALUE}).")
  String backend;

  @Option(names = "--precision", paramLabel = "P", defaultValue = "fp32",
      description = "Arithmetic of the CUDA distance passes: fp32 (the default), tf32x3 (tensor cores, errors of the "
          + "FP32 order) or tf32 (tensor cores, dot products off by up to ~1e-3 relative); cuda backend only.")
  String precision;

  @Option(names = "--json", paramLabel = "OUT", description = "Also write the results as JSON to OUT.")
  Path json;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (spec != null) {
      Cli.onlyWith(spec, rerank, "with --rerank", "--k1", "--k2", "--lambda", "--candidates");
      Cli.onlyWith(spec, rerank && neighbours.hnsw(), "with --rerank --candidates hnsw", CandidateOptions.HNSW);
      Cli.onlyWith(spec, rerank && neighbours.hnsw(), "with --rerank --candidates hnsw", "--hnsw-recall");
      Cli.onlyWith(spec, plots != null, "with --plots DIR", "--plot-queries");
      Cli.onlyWith(spec, checkpoint != null, "with --checkpoint (it says how the model extracts features)", "--flip",
          "--device");
      Cli.onlyWith(spec, qe != null, "with --qe", "--qe-k", "--qe-times");
      Cli.onlyWith(spec, "alpha-qe".equals(qe), "with --qe alpha-qe", "--qe-alpha");
      Cli.onlyWith(spec, dirs.size() > 1, "to an ensemble (--dir given two or more times)", "--fusion", "--weights");
    }
    if (plots != null && plotQueries < 1)
      throw new IllegalArgumentException("--plot-queries must be 1 or more, got " + plotQueries);
    if (json != null) {
      for (Path in : inputs())
        if (in != null && java.nio.file.Files.exists(json) && java.nio.file.Files.exists(in)
            && java.nio.file.Files.isSameFile(json, in))
          throw new IllegalArgumentException("--json " + json + " is one of the inputs: it would be overwritten; "
              + "write the results elsewhere");
    }
    Metric m = Metric.parse(metric);
    RerankParams rp = rerank ? new RerankParams(k1, k2, lambda) : null;
    Candidates cand = neighbours.parse();
    if (dbaK < 0) throw new IllegalArgumentException("--dba-k must be 0 or more, got " + dbaK);
    if (hnswRecall < 0) throw new IllegalArgumentException("--hnsw-recall must be 0 or more items, got " + hnswRecall);
    QueryExpansion.Params qp;
    try {
      qp = qe == null ? null : new QueryExpansion.Params(QueryExpansion.Kind.parse(qe), qeK, qeTimes, qeAlpha);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--qe: " + e.getMessage());
    }
    Fusion.Kind fk = Fusion.Kind.parse(fusion);
    double[] weights = weightsText == null ? null : ExtractCommand.doubles("--weights", weightsText);
    if (weights != null) Fusion.normalizedWeights(weights, dirs.size()); // checked before anything loads
    RetrievalEval.Options options = new RetrievalEval.Options(m, normalize, rp, dbaK, qp, fk, weights, cand,
        cand.exact() ? 0 : hnswRecall);
    Precision prec = Precision.parse(precision);
    Kernels kernels = Kernels.create(Backend.parse(backend));
    try {
      kernels = kernels.withPrecision(prec);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--precision " + prec.label() + ": " + e.getMessage());
    }
    if (dirs.size() > 1) return ensemble(kernels, options);

    boolean files = queryFeatures != null || queryPids != null || queryCamids != null || galleryFeatures != null
        || galleryPids != null || galleryCamids != null;
    boolean featureFiles = checkpoint == null && data == null && (dirs.size() == 1 ? !files : files);
    if (featureFiles && RetrievalEval.nativePath(options) && !"heap".equals(System.getenv("REID4J_EVAL_PATH")))
      return evalNative(kernels, options, m, cand);

    long t0 = System.nanoTime();
    LabelledFeatures[] sets = load();
    long loadMs = (System.nanoTime() - t0) / 1_000_000;
    System.out.printf("query   %,d x %d%ngallery %,d x %d%nbackend %s%n", sets[0].size(), sets[0].features().cols(),
        sets[1].size(), sets[1].features().cols(), kernels.describe());
    if (rerank) System.out.println("re-ranking candidates " + cand.describe());

    // The matrix is only needed on the host for ranked.png: otherwise a GPU scores it where it is.
    RetrievalEval.Report report = RetrievalEval.run(kernels, sets[0], sets[1], options,
        step -> System.out.println("  " + step), plots != null);
    return finish(report, loadMs, m);
  }

  /**
   * One --dir (or the six files) without DBA, query expansion or HNSW: the features go from the .npy files into native
   * memory and stay there (RetrievalEval.runNative); no heap copy of them or of the [nq, ng] result.
   * REID4J_EVAL_PATH=heap takes the heap path instead (for comparisons).
   */
  private int evalNative(Kernels kernels, RetrievalEval.Options options, Metric m, Candidates cand) throws Exception {
    long t0 = System.nanoTime();
    try (FeatureDir.NativeCase c = dirs.isEmpty() ? FeatureDir.readNative(sixFiles()) : FeatureDir.readNative(
        dirs.get(0))) {
      long loadMs = (System.nanoTime() - t0) / 1_000_000;
      NativeMatrix q = c.query().features(), g = c.gallery().features();
      System.out.printf("query   %,d x %d%ngallery %,d x %d%nbackend %s%n", q.rows(), q.cols(), g.rows(), g.cols(),
          kernels.describe());
      if (rerank) System.out.println("re-ranking candidates " + cand.describe());
      RetrievalEval.Report report = RetrievalEval.runNative(kernels, c.query(), c.gallery(), options,
          step -> System.out.println("  " + step), false); // --dir has no images: no ranked.png to draw
      return finish(report, loadMs, m);
    }
  }

  private int finish(RetrievalEval.Report report, long loadMs, Metric m) throws Exception {
    if (report.result().queriesEvaluated() == 0)
      throw new IllegalArgumentException("no query could be evaluated: all " + report.result().queriesSkipped()
          + " have no valid match in the gallery (a match needs the same pid, not -1, from another camera); check "
          + "the pid and camid files");
    Map<String, Long> timings = new LinkedHashMap<>();
    timings.put("load", loadMs);
    timings.putAll(report.timingsMs());
    print(report.result(), timings);
    if (plots != null) plots(report);
    if (json != null) {
      writeJson(report, timings, m);
      System.out.println("wrote " + json);
    }
    return 0;
  }

  private Path[] inputs() {
    List<Path> l = new java.util.ArrayList<>(java.util.Arrays.asList(queryFeatures, queryPids, queryCamids,
        galleryFeatures, galleryPids, galleryCamids, checkpoint));
    for (Path dir : dirs) for (String f : FeatureDir.FILES) l.add(dir.resolve(f));
    return l.toArray(Path[]::new);
  }

  /** The images behind the features, when --data names them and nothing was skipped (for ranked.png). */
  private org.reid4j.data.ImageSource[] images;
  private LabelledFeatures[] loaded;

  private void plots(RetrievalEval.Report report) throws Exception {
    java.nio.file.Files.createDirectories(plots);
    Path cmc = plots.resolve("cmc.png");
    org.reid4j.report.CmcCurve.render(report.result(), (rerank ? "re-ranked, " : "") + metric, cmc);
    System.out.println("wrote " + cmc);
    if (images == null) {
      System.out.println("no ranked.png: the images behind these features are not at hand (it needs --checkpoint with "
          + "--data, or --data fashion-mnist, and every image loaded)");
      return;
    }
    LabelledFeatures q = loaded[0], g = loaded[1];
    Path ranked = plots.resolve("ranked.png");
    org.reid4j.report.RankedList.render(images[0], images[1], report.distance(), q.pids(), q.camids(), g.pids(),
        g.camids(), plotQueries, 10, ranked);
    System.out.println("wrote " + ranked + " (ranked by the evaluated " + (rerank ? "re-ranked " : "") + metric
        + " distance)");
  }

  private LabelledFeatures[] load() throws Exception {
    loaded = loadSets();
    return loaded;
  }

  private LabelledFeatures[] loadSets() throws Exception {
    if (checkpoint != null) {
      if (data == null) throw new IllegalArgumentException("--checkpoint needs --data NAME[:ROOT] (the images to embed)");
      if (!dirs.isEmpty() || queryFeatures != null || galleryFeatures != null)
        throw new IllegalArgumentException("--checkpoint extracts features itself: give --data, not feature files");
      ExtractCommand x = new ExtractCommand();
      x.model.checkpoint = checkpoint;
      x.data = data;
      x.model.flip = flip;
      x.model.device = device;
      x.model.normalize = false; // --normalize applies below, as for feature files
      try (ExtractCommand.Prepared p = x.prepare()) {
        org.reid4j.data.ImageSource[] qg = x.openDataset(p.cfg(), p.embedder().channels());
        LabelledFeatures[] sides = x.extractLabelled(p, qg);
        if (sides[0].size() == qg[0].size() && sides[1].size() == qg[1].size()) images = qg;
        return sides;
      }
    }
    boolean files = queryFeatures != null || queryPids != null || queryCamids != null || galleryFeatures != null
        || galleryPids != null || galleryCamids != null;
    int sources = (dirs.isEmpty() ? 0 : 1) + (files ? 1 : 0) + (data != null ? 1 : 0);
    if (sources != 1)
      throw new IllegalArgumentException("give exactly one input: --dir DIR, the six --query-*/--gallery-* files, "
          + "or --data fashion-mnist");
    if (!dirs.isEmpty())
      return new LabelledFeatures[] {FeatureDir.readQuery(dirs.get(0)), FeatureDir.readGallery(dirs.get(0))};
    if (data != null) {
      int colon = data.indexOf(':');
      String name = colon < 0 ? data : data.substring(0, colon);
      if (!name.equals("fashion-mnist"))
        throw new IllegalArgumentException("--data " + data + ": without --checkpoint only fashion-mnist[:ROOT] can be "
            + "evaluated (on raw pixels); other data sets need --checkpoint FILE to extract features");
      Path dataDir = colon < 0 || data.substring(colon + 1).isEmpty() ? FashionMnist.DEFAULT_DIR
          : Path.of(data.substring(colon + 1));
      FashionMnist.Split test = FashionMnist.load(dataDir, "t10k");
      FashionMnist.RetrievalSplit split = FashionMnist.retrievalSplit(test);
      if (plots != null) {
        images = org.reid4j.data.FashionMnistSource.openTest(dataDir, 1);
      }
      return new LabelledFeatures[] {
          new LabelledFeatures("query", FashionMnist.pixelFeatures(test, split.queryIdx()),
              FashionMnist.labels(test, split.queryIdx()), new int[split.queryIdx().length]),
          new LabelledFeatures("gallery", FashionMnist.pixelFeatures(test, split.galleryIdx()),
              FashionMnist.labels(test, split.galleryIdx()), filled(split.galleryIdx().length, 1))};
    }
    sixFiles(); // all six given
    return new LabelledFeatures[] {FeatureDir.read("query", queryFeatures, queryPids, queryCamids),
        FeatureDir.read("gallery", galleryFeatures, galleryPids, galleryCamids)};
  }

  /** The six feature, pid and camid files of both sides, all of them given (the error names the first missing one). */
  private Path[] sixFiles() {
    String[] names = {"--query-features", "--query-pids", "--query-camids", "--gallery-features", "--gallery-pids",
        "--gallery-camids"};
    Path[] paths = {queryFeatures, queryPids, queryCamids, galleryFeatures, galleryPids, galleryCamids};
    for (int i = 0; i < paths.length; i++)
      if (paths[i] == null) throw new IllegalArgumentException("missing " + names[i] + " (all six files are needed)");
    return paths;
  }

  private static int[] filled(int n, int v) {
    int[] a = new int[n];
    java.util.Arrays.fill(a, v);
    return a;
  }

  private static String pct(double f) {
    return org.reid4j.report.Percent.of(f) + "%";
  }

  private void print(EvalResult r, Map<String, Long> timings) {
    System.out.println();
    System.out.println("| Rank-1 | Rank-5 | Rank-10 |  mAP  | mINP  |");
    System.out.println("|-------:|-------:|--------:|------:|------:|");
    System.out.printf("| %6s | %6s | %7s | %5s | %5s |%n", pct(r.rank1()), pct(r.rank5()), pct(r.rank10()),
        pct(r.mAP()), pct(r.mINP()));
    System.out.printf("%nqueries evaluated %,d, skipped (no valid match) %,d%n", r.queriesEvaluated(),
        r.queriesSkipped());
    StringBuilder sb = new StringBuilder("time:");
    long total = 0;
    for (var e : timings.entrySet()) {
      sb.append(String.format(" %s %,d ms,", e.getKey(), e.getValue()));
      total += e.getValue();
    }
    sb.append(String.format(" total %,d ms", total));
    System.out.println(sb);
  }

  private void writeJson(RetrievalEval.Report report, Map<String, Long> timings, Metric m) throws Exception {
    writeJson(report, timings, m, null);
  }

  private void writeJson(RetrievalEval.Report report, Map<String, Long> timings, Metric m,
      Map<String, Object> ensemble) throws Exception {
    Map<String, Object> out = results(report.result());
    out.put("backend", report.backend());
    out.put("precision", Precision.parse(precision).label());
    out.put("metric", m.name().toLowerCase(java.util.Locale.ROOT));
    out.put("normalize", normalize);
    out.put("dba_k", dbaK);
    out.put("qe", qe == null ? false : "alpha-qe".equals(qe) ? Map.of("kind", qe, "k", qeK, "times", qeTimes,
        "alpha", qeAlpha) : Map.of("kind", qe, "k", qeK, "times", qeTimes));
    out.put("rerank", rerank ? Map.of("k1", k1, "k2", k2, "lambda", lambda) : false);
    if (rerank) out.put("candidates", neighbours.parse().toJson());
    if (report.listRecall() != null) out.put("candidate_recall", report.listRecall().toJson());
    if (ensemble != null) out.putAll(ensemble);
    out.put("timings_ms", timings);
    String text = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(out);
    AtomicFiles.writeString(json, text + "\n");
  }

  private static Map<String, Object> results(EvalResult r) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("rank1", r.rank1());
    out.put("rank5", r.rank5());
    out.put("rank10", r.rank10());
    out.put("mAP", r.mAP());
    out.put("mINP", r.mINP());
    out.put("cmc", r.cmc());
    out.put("queries_evaluated", r.queriesEvaluated());
    out.put("queries_skipped", r.queriesSkipped());
    return out;
  }

  /**
   * Several --dir: each member evaluated alone with the same post-processing, then the fusion; one
   * table with a row each.
   */
  private int ensemble(Kernels kernels, RetrievalEval.Options options) throws Exception {
    if (checkpoint != null || data != null || queryFeatures != null || galleryFeatures != null)
      throw new IllegalArgumentException("an ensemble is given as --dir folders only (one per model)");
    long t0 = System.nanoTime();
    List<RetrievalEval.Member> members = new ArrayList<>();
    for (Path d : dirs) {
      LabelledFeatures q = FeatureDir.readQuery(d), g = FeatureDir.readGallery(d);
      members.add(new RetrievalEval.Member(d.toString(), q, g));
      System.out.printf("member %s: query %,d x %d, gallery %,d x %d%n", d, q.size(), q.features().cols(), g.size(),
          g.features().cols());
    }
    long loadMs = (System.nanoTime() - t0) / 1_000_000;
    System.out.println("backend " + kernels.describe());
    List<EvalResult> alone = new ArrayList<>();
    for (RetrievalEval.Member mb : members) {
      System.out.println("member " + mb.name() + " alone:");
      alone.add(RetrievalEval.run(kernels, List.of(mb), options, step -> System.out.println("  " + step)).result());
    }
    double[] w = org.reid4j.eval.post.Fusion.normalizedWeights(options.weights(), members.size());
    System.out.println("fusion (" + options.fusion() + ", weights " + java.util.Arrays.toString(w) + "):");
    RetrievalEval.Report report = RetrievalEval.run(kernels, members, options, step -> System.out.println("  " + step));
    EvalResult r = report.result();
    if (r.queriesEvaluated() == 0)
      throw new IllegalArgumentException("no query could be evaluated: all " + r.queriesSkipped() + " have no valid "
          + "match in the gallery (a match needs the same pid, not -1, from another camera)");
    System.out.println();
    System.out.println("| model | Rank-1 | Rank-5 | Rank-10 |  mAP  | mINP  |");
    System.out.println("|---|-------:|-------:|--------:|------:|------:|");
    for (int i = 0; i < members.size(); i++) row(members.get(i).name(), alone.get(i));
    row("fusion: " + options.fusion(), r);
    Map<String, Long> timings = new LinkedHashMap<>();
    timings.put("load", loadMs);
    timings.putAll(report.timingsMs());
    if (json != null) {
      List<Map<String, Object>> ms = new ArrayList<>();
      for (int i = 0; i < members.size(); i++) {
        Map<String, Object> one = new LinkedHashMap<>();
        one.put("dir", members.get(i).name());
        one.put("weight", w[i]);
        one.putAll(results(alone.get(i)));
        ms.add(one);
      }
      Map<String, Object> extra = new LinkedHashMap<>();
      extra.put("fusion", options.fusion().toString());
      extra.put("members", ms);
      writeJson(report, timings, Metric.parse(metric), extra);
      System.out.println("wrote " + json);
    }
    return 0;
  }

  private static void row(String name, EvalResult r) {
    System.out.printf("| %s | %6s | %6s | %7s | %5s | %5s |%n", name, pct(r.rank1()), pct(r.rank5()), pct(r.rank10()),
        pct(r.mAP()), pct(r.mINP()));
  }
}
