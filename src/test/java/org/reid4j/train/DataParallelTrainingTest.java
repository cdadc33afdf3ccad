package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code reid4j train --nproc 2} end to end: rank 0 (this JVM) starts rank 1, only rank 0 writes,
 * the group resumes, and a worker killed mid-run fails rank 0 with a message naming it. The
 * gradient averaging itself is compared with a one-process reference in ProcessGroupSessionTest;
 * here every epoch's in-sync check (rank 1's parameters against rank 0's) runs inside the trainer.
 */
class DataParallelTrainingTest {
  @TempDir Path tmp;

  private List<String> args(Path data, Path out, int epochs, String... extra) {
    List<String> a = new ArrayList<>(List.of("train", "--config", "configs/quickstart.yml", "--data", data.toString(),
        "--output", out.toString(), "--nproc", "2"));
    for (String s : List.of("DATALOADER.P=4", "DATALOADER.K=4", "SOLVER.MAX_EPOCHS=" + epochs, "SOLVER.MAX_MINUTES=0",
        "SOLVER.BASE_LR=3.0e-3", "DATALOADER.NUM_WORKERS=1", "SOLVER.CHECKPOINT_PERIOD=100")) {
      a.add("--set");
      a.add(s);
    }
    a.addAll(List.of(extra));
    return a;
  }

  @Test
  void twoProcessesTrainRankZeroWritesAndTheGroupResumes() throws Exception {
    Path data = tmp.resolve("fm");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 16, 105, 21);
    Path out = tmp.resolve("out");
    Object[] r = TrainCommandTest.cli(args(data, out, 2).toArray(new String[0]));
    String stdout = (String) r[1], stderr = (String) r[2];
    assertEquals(0, r[0], "stderr: " + stderr + "\nstdout: " + stdout);
    assertTrue(stdout.contains("data parallel: rank 0 of 2 over GLOO"), stdout);
    assertTrue(stdout.contains("each rank trains on 2 of the 4 identities of every batch"), stdout);
    assertTrue(stderr.contains("[rank 1] rank 1: done, 2 epochs"), "the worker's last words: " + stderr);
    List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
    assertEquals(2, lines.size(), String.join("\n", lines));
    ObjectMapper json = new ObjectMapper();
    assertEquals(2, json.readTree(lines.get(1)).get("world_size").asInt());
    double sync = json.readTree(lines.get(1)).get("gradient_sync_seconds").asDouble();
    assertTrue(sync > 0 && sync < json.readTree(lines.get(1)).get("seconds").asDouble(), lines.get(1));
    JsonNode summary = json.readTree(out.resolve("summary.json").toFile());
    // images/s counts both ranks' images: P x K = 16 per iteration in all, 8 on each rank
    double counted = summary.get("images_per_second").asDouble() * summary.get("train_seconds").asDouble();
    assertEquals(16.0 * summary.get("iterations").asLong(), counted, 1.0, "images counted in summary.json");
    assertEquals(2, summary.get("world_size").asInt());
    assertEquals("gloo", summary.get("distributed_backend").asText());
    assertTrue(Files.exists(out.resolve("checkpoints/last.pt")));
    // nothing but rank 0's files (and no temporary ones) in the folder
    try (var l = Files.walk(out)) {
      List<String> files = l.filter(Files::isRegularFile).map(p -> out.relativize(p).toString()).sorted().toList();
      for (String f : files)
        assertTrue(f.matches("metrics\\.jsonl|summary\\.json|curves\\.png|cmc\\.png|checkpoints/(last|best)\\.(pt|json)"),
            "unexpected file " + f + " in " + files);
    }

    // the group resumes from rank 0's last.pt (every rank reads it) and trains one more epoch
    Object[] again = TrainCommandTest.cli(args(data, out, 3, "--resume").toArray(new String[0]));
    assertEquals(0, again[0], "stderr: " + again[2] + "\nstdout: " + again[1]);
    assertTrue(((String) again[1]).contains("resumed from"), (String) again[1]);
    assertTrue(((String) again[2]).contains("[rank 1] rank 1: done, 3 epochs"), (String) again[2]);
    assertEquals(3, Files.readAllLines(out.resolve("metrics.jsonl")).size());
  }

  @Test
  void aWorkerKilledMidRunFailsRankZeroNamingIt() throws Exception {
    Path data = tmp.resolve("fm");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 16, 105, 21);
    Path out = tmp.resolve("out");
    CompletableFuture<Object[]> run = CompletableFuture.supplyAsync(
        () -> TrainCommandTest.cli(args(data, out, 500).toArray(new String[0])));
    // once rank 0 has checkpointed its first epoch, the group is training: kill rank 1 (a child of this JVM)
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (!Files.exists(out.resolve("checkpoints/last.pt")) && !run.isDone() && System.nanoTime() < deadline)
      Thread.sleep(100);
    assertTrue(!run.isDone(), "the run ended before a worker could be killed: " + (run.isDone() ? run.get()[2] : ""));
    List<ProcessHandle> kids = ProcessHandle.current().children().filter(p -> p.info().command().orElse("")
        .endsWith("java")).toList();
    assertEquals(1, kids.size(), "expected one worker process: " + kids);
    long pid = kids.get(0).pid();
    kids.get(0).destroyForcibly();
    Object[] r = run.get(240, TimeUnit.SECONDS);
    String err = (String) r[2];
    assertEquals(1, r[0], "rank 0 should fail when its worker dies: " + err);
    assertTrue(err.contains("rank 1 (pid " + pid + ") exited with code 137 (killed by signal 9)"), err);
    assertTrue(err.contains("rank 0 of 2"), err);
    // what rank 0 wrote is whole: no temporary file left, and the run resumes (here as one process)
    try (var l = Files.walk(out)) {
      assertTrue(l.noneMatch(p -> p.toString().endsWith(".tmp")), "a temporary file was left behind");
    }
    List<String> resume = args(data, out, 1, "--resume");
    resume.removeAll(List.of("--nproc", "2"));
    Object[] again = TrainCommandTest.cli(resume.toArray(new String[0]));
    assertEquals(0, again[0], "stderr: " + again[2]);
    assertTrue(((String) again[1]).contains("resumed from"), (String) again[1]);
  }
}
