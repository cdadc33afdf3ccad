package org.reid4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ImageSource;
import org.reid4j.data.ReidDataset;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.io.AtomicFiles;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import org.reid4j.serve.Embedder;
import org.reid4j.serve.Extractor;
import org.reid4j.serve.ModelLoader;

/**
 * The sequence of Table 1 of Luo et al. 2019 ("Bag of Tricks and A Strong Baseline for Deep Person
 * Re-identification") in miniature: a baseline (softmax + batch-hard triplet, no neck, last stride 2),
 * then one trick added per row, cumulatively ({@link #STEPS}): warm-up, random erasing, label
 * smoothing, last stride 1, BNNeck, centre loss. Every row is a full {@link Trainer} run from scratch
 * with the same seed and the same time budget (SOLVER.MAX_MINUTES: the trainer plans how many epochs
 * fit and compresses the schedule), in its own OUTPUT_DIR under the work folder. On the last row's
 * model, four evaluation variants follow: k-reciprocal re-ranking off/on x flip TTA off/on (features
 * from {@link Extractor}, L2-normalised).
 *
 * <p>The result is a Markdown report (tables, the machine, the command that reruns it, and a
 * paragraph of what the numbers show, generated from them) and the same numbers as JSON beside it,
 * both written atomically.
 *
 * <p>Cost: 7 x the per-row budget plus the JVM's share of data loading, and four feature extractions
 * with two re-rankings of (query + gallery) items (O(N k1) memory) at the end.
 */
public final class Ablation {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * One row of the table: what it adds to the row above and the config overrides that do it.
   *
   * @param dir the row's folder name under the work folder
   * @param change how the row is named in the table
   * @param overrides {@code KEY=VALUE} settings this row adds (applied after those of all earlier rows)
   */
  public record Step(String dir, String change, List<String> overrides) {
    public Step {
      overrides = List.copyOf(overrides);
    }
  }

  /** BoT Table 1's order; row 0 switches every trick off, each later row switches one on. */
  public static final List<Step> STEPS = List.of(
      new Step("row_0_baseline", "baseline (softmax + triplet, last stride 2, no neck)", List.of(
          "MODEL.BACKBONE=small_cnn", "MODEL.LAST_STRIDE=2", "MODEL.NECK=none", "MODEL.NECK_FEAT=before",
          "SOLVER.WARMUP_EPOCHS=0", "INPUT.RE_PROB=0.0", "SOLVER.LABEL_SMOOTH=0.0", "SOLVER.CENTER_WEIGHT=0.0")),
      new Step("row_1_warmup", "+ warm-up (1 epoch)", List.of("SOLVER.WARMUP_EPOCHS=1")),
      new Step("row_2_random_erasing", "+ random erasing (p 0.5)", List.of("INPUT.RE_PROB=0.5")),
      new Step("row_3_label_smoothing", "+ label smoothing (0.1)", List.of("SOLVER.LABEL_SMOOTH=0.1")),
      new Step("row_4_last_stride_1", "+ last stride 1", List.of("MODEL.LAST_STRIDE=1")),
      new Step("row_5_bnneck", "+ BNNeck", List.of("MODEL.NECK=bnneck", "MODEL.NECK_FEAT=after")),
      new Step("row_6_center_loss", "+ center loss (0.0005)", List.of("SOLVER.CENTER_WEIGHT=5.0e-4",
          "SOLVER.CENTER_LR=0.5")));

