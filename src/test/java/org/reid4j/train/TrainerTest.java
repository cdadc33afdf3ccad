package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;

/**
 * The training loop end to end on a tiny Fashion-MNIST-layout fixture (IDX files written to a
 * temporary folder): 10 classes, each a random 28x28 prototype plus noise, so a small CNN learns it
 * in a few dozen steps. Every run here takes a few seconds.
 */
public class TrainerTest {
  @TempDir static Path data;
  @TempDir Path tmp;

  /** Writes train (32 per class) and t10k (110 per class, so the gallery is not empty) fixtures. */
  @BeforeAll
  static void writeFixture() throws IOException {
    writeFixture(data, 10, 32, 110, 11);
  }

  public static void writeFixture(Path dir, int classes, int trainPerClass, int testPerClass, long seed)
      throws IOException {
    int[] train = new int[classes];
    java.util.Arrays.fill(train, trainPerClass);
    writeFixture(dir, train, testPerClass, seed);
  }

  /** As above with trainPerClass[c] training images of class c (a long-tailed set, say). */
  public static void writeFixture(Path dir, int[] trainPerClass, int testPerClass, long seed) throws IOException {
    int classes = trainPerClass.length;
    SplittableRandom r = new SplittableRandom(seed);
    float[][] proto = new float[classes][784];
    for (float[] p : proto)
      for (int k = 0; k < 784; k++) p[k] = r.nextInt(4) == 0 ? 0.9f : 0.1f;
    for (String which : new String[] {"train", "t10k"}) {
      List<Integer> labels = new ArrayList<>(); // round robin over the classes that still have images
      int[] left = which.equals("train") ? trainPerClass.clone() : new int[classes];
      if (!which.equals("train")) java.util.Arrays.fill(left, testPerClass);
      for (boolean more = true; more; ) {
        more = false;
        for (int c = 0; c < classes; c++)
          if (left[c] > 0) {
            labels.add(c);
            left[c]--;
            more = true;
          }
      }
      int n = labels.size();
      byte[] img = new byte[n * 784], lab = new byte[n];
      for (int i = 0; i < n; i++) {
        int c = labels.get(i);
        lab[i] = (byte) c;
        for (int k = 0; k < 784; k++) {
          double v = proto[c][k] + 0.35 * (r.nextDouble() - 0.5);
          img[i * 784 + k] = (byte) Math.max(0, Math.min(255, (int) Math.round(v * 255)));
        }
      }
      org.reid4j.io.IdxTest.write(dir.resolve(which + "-images-idx3-ubyte.gz"), new int[] {n, 28, 28}, img, true);
      org.reid4j.io.IdxTest.write(dir.resolve(which + "-labels-idx1-ubyte.gz"), new int[] {n}, lab, true);
    }
  }

  /** The quick-start model shrunk to seconds: P4 x K4, Adam 3e-3, short warm-up, no evaluation until the end. */
  static List<String> tiny(Path out, int epochs) {
    return tiny(data, out, epochs);
  }

  /** As {@link #tiny(Path, int)} on the Fashion-MNIST-shaped fixture in {@code dataDir}. */
  static List<String> tiny(Path dataDir, Path out, int epochs) {
    return new ArrayList<>(List.of("DATALOADER.DATASET=fashion-mnist", "DATALOADER.ROOT=\"" + dataDir + "\"",
        "DATALOADER.P=4", "DATALOADER.K=4", "DATALOADER.NUM_WORKERS=1", "DATALOADER.PREFETCH=2",
        "MODEL.BACKBONE=small_cnn", "INPUT.SIZE_TRAIN=[28,28]", "INPUT.SIZE_TEST=[28,28]", "INPUT.CHANNELS=1",
        "INPUT.PADDING=2", "INPUT.RE_PROB=0.0", "INPUT.PIXEL_MEAN=[0.3]", "INPUT.PIXEL_STD=[0.35]",
        "SOLVER.BASE_LR=3.0e-3", "SOLVER.MAX_EPOCHS=" + epochs, "SOLVER.WARMUP_EPOCHS=1", "SOLVER.SCHEDULE=cosine",
        "SOLVER.EVAL_PERIOD=100", "SOLVER.CHECKPOINT_PERIOD=100", "SOLVER.LOG_PERIOD=1000", "SOLVER.SEED=5",
        "TEST.BATCH_SIZE=256", "OUTPUT_DIR=\"" + out + "\""));
  }

