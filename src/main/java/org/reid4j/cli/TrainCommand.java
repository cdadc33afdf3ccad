package org.reid4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;
import org.reid4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reid4j train}: trains a ReID model with the BoT recipe, then evaluates it. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Train a re-identification model (BoT: CE with label smoothing + batch-hard triplet + centre "
        + "loss, BNNeck, warm-up), evaluating R1/mAP/mINP every SOLVER.EVAL_PERIOD epochs and at the end.",
        "With no arguments: configs/quickstart.yml, a small CNN on Fashion-MNIST in under 10 minutes on a CPU.",
        "Writes OUTPUT_DIR/checkpoints/{last,best}.pt, OUTPUT_DIR/metrics.jsonl and OUTPUT_DIR/summary.json."})
public final class TrainCommand implements Callable<Integer> {
  static final String QUICKSTART = "configs/quickstart.yml";
  static final String QUICKSTART_RESOURCE = "/org/reid4j/train/quickstart.yml";

  @Option(names = "--config", paramLabel = "FILE",
      description = "YAML config (default: " + QUICKSTART + "); it only needs the keys that differ from the defaults.")
  Path config;

  @Option(names = "--set", paramLabel = "KEY=VALUE",
      description = "Override a config value, e.g. --set SOLVER.BASE_LR=1e-3 --set INPUT.SIZE_TRAIN=[256,128] "
          + "(repeatable; applied after the file).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--resume", description = "Continue from OUTPUT_DIR/checkpoints/last.pt.")
  boolean resume;

  @Option(names = "--overwrite", description = "Start afresh in an OUTPUT_DIR that holds an earlier run, replacing "
      + "its checkpoints, metrics and summary (without it such a folder is refused).")
  boolean overwrite;

  @Option(names = "--data", paramLabel = "DIR", description = "Data set folder (sets DATALOADER.ROOT).")
  String data;

  @Option(names = "--output", paramLabel = "DIR", description = "Output folder (sets OUTPUT_DIR).")
  String output;

  @Override
  public Integer call() throws IOException {
    List<String> all = new ArrayList<>(overrides);
    if (data != null) all.add("DATALOADER.ROOT=" + yamlString(data));
    if (output != null) all.add("OUTPUT_DIR=" + yamlString(output));
    TrainConfig cfg;
    String source;
    if (config != null) {
      if (!Files.isRegularFile(config)) throw new java.nio.file.NoSuchFileException(config + " (--config)");
      cfg = TrainConfig.load(config, all);
      source = config.toString();
    } else {
      Path q = Path.of(QUICKSTART);
      if (Files.isRegularFile(q)) {
        cfg = TrainConfig.load(q, all);
        source = QUICKSTART;
      } else {
        cfg = loadBundledQuickstart(all, " (give --config FILE)");
        source = "built-in quickstart (" + QUICKSTART + " not found in " + Path.of("").toAbsolutePath() + ")";
      }
    }
    System.out.println("config: " + source + (all.isEmpty() ? "" : " with " + String.join(" ", all)));
    java.util.Map<String, String> relative = cfg.relativePaths();
    if (!relative.isEmpty()) {
      StringBuilder b = new StringBuilder("relative paths, resolved against the working directory ")
          .append(Path.of("").toAbsolutePath()).append(" (not the config's folder):");
      relative.forEach((k, v) -> b.append(' ').append(k).append('=').append(v));
      System.out.println(b);
    }
    ReidDataset dataset;
    try {
      dataset = ReidDataset.open(cfg);
    } catch (IOException e) {
      boolean rooted = !cfg.dataloader().dataset().equals("csv"); // csv sets use DATALOADER.*_CSV, not a root
      throw new IOException(e.getMessage() + (data == null && rooted ? "; train's --data DIR sets DATALOADER.ROOT"
          : ""), e);
    }
    if (resume && overwrite) throw new IllegalArgumentException("--resume continues a run, --overwrite replaces it: "
        + "give one of them");
    Trainer.Result r = new Trainer(cfg, dataset, System.out).overwrite(overwrite).run(resume);
    System.out.printf(Locale.ROOT, "%nresult after %d epochs (%,d iterations, %.1f min training, %.1f min in all%s):%n",
        r.epochs(), r.iterations(), r.trainSeconds() / 60, r.totalSeconds() / 60,
        r.stoppedByBudget() ? ", stopped by SOLVER.MAX_MINUTES" : "");
    System.out.printf(Locale.ROOT, "  R1 %.4f  R5 %.4f  R10 %.4f  mAP %.4f  mINP %.4f%n", r.eval().rank1(),
        r.eval().rank5(), r.eval().rank10(), r.eval().mAP(), r.eval().mINP());
    if (r.plainEval() != null)
      System.out.printf(Locale.ROOT, "  (with %s; without it: R1 %.4f  mAP %.4f  mINP %.4f)%n",
          Trainer.postProcessing(cfg.test()), r.plainEval().rank1(), r.plainEval().mAP(), r.plainEval().mINP());
    System.out.printf(Locale.ROOT, "  %,.0f images/s; %.1f%% of step time outside libtorch (data wait + Java)%n",
        r.imagesPerSecond(), 100 * r.outsideShare());
    System.out.println("  checkpoint: " + r.lastCheckpoint() + (r.bestCheckpoint() != null ? " (best: "
        + r.bestCheckpoint() + ")" : ""));
    System.out.println("  metrics:    " + r.metrics());
    System.out.println("  summary:    " + r.summary());
    pictures(r);
    return 0;
  }

  /** Training curves and the CMC curve as PNG beside the metrics; a failure here loses no result. */
  private static void pictures(Trainer.Result r) {
    Path dir = r.metrics().toAbsolutePath().getParent();
    try {
      Path curves = dir.resolve("curves.png"), cmc = dir.resolve("cmc.png");
      org.reid4j.report.TrainingCurves.render(r.metrics(), curves);
      org.reid4j.report.CmcCurve.render(r.eval(), "CMC after " + r.epochs() + " epochs", cmc);
      System.out.println("  pictures:   " + curves + ", " + cmc);
    } catch (IOException | RuntimeException | InternalError | LinkageError e) {
      // InternalError: AWT finds no fonts (a bare machine without fontconfig's files)
      System.err.println("reid4j train: warning: could not draw the pictures: " + e);
    }
  }

  /**
   * The copy of configs/quickstart.yml packed into the jar, for runs from another working folder
   * ({@code ablate} uses it too); {@code missingHint} follows the file name when the copy is absent.
   */
  static TrainConfig loadBundledQuickstart(List<String> overrides, String missingHint) throws IOException {
    try (InputStream in = TrainCommand.class.getResourceAsStream(QUICKSTART_RESOURCE)) {
      if (in == null) throw new java.nio.file.NoSuchFileException(QUICKSTART + missingHint);
      Path tmp = Files.createTempFile("reid4j-quickstart", ".yml");
      try {
        Files.write(tmp, in.readAllBytes());
        return TrainConfig.load(tmp, overrides);
      } finally {
        Files.deleteIfExists(tmp);
      }
    }
  }

  /** A YAML double-quoted scalar, so paths with ':' or '#' survive. */
  static String yamlString(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
