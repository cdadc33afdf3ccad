package org.reid4j.train;

import java.util.Arrays;
import java.util.Locale;

/**
 * The learning-rate factor over training: a linear warm-up from {@code warmupFactor} to 1 over
 * {@code warmupEpochs}, then either multistep decay (x {@code gamma} at each epoch in {@code steps})
 * or a cosine from 1 to 0 at {@code maxEpochs}. The learning rate of a parameter group is its base
 * learning rate times {@link #factor}.
 *
 * <p>Granularity: BoT's {@code WarmupMultiStepLR} is stepped once per epoch, so its warm-up moves
 * in whole-epoch stairs. Here time is continuous, {@code t = epoch + iterFraction}: the warm-up
 * ramps per iteration, and at {@code iterFraction = 0} every value equals BoT's per-epoch value
 * (epoch 0: 0.01, epoch 5: 0.505, epoch 10: 1). Multistep decays happen at epoch boundaries only
 * (a step at epoch 40 applies from the first iteration of epoch 40 on, as in BoT, whose milestone
 * test is {@code bisect_right(milestones, epoch)}); the warm-up factor multiplies the decay, again
 * as in BoT. The cosine runs from the end of the warm-up to {@code maxEpochs}, per iteration.
 *
 * <p>Pure and immutable: no libtorch, no state.
 */
public final class LrSchedule {

  /** After the warm-up: piecewise-constant decay or a cosine to zero. */
  public enum Kind {
    MULTISTEP,
    COSINE;

    public static Kind parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "multistep" -> MULTISTEP;
        case "cosine" -> COSINE;
        default -> throw new IllegalArgumentException(
            "unknown SOLVER.SCHEDULE '" + s + "': expected multistep or cosine");
      };
    }
  }

  private final Kind kind;
  private final double warmupFactor;
  private final int warmupEpochs;
  private final int[] steps;
  private final double gamma;
  private final int maxEpochs;

  public LrSchedule(Kind kind, double warmupFactor, int warmupEpochs, int[] steps, double gamma, int maxEpochs) {
    if (!(warmupFactor > 0 && warmupFactor <= 1))
      throw new IllegalArgumentException("SOLVER.WARMUP_FACTOR must be in (0, 1], got " + warmupFactor);
    if (warmupEpochs < 0) throw new IllegalArgumentException("SOLVER.WARMUP_EPOCHS must be >= 0, got " + warmupEpochs);
    if (maxEpochs < 1) throw new IllegalArgumentException("SOLVER.MAX_EPOCHS must be >= 1, got " + maxEpochs);
    if (!(gamma > 0)) throw new IllegalArgumentException("SOLVER.GAMMA must be > 0, got " + gamma);
    int[] s = steps == null ? new int[0] : steps.clone();
    for (int i = 1; i < s.length; i++)
      if (s[i] <= s[i - 1])
        throw new IllegalArgumentException("SOLVER.STEPS must be increasing, got " + Arrays.toString(s));
    this.kind = kind;
    this.warmupFactor = warmupFactor;
    this.warmupEpochs = warmupEpochs;
    this.steps = s;
    this.gamma = gamma;
    this.maxEpochs = maxEpochs;
  }

  /**
   * The factor at iteration {@code iterFraction} (in [0, 1)) of epoch {@code epoch} (0-based).
   * Never negative; 0 only at or after the end of a cosine schedule.
   */
  public double factor(int epoch, double iterFraction) {
    if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
    double t = epoch + Math.max(0, Math.min(1, iterFraction));
    double warm = 1.0;
    if (t < warmupEpochs) {
      double alpha = t / warmupEpochs;
      warm = warmupFactor * (1 - alpha) + alpha;
    }
    if (kind == Kind.MULTISTEP) {
      int passed = 0;
      for (int s : steps) if (epoch >= s) passed++;
      return warm * Math.pow(gamma, passed);
    }
    if (t < warmupEpochs) return warm;
    double span = maxEpochs - warmupEpochs;
    if (span <= 0) return 1.0;
    double progress = Math.min(1.0, (t - warmupEpochs) / span);
    return 0.5 * (1 + Math.cos(Math.PI * progress));
  }

  /**
   * This schedule squeezed from {@code configuredEpochs} into {@code epochs} (used when the time
   * budget allows fewer epochs than SOLVER.MAX_EPOCHS): the cosine ends at {@code epochs}; multistep
   * milestones scale by {@code epochs / configuredEpochs}; the warm-up keeps its length but ends
   * before the last epoch.
   */
  public LrSchedule compressedTo(int configuredEpochs, int epochs) {
    int e = Math.max(1, epochs);
    double ratio = e / (double) Math.max(1, configuredEpochs);
    int[] s = new int[steps.length];
    int prev = 0;
    for (int i = 0; i < s.length; i++) {
      s[i] = Math.max(prev + 1, (int) Math.round(steps[i] * ratio));
      prev = s[i];
    }
    return new LrSchedule(kind, warmupFactor, Math.min(warmupEpochs, Math.max(0, e - 1)), s, gamma, e);
  }

  @Override
  public String toString() {
    return kind == Kind.MULTISTEP
        ? String.format(Locale.ROOT, "warm-up %d epochs from %.3g, then x%.3g at epochs %s", warmupEpochs,
            warmupFactor, gamma, Arrays.toString(steps))
        : String.format(Locale.ROOT, "warm-up %d epochs from %.3g, then cosine to 0 at epoch %d", warmupEpochs,
            warmupFactor, maxEpochs);
  }
}