  static Trainer.Result train(List<String> overrides, boolean resume) throws IOException {
    TrainConfig cfg = TrainConfig.load(null, overrides);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    try (PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      return new Trainer(cfg, ReidDataset.open(cfg), ps, false).run(resume);
    }
  }

  @Test
  void tinyRunLearnsAndWritesEverything() throws IOException {
    Path out = tmp.resolve("run");
    List<String> o = tiny(out, 3);
    o.add("SOLVER.CENTER_WEIGHT=5.0e-4"); // exercise the centre loss and its optimiser too
    Trainer.Result r = train(o, false);
    assertEquals(3, r.epochs());
    assertTrue(r.iterations() >= 50 && r.iterations() <= 60, "about 320 images / 16 per batch = 20 batches per epoch, "
        + r.iterations());
    List<Double> l = r.epochLosses();
    assertTrue(l.get(2) < 0.7 * l.get(0), "loss falls: " + l);
    assertTrue(r.eval().rank1() > 0.8, "R1 " + r.eval().rank1());
    assertTrue(r.eval().mAP() > 0.5, "mAP " + r.eval().mAP());
    List<JsonNode> rows = MetricsLog.read(out.resolve("metrics.jsonl"));
    assertEquals(3, rows.size());
    assertEquals(3, rows.get(2).get("epoch").asInt());
    assertTrue(rows.get(2).has("mAP") && !rows.get(0).has("mAP"), "evaluated at the end only");
    assertTrue(rows.get(2).get("center_loss").asDouble() > 0);
    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertEquals(r.eval().mAP(), summary.get("mAP").asDouble(), 1e-12);
    assertNull(r.plainEval(), "no DBA/QE asked for: one score");
    assertFalse(summary.has("without_post_processing"));
    assertTrue(summary.get("config").asText().contains("CENTER_WEIGHT: 5.0E-4")
        || summary.get("config").asText().contains("CENTER_WEIGHT: 0.0005"), summary.get("config").asText());
    assertTrue(Files.exists(out.resolve("checkpoints/last.pt")) && Files.exists(out.resolve("checkpoints/best.pt")));
    Checkpoints.Meta m = Checkpoints.readMeta(out.resolve("checkpoints/last.pt"));
    assertEquals(3, m.epoch());
    assertEquals(10, m.numClasses());
    assertEquals(r.eval().mAP(), m.bestMap(), 1e-12);
    assertTrue(r.outsideShare() >= 0 && r.outsideShare() < 1, "share " + r.outsideShare());
  }

  /**
   * On a GPU each step takes the next batch from the loader and starts its copy before it waits for
   * the device (two page-locked buffers in turn). The same bookkeeping forced on the CPU must give
   * the run of the plain loop: every batch once, in order, each step on its own images.
   */
  @Test
  void overlappedBatchLoadingGivesTheSameRun() throws IOException {
    Path plain = tmp.resolve("plain"), overlapped = tmp.resolve("overlapped");
    Trainer.Result a = train(tiny(plain, 2), false);
    TrainConfig cfg = TrainConfig.load(null, tiny(overlapped, 2));
    Trainer.Result b = new Trainer(cfg, ReidDataset.open(cfg), new PrintStream(OutputStream.nullOutputStream()), false)
        .overlapBatches(true).run(false);
    assertEquals(a.iterations(), b.iterations());
    assertEquals(a.epochLosses(), b.epochLosses());
    assertEquals(0.0, maxWeightDifference(plain.resolve("checkpoints/last.pt"), overlapped.resolve("checkpoints/last.pt")));
  }

