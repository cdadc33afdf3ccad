package org.reid4j.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.reid4j.config.TrainConfig;
import org.reid4j.train.Ablation;
import org.reid4j.train.ContestAblation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code reid4j ablate}: the BoT ablation (Luo et al. 2019, Table 1) in miniature on Fashion-MNIST. */
@Command(name = "ablate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Replay the Bag-of-Tricks ablation (Luo et al. 2019, Table 1) on Fashion-MNIST with the quick-start "
        + "model: a softmax + triplet baseline, then + warm-up, + random erasing, + label smoothing, + last stride 1, "
        + "+ BNNeck, + center loss, one training run per row with the same seed and time budget; then re-ranking "
        + "off/on x flip TTA off/on on the last row's model.",
        "Writes a Markdown report (--out) and the same numbers as JSON beside it, and one OUTPUT_DIR per row under "
            + "--work. Takes about 7 x --minutes-per-row plus a minute."})
public final class AblateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--suite", paramLabel = "SUITE", defaultValue = "bot",
      description = "bot (the BoT rows above, cumulative) or contest (the DIGIX 2020 contest tricks: one change per row "
          + "on the quick start, then QE, alpha-QE, DBA, re-ranking, flip and rotation TTA and a three-model ensemble "
          + "on the base model; about 11 x --minutes-per-row plus a few minutes) (default ${DEFAULT-VALUE}).")
  String suite;

  @Option(names = "--minutes-per-row", paramLabel = "MINUTES", defaultValue = "2.0",
      description = "Training budget of every row in minutes (SOLVER.MAX_MINUTES; default ${DEFAULT-VALUE}).")
  double minutesPerRow;

  @Option(names = "--seed", paramLabel = "SEED", defaultValue = "1", description = "SOLVER.SEED of every row (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--out", paramLabel = "FILE",
      description = "Markdown report (default: ablation.md in --work); the JSON goes beside it as .json. The "
          + "repository's docs/ablation.md is refreshed only when named here.")
  Path out;

  @Option(names = "--work", paramLabel = "DIR", defaultValue = "runs/ablation",
      description = "Folder for the rows' runs (default ${DEFAULT-VALUE}).")
  Path work;

  @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST folder (sets DATALOADER.ROOT).")
  String data;

  @Option(names = "--set", paramLabel = "KEY=VALUE",
      description = "Override a config value for every row, e.g. --set SOLVER.MAX_EPOCHS=6 (keys the rows set are refused).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--note", paramLabel = "TEXT", description = "A note on the machine for the report, e.g. \"shared with other jobs\".")
  String note;

  @Override
  public Integer call() throws IOException {
    if (!(minutesPerRow > 0) || Double.isInfinite(minutesPerRow))
      throw new IllegalArgumentException("--minutes-per-row must be a number of minutes > 0, got " + minutesPerRow);
    if (!suite.equals("bot") && !suite.equals("contest"))
      throw new IllegalArgumentException("--suite must be bot or contest, got '" + suite + "'");
    boolean contest = suite.equals("contest");
    if (out == null) out = work.resolve(contest ? "ablation-contest.md" : "ablation.md");
    if (!out.getFileName().toString().endsWith(".md"))
      throw new IllegalArgumentException("--out must name a Markdown file (.md), got " + out);
    List<String> extra = new ArrayList<>(overrides);
    if (data != null) extra.add("DATALOADER.ROOT=" + TrainCommand.yamlString(data));
    Path q = Path.of(TrainCommand.QUICKSTART);
    TrainConfig base;
    String source;
    if (Files.isRegularFile(q)) {
      base = TrainConfig.load(q, List.of());
      source = TrainCommand.QUICKSTART;
    } else {
      base = TrainCommand.loadBundledQuickstart(List.of(), "");
      source = "the built-in copy of " + TrainCommand.QUICKSTART;
    }
    Ablation.Settings settings;
    try {
      settings = new Ablation.Settings(base, source, extra, minutesPerRow, seed, work, out, rerunCommand(), note);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    if (contest) {
      ContestAblation c = new ContestAblation(settings);
      System.out.printf(Locale.ROOT, "contest ablation: %d training rows x %s min on %s, seed %d; report %s%n",
          ContestAblation.ROWS.size(), minutesPerRow, source, seed, out);
      ContestAblation.Report r = c.run(System.out);
      System.out.println();
      System.out.println(Files.readString(r.markdown()));
      return 0;
    }
    Ablation ablation = new Ablation(settings);
    System.out.printf(Locale.ROOT, "ablation: %d rows x %s min on %s, seed %d; report %s%n", Ablation.STEPS.size(),
        minutesPerRow, source, seed, out);
    Ablation.Report r = ablation.run(System.out);
    System.out.println();
    System.out.println(Files.readString(r.markdown()));
    return 0;
  }

  /** The command line that reruns this, options at their defaults left out. */
  private String rerunCommand() {
    StringBuilder b = new StringBuilder("./reid4j ablate");
    if (!suite.equals("bot")) b.append(" --suite ").append(suite);
    b.append(" --minutes-per-row ").append(minutesPerRow == Math.rint(minutesPerRow) ? Long.toString((long) minutesPerRow)
        : Double.toString(minutesPerRow));
    b.append(" --seed ").append(seed);
    if (!out.equals(work.resolve(suite.equals("bot") ? "ablation.md" : "ablation-contest.md")))
      b.append(" --out ").append(shell(out.toString()));
    if (!work.equals(Path.of("runs/ablation"))) b.append(" --work ").append(shell(work.toString()));
    if (data != null) b.append(" --data ").append(shell(data));
    for (String o : overrides) b.append(" --set ").append(shell(o));
    return b.toString();
  }

  private static String shell(String s) {
    return s.matches("[A-Za-z0-9_./=:,+-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
  }
}
