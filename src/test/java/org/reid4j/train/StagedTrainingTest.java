package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.BalancedPKSampler;
import org.reid4j.data.PKSampler;
import org.reid4j.data.ReidDataset;
import org.reid4j.model.ReidModel;

/**
 * Two-stage training end to end on a long-tailed Fashion-MNIST-shaped fixture (class 0 has 100 training
 * images, classes 1-8 have 16, class 9 one): stage 1 is one pk epoch, stage 2 two pk_balanced epochs at a
 * tenth of the rate, with the stem and first stage of the small CNN frozen. Each run takes seconds.
 */
class StagedTrainingTest {
  static final int[] TRAIN_PER_CLASS = {100, 16, 16, 16, 16, 16, 16, 16, 16, 1};
  static final double BASE_LR = 3.0e-3; // TrainerTest.tiny's

  @TempDir static Path data;
  @TempDir static Path runs;
  @TempDir Path tmp;
  private static String straightLog;

  @BeforeAll
  static void fixture() throws IOException {
    TrainerTest.writeFixture(data, TRAIN_PER_CLASS, 110, 21);
  }

  static List<String> staged(Path out) {
    List<String> o = TrainerTest.tiny(data, out, 3);
    o.addAll(List.of("SOLVER.STAGES=[{EPOCHS: 1, SAMPLER: pk}, {EPOCHS: 2, SAMPLER: pk_balanced, LR_FACTOR: 0.1}]",
        "SOLVER.SCHEDULE=multistep", "SOLVER.STEPS=[]", "MODEL.FREEZE_STAGES=1"));
    return o;
  }

  /** Runs the config, returning its log. */
  static String run(List<String> overrides, boolean resume, int stopAfter) throws IOException {
    TrainConfig cfg = TrainConfig.load(null, overrides);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    try (PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      new Trainer(cfg, ReidDataset.open(cfg), ps, false).stopAfterEpochs(stopAfter).run(resume);
    }
    return log.toString(StandardCharsets.UTF_8);
  }

  /** A fresh run of the config from the start; its log. */
  static String runLog(List<String> overrides) throws IOException {
    return run(overrides, false, 0);
  }

  /** The three epochs without interruption, once for both tests. */
  static synchronized Path straight() throws IOException {
    Path out = runs.resolve("straight");
    if (straightLog == null) straightLog = run(staged(out), false, 0);
    return out;
  }

  @Test
  void samplerLearningRateAndFrozenStagesFollowTheStages() throws IOException {
    Path out = straight();
    String log = straightLog;
    assertTrue(log.contains("sampler: 1 identity with < 2 images left out"), log);
    assertTrue(log.contains("frozen: the backbone's stem and first 1 stage (MODEL.FREEZE_STAGES"), log);
    assertTrue(log.contains("stages: 1) epochs 1-1 pk, lr x1; 2) epochs 2-3 pk_balanced, lr x0.1"), log);
    int s1 = log.indexOf("stage 1 of 2: epochs 1-1, sampler pk, lr x1"),
        s2 = log.indexOf("stage 2 of 2: epochs 2-3, sampler pk_balanced, lr x0.1");
    assertTrue(s1 >= 0 && s2 > s1, log);

    List<JsonNode> rows = MetricsLog.read(out.resolve("metrics.jsonl"));
    assertEquals(3, rows.size());
    TrainConfig cfg = TrainConfig.load(null, staged(out));
    int[] pids = ReidDataset.open(cfg).train().pids();
    int pkBatches = new PKSampler(pids, 4, 4, 5).epoch(0).size();
    int balancedBatches = new BalancedPKSampler(pids, 4, 4, 5).batchesPerEpoch();
    assertNotEquals(pkBatches, balancedBatches, "the fixture tells the samplers apart by their epoch length");
    LrSchedule schedule = new LrSchedule(LrSchedule.Kind.MULTISTEP, 0.01, 1, new int[0], 0.1, 3);
    long before = 0;
    for (int e = 0; e < 3; e++) {
      JsonNode r = rows.get(e);
      boolean first = e == 0;
      assertEquals(first ? 1 : 2, r.get("stage").asInt(), "epoch " + (e + 1));
      assertEquals(first ? "pk" : "pk_balanced", r.get("sampler").asText(), "epoch " + (e + 1));
      long n = r.get("iterations").asLong() - before;
      before = r.get("iterations").asLong();
      assertEquals(first ? pkBatches : balancedBatches, n, "batches of epoch " + (e + 1));
      // the logged rate is the one of the epoch's last step: the run's schedule times the stage's factor
      double expected = BASE_LR * schedule.factor(e, (n - 1) / (double) n) * (first ? 1.0 : 0.1);
      assertEquals(expected, r.get("lr").asDouble(), 1e-12 * expected, "lr of epoch " + (e + 1));
    }
    assertEquals(BASE_LR * 0.1, rows.get(1).get("lr").asDouble(), 1e-15, "no second warm-up in stage 2");

    // Stem and stage 1 (conv1/bn1, conv2/bn2) as initialised, running statistics included; conv3 on trained.
    torch.manual_seed(cfg.solver().seed());
    ReidModel init = ReidModel.build(cfg.model(), 1, 10);
    InputArchive file = new InputArchive(), model = new InputArchive();
    file.load_from(out.resolve("checkpoints/last.pt").toString());
    file.read("model", model);
    int frozen = 0;
    for (var e : init.stateDict().entrySet()) {
      String name = e.getKey();
      Tensor trained = new Tensor();
      model.read(name, trained);
      boolean same = torch.equal(trained, e.getValue());
      if (name.matches("backbone\\.(conv|bn)[12]\\..*")) {
        assertTrue(same, name + " was frozen but changed");
        frozen++;
      } else if (name.equals("backbone.conv3.weight") || name.equals("backbone.bn3.running_mean")) {
        assertFalse(same, name + " should have trained");
      }
    }
    assertEquals(2 * (1 + 5), frozen, "conv weight (no bias before a BN); BN weight, bias, mean, var, count; twice");
  }

  /** Killed after epoch 2 (in stage 2), resumed: stage 2 again, and the result of the straight run. */
  @Test
  void resumeInStageTwoContinuesStageTwo() throws IOException {
    Path straight = straight(), split = tmp.resolve("split");
    run(staged(split), false, 2);
    List<String> unfrozen = staged(split);
    unfrozen.add("MODEL.FREEZE_STAGES=0");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(unfrozen, true, 0));
    assertTrue(e.getMessage().contains("MODEL.FREEZE_STAGES 0") && e.getMessage().contains("trained with 1"),
        e.getMessage());

    String log = run(staged(split), true, 0);
    assertTrue(log.contains("stage 2 of 2: epochs 2-3, sampler pk_balanced, lr x0.1 (resumed at epoch 3)"), log);
    assertFalse(log.contains("stage 1 of 2:"), log);
    List<JsonNode> a = MetricsLog.read(straight.resolve("metrics.jsonl")), b = MetricsLog.read(split.resolve(
        "metrics.jsonl"));
    assertEquals(3, b.size());
    for (String key : List.of("stage", "sampler", "iterations", "lr"))
      assertEquals(a.get(2).get(key), b.get(2).get(key), key + " of epoch 3");
    assertEquals(a.get(2).get("loss").asDouble(), b.get(2).get("loss").asDouble(), 1e-6, "loss of epoch 3");
    double maxDiff = TrainerTest.maxWeightDifference(straight.resolve("checkpoints/last.pt"),
        split.resolve("checkpoints/last.pt"));
    assertTrue(maxDiff <= 1e-6, "largest weight difference " + maxDiff);
  }
}