  /**
   * What to run.
   *
   * @param base the config every row starts from (the quick start)
   * @param baseSource how to name the base in the report ("configs/quickstart.yml")
   * @param extra {@code KEY=VALUE} settings for every row, applied after the base and before the
   *     rows' own (e.g. DATALOADER.ROOT, or SOLVER.MAX_EPOCHS for a short test); they may not touch a
   *     key a row sets, nor SOLVER.SEED, SOLVER.MAX_MINUTES or OUTPUT_DIR, which have their own settings
   * @param minutesPerRow SOLVER.MAX_MINUTES of every row (> 0)
   * @param seed SOLVER.SEED of every row
   * @param work folder holding one OUTPUT_DIR per row
   * @param markdown the report; the JSON goes beside it with the extension .json
   * @param command the command line that reruns this, quoted in the report
   * @param note a sentence about the machine for the report (e.g. that it was shared), or null
   */
  public record Settings(TrainConfig base, String baseSource, List<String> extra, double minutesPerRow, long seed,
      Path work, Path markdown, String command, String note) {
    public Settings {
      if (!(minutesPerRow > 0) || Double.isInfinite(minutesPerRow))
        throw new IllegalArgumentException("minutes per row must be a number of minutes > 0, got " + minutesPerRow);
      if (base == null) throw new IllegalArgumentException("no base config");
      extra = List.copyOf(extra == null ? List.of() : extra);
      Set<String> own = new LinkedHashSet<>(List.of("SOLVER.SEED", "SOLVER.MAX_MINUTES", "OUTPUT_DIR"));
      for (String o : PLAIN_EVALUATION) own.add(key(o));
      for (Step s : STEPS) for (String o : s.overrides()) own.add(key(o));
      for (String o : extra)
        if (own.contains(key(o)))
          throw new IllegalArgumentException("the override " + o + " sets " + key(o) + ", which the ablation "
              + "itself controls (row settings, seed, time budget, output folder, no DBA/QE in the rows' evaluations); "
              + "it cannot be set for every row");
    }

    /** The JSON file beside the Markdown report. */
    public Path json() {
      String name = markdown.getFileName().toString();
      int dot = name.lastIndexOf('.');
      return markdown.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + ".json");
    }
  }

  /** A trained row: its resolved config, the run's result, and its scores. */
  public record Row(int index, Step step, TrainConfig config, int epochs, double minutes, EvalResult eval,
      Path checkpoint) {}

  /** One evaluation variant of the last row's model. */
  public record Variant(boolean rerank, boolean flip, EvalResult eval) {}

  /** Everything the ablation produced. */
  public record Report(List<Row> rows, List<Variant> variants, Path markdown, Path json) {}

  private final Settings s;

  public Ablation(Settings settings) {
    this.s = settings;
    for (int i = 0; i < STEPS.size(); i++) rowConfig(i); // every key exists and every value is valid, before any run
  }

  /**
   * Every row's evaluation is without the trainer's post-processing (TEST.DBA_K, TEST.QE), whatever
   * the base config says (the quick start's has alpha-QE): the rows compare training tricks, and the
   * ablations measure post-processing on its own (this one's variants, the contest suite's rows).
   */
  static final List<String> PLAIN_EVALUATION = List.of("TEST.DBA_K=0", "TEST.QE=none");

  /**
   * The resolved config of row i: base, extra settings, no DBA/QE ({@link #PLAIN_EVALUATION}), rows
   * 0..i, then seed, budget and output folder.
   */
  public TrainConfig rowConfig(int i) {
    List<String> o = new ArrayList<>(s.extra());
    o.addAll(PLAIN_EVALUATION);
    for (int r = 0; r <= i; r++) o.addAll(STEPS.get(r).overrides());
    o.add("SOLVER.SEED=" + s.seed());
    o.add("SOLVER.MAX_MINUTES=" + s.minutesPerRow());
    o.add("OUTPUT_DIR=" + quote(s.work().resolve(STEPS.get(i).dir()).toString()));
    return s.base().with(o);
  }

  /** Trains every row, evaluates the variants, writes the report and the JSON. Progress goes to out. */
  public Report run(PrintStream out) throws IOException {
    Instant started = Instant.now();
    TrainConfig first = rowConfig(0);
    ReidDataset data = ReidDataset.open(first); // the rows change no DATALOADER or INPUT.CHANNELS key: open once
    List<Row> rows = new ArrayList<>();
    int n = STEPS.size();
    for (int i = 0; i < n; i++) {
      Step step = STEPS.get(i);
      TrainConfig cfg = rowConfig(i);
      out.printf(Locale.ROOT, "%nrow %d/%d: %s%n", i, n, step.change());
      out.println("  " + String.join(" ", step.overrides()) + " -> " + cfg.outputDir());
      Trainer.Result r = new Trainer(cfg, data, out).overwrite(true).run(false); // rows are --work's own scratch
      rows.add(new Row(i, step, cfg, r.epochs(), r.totalSeconds() / 60, r.eval(), r.lastCheckpoint()));
      out.printf(Locale.ROOT, "row %d/%d done: R1 %s%%  mAP %s%%  mINP %s%%, %d epochs, %.1f min%n", i, n,
          pct(r.eval().rank1()), pct(r.eval().mAP()), pct(r.eval().mINP()), r.epochs(), r.totalSeconds() / 60);
    }
    List<Variant> variants = variants(rows.get(n - 1), data, out);
    Path json = s.json();
    String md = markdown(rows, variants, started);
    AtomicFiles.writeString(s.markdown(), md);
    AtomicFiles.writeString(json, JSON.writeValueAsString(jsonTree(rows, variants, started)) + "\n");
    out.println("wrote " + s.markdown() + " and " + json);
    return new Report(rows, variants, s.markdown(), json);
  }

  /** Re-ranking off/on x flip TTA off/on on the row's last checkpoint (L2-normalised features). */
  private static List<Variant> variants(Row last, ReidDataset data, PrintStream out) throws IOException {
    out.printf(Locale.ROOT, "%nevaluation variants on %s%n", last.checkpoint());
    ModelLoader.Loaded loaded = ModelLoader.load(last.checkpoint(), null, List.of());
    TrainConfig cfg = loaded.config();
    Kernels kernels = Kernels.create(Backend.AUTO);
    Metric metric = Metric.parse(cfg.test().metric());
    List<Variant> v = new ArrayList<>();
    try (Embedder e = ModelLoader.embedder(loaded, null)) {
      for (boolean flip : new boolean[] {false, true}) {
        Extractor.Options o = extraction(cfg).withFlip(flip);
        LabelledFeatures q = features(e, "query", data.query(), o), g = features(e, "gallery", data.gallery(), o);
        for (boolean rerank : new boolean[] {false, true}) {
          long t0 = System.nanoTime();
          EvalResult r = RetrievalEval.run(kernels, q, g, new RetrievalEval.Options(metric, false,
              rerank ? RerankParams.DEFAULT : null)).result();
          out.printf(Locale.ROOT, "  re-ranking %-3s flip %-3s: R1 %s%%  mAP %s%%  mINP %s%% (%.1f s)%n",
              onOff(rerank), onOff(flip), pct(r.rank1()), pct(r.mAP()), pct(r.mINP()), (System.nanoTime() - t0) / 1e9);
          v.add(new Variant(rerank, flip, r));
        }
      }
    }
    v.sort((a, b) -> Integer.compare((a.rerank() ? 2 : 0) + (a.flip() ? 1 : 0), (b.rerank() ? 2 : 0) + (b.flip() ? 1 : 0)));
    return v;
  }

  static LabelledFeatures features(Embedder e, String name, ImageSource src, Extractor.Options o)
      throws IOException {
    Extractor.Result r = Extractor.extract(e, src, o);
    if (r.kept().length == 0) throw new IOException(name + ": no image could be loaded");
    int[] pids = new int[r.kept().length], camids = new int[r.kept().length];
    for (int i = 0; i < pids.length; i++) {
      pids[i] = src.pid(r.kept()[i]);
      camids[i] = src.camid(r.kept()[i]);
    }
    return new LabelledFeatures(name, r.features(), pids, camids);
  }

  // ---- the report -------------------------------------------------------------------------------

  /** The Markdown report. Scores are percentages with one decimal, as {@link #pct} formats them. */
  String markdown(List<Row> rows, List<Variant> variants, Instant started) {
    TrainConfig c0 = rows.get(0).config();
    StringBuilder b = new StringBuilder();
    b.append("# The BoT ablation in miniature\n\n");
    b.append("Table 1 of Luo et al. 2019, \"Bag of Tricks and A Strong Baseline for Deep Person Re-identification\", "
        + "replayed at toy scale: a small CNN (`").append(c0.model().backbone()).append("`) on ")
        .append(fmnist(c0) ? "Fashion-MNIST (the class plays the identity)" : c0.dataloader().dataset()).append(", one run per "
        + "row, each row adding one trick to the row above. Every row trains from scratch with the same seed and the "
        + "same time budget, so a trick that makes a step slower also gets fewer epochs. The image-retrieval contest "
        + "tricks (DIGIX 2020: margin heads, XBM, two-stage sampling, augmentations, QE, DBA, ensembles) are measured "
        + "the same way in [ablation-contest.md](ablation-contest.md) (`./reid4j ablate --suite contest`).\n\n");
    b.append("## What was run\n\n");
    b.append("- machine: ").append(cpuModel()).append(", ").append(Runtime.getRuntime().availableProcessors())
        .append(" CPUs (nproc)").append(s.note() == null || s.note().isBlank() ? "" : "; " + s.note()).append('\n');
    b.append("- date: ").append(started.truncatedTo(ChronoUnit.SECONDS)).append('\n');
    b.append("- seed: ").append(s.seed()).append(" (SOLVER.SEED of every row)\n");
    b.append(String.format(Locale.ROOT, "- time budget: %s minute%s per row (SOLVER.MAX_MINUTES; the trainer plans how "
        + "many epochs fit, at most SOLVER.MAX_EPOCHS %d, and compresses the learning-rate schedule to them)%n",
        num(s.minutesPerRow()), s.minutesPerRow() == 1 ? "" : "s", c0.solver().maxEpochs()));
    b.append("- base config: ").append(s.baseSource()).append(s.extra().isEmpty() ? "" : ", with `"
        + String.join(" ", s.extra()) + "` for every row").append('\n');
    b.append("- warm-up: ").append(rows.size() > 1 ? rows.get(1).config().solver().warmupEpochs() : 0)
        .append(" epoch at this scale (BoT warms up for 10 of 120 epochs), linear from SOLVER.WARMUP_FACTOR ")
        .append(num(c0.solver().warmupFactor())).append('\n');
    b.append("- rerun: `").append(s.command()).append("`\n");
    b.append("- per-row output: `").append(s.work()).append("/row_*/` (checkpoints with the resolved config, "
        + "metrics.jsonl, summary.json)\n\n");
    b.append("Settings of each row (cumulative):\n\n");
    for (Row r : rows)
      b.append(r.index()).append(". ").append(r.step().change()).append(": `")
          .append(String.join(" ", r.step().overrides())).append("`\n");
    b.append('\n');

    b.append("## Training rows\n\n");
    b.append("| row | change | R1 | mAP | mINP | epochs | minutes |\n");
    b.append("|---:|---|---:|---:|---:|---:|---:|\n");
    for (Row r : rows)
      b.append("| ").append(r.index()).append(" | ").append(r.step().change()).append(" | ").append(pct(r.eval().rank1()))
          .append(" | ").append(pct(r.eval().mAP())).append(" | ").append(pct(r.eval().mINP())).append(" | ")
          .append(r.epochs()).append(" | ").append(String.format(Locale.ROOT, "%.1f", r.minutes())).append(" |\n");
    b.append("\nR1, mAP and mINP in % on the ").append(fmnist(c0) ? "test split (query: the first 100 test images of "
        + "each class; gallery: the rest)" : "query and gallery splits").append(", measured after the row's last epoch on ")
        .append(c0.test().featNorm() ? "L2-normalised features" : "raw features").append(" with the ")
        .append(c0.test().metric()).append(" distance; minutes: wall-clock time of the row's run, final evaluation "
        + "included.\n\n");

    b.append("## Evaluation variants (row ").append(rows.get(rows.size() - 1).index()).append("'s model)\n\n");
    b.append("| re-ranking | flip TTA | R1 | mAP | mINP |\n");
    b.append("|---|---|---:|---:|---:|\n");
    for (Variant v : variants)
      b.append("| ").append(onOff(v.rerank())).append(" | ").append(onOff(v.flip())).append(" | ")
          .append(pct(v.eval().rank1())).append(" | ").append(pct(v.eval().mAP())).append(" | ")
          .append(pct(v.eval().mINP())).append(" |\n");
    RerankParams p = RerankParams.DEFAULT;
    b.append(String.format(Locale.ROOT, "%nFeatures from the row's last checkpoint through `Extractor`, L2-normalised; "
        + "flip TTA averages the image's and its mirror image's features; re-ranking is k-reciprocal encoding (Zhong et "
        + "al. 2017) with k1 %d, k2 %d, lambda %s.%n%n", p.k1(), p.k2(), Float.toString(p.lambda())));

    b.append("## What the runs show\n\n").append(findings(rows, variants)).append('\n');
    return b.toString();
  }

  /** The factual paragraph: each step's change in mAP (and R1), the overall change, the variants. */
  static String findings(List<Row> rows, List<Variant> variants) {
    List<String> parts = new ArrayList<>();
    List<String> up = new ArrayList<>(), down = new ArrayList<>(), same = new ArrayList<>();
    for (int i = 1; i < rows.size(); i++) {
      Row a = rows.get(i - 1), r = rows.get(i);
      double d = delta(a.eval().mAP(), r.eval().mAP());
      String name = trick(r.step());
      String sentence = String.format(Locale.ROOT, "%s %s mAP %s (%s%% to %s%%; R1 %s%% to %s%%)", capitalise(name),
          d > 0 ? "raised" : d < 0 ? "lowered" : "left", d == 0 ? "unchanged" : String.format(Locale.ROOT,
              "by %.1f points", Math.abs(d)), pct(a.eval().mAP()), pct(r.eval().mAP()), pct(a.eval().rank1()),
          pct(r.eval().rank1()));
      if (r.epochs() != a.epochs())
        sentence += String.format(Locale.ROOT, ", with %d epoch%s in the budget instead of %d", r.epochs(),
            r.epochs() == 1 ? "" : "s", a.epochs());
      parts.add(sentence + ".");
      (d > 0 ? up : d < 0 ? down : same).add(name);
    }
    StringBuilder b = new StringBuilder(String.join(" ", parts));
    b.append(String.format(Locale.ROOT, " Against the row before, %d of the %d tricks raised mAP%s", up.size(),
        rows.size() - 1, up.isEmpty() ? "" : " (" + join(up) + ")"));
    if (!down.isEmpty() || !same.isEmpty()) {
      List<String> no = new ArrayList<>();
      if (!down.isEmpty()) no.add(down.size() + " lowered it (" + join(down) + ")");
      if (!same.isEmpty()) no.add(same.size() + " left it unchanged (" + join(same) + ")");
      b.append("; ").append(join(no)).append(": ").append(down.size() + same.size() == 1 ? "that trick" : "those tricks")
          .append(" did not help at this scale");
    }
    b.append('.');
    Row first = rows.get(0), last = rows.get(rows.size() - 1);
    Row best = rows.get(0);
    for (Row r : rows) if (r.eval().mAP() > best.eval().mAP()) best = r;
    double all = delta(first.eval().mAP(), last.eval().mAP());
    b.append(String.format(Locale.ROOT, " With every trick on (row %d) mAP is %s%% against %s%% for the baseline "
        + "(%s%.1f points) and R1 %s%% against %s%%; the highest mAP is row %d's (%s%%).", last.index(),
        pct(last.eval().mAP()), pct(first.eval().mAP()), all >= 0 ? "+" : "-", Math.abs(all), pct(last.eval().rank1()),
        pct(first.eval().rank1()), best.index(), pct(best.eval().mAP())));
    Variant plain = find(variants, false, false), rr = find(variants, true, false), fl = find(variants, false, true),
        both = find(variants, true, true);
    if (plain != null && rr != null && fl != null && both != null) {
      b.append(String.format(Locale.ROOT, " On row %d's model, re-ranking changed mAP by %s points without flip TTA "
          + "and %s with it, and R1 by %s and %s; flip TTA changed mAP by %s points without re-ranking and %s with it.",
          last.index(), signed(delta(plain.eval().mAP(), rr.eval().mAP())),
          signed(delta(fl.eval().mAP(), both.eval().mAP())), signed(delta(plain.eval().rank1(), rr.eval().rank1())),
          signed(delta(fl.eval().rank1(), both.eval().rank1())), signed(delta(plain.eval().mAP(), fl.eval().mAP())),
          signed(delta(rr.eval().mAP(), both.eval().mAP()))));
    }
    b.append(" Each row is one run with one seed; the run-to-run spread was not measured.");
    return b.toString();
  }

  private Map<String, Object> jsonTree(List<Row> rows, List<Variant> variants, Instant started) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("title", "BoT ablation in miniature (Luo et al. 2019, Table 1)");
    Map<String, Object> machine = new LinkedHashMap<>();
    machine.put("cpu", cpuModel());
    machine.put("nproc", Runtime.getRuntime().availableProcessors());
    if (s.note() != null && !s.note().isBlank()) machine.put("note", s.note());
    m.put("machine", machine);
    m.put("date", started.truncatedTo(ChronoUnit.SECONDS).toString());
    m.put("seed", s.seed());
    m.put("minutes_per_row", s.minutesPerRow());
    m.put("base_config", s.baseSource());
    m.put("extra_overrides", s.extra());
    m.put("command", s.command());
    List<Map<String, Object>> rs = new ArrayList<>();
    for (Row r : rows) {
      Map<String, Object> x = new LinkedHashMap<>();
      x.put("row", r.index());
      x.put("change", r.step().change());
      x.put("overrides", r.step().overrides());
      x.putAll(scores(r.eval()));
      x.put("epochs", r.epochs());
      x.put("minutes", r.minutes());
      x.put("output_dir", r.config().outputDir());
      x.put("checkpoint", String.valueOf(r.checkpoint()));
      rs.add(x);
    }
    m.put("rows", rs);
    List<Map<String, Object>> vs = new ArrayList<>();
    for (Variant v : variants) {
      Map<String, Object> x = new LinkedHashMap<>();
      x.put("rerank", v.rerank());
      x.put("flip", v.flip());
      x.putAll(scores(v.eval()));
      vs.add(x);
    }
    m.put("variants", vs);
    Map<String, Object> rp = new LinkedHashMap<>();
    rp.put("k1", RerankParams.DEFAULT.k1());
    rp.put("k2", RerankParams.DEFAULT.k2());
    rp.put("lambda", Double.parseDouble(Float.toString(RerankParams.DEFAULT.lambda())));
    m.put("rerank_params", rp);
    m.put("findings", findings(rows, variants));
    return m;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** How the ablations extract a checkpoint's features: the config's batch, loader threads and resize, L2-normalised. */
  static Extractor.Options extraction(TrainConfig cfg) {
    return Extractor.Options.defaults().withBatchSize(cfg.test().batchSize()).withWorkers(cfg.dataloader().numWorkers())
        .withNormalize(true).withRescalePad(cfg.input().rescalePad()).withProgress(null, 10);
  }

  /** rank1, mAP and mINP (fractions) for the JSON reports. */
  static Map<String, Object> scores(EvalResult e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("rank1", e.rank1());
    m.put("mAP", e.mAP());
    m.put("mINP", e.mINP());
    return m;
  }

  /** A fraction as a percentage with one decimal ("81.3"): the precision of the tables. */
  public static String pct(double fraction) {
    return org.reid4j.report.Percent.of(fraction);
  }

  /** The change between two fractions in percentage points, as the tables show them (both rounded first). */
  private static double delta(double from, double to) {
    return Math.round((Double.parseDouble(pct(to)) - Double.parseDouble(pct(from))) * 10) / 10.0;
  }

  private static String signed(double points) {
    return String.format(Locale.ROOT, "%s%.1f", points >= 0 ? "+" : "-", Math.abs(points));
  }

  private static Variant find(List<Variant> vs, boolean rerank, boolean flip) {
    for (Variant v : vs) if (v.rerank() == rerank && v.flip() == flip) return v;
    return null;
  }

  /** "warm-up" from "+ warm-up (1 epoch)". */
  private static String trick(Step s) {
    String c = s.change().startsWith("+ ") ? s.change().substring(2) : s.change();
    int paren = c.indexOf(" (");
    return paren > 0 ? c.substring(0, paren) : c;
  }

  private static String capitalise(String t) {
    return t.isEmpty() ? t : Character.toUpperCase(t.charAt(0)) + t.substring(1);
  }

  private static String join(List<String> l) {
    if (l.size() <= 1) return String.join("", l);
    return String.join(", ", l.subList(0, l.size() - 1)) + " and " + l.get(l.size() - 1);
  }

  private static boolean fmnist(TrainConfig c) {
    return c.dataloader().dataset().equals("fashion-mnist");
  }

  private static String onOff(boolean b) {
    return b ? "on" : "off";
  }

  /** 2.0 -> "2", 0.3 -> "0.3". */
  static String num(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v)
        : new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString();
  }

  private static String key(String override) {
    int eq = override.indexOf('=');
    return (eq < 0 ? override : override.substring(0, eq)).trim().toUpperCase(Locale.ROOT);
  }

  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  /** The CPU's "model name" from /proc/cpuinfo, or os.arch where there is none. */
  static String cpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
        if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return System.getProperty("os.arch");
  }
}
