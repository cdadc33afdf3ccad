package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;
import org.reid4j.loss.CenterLoss;
import org.reid4j.train.CheckpointsTest.Tiny;

/** Checkpoints written in the background (CheckpointWriter) against those written at once. */
class CheckpointWriterTest {
  @TempDir Path tmp;

  /** A tiny model with Adam, centre loss and its optimiser, as the trainer holds them. */
  static final class Run {
    final Tiny m;
    final Optimizers.Groups g;
    final CenterLoss c;
    final Optimizer co;
    final Checkpoints.State state;

    Run(long seed) {
      torch.manual_seed(seed);
      m = new Tiny(5, 4);
      g = Optimizers.create(CheckpointsTest.adam(), m.params());
      c = new CenterLoss(4, 3);
      co = Optimizers.centers(c.parameters(), 0.5);
      state = new Checkpoints.State(m, g, c, co);
    }

    /** n Adam steps, and the centres moved by their own optimiser. */
    void steps(Tensor x, int n) {
      CheckpointsTest.steps(m, g, x, n);
      for (int i = 0; i < n; i++) {
        co.zero_grad();
        c.forward(x.narrow(1, 0, 3), torch.arange(new org.bytedeco.pytorch.Scalar(x.size(0)))
            .remainder(new org.bytedeco.pytorch.Scalar(4))).backward();
        co.step();
      }
    }

    Checkpoints.Meta meta(int epoch) {
      return CheckpointsTest.meta(epoch, 4, Checkpoints.signature(m));
    }
  }

  /** Largest difference between two runs' weights and centres, and after two more identical steps each. */
  static float difference(Run a, Run b, Tensor x) {
    float d = a.m.forward(x).sub(b.m.forward(x)).abs().max().item_float();
    d = Math.max(d, a.c.centers().sub(b.c.centers()).abs().max().item_float());
    a.steps(x, 2); // the optimisers' moments too: the same steps from the same state give the same weights
    b.steps(x, 2);
    return Math.max(d, a.m.forward(x).sub(b.m.forward(x)).abs().max().item_float());
  }

  static Run loaded(Path f) throws IOException {
    Run r = new Run(1234);
    Checkpoints.load(f, r.state, 4, "tiny");
    return r;
  }

  /**
   * Three epochs of saves, each followed at once by more training and the next save, while every
   * write is held back 200 ms: each file must hold the state of its own epoch's copy. Writing the
   * live tensors instead of copies gives the later steps' values; copying the next epoch's state
   * before the last write is done overwrites what that write is reading.
   */
  @Test
  void aBackgroundWriteHoldsTheStateOfItsCopyWhileTrainingGoesOn() throws Exception {
    Tensor x = torch.randn(6, 5);
    Run run = new Run(3);
    Checkpoints ck = new Checkpoints(tmp.resolve("checkpoints"));
    try (CheckpointWriter w = new CheckpointWriter(ck, true, false)) {
      assertTrue(CheckpointWriter.possible(run.state));
      w.beforeWrite = () -> {
        try {
          Thread.sleep(200);
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      };
      for (int epoch = 1; epoch <= 3; epoch++) { // epoch 1 before any step: no moments yet, then the copies grow
        ck.save("ref" + epoch, run.meta(epoch), run.state); // at once, for comparison
        w.save(List.of(new CheckpointWriter.File("e" + epoch, run.meta(epoch)),
            new CheckpointWriter.File("last", run.meta(epoch))), run.state);
        run.steps(x, 2); // training goes on while the write waits: the files must not see these steps
      }
    }
    for (int epoch = 1; epoch <= 3; epoch++) {
      for (String name : epoch == 3 ? List.of("e3", "last") : List.of("e" + epoch)) {
        Run back = loaded(ck.file(name)), ref = loaded(ck.file("ref" + epoch));
        assertEquals(epoch, Checkpoints.readMeta(ck.file(name)).epoch());
        assertEquals(0f, difference(back, ref, x), name + ".pt is the state of epoch " + epoch + "'s copy");
      }
    }
    Run back = loaded(ck.file("last"));
    assertNotEquals(0f, back.m.forward(x).sub(run.m.forward(x)).abs().max().item_float(),
        "the live model moved on after the copy (else this test could not tell a copy from the live tensors)");
    try (var s = Files.list(tmp.resolve("checkpoints"))) {
      assertEquals(14, s.count(), "e1-e3, last and three references, each .pt + .json; no temporary files");
    }
  }

  @Test
  void aFailedBackgroundWriteIsReportedByTheNextCallAndByClose() throws Exception {
    Run run = new Run(4);
    Path notAFolder = tmp.resolve("file");
    Files.writeString(notAFolder, "x");
    CheckpointWriter w = new CheckpointWriter(new Checkpoints(notAFolder.resolve("checkpoints")), true, false);
    w.save(List.of(new CheckpointWriter.File("last", run.meta(1))), run.state); // returns: the write is queued
    IOException e = assertThrows(IOException.class,
        () -> w.save(List.of(new CheckpointWriter.File("last", run.meta(2))), run.state));
    assertTrue(e.getMessage().contains(notAFolder.toString()), e.getMessage());
    w.save(List.of(new CheckpointWriter.File("last", run.meta(3))), run.state);
    IOException c = assertThrows(IOException.class, w::close);
    assertTrue(c.getMessage().contains(notAFolder.toString()), c.getMessage());
    w.close(); // nothing left to report
  }

  @Test
  void sgdIsWrittenOnTheTrainingThread() throws IOException {
    Tiny m = new Tiny(5, 4);
    Optimizers.Groups sgd = Optimizers.create(new Optimizers.Settings("sgd", 0.1, 1e-4, 0.0, 2.0, 0.9), m.params());
    Checkpoints.State state = new Checkpoints.State(m, sgd, null, null);
    assertFalse(CheckpointWriter.possible(state), "libtorch's momentum buffers cannot be copied for a later write");
    assertThrows(IllegalStateException.class, () -> Checkpoints.archive(state, t -> t));
    Checkpoints ck = new Checkpoints(tmp);
    try (CheckpointWriter w = new CheckpointWriter(ck, false, false)) {
      w.save(List.of(new CheckpointWriter.File("last", CheckpointsTest.meta(1, 4, Checkpoints.signature(m)))), state);
      assertTrue(Files.exists(ck.file("last")), "written before save returned");
    }
  }

  @Test
  void theSettingIsAutoOneOrZero() {
    assertTrue(CheckpointWriter.wanted(null, true));
    assertFalse(CheckpointWriter.wanted(null, false));
    assertFalse(CheckpointWriter.wanted("auto", false));
    assertTrue(CheckpointWriter.wanted("1", false));
    assertFalse(CheckpointWriter.wanted("0", true));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CheckpointWriter.wanted("yes please", true));
    assertTrue(e.getMessage().contains(CheckpointWriter.ENV) && e.getMessage().contains("yes please"), e.getMessage());
  }

