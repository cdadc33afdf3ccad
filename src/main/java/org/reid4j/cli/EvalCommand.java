package org.reid4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.reid4j.data.FashionMnist;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.io.AtomicFiles;
import org.reid4j.io.FeatureDir;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reid4j eval}: CMC / mAP / mINP of query features against gallery features. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Evaluate retrieval (Market-1501 protocol): Rank-1/5/10, mAP, mINP.",
        "Inputs: --dir DIR with query_feats.npy, query_pids.npy, query_camids.npy, gallery_feats.npy, "
            + "gallery_pids.npy, gallery_camids.npy; or the six files one by one; or --checkpoint FILE with "
            + "--data NAME[:ROOT] (extract with a trained model, then evaluate); or --data fashion-mnist alone "
            + "(raw-pixel features on the Fashion-MNIST test split: the no-training baseline)."})
public final class EvalCommand implements Callable<Integer> {
  @Option(names = "--dir", paramLabel = "DIR", description = "Folder with the six .npy files.")
  Path dir;

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

  @Option(names = "--backend", paramLabel = "BACKEND", defaultValue = "auto",
      description = "Kernels: auto, java, cpu or cuda (default ${DEFAULT-VALUE}).")
  String backend;

  @Option(names = "--json", paramLabel = "OUT", description = "Also write the results as JSON to OUT.")
  Path json;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (spec != null) {
      Cli.onlyWith(spec, rerank, "with --rerank", "--k1", "--k2", "--lambda");
      Cli.onlyWith(spec, plots != null, "with --plots DIR", "--plot-queries");
      Cli.onlyWith(spec, checkpoint != null, "with --checkpoint (it says how the model extracts features)", "--flip",
          "--device");
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
    Kernels kernels = Kernels.create(Backend.parse(backend));

    long t0 = System.nanoTime();
    LabelledFeatures[] sets = load();
    long loadMs = (System.nanoTime() - t0) / 1_000_000;
    System.out.printf("query   %,d x %d%ngallery %,d x %d%nbackend %s%n", sets[0].size(), sets[0].features().cols(),
        sets[1].size(), sets[1].features().cols(), kernels.describe());

    RetrievalEval.Report report = RetrievalEval.run(kernels, sets[0], sets[1],
        new RetrievalEval.Options(m, normalize, rp), step -> System.out.println("  " + step));
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
    if (dir != null) for (String f : FeatureDir.FILES) l.add(dir.resolve(f));
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
      if (dir != null || queryFeatures != null || galleryFeatures != null)
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
    int sources = (dir != null ? 1 : 0) + (files ? 1 : 0) + (data != null ? 1 : 0);
    if (sources != 1)
      throw new IllegalArgumentException("give exactly one input: --dir DIR, the six --query-*/--gallery-* files, "
          + "or --data fashion-mnist");
    if (dir != null) return new LabelledFeatures[] {FeatureDir.readQuery(dir), FeatureDir.readGallery(dir)};
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
    String[] names = {"--query-features", "--query-pids", "--query-camids", "--gallery-features", "--gallery-pids",
        "--gallery-camids"};
    Path[] paths = {queryFeatures, queryPids, queryCamids, galleryFeatures, galleryPids, galleryCamids};
    for (int i = 0; i < paths.length; i++)
      if (paths[i] == null) throw new IllegalArgumentException("missing " + names[i] + " (all six files are needed)");
    return new LabelledFeatures[] {FeatureDir.read("query", queryFeatures, queryPids, queryCamids),
        FeatureDir.read("gallery", galleryFeatures, galleryPids, galleryCamids)};
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
    EvalResult r = report.result();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("rank1", r.rank1());
    out.put("rank5", r.rank5());
    out.put("rank10", r.rank10());
    out.put("mAP", r.mAP());
    out.put("mINP", r.mINP());
    out.put("cmc", r.cmc());
    out.put("queries_evaluated", r.queriesEvaluated());
    out.put("queries_skipped", r.queriesSkipped());
    out.put("backend", report.backend());
    out.put("metric", m.name().toLowerCase(java.util.Locale.ROOT));
    out.put("normalize", normalize);
    out.put("rerank", rerank ? Map.of("k1", k1, "k2", k2, "lambda", lambda) : false);
    out.put("timings_ms", timings);
    String text = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(out);
    AtomicFiles.writeString(json, text + "\n");
  }
}
