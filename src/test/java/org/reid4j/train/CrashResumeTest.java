package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.serve.ModelLoader;

/**
 * kill -9 of {@code reid4j train} at random moments, several times over one run, each time followed
 * by {@code train --resume} (or a fresh start when no checkpoint was written yet), as a person would
 * after a crash. After every kill the run folder holds only complete files (every metrics line is
 * whole JSON and the epochs count 1, 2, ... without gaps; every checkpoint loads and its weight
 * checksums hold; summary.json parses); once the run has finished, no temporary file is left, and its
 * metrics equal those of a run that was never interrupted (resume is exact: every random stream is
 * re-seeded from the seed and the epoch).
 *
 * <p>Each training process is a separate JVM on the test class path, killed with SIGKILL
 * ({@link Process#destroyForcibly()}). The kill moments come from a seeded generator: the seed is in
 * every failure message. Every other process writes its checkpoints in the background
 * ({@link CheckpointWriter}), so that kills also land in writes that run beside training.
 */
class CrashResumeTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int EPOCHS = 6;
  private static final int KILLS = 7;

  @TempDir Path tmp;
  private int starts; // processes started so far

  @Test
  void killedAtRandomMomentsAndResumedLosesNothing() throws Exception {
    Path data = tmp.resolve("data");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 32, 110, 11); // 110 test images per class: a non-empty gallery
    long seed = Long.getLong("reid4j.crash.seed", System.nanoTime());
    Random random = new Random(seed);
    String ctx = "seed " + seed + " (rerun with -Dreid4j.crash.seed=" + seed + ")";

    Path straight = tmp.resolve("straight");
    Run ok = start(data, straight, "--overwrite");
    assertEquals(0, ok.process.waitFor(), "uninterrupted run failed: " + ok.log());
    List<JsonNode> reference = MetricsLog.read(straight.resolve("metrics.jsonl"));
    assertEquals(EPOCHS, reference.size());
    double seconds = Math.max(4, ok.seconds());

    Path run = tmp.resolve("run");
    List<String> story = new ArrayList<>();
    int kills = 0, firstMoment = random.nextInt(Moment.values().length);
    boolean fresh = true;
    for (int attempt = 0; attempt < KILLS + 4 && kills < KILLS; attempt++) {
      String mode = !fresh && Files.exists(run.resolve("checkpoints/last.pt")) ? "--resume" : "--overwrite";
      Run r = start(data, run, mode);
      Moment moment = Moment.values()[(firstMoment + attempt) % Moment.values().length]; // each kind in turn
      long delayMs = (long) (random.nextDouble() * 0.8 * seconds * 1000); // resumed runs are shorter
      String when = moment.waitFor(r.process, run, delayMs);
      if (!r.process.isAlive()) {
        story.add(mode + ": finished by itself (" + when + ")");
        assertEquals(0, r.process.exitValue(), ctx + ", " + story + ": " + r.log());
        if (kills > 0) break;
        // Nothing killed yet (a watched moment was missed on a busy machine, or came after the end):
        // start again from scratch rather than pass without having tested anything.
        fresh = true;
        continue;
      }
      fresh = false;
      r.process.destroyForcibly().waitFor();
      kills++;
      story.add(mode + (r.background() ? " (background writes)" : "") + ": killed " + when + ", leaving "
          + describe(run));
      requireWholeFiles(run, ctx + ", after " + story);
    }
    // Resume to the end.
    for (int attempt = 0; attempt < 2 && !finished(run); attempt++) {
      String mode = Files.exists(run.resolve("checkpoints/last.pt")) ? "--resume" : "--overwrite";
      Run r = start(data, run, mode);
      assertEquals(0, r.process.waitFor(), ctx + ", " + story + ", final " + mode + ": " + r.log());
      story.add(mode + ": ran to the end");
    }
    String where = ctx + ", " + story;
    System.out.println("CrashResumeTest, " + where);
    requireWholeFiles(run, where);
    try (Stream<Path> files = Files.walk(run)) {
      List<Path> temporaries = files.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
      assertTrue(temporaries.isEmpty(), where + ": temporaries left: " + temporaries);
    }
    List<JsonNode> rows = MetricsLog.read(run.resolve("metrics.jsonl"));
    assertEquals(EPOCHS, rows.size(), where);
    for (int e = 0; e < EPOCHS; e++) {
      // Same process layout, same thread count, every stream re-seeded per epoch: the resumed epochs
      // are the uninterrupted run's epochs, up to float32 summation order.
      assertEquals(reference.get(e).get("loss").asDouble(), rows.get(e).get("loss").asDouble(), 1e-5,
          where + ": loss of epoch " + (e + 1));
    }
    JsonNode summary = JSON.readTree(run.resolve("summary.json").toFile());
    JsonNode refSummary = JSON.readTree(straight.resolve("summary.json").toFile());
    assertEquals(refSummary.get("mAP").asDouble(), summary.get("mAP").asDouble(), 1e-3, where + ": final mAP");
    assertTrue(kills >= 1, where + ": no kill happened (the run finished too fast to test anything)");
  }

  /**
   * When to kill: at a random moment of the process's life (JVM start, data loading, a step, an
   * evaluation, a write), while metrics.jsonl or a checkpoint is being written (its temporary file
   * exists), or just after last.pt was replaced (the moment between two writes that used to lose a
   * metrics line).
   */
  enum Moment {
    RANDOM, WRITING_METRICS, WRITING_A_CHECKPOINT, AFTER_A_CHECKPOINT;

    /** Waits for the moment (at most deadlineMs for the watching kinds); returns a description. */
    String waitFor(Process p, Path run, long delayMs) throws Exception {
      if (this == RANDOM) {
        p.waitFor(delayMs, TimeUnit.MILLISECONDS);
        return "at " + delayMs + " ms";
      }
      Path last = run.resolve("checkpoints/last.pt");
      Set<String> stale = temporaries(run); // left by the previous kill, until the process removes them
      long before = Files.exists(last) ? Files.getLastModifiedTime(last).toMillis() : -1;
      long t0 = System.nanoTime(), limit = TimeUnit.SECONDS.toNanos(60);
      while (p.isAlive() && System.nanoTime() - t0 < limit) {
        if (this == WRITING_METRICS || this == WRITING_A_CHECKPOINT) {
          Set<String> now = temporaries(run);
          now.removeAll(stale);
          now.removeIf(n -> n.startsWith(".metrics.jsonl.") != (this == WRITING_METRICS));
          if (!now.isEmpty()) return "while writing " + now;
        }
        if (this == AFTER_A_CHECKPOINT && Files.exists(last) && Files.getLastModifiedTime(last).toMillis() != before)
          return "just after last.pt was replaced";
        Thread.sleep(0, 200_000);
      }
      return "never saw the moment";
    }
  }

  static Set<String> temporaries(Path run) throws IOException {
    Set<String> found = new HashSet<>();
    for (Path dir : List.of(run, run.resolve("checkpoints"))) {
      if (!Files.isDirectory(dir)) continue;
      try (Stream<Path> s = Files.list(dir)) {
        s.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".tmp")).forEach(found::add);
      } catch (java.nio.file.NoSuchFileException | java.io.UncheckedIOException gone) {
        // listed while a rename happened: look again at the next poll
      }
    }
    return found;
  }

  /** Every file a reader may open is complete; temporaries (.NAME.RANDOM.tmp) may exist until the next start. */
  static void requireWholeFiles(Path run, String ctx) throws IOException {
    Path metrics = run.resolve("metrics.jsonl");
    if (Files.exists(metrics)) {
      List<String> lines = Files.readAllLines(metrics, StandardCharsets.UTF_8);
      int expected = 1;
      for (String line : lines) {
        if (line.isBlank()) continue;
        JsonNode n;
        try {
          n = JSON.readTree(line);
        } catch (IOException e) {
          throw new AssertionError(ctx + ": metrics.jsonl has a broken line: " + line, e);
        }
        assertEquals(expected++, n.get("epoch").asInt(), ctx + ": metrics.jsonl epochs " + lines);
      }
    }
    Path summary = run.resolve("summary.json");
    if (Files.exists(summary)) JSON.readTree(summary.toFile());
    Path dir = run.resolve("checkpoints");
    if (!Files.isDirectory(dir)) return;
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.filter(f -> f.getFileName().toString().endsWith(".pt")).toList()) {
        try {
          ModelLoader.Loaded m = ModelLoader.load(p, null, List.of()); // verifies every weight's checksum
          assertEquals(Checkpoints.readMeta(p).epoch(), m.metaOrNull().epoch(), p.toString());
          m.model().close();
        } catch (IOException | RuntimeException e) {
          throw new AssertionError(ctx + ": " + p.getFileName() + " does not load: " + e.getMessage(), e);
        }
      }
    }
  }

  /**
   * Trained to the end and nothing half-written: a kill while the pictures were being written (after
   * summary.json) leaves the run unfinished, as its user would see it, and the test resumes it too.
   */
  static boolean finished(Path run) throws IOException {
    Path metrics = run.resolve("metrics.jsonl");
    if (!Files.exists(run.resolve("summary.json")) || !Files.exists(metrics)
        || MetricsLog.read(metrics).size() != EPOCHS)
      return false;
    try (Stream<Path> files = Files.walk(run)) {
      return files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp"));
    }
  }

  static String describe(Path run) throws IOException {
    if (!Files.isDirectory(run)) return "no folder yet";
    try (Stream<Path> s = Files.walk(run)) {
      return s.filter(Files::isRegularFile).map(p -> run.relativize(p).toString()).sorted().toList().toString();
    }
  }

  /** A training process; background: its checkpoints are written by CheckpointWriter's thread. */
  record Run(Process process, Path logFile, long startNanos, boolean background) {
    double seconds() throws InterruptedException {
      process.waitFor();
      return (System.nanoTime() - startNanos) / 1e9;
    }

    String log() throws IOException {
      return Files.readString(logFile);
    }
  }

  /** {@code reid4j train} on the tiny fixture in a JVM of its own. */
  Run start(Path data, Path out, String mode) throws IOException {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx1g", "-cp", cp, "org.reid4j.cli.Main", "train", mode));
    for (String o : TrainerTest.tiny(data, out, EPOCHS)) cmd.addAll(List.of("--set", o));
    // A checkpoint every epoch and an evaluation every other one: more writes for a kill to land in.
    cmd.addAll(List.of("--set", "SOLVER.CHECKPOINT_PERIOD=1", "--set", "SOLVER.EVAL_PERIOD=2"));
    Path log = Files.createTempFile(tmp, "train-", ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("OMP_NUM_THREADS", "2");
    // Every other process writes its checkpoints in the background (a kill then lands in a write that
    // runs beside the next epoch); the uninterrupted reference writes them on the training thread.
    boolean background = starts++ % 2 == 1;
    pb.environment().put(CheckpointWriter.ENV, background ? "1" : "0");
    return new Run(pb.start(), log, System.nanoTime(), background);
  }
}