  /**
   * The trainer with checkpoints written in the background (each write held back 300 ms, so that
   * training runs ahead of it), killed after one epoch and resumed, against two epochs straight with
   * every write on the training thread: the same weights, metrics and best.pt.
   */
  @Test
  void theTrainerWritesInTheBackgroundAndResumesFromIt() throws IOException {
    Path data = tmp.resolve("data"), straight = tmp.resolve("straight"), split = tmp.resolve("split");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
    Runnable slow = () -> {
      try {
        Thread.sleep(300);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
    List<String> o = TrainerTest.tiny(data, straight, 2);
    o.add("SOLVER.CENTER_WEIGHT=5.0e-4");
    o.add("SOLVER.EVAL_PERIOD=1");
    TrainConfig c0 = TrainConfig.load(null, o);
    Trainer.Result a = new Trainer(c0, ReidDataset.open(c0), quiet, false).backgroundCheckpoints(false, null)
        .run(false);
    List<String> o1 = TrainerTest.tiny(data, split, 2);
    o1.add("SOLVER.CENTER_WEIGHT=5.0e-4");
    o1.add("SOLVER.EVAL_PERIOD=1");
    TrainConfig c1 = TrainConfig.load(null, o1);
    Trainer.Result b1 = new Trainer(c1, ReidDataset.open(c1), quiet, false).backgroundCheckpoints(true, slow)
        .stopAfterEpochs(1).run(false);
    assertEquals(1, b1.epochs());
    assertTrue(Files.exists(split.resolve("checkpoints/last.pt")), "the run ends after its last write");
    Trainer.Result b = new Trainer(c1, ReidDataset.open(c1), quiet, false).backgroundCheckpoints(true, slow)
        .run(true);
    assertEquals(a.iterations(), b.iterations());
    assertEquals(a.epochLosses().get(1), b.epochLosses().get(0), 1e-6, "epoch 2 loss");
    for (String f : List.of("last.pt", "best.pt"))
      assertEquals(0.0, TrainerTest.maxWeightDifference(straight.resolve("checkpoints/" + f),
          split.resolve("checkpoints/" + f)), 1e-6, f);
    assertEquals(Checkpoints.readMeta(straight.resolve("checkpoints/best.pt")).bestEpoch(),
        Checkpoints.readMeta(split.resolve("checkpoints/best.pt")).bestEpoch());
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var atOnce = json.readTree(straight.resolve("summary.json").toFile()).get("checkpoints");
    var behind = json.readTree(split.resolve("summary.json").toFile()).get("checkpoints");
    assertFalse(atOnce.get("background").asBoolean());
    assertEquals(2, atOnce.get("saves").asInt());
    assertTrue(behind.get("background").asBoolean());
    assertEquals(1, behind.get("saves").asInt(), "the resumed run saved once");
    assertTrue(behind.get("final_wait_seconds").asDouble() > 0.2, "its last write was held back 300 ms: " + behind);
  }
}
