package org.reid4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.post.Fusion;
import org.reid4j.eval.post.QueryExpansion;
import org.reid4j.io.AtomicFiles;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import org.reid4j.serve.Embedder;
import org.reid4j.serve.Extractor;
import org.reid4j.serve.ModelLoader;

/**
 * The image-retrieval contest tricks (Huawei DIGIX 2020) measured at toy scale, beside the BoT
 * ablation ({@link Ablation}): every training row is the base config plus one change (not
 * cumulative), trained from scratch with the same seed and time budget; then the retrieval
 * post-processing rows on the base row's model (QE, alpha-QE, DBA, re-ranking and their combinations,
 * flip and rotation TTA) and an ensemble of the three models that differ only in their head (linear,
 * ArcFace, CosFace) against its best member. Writes a Markdown report and the same numbers as JSON.
 */
public final class ContestAblation {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private static final String TWO_STAGE = "contest_8_two_stage";

  /** The training rows: row 0 is the base as it is; each later row adds its overrides to the base only. */
  public static final List<Ablation.Step> ROWS = List.of(
      new Ablation.Step("contest_0_base", "base (the quick start as it is)", List.of()),
      new Ablation.Step("contest_1_gem", "GeM pooling (p 3)", List.of("MODEL.POOLING=gem")),
      new Ablation.Step("contest_2_arcface", "ArcFace head (m 0.5, s 30) + triplet", List.of("MODEL.HEAD=arcface")),
      new Ablation.Step("contest_3_cosface", "CosFace head (m 0.35, s 30) + triplet", List.of("MODEL.HEAD=cosface",
          "MODEL.HEAD_MARGIN=0.35")),
      new Ablation.Step("contest_4_digix_margin", "DIGIX 2nd place: ArcFace m 0.35 x 0.25 + triplet margin 0.6",
          List.of("MODEL.HEAD=arcface", "MODEL.HEAD_MARGIN=0.35", "SOLVER.ID_LOSS_WEIGHT=0.25",
              "SOLVER.TRIPLET_MARGIN=0.6")),
      new Ablation.Step("contest_5_dropout", "dropout 0.2 before the classifier", List.of("MODEL.DROPOUT=0.2")),
      // At this scale a row trains a few epochs, so XBM starts at once and on-then-off stops after the first.
      new Ablation.Step("contest_6_xbm", "XBM on (4,096 embeddings)", List.of("SOLVER.XBM.SIZE=4096")),
      new Ablation.Step("contest_7_xbm_on_off", "XBM on for the first epoch, then off", List.of("SOLVER.XBM.SIZE=4096",
          "SOLVER.XBM.STOP_EPOCH=1")),
      new Ablation.Step(TWO_STAGE, "two-stage sampling (pk, then pk_balanced at lr x 0.1 for the last quarter)",
          List.of()), // the stages depend on the base's SOLVER.MAX_EPOCHS: see steps()
      new Ablation.Step("contest_9_ssr", "shift-scale-rotate (p 0.5)", List.of("INPUT.SSR_PROB=0.5")),
      new Ablation.Step("contest_10_noise", "Gaussian noise (p 0.5) + salt-and-pepper (p 0.2)",
          List.of("INPUT.NOISE_PROB=0.5", "INPUT.SALT_PEPPER_PROB=0.2")));

  /** The two-stage row's settings for a run of {@code epochs} epochs: the last quarter (at least 1) balanced. */
  static List<String> twoStage(int epochs) {
    int second = Math.max(1, (int) Math.round(epochs / 4.0)), first = Math.max(1, epochs - second);
    return List.of("SOLVER.STAGES=[{EPOCHS: " + first + ", SAMPLER: pk}, {EPOCHS: " + second + ", SAMPLER: pk_balanced, "
        + "LR_FACTOR: 0.1}]", "SOLVER.MAX_EPOCHS=" + (first + second));
  }

  /** A post-processing row: its name and scores. */
  public record Post(String name, EvalResult eval) {}

  /** Everything the run produced. */
  public record Report(List<Ablation.Row> rows, List<Post> post, Path markdown, Path json) {}

  private final Ablation.Settings s;
  private final List<Ablation.Step> steps;