  /**
   * FP32 steps hand back their numbers one step late, so that a GPU never drains between steps. The run must be
   * the one whose steps are read at once: the same weights, every step's numbers in its epoch's means (a lost last
   * step or a step counted in the wrong epoch changes them), with and without the overlapped loading.
   */
  @Test
  void numbersReadOneStepLateGiveTheSameRun() throws IOException {
    Path atOnce = tmp.resolve("at-once"), late = tmp.resolve("late"), lateOverlapped = tmp.resolve("late-overlapped");
    TrainConfig c0 = TrainConfig.load(null, tiny(atOnce, 2));
    Trainer.Result a = new Trainer(c0, ReidDataset.open(c0), new PrintStream(OutputStream.nullOutputStream()), false)
        .deferReads(false).run(false);
    TrainConfig c1 = TrainConfig.load(null, tiny(late, 2));
    Trainer.Result b = new Trainer(c1, ReidDataset.open(c1), new PrintStream(OutputStream.nullOutputStream()), false)
        .deferReads(true).run(false);
    TrainConfig c2 = TrainConfig.load(null, tiny(lateOverlapped, 2));
    Trainer.Result c = new Trainer(c2, ReidDataset.open(c2), new PrintStream(OutputStream.nullOutputStream()), false)
        .deferReads(true).overlapBatches(true).run(false);
    for (Trainer.Result r : List.of(b, c)) {
      assertEquals(a.iterations(), r.iterations());
      assertEquals(a.epochLosses(), r.epochLosses());
    }
    List<JsonNode> ra = MetricsLog.read(atOnce.resolve("metrics.jsonl")), rb = MetricsLog.read(late.resolve(
        "metrics.jsonl"));
    assertEquals(ra.size(), rb.size());
    for (int i = 0; i < ra.size(); i++)
      for (String k : List.of("loss", "id_loss", "triplet_loss", "center_loss", "accuracy", "triplet_active"))
        assertEquals(ra.get(i).get(k).asDouble(), rb.get(i).get(k).asDouble(), 0.0, k + " of epoch " + (i + 1));
    assertEquals(0.0, maxWeightDifference(atOnce.resolve("checkpoints/last.pt"), late.resolve("checkpoints/last.pt")));
    assertEquals(0.0, maxWeightDifference(atOnce.resolve("checkpoints/last.pt"),
        lateOverlapped.resolve("checkpoints/last.pt")));
  }

  /**
   * One epoch, a "kill" (the run stops after its first epoch), --resume for the
   * second, against two epochs straight with the same seed. Every random stream is re-seeded from
   * (seed, epoch), the optimiser state is restored, and libtorch on the CPU with a fixed thread
   * count is deterministic, so the weights agree exactly here; the tolerance (1e-6 absolute) only
   * allows for a different summation order of float32 reductions, far below one Adam step (~lr).
   */
  @Test
  void resumeEqualsAStraightRun() throws IOException {
    Path straight = tmp.resolve("straight"), split = tmp.resolve("split");
    Trainer.Result a = train(tiny(straight, 2), false);
    TrainConfig firstCfg = TrainConfig.load(null, tiny(split, 2));
    Trainer.Result b1 = new Trainer(firstCfg, ReidDataset.open(firstCfg), new PrintStream(
        OutputStream.nullOutputStream()), false).stopAfterEpochs(1).run(false); // like a kill after epoch 1
    assertEquals(1, b1.epochs());
    assertFalse(b1.stoppedByBudget());
    Trainer.Result b = train(tiny(split, 2), true);
    assertEquals(2, b.epochs());
    assertEquals(a.iterations(), b.iterations());
    assertEquals(a.epochLosses().get(1), b.epochLosses().get(0), 1e-6, "epoch 2 loss");
    double maxDiff = maxWeightDifference(straight.resolve("checkpoints/last.pt"), split.resolve("checkpoints/last.pt"));
    assertTrue(maxDiff <= 1e-6, "largest weight difference " + maxDiff);
    assertEquals(a.eval().mAP(), b.eval().mAP(), 1e-4);
    List<JsonNode> rows = MetricsLog.read(split.resolve("metrics.jsonl"));
    assertEquals(2, rows.size(), "the resumed run continues the metrics file");
  }

