package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.reid4j.config.TrainConfig;

class StagesTest {
  private static Stages of(String... overrides) {
    return Stages.of(TrainConfig.load(null, List.of(overrides)));
  }

  @Test
  void noStagesIsOneStageOfTheRun() {
    Stages s = of("SOLVER.MAX_EPOCHS=7", "DATALOADER.SAMPLER=pk_balanced");
    assertFalse(s.configured());
    assertEquals(List.of(new Stages.Stage(0, 0, 7, "pk_balanced", 1.0)), s.list());
    assertEquals(0, s.at(0).index());
    assertEquals(0, s.at(100).index());
  }

  @Test
  void stagesFollowEachOther() {
    Stages s = of("SOLVER.STAGES=[{EPOCHS: 40, SAMPLER: pk}, {EPOCHS: 10, SAMPLER: pk_balanced, LR_FACTOR: 0.1}]");
    assertTrue(s.configured());
    assertEquals(List.of(new Stages.Stage(0, 0, 40, "pk", 1.0), new Stages.Stage(1, 40, 50, "pk_balanced", 0.1)),
        s.list());
    for (int e = 0; e < 60; e++) assertEquals(e < 40 ? 0 : 1, s.at(e).index(), "epoch " + e);
    assertEquals(List.of("pk", "pk_balanced"), s.samplers());
    assertEquals("1) epochs 1-40 pk, lr x1; 2) epochs 41-50 pk_balanced, lr x0.1", s.describe());
    assertEquals("stage 2 of 2: epochs 41-50, sampler pk_balanced, lr x0.1", s.at(45).describe(2));
  }

  /** A time budget scales the boundaries as it scales multistep milestones, one epoch a stage while it can. */
  @Test
  void compressedStagesScaleTheirBoundaries() {
    Stages s = of("SOLVER.STAGES=[{EPOCHS: 40}, {EPOCHS: 10, SAMPLER: pk_balanced}]");
    assertEquals(List.of(20, 25), ends(s.compressedTo(50, 25)));
    assertEquals(List.of(2, 3), ends(s.compressedTo(50, 3))); // round(2.4) = 2
    assertEquals(List.of(1, 2), ends(s.compressedTo(50, 2))); // round(1.6) = 2, but stage 2 keeps one epoch
    assertEquals(List.of(1, 1), ends(s.compressedTo(50, 1))); // fewer epochs than stages: the last is empty
    assertEquals(0, s.compressedTo(50, 1).at(0).index());
    assertEquals("1) epochs 1-1 pk, lr x1; 2) epochs none pk_balanced, lr x1", s.compressedTo(50, 1).describe());
    Stages three = of("SOLVER.STAGES=[{EPOCHS: 1}, {EPOCHS: 1}, {EPOCHS: 98}]");
    assertEquals(List.of(1, 2, 10), ends(three.compressedTo(100, 10)), "the short stages keep one epoch each");
    assertEquals(s.list(), s.compressedTo(50, 50).list());
  }

  private static List<Integer> ends(Stages s) {
    return s.list().stream().map(Stages.Stage::end).toList();
  }
}