  public ContestAblation(Ablation.Settings settings) {
    this.s = settings;
    int epochs = s.base().with(s.extra()).solver().maxEpochs();
    List<Ablation.Step> l = new ArrayList<>();
    for (Ablation.Step st : ROWS)
      l.add(st.dir().equals(TWO_STAGE) ? new Ablation.Step(st.dir(), st.change(), twoStage(epochs)) : st);
    steps = List.copyOf(l);
    for (int i = 0; i < steps.size(); i++) rowConfig(i); // every key and value checked before any run
  }

  /** The rows as run (the two-stage row's stages filled in). */
  public List<Ablation.Step> steps() {
    return steps;
  }

  /** Base, extra settings, no DBA/QE (as in {@link Ablation}), row i's own overrides, then seed, budget and output folder. */
  public TrainConfig rowConfig(int i) {
    List<String> o = new ArrayList<>(s.extra());
    o.addAll(Ablation.PLAIN_EVALUATION);
    o.addAll(steps.get(i).overrides());
    o.add("SOLVER.SEED=" + s.seed());
    o.add("SOLVER.MAX_MINUTES=" + s.minutesPerRow());
    o.add("OUTPUT_DIR=" + Ablation.quote(s.work().resolve(steps.get(i).dir()).toString()));
    return s.base().with(o);
  }

  public Report run(PrintStream out) throws IOException {
    Instant started = Instant.now();
    ReidDataset data = ReidDataset.open(rowConfig(0));
    List<Ablation.Row> rows = new ArrayList<>();
    for (int i = 0; i < steps.size(); i++) {
      Ablation.Step step = steps.get(i);
      TrainConfig cfg = rowConfig(i);
      out.printf(Locale.ROOT, "%ncontest row %d/%d: %s%n  %s -> %s%n", i, steps.size(), step.change(),
          String.join(" ", step.overrides()), cfg.outputDir());
      Trainer.Result r = new Trainer(cfg, data, out).overwrite(true).run(false);
      rows.add(new Ablation.Row(i, step, cfg, r.epochs(), r.totalSeconds() / 60, r.eval(), r.lastCheckpoint()));
      out.printf(Locale.ROOT, "contest row %d done: R1 %s%%  mAP %s%%, %d epochs%n", i, Ablation.pct(r.eval().rank1()),
          Ablation.pct(r.eval().mAP()), r.epochs());
    }
    List<Post> post = postProcessing(rows, data, out);
    String md = markdown(rows, post, started);
    AtomicFiles.writeString(s.markdown(), md);
    AtomicFiles.writeString(s.json(), JSON.writeValueAsString(json(rows, post, started)) + "\n");
    out.println("wrote " + s.markdown() + " and " + s.json());
    return new Report(rows, post, s.markdown(), s.json());
  }

  /** Features of the query and gallery splits with one checkpoint's model (L2-normalised). */
  private static LabelledFeatures[] extract(Path checkpoint, ReidDataset data, boolean flip, int[] rotations)
      throws IOException {
    ModelLoader.Loaded loaded = ModelLoader.load(checkpoint, null, List.of());
    TrainConfig cfg = loaded.config();
    try (Embedder e = ModelLoader.embedder(loaded, null)) {
      Extractor.Options o = Ablation.extraction(cfg).withFlip(flip).withRotations(rotations);
      return new LabelledFeatures[] {Ablation.features(e, "query", data.query(), o),
          Ablation.features(e, "gallery", data.gallery(), o)};
    }
  }