  /**
   * SOLVER.MAX_MINUTES is planned before epoch 1: the schedule, the header and summary.json say how
   * many of MAX_EPOCHS fit, and the run ends within the budget (plus the final evaluation's margin),
   * far short of the 1,000 epochs asked for.
   */
  @Test
  void timeBudgetIsPlannedBeforeEpochOneAndReported() throws IOException {
    Path out = tmp.resolve("budget");
    List<String> o = tiny(out, 1000);
    o.add("SOLVER.MAX_MINUTES=0.1");
    TrainConfig cfg = TrainConfig.load(null, o);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    Trainer.Result r;
    try (PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      r = new Trainer(cfg, ReidDataset.open(cfg), ps, false).run(false);
    }
    String text = log.toString(StandardCharsets.UTF_8);
    assertTrue(r.stoppedByBudget());
    assertTrue(r.epochs() >= 1 && r.epochs() < 1000, "epochs " + r.epochs());
    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertTrue(summary.get("stopped_by_time_budget").asBoolean());
    JsonNode b = summary.get("time_budget");
    assertEquals(0.1, b.get("minutes").asDouble(), 1e-12);
    assertEquals(1000, b.get("max_epochs").asInt());
    int planned = b.get("planned_epochs").asInt();
    assertTrue(planned < 1000 && Math.abs(planned - r.epochs()) <= 1, "planned " + planned + ", ran " + r.epochs());
    // the header already names the planned length, before the first progress line
    int header = text.indexOf("time budget: 0.10 minutes");
    int lr = text.indexOf("lr: ");
    int firstEpoch = text.indexOf("epoch 1/");
    assertTrue(header >= 0 && lr > header && (firstEpoch < 0 || firstEpoch > lr), text);
    assertFalse(text.contains("cosine to 0 at epoch 1000"), text);
    assertTrue(r.totalSeconds() < 6 + 30, "a 6 s budget ran " + r.totalSeconds() + " s");
  }

  /** A budget smaller than one epoch (and than the evaluation's margin) stops mid-epoch and says so. */
  @Test
  void aBudgetBelowOneEpochStopsMidEpoch() throws IOException {
    Path out = tmp.resolve("short");
    List<String> o = tiny(out, 5);
    o.add("SOLVER.MAX_MINUTES=0.01");
    Trainer.Result r = train(o, false);
    assertTrue(r.stoppedByBudget());
    assertEquals(1, r.epochs());
    assertTrue(r.iterations() >= 1 && r.iterations() < 20, "iterations " + r.iterations());
    List<JsonNode> rows = MetricsLog.read(out.resolve("metrics.jsonl"));
    assertEquals(1, rows.size());
    double part = rows.get(0).get("partial_epoch").asDouble();
    assertTrue(part > 0 && part < 1, "partial " + part);
    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertEquals(part, summary.get("time_budget").get("partial_last_epoch").asDouble(), 1e-12);
    assertTrue(Double.isFinite(r.eval().mAP()), "still evaluated");
  }

  /** A second run into the same OUTPUT_DIR is refused and changes nothing; --overwrite replaces the run's files only. */
  @Test
  void anEarlierRunIsNeverDamaged() throws IOException {
    Path out = tmp.resolve("again");
    train(tiny(out, 1), false);
    byte[] metrics = Files.readAllBytes(out.resolve("metrics.jsonl"));
    byte[] last = Files.readAllBytes(out.resolve("checkpoints/last.pt"));
    byte[] summary = Files.readAllBytes(out.resolve("summary.json"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(tiny(out, 1), false));
    assertTrue(e.getMessage().contains("already holds a run") && e.getMessage().contains("--overwrite")
        && e.getMessage().contains("--resume"), e.getMessage());
    assertArrayEquals(metrics, Files.readAllBytes(out.resolve("metrics.jsonl")));
    assertArrayEquals(last, Files.readAllBytes(out.resolve("checkpoints/last.pt")));
    assertArrayEquals(summary, Files.readAllBytes(out.resolve("summary.json")));

    Files.writeString(out.resolve("checkpoints/epoch_007.pt"), "a stale snapshot");
    Files.writeString(out.resolve("checkpoints/.last.pt.abc123.tmp"), "a killed write");
    Files.writeString(out.resolve("notes.txt"), "the user's own file");
    TrainConfig cfg = TrainConfig.load(null, tiny(out, 1));
    new Trainer(cfg, ReidDataset.open(cfg), new PrintStream(OutputStream.nullOutputStream()), false).overwrite(true)
        .run(false);
    assertFalse(Files.exists(out.resolve("checkpoints/epoch_007.pt")));
    assertFalse(Files.exists(out.resolve("checkpoints/.last.pt.abc123.tmp")));
    assertEquals("the user's own file", Files.readString(out.resolve("notes.txt")));
    assertEquals(1, MetricsLog.read(out.resolve("metrics.jsonl")).size());
    assertTrue(Files.exists(out.resolve("checkpoints/last.pt")));
  }

  /** A kill during a checkpoint write leaves .NAME.RANDOM.tmp behind; the next start removes it. */
  @Test
  void resumeRemovesTemporariesThatAKillLeft() throws IOException {
    Path out = tmp.resolve("killed");
    train(tiny(out, 1), false);
    Path stale = out.resolve("checkpoints/.best.pt.k3j4h5.tmp");
    Files.write(stale, new byte[1000]);
    Path mine = out.resolve("checkpoints/.keep");
    Files.writeString(mine, "not a temporary");
    train(tiny(out, 2), true);
    assertFalse(Files.exists(stale));
    assertTrue(Files.exists(mine));
  }

  /** Checkpoints get the permissions of every other output (they were 0600: unreadable to other users). */
  @Test
  void checkpointsHaveTheUsualPermissions() throws IOException {
    Path out = tmp.resolve("perm");
    train(tiny(out, 1), false);
    if (!out.getFileSystem().supportedFileAttributeViews().contains("posix")) return;
    var summary = Files.getPosixFilePermissions(out.resolve("summary.json"));
    assertEquals(summary, Files.getPosixFilePermissions(out.resolve("checkpoints/last.pt")));
    assertEquals(summary, Files.getPosixFilePermissions(out.resolve("checkpoints/best.pt")));
  }

  /** Resuming an Adam run with SGD failed inside libtorch ("INTERNAL ASSERT ... please report a bug to PyTorch"). */
  @Test
  void resumeRefusesAnotherOptimizer() throws IOException {
    Path out = tmp.resolve("opt");
    train(tiny(out, 1), false);
    List<String> o = tiny(out, 2);
    o.add("SOLVER.OPTIMIZER=sgd");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(o, true));
    assertTrue(e.getMessage().contains("SOLVER.OPTIMIZER sgd") && e.getMessage().contains("adam"), e.getMessage());
  }

