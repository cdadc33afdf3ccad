package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
  private static final double BASE = 3.5e-4;
  private final LrSchedule bot = new LrSchedule(LrSchedule.Kind.MULTISTEP, 0.01, 10, new int[] {40, 70}, 0.1, 120);

  private double lr(LrSchedule s, int epoch, double frac) {
    return BASE * s.factor(epoch, frac);
  }

  @Test
  void botDefaultsAtEpochStartsMatchWarmupMultiStepLR() {
    // BoT: warmup_factor * (1 - alpha) + alpha with alpha = epoch / 10, times gamma^bisect_right([40, 70], epoch)
    assertEquals(0.01 * BASE, lr(bot, 0, 0), 1e-15);
    assertEquals((0.01 * 0.9 + 0.1) * BASE, lr(bot, 1, 0), 1e-15); // 3.8115e-5
    assertEquals(0.505 * BASE, lr(bot, 5, 0), 1e-15);
    assertEquals((0.01 * 0.1 + 0.9) * BASE, lr(bot, 9, 0), 1e-15);
    assertEquals(BASE, lr(bot, 10, 0), 1e-15);
    assertEquals(BASE, lr(bot, 39, 0.99), 1e-15);
    assertEquals(3.5e-5, lr(bot, 40, 0), 1e-15);
    assertEquals(3.5e-5, lr(bot, 69, 0.5), 1e-15);
    assertEquals(3.5e-6, lr(bot, 70, 0), 1e-15);
    assertEquals(3.5e-6, lr(bot, 119, 0.99), 1e-15);
  }

  @Test
  void warmupIsInterpolatedWithinAnEpoch() {
    assertEquals(0.01 + (1 - 0.01) * 0.5 / 10, bot.factor(0, 0.5), 1e-12);
    double prev = 0;
    for (int e = 0; e < 10; e++)
      for (int i = 0; i < 10; i++) {
        double f = bot.factor(e, i / 10.0);
        assertTrue(f > prev, "warm-up increases at " + e + "+" + i);
        prev = f;
      }
    assertEquals(1.0, bot.factor(10, 0), 0);
  }

  @Test
  void warmupOverlappingAStepMultipliesBoth() {
    LrSchedule s = new LrSchedule(LrSchedule.Kind.MULTISTEP, 0.1, 4, new int[] {2}, 0.5, 10);
    assertEquals((0.1 * 0.5 + 0.5) * 0.5, s.factor(2, 0), 1e-12);
  }

  @Test
  void noWarmupStartsAtFullRate() {
    LrSchedule s = new LrSchedule(LrSchedule.Kind.MULTISTEP, 0.01, 0, new int[] {3}, 0.1, 5);
    assertEquals(1.0, s.factor(0, 0));
    assertEquals(0.1, s.factor(3, 0), 1e-15);
  }

  @Test
  void cosineGoesFromOneToZeroAfterWarmup() {
    LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 0.01, 10, new int[] {40, 70}, 0.1, 110);
    assertEquals(0.01, s.factor(0, 0), 1e-15);
    assertEquals(1.0, s.factor(10, 0), 1e-15);
    assertEquals(0.5, s.factor(60, 0), 1e-12);
    assertEquals(0.5 * (1 + Math.cos(Math.PI * 0.25)), s.factor(35, 0), 1e-12);
    assertEquals(0.0, s.factor(110, 0), 1e-15);
    assertEquals(0.0, s.factor(200, 0), 1e-15);
    double prev = 2;
    for (int e = 10; e < 110; e++) {
      double f = s.factor(e, 0.5);
      assertTrue(f < prev && f >= 0, "cosine decreases at " + e);
      prev = f;
    }
  }

  @Test
  void badSettingsAreRejected() {
    assertThrows(IllegalArgumentException.class,
        () -> new LrSchedule(LrSchedule.Kind.MULTISTEP, 0, 10, new int[] {40}, 0.1, 120));
    assertThrows(IllegalArgumentException.class,
        () -> new LrSchedule(LrSchedule.Kind.MULTISTEP, 0.01, 10, new int[] {70, 40}, 0.1, 120));
    assertThrows(IllegalArgumentException.class, () -> LrSchedule.Kind.parse("linear"));
    assertEquals(LrSchedule.Kind.COSINE, LrSchedule.Kind.parse("Cosine"));
  }

  @Test
  void compressingKeepsTheShapeInFewerEpochs() {
    LrSchedule c = bot.compressedTo(120, 60);
    assertEquals(0.01, c.factor(0, 0), 1e-15);
    assertEquals(1.0, c.factor(10, 0), 1e-15);
    assertEquals(1.0, c.factor(19, 0), 1e-15);
    assertEquals(0.1, c.factor(20, 0), 1e-15);
    assertEquals(0.01, c.factor(35, 0), 1e-15);
    LrSchedule cos = new LrSchedule(LrSchedule.Kind.COSINE, 0.01, 1, null, 0.1, 12).compressedTo(12, 7);
    assertEquals(0.5, cos.factor(4, 0), 1e-12);
    assertEquals(0.0, cos.factor(7, 0), 1e-15);
    LrSchedule one = new LrSchedule(LrSchedule.Kind.COSINE, 0.01, 3, null, 0.1, 12).compressedTo(12, 1);
    assertEquals(1.0, one.factor(0, 0), 1e-15, "no warm-up left in a single epoch");
  }

  @Test
  void timeBudgetPlanCountsWholeEpochsAfterTheEvaluationReserve() {
    // 2 done, 300 s left, 60 s per epoch, 20 s for the final evaluation: 4 more fit
    assertEquals(6, Trainer.plan(2, 12, 300, 60, 20));
    assertEquals(5, Trainer.plan(2, 5, 300, 60, 20), "never beyond MAX_EPOCHS");
    assertEquals(2, Trainer.plan(2, 12, 50, 60, 20), "nothing fits: stop now");
    assertEquals(2, Trainer.plan(2, 12, -10, 60, 20), "over budget: stop now");
  }
}
