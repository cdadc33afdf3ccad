package org.reid4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.reid4j.config.TrainConfig;

/**
 * SOLVER.STAGES as epoch ranges. Stage j (0-based) covers epochs [start, end) of the run (0-based;
 * {@code end - start} = its EPOCHS, the first starts at 0, each starts where the previous ended),
 * draws its batches with its SAMPLER and multiplies the learning rate by its LR_FACTOR. The run stays
 * one run: the weights, the optimiser state (Adam's moments), the centres, the checkpoint series and
 * the metrics file carry across a boundary, and the epoch count goes on.
 *
 * <p>Learning rate: the configured schedule ({@link LrSchedule}: warm-up, then multistep or cosine)
 * runs over the whole run in run epochs, as without stages; in stage j every group's rate is
 * {@code base rate * schedule factor * LR_FACTOR_j}, so the stage's base rate is
 * {@code BASE_LR * LR_FACTOR_j}. The warm-up does not repeat at a stage boundary (it belongs to the
 * start of the run), and a multistep milestone or the cosine's position means the same run epoch
 * with or without stages.
 *
 * <p>With SOLVER.STAGES empty there is one stage of SOLVER.MAX_EPOCHS epochs with DATALOADER.SAMPLER
 * and factor 1: the run of earlier versions. A resumed run finds its stage from the checkpoint's
 * epoch ({@link #at}). When the time budget (SOLVER.MAX_MINUTES) allows fewer epochs than MAX_EPOCHS,
 * the boundaries are scaled as the multistep milestones are ({@link #compressedTo}).
 */
public final class Stages {
  /** One stage: index (0-based), epochs [start, end) of the run, sampler and learning-rate factor. */
  public record Stage(int index, int start, int end, String sampler, double lrFactor) {
    /** "stage 2 of 2: epochs 41-50, sampler pk_balanced, lr x0.1" (1-based epochs). */
    public String describe(int count) {
      return String.format(Locale.ROOT, "stage %d of %d: epochs %s, sampler %s, lr x%s", index + 1, count,
          end - start == 0 ? "none" : (start + 1) + "-" + end, sampler, trim(lrFactor));
    }
  }

  private final List<Stage> list;
  private final boolean configured;

  private Stages(List<Stage> list, boolean configured) {
    this.list = List.copyOf(list);
    this.configured = configured;
  }

  /** The stages of a config: SOLVER.STAGES, or one stage of MAX_EPOCHS with DATALOADER.SAMPLER. */
  public static Stages of(TrainConfig cfg) {
    List<TrainConfig.Stage> given = cfg.solver().stages();
    if (given.isEmpty())
      return new Stages(List.of(new Stage(0, 0, cfg.solver().maxEpochs(), cfg.dataloader().sampler(), 1.0)), false);
    List<Stage> l = new ArrayList<>();
    int start = 0;
    for (TrainConfig.Stage s : given) {
      l.add(new Stage(l.size(), start, start + s.epochs(), s.sampler(), s.lrFactor()));
      start += s.epochs();
    }
    if (start != cfg.solver().maxEpochs()) // TrainConfig refuses this; a guard for hand-made configs
      throw new IllegalArgumentException("SOLVER.STAGES add up to " + start + " epochs but SOLVER.MAX_EPOCHS is "
          + cfg.solver().maxEpochs());
    return new Stages(l, true);
  }

  /** True when SOLVER.STAGES was given (the log and metrics then name the stage). */
  public boolean configured() {
    return configured;
  }

  public int size() {
    return list.size();
  }

  public List<Stage> list() {
    return list;
  }

  /** The distinct samplers, in stage order. */
  public List<String> samplers() {
    return list.stream().map(Stage::sampler).distinct().toList();
  }

  /** The stage of run epoch {@code epoch} (0-based); epochs past the end belong to the last stage. */
  public Stage at(int epoch) {
    for (Stage s : list) if (epoch < s.end) return s;
    return list.get(list.size() - 1);
  }

  /**
   * The stages squeezed from {@code configuredEpochs} into {@code epochs}: each end is scaled by
   * {@code epochs / configuredEpochs} and rounded, keeping at least one epoch for every stage while
   * there are enough (with fewer epochs than stages the first stages get one each and the last ones
   * none); the last ends at {@code epochs}.
   */
  public Stages compressedTo(int configuredEpochs, int epochs) {
    double ratio = epochs / (double) Math.max(1, configuredEpochs);
    List<Stage> l = new ArrayList<>();
    int prev = 0, n = list.size();
    for (int j = 0; j < n; j++) {
      Stage s = list.get(j);
      int reserve = Math.max(0, Math.min(n - 1 - j, epochs - j - 1)); // one epoch for each later stage that can have one
      int end = Math.min(Math.max(prev + 1, (int) Math.round(s.end * ratio)), epochs - reserve);
      end = Math.min(Math.max(end, prev), epochs);
      if (j == n - 1) end = Math.max(prev, epochs);
      l.add(new Stage(j, prev, end, s.sampler, s.lrFactor));
      prev = end;
    }
    return new Stages(l, configured);
  }

  /** "1) epochs 1-40 pk, lr x1; 2) epochs 41-50 pk_balanced, lr x0.1". */
  public String describe() {
    StringBuilder b = new StringBuilder();
    for (Stage s : list) {
      if (b.length() > 0) b.append("; ");
      b.append(s.index + 1).append(") epochs ").append(s.end - s.start == 0 ? "none" : (s.start + 1) + "-" + s.end)
          .append(' ').append(s.sampler).append(", lr x").append(trim(s.lrFactor));
    }
    return b.toString();
  }

  private static String trim(double v) {
    return java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString(); // 1, 0.1, 0.25
  }
}