  private List<Post> postProcessing(List<Ablation.Row> rows, ReidDataset data, PrintStream out) throws IOException {
    Ablation.Row base = rows.get(0);
    Metric metric = Metric.parse(base.config().test().metric());
    Kernels kernels = Kernels.create(Backend.AUTO);
    out.printf(Locale.ROOT, "%npost-processing on %s%n", base.checkpoint());
    LabelledFeatures[] plain = extract(base.checkpoint(), data, false, new int[] {0});
    QueryExpansion.Params qe = QueryExpansion.Params.defaults(QueryExpansion.Kind.AVERAGE);
    QueryExpansion.Params aqe = QueryExpansion.Params.defaults(QueryExpansion.Kind.ALPHA);
    RerankParams rr = RerankParams.DEFAULT;
    RetrievalEval.Options none = new RetrievalEval.Options(metric, true, null);
    RetrievalEval.Options withRerank = new RetrievalEval.Options(metric, true, rr);
    List<Post> post = new ArrayList<>();
    Object[][] variants = {
        {"none", none}, {"QE (k 10)", none.withQe(qe)}, {"alpha-QE (k 10, alpha 3)", none.withQe(aqe)},
        {"DBA (k 10)", none.withDba(10)}, {"re-ranking (k1 20, k2 6, lambda 0.3)", withRerank},
        {"DBA + QE", none.withDba(10).withQe(qe)}, {"QE + re-ranking", withRerank.withQe(qe)},
        {"DBA + QE + re-ranking", withRerank.withDba(10).withQe(qe)},
        {"alpha-QE + re-ranking", withRerank.withQe(aqe)}};
    for (Object[] v : variants)
      post.add(evaluate(out, kernels, (String) v[0], List.of(member("base", plain)), (RetrievalEval.Options) v[1]));
    post.add(evaluate(out, kernels, "flip TTA", List.of(member("base", extract(base.checkpoint(), data, true,
        new int[] {0}))), none));
    post.add(evaluate(out, kernels, "rotation TTA (0, 90, 180, 270)", List.of(member("base", extract(base.checkpoint(),
        data, false, new int[] {0, 90, 180, 270}))), none));
    // The ensemble: the three models that differ only in their head.
    List<RetrievalEval.Member> members = List.of(member("linear", plain),
        member("arcface", extract(rows.get(2).checkpoint(), data, false, new int[] {0})),
        member("cosface", extract(rows.get(3).checkpoint(), data, false, new int[] {0})));
    for (Fusion.Kind k : Fusion.Kind.values())
      post.add(evaluate(out, kernels, "ensemble of the linear, ArcFace and CosFace rows: " + k + " fusion", members,
          none.withFusion(k, null)));
    return post;
  }

  private static RetrievalEval.Member member(String name, LabelledFeatures[] qg) {
    return new RetrievalEval.Member(name, qg[0], qg[1]);
  }

  private static Post evaluate(PrintStream out, Kernels k, String name, List<RetrievalEval.Member> members,
      RetrievalEval.Options o) {
    long t0 = System.nanoTime();
    EvalResult r = RetrievalEval.run(k, members, o, step -> {}).result();
    out.printf(Locale.ROOT, "  %-58s R1 %s%%  mAP %s%%  (%.1f s)%n", name, Ablation.pct(r.rank1()),
        Ablation.pct(r.mAP()), (System.nanoTime() - t0) / 1e9);
    return new Post(name, r);
  }

  // ---- the report -------------------------------------------------------------------------------