  /** A diverging run says which setting to change, whichever check notices first. */
  @Test
  void divergenceNamesTheLearningRate() {
    List<String> o = tiny(tmp.resolve("diverge"), 1);
    o.add("SOLVER.BASE_LR=1.0e30");
    o.add("SOLVER.WARMUP_EPOCHS=0");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> train(o, false));
    assertTrue(e.getMessage().contains("diverged") && e.getMessage().contains("SOLVER.BASE_LR"), e.getMessage());
  }

  @Test
  void resumeWithADifferentArchitectureNamesBoth() throws IOException {
    Path out = tmp.resolve("arch");
    train(tiny(out, 1), false);
    List<String> o = tiny(out, 2);
    o.add("MODEL.EMBED_DIM=64");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(o, true));
    assertTrue(e.getMessage().contains("128-d") && e.getMessage().contains("64-d"), e.getMessage());
  }

  @Test
  void resumeWithoutACheckpointSaysSo() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> train(tiny(tmp.resolve("empty"), 1), true));
    assertTrue(e.getMessage().contains("nothing to resume"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("empty")), "a refused --resume creates no output folder");
  }

  /**
   * Not an assertion: RSS over about 300 steps, printed (steady when every step runs in a PointerScope).
   * Reported in BENCHMARKS.md.
   */
  @Test
  void residentMemoryOverManySteps() throws IOException {
    Path out = tmp.resolve("rss");
    List<String> o = tiny(out, 16);
    o.add("SOLVER.WARMUP_EPOCHS=0");
    Trainer.Result r = train(o, false);
    assertTrue(r.iterations() >= 280, "steps " + r.iterations());
    StringBuilder b = new StringBuilder("RSS (MiB) after each of 16 epochs (" + r.iterations() + " steps):");
    for (JsonNode row : MetricsLog.read(out.resolve("metrics.jsonl"))) b.append(' ').append(row.get("rss_mb").asInt());
    System.out.println(b);
  }

  static double maxWeightDifference(Path f1, Path f2) {
    InputArchive a1 = new InputArchive(), a2 = new InputArchive();
    a1.load_from(f1.toString());
    a2.load_from(f2.toString());
    InputArchive m1 = new InputArchive(), m2 = new InputArchive();
    a1.read("model", m1);
    a2.read("model", m2);
    StringVector keys = m1.keys();
    assertTrue(keys.size() > 10);
    double max = 0;
    for (long i = 0; i < keys.size(); i++) {
      String k = keys.get(i).getString();
      Tensor t1 = new Tensor(), t2 = new Tensor();
      m1.read(k, t1);
      m2.read(k, t2);
      max = Math.max(max, t1.sub(t2).abs().max().item_double());
    }
    return max;
  }
}