  String markdown(List<Ablation.Row> rows, List<Post> post, Instant started) {
    StringBuilder b = new StringBuilder("# The contest tricks in miniature\n\n");
    b.append("The tricks that the top entries of the Huawei DIGIX 2020 image-retrieval contest added to the BoT "
        + "recipe, measured at toy scale: the quick-start model on Fashion-MNIST (the class plays the identity). "
        + "Each training row is the base config plus one change (not cumulative), trained from scratch with the "
        + "same seed and the same time budget, so a change that slows a step also gets fewer epochs. The "
        + "post-processing rows use the base row's model. The BoT rows are in [ablation.md](ablation.md).\n\n");
    b.append("## What was run\n\n");
    b.append("- machine: ").append(Ablation.cpuModel()).append(", ").append(Runtime.getRuntime().availableProcessors())
        .append(" CPUs (nproc)").append(s.note() == null || s.note().isBlank() ? "" : "; " + s.note()).append('\n');
    b.append("- date: ").append(started.truncatedTo(ChronoUnit.SECONDS)).append('\n');
    b.append("- seed: ").append(s.seed()).append(" (SOLVER.SEED of every row); one run per row\n");
    b.append("- time budget: ").append(Ablation.num(s.minutesPerRow())).append(" minutes per row (SOLVER.MAX_MINUTES)\n");
    b.append("- base config: ").append(s.baseSource()).append(s.extra().isEmpty() ? "" : ", with `"
        + String.join(" ", s.extra()) + "` for every row").append('\n');
    b.append("- rerun: `").append(s.command()).append("`\n\n");
    b.append("## Training rows\n\n| row | change | settings | R1 | mAP | mINP | epochs | minutes |\n"
        + "|---:|---|---|---:|---:|---:|---:|---:|\n");
    for (Ablation.Row r : rows)
      b.append(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %s | %d | %.1f |%n", r.index(), r.step().change(),
          r.step().overrides().isEmpty() ? "" : "`" + String.join(" ", r.step().overrides()) + "`",
          Ablation.pct(r.eval().rank1()), Ablation.pct(r.eval().mAP()), Ablation.pct(r.eval().mINP()), r.epochs(),
          r.minutes()));
    b.append("\nChannel shuffle has no row: Fashion-MNIST has one channel, where it changes nothing.\n\n");
    b.append("## Post-processing rows (row 0's model)\n\n| post-processing | R1 | mAP | mINP |\n|---|---:|---:|---:|\n");
    for (Post p : post)
      b.append(String.format(Locale.ROOT, "| %s | %s | %s | %s |%n", p.name(), Ablation.pct(p.eval().rank1()),
          Ablation.pct(p.eval().mAP()), Ablation.pct(p.eval().mINP())));
    b.append("\nFeatures L2-normalised; the order when combined is DBA, QE, distance, re-ranking. The ensemble's "
        + "members are rows 0, 2 and 3 (the same recipe with a linear, ArcFace or CosFace head).\n\n");
    b.append("## What the runs show\n\n").append(findings(rows, post)).append('\n');
    return b.toString();
  }

  /** The paragraph of findings, generated from the numbers. */
  static String findings(List<Ablation.Row> rows, List<Post> post) {
    double base = Double.parseDouble(Ablation.pct(rows.get(0).eval().mAP()));
    List<String> up = new ArrayList<>(), down = new ArrayList<>();
    for (Ablation.Row r : rows.subList(1, rows.size())) {
      double d = Math.round((Double.parseDouble(Ablation.pct(r.eval().mAP())) - base) * 10) / 10.0;
      String t = String.format(Locale.ROOT, "%s (%s%.1f)", r.step().change(), d >= 0 ? "+" : "-", Math.abs(d));
      (d > 0 ? up : down).add(t);
    }
    double plain = Double.parseDouble(Ablation.pct(post.get(0).eval().mAP()));
    List<String> pUp = new ArrayList<>(), pDown = new ArrayList<>();
    for (Post p : post.subList(1, post.size())) {
      double d = Math.round((Double.parseDouble(Ablation.pct(p.eval().mAP())) - plain) * 10) / 10.0;
      String t = String.format(Locale.ROOT, "%s (%s%.1f)", p.name(), d >= 0 ? "+" : "-", Math.abs(d));
      (d > 0 ? pUp : pDown).add(t);
    }
    int minEpochs = rows.stream().mapToInt(Ablation.Row::epochs).min().orElse(0);
    int maxEpochs = rows.stream().mapToInt(Ablation.Row::epochs).max().orElse(0);
    return String.format(Locale.ROOT, "Against the base row's mAP of %.1f%%, these training changes raised it: %s; "
        + "these did not: %s. On the base model (mAP %.1f%%), these post-processing steps raised mAP: %s; these did "
        + "not: %s. mAP changes in points. The rows trained %s epochs in the same budget (a change that slows a step "
        + "leaves fewer), which at this scale moves mAP by itself. Each row is one run with one seed and the "
        + "run-to-run spread was not measured, so differences of a point or so may be noise.", base,
        up.isEmpty() ? "none" : String.join("; ", up), down.isEmpty() ? "none" : String.join("; ", down), plain,
        pUp.isEmpty() ? "none" : String.join("; ", pUp), pDown.isEmpty() ? "none" : String.join("; ", pDown),
        minEpochs == maxEpochs ? Integer.toString(minEpochs) : minEpochs + " to " + maxEpochs);
  }

  private Map<String, Object> json(List<Ablation.Row> rows, List<Post> post, Instant started) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("date", started.truncatedTo(ChronoUnit.SECONDS).toString());
    m.put("machine", Ablation.cpuModel());
    m.put("seed", s.seed());
    m.put("minutes_per_row", s.minutesPerRow());
    List<Map<String, Object>> rs = new ArrayList<>();
    for (Ablation.Row r : rows) {
      Map<String, Object> x = new LinkedHashMap<>();
      x.put("row", r.index());
      x.put("change", r.step().change());
      x.put("overrides", r.step().overrides());
      x.putAll(Ablation.scores(r.eval()));
      x.put("epochs", r.epochs());
      x.put("minutes", r.minutes());
      rs.add(x);
    }
    m.put("training", rs);
    List<Map<String, Object>> ps = new ArrayList<>();
    for (Post p : post) {
      Map<String, Object> x = new LinkedHashMap<>();
      x.put("post_processing", p.name());
      x.putAll(Ablation.scores(p.eval()));
      ps.add(x);
    }
    m.put("post_processing", ps);
    m.put("findings", findings(rows, post));
    return m;
  }
}
