package org.reid4j.train.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel SGD over c10d (Gloo on loopback) against the plain one-process reference: two
 * processes, each with half of every global batch, must end with the reference's parameters (the
 * mean loss's gradient is the mean of the halves' gradients); without the all-reduce they must not.
 * Also the failures an operator meets: a rank that never arrives, a master that is not there, a
 * peer that dies mid-training.
 */
class ProcessGroupSessionTest {
  static final int STEPS = 5;
  static final double TOL32 = 1e-5, TOL64 = 1e-10;

  @TempDir Path dir;

  @Test
  void twoProcessesMatchOneProcessWithTheSameGlobalBatch() throws Exception {
    double[] ref32 = DataParallelChild.train(null, false, STEPS, -1, false);
    double[] ref64 = DataParallelChild.train(null, false, STEPS, -1, true);
    List<double[][]> ranks = runGroup("ddp", 2);
    for (int r = 0; r < 2; r++) {
      // float32: the halves' sums round differently from the whole batch's; the drift stays at float noise
      double d32 = normRelDiff(ref32, ranks.get(r)[0]);
      assertTrue(d32 <= TOL32, "rank " + r + "'s float32 parameters after " + STEPS + " steps differ from the "
          + "one-process reference by " + d32 + " (relative, 2-norm), more than " + TOL32);
      // float64: the same arithmetic leaves nothing but rounding at 1e-16
      double d64 = maxRelDiff(ref64, ranks.get(r)[1]);
      System.out.printf("data-parallel vs reference, rank %d: float32 %.2e (2-norm), float64 %.2e (worst element)%n", r,
          d32, d64);
      assertTrue(d64 <= TOL64, "rank " + r + "'s float64 parameters differ from the reference by " + d64
          + " (relative, worst element), more than " + TOL64);
    }
  }

  @Test
  void withoutTheAllReduceTheRanksDriftFromTheReference() throws Exception {
    // the negative control: the comparisons above can fail
    double[] ref32 = DataParallelChild.train(null, false, STEPS, -1, false);
    double[] ref64 = DataParallelChild.train(null, false, STEPS, -1, true);
    List<double[][]> ranks = runGroup("local", 2);
    for (int r = 0; r < 2; r++) {
      double d32 = normRelDiff(ref32, ranks.get(r)[0]), d64 = maxRelDiff(ref64, ranks.get(r)[1]);
      System.out.printf("no all-reduce vs reference, rank %d: float32 %.2e, float64 %.2e%n", r, d32, d64);
      assertTrue(d32 > 100 * TOL32 && d64 > 1e6 * TOL64, "rank " + r + " trained on half the batch without all-reduce, "
          + "yet matches the reference (" + d32 + ", " + d64 + ")");
    }
    assertTrue(normRelDiff(ranks.get(0)[0], ranks.get(1)[0]) > 100 * TOL32, "the two ranks should differ without all-reduce");
  }

  @Test
  void aRankThatNeverArrivesIsNamed() {
    int port = freePort();
    ProcessGroupSession.GroupFailure e = assertThrows(ProcessGroupSession.GroupFailure.class,
        () -> ProcessGroupSession.join(new ProcessGroupSession.Config(0, 3, "127.0.0.1", port, Duration.ofSeconds(2))));
    assertTrue(e.getMessage().contains("ranks [1, 2] did not join the group at 127.0.0.1:" + port), e.getMessage());
  }

  @Test
  void aMissingMasterIsNamed() {
    int port = freePort();
    ProcessGroupSession.GroupFailure e = assertThrows(ProcessGroupSession.GroupFailure.class,
        () -> ProcessGroupSession.join(new ProcessGroupSession.Config(1, 2, "127.0.0.1", port, Duration.ofSeconds(1))));
    assertTrue(e.getMessage().contains("rank 1 of 2 could not reach the master at 127.0.0.1:" + port), e.getMessage());
  }

  @Test
  void aPeerThatDiesFailsTheOthersClearly() throws Exception {
    Path log0 = dir.resolve("rank0.log");
    List<Process> ps = startGroup("die-after-2", 2, freePort());
    for (Process p : ps) assertTrue(p.waitFor(180, TimeUnit.SECONDS), "a rank did not end");
    assertEquals(3, ps.get(1).exitValue(), "rank 1 should have halted itself");
    String out = Files.readString(log0);
    assertEquals(2, ps.get(0).exitValue(), "rank 0 should fail when rank 1 dies:\n" + out);
    assertTrue(out.contains("FAILED: rank 0 of 2 (master 127.0.0.1:") && out.contains("gradient all-reduce"), out);
    assertTrue(!Files.exists(dir.resolve("params0.bin")), "rank 0 wrote results despite the failure");
  }

  @Test
  void aRankThatDriftsFromRankZeroIsCaught() throws Exception {
    List<Process> ps = startGroup("drift", 2, freePort());
    for (Process p : ps) assertTrue(p.waitFor(180, TimeUnit.SECONDS), "a rank did not end");
    String out1 = Files.readString(dir.resolve("rank1.log")), out0 = Files.readString(dir.resolve("rank0.log"));
    assertEquals(2, ps.get(1).exitValue(), out1);
    assertTrue(out1.contains("FAILED: rank 1's parameters drifted from rank 0's after step 2"), out1);
    // rank 0 passed its own check, then its next collective fails, quoting rank 1's report
    assertEquals(2, ps.get(0).exitValue(), out0);
    assertTrue(out0.contains("rank 1 reported:") && out0.contains("drifted from rank 0's"), out0);
  }

  @Test
  void configFollowsPyTorchsVariablesAndFlags() {
    var c = ProcessGroupSession.Config.fromEnvironment(Map.of("RANK", "1", "WORLD_SIZE", "4", "MASTER_ADDR", "10.0.0.5",
        "MASTER_PORT", "29600"), Duration.ofSeconds(5));
    assertEquals(1, c.rank());
    assertEquals(4, c.worldSize());
    assertEquals("10.0.0.5:29600", c.master());
    assertEquals(29500, ProcessGroupSession.Config.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "1"),
        Duration.ofSeconds(5)).masterPort());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ProcessGroupSession.Config.fromEnvironment(Map.of("WORLD_SIZE", "2"), Duration.ofSeconds(5)));
    assertTrue(e.getMessage().contains("RANK is not set"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> new ProcessGroupSession.Config(2, 2, "h", 1, Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains("rank must be in [0, 2), got 2"), e.getMessage());
    assertEquals(Map.entry("node1", 1234), ProcessGroupSession.Config.parseMaster("node1:1234"));
    assertEquals(Map.entry("node1", 29500), ProcessGroupSession.Config.parseMaster("node1"));
    assertEquals(Map.entry("::1", 29501), ProcessGroupSession.Config.parseMaster("[::1]:29501"));
    assertThrows(IllegalArgumentException.class, () -> ProcessGroupSession.Config.parseMaster("node1:http"));
  }

  private List<double[][]> runGroup(String mode, int world) throws Exception {
    List<Process> ps = startGroup(mode, world, freePort());
    List<double[][]> out = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      Process p = ps.get(r);
      boolean ended = p.waitFor(180, TimeUnit.SECONDS);
      if (!ended) ps.forEach(Process::destroyForcibly);
      String log = Files.readString(dir.resolve("rank" + r + ".log"));
      assertTrue(ended && p.exitValue() == 0, "rank " + r + " failed (exit " + (ended ? p.exitValue() : "none") + "):\n" + log);
      try (DataInputStream in = new DataInputStream(Files.newInputStream(dir.resolve("params" + r + ".bin")))) {
        double[][] both = new double[2][];
        for (int k = 0; k < 2; k++) {
          both[k] = new double[in.readInt()];
          for (int i = 0; i < both[k].length; i++) both[k][i] = in.readDouble();
        }
        out.add(both);
      }
    }
    return out;
  }

  private List<Process> startGroup(String mode, int world, int port) throws IOException {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<Process> ps = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", cp, DataParallelChild.class.getName(), mode,
          String.valueOf(STEPS), dir.resolve("params" + r + ".bin").toString());
      pb.environment().putAll(Map.of("RANK", String.valueOf(r), "WORLD_SIZE", String.valueOf(world), "MASTER_ADDR",
          "127.0.0.1", "MASTER_PORT", String.valueOf(port), "OMP_NUM_THREADS", "1", "OMP_WAIT_POLICY", "PASSIVE"));
      pb.redirectErrorStream(true).redirectOutput(dir.resolve("rank" + r + ".log").toFile());
      ps.add(pb.start());
    }
    return ps;
  }

  /** |a - b| / |a| in the 2-norm. */
  static double normRelDiff(double[] a, double[] b) {
    assertEquals(a.length, b.length, "parameter counts differ");
    double num = 0, den = 0;
    for (int i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) * (a[i] - b[i]);
      den += a[i] * a[i];
    }
    return Math.sqrt(num / den);
  }

  /** The worst element's |a - b| / |a| (|a| floored at 1e-3 of the largest, so that values near 0 do not dominate). */
  static double maxRelDiff(double[] a, double[] b) {
    assertEquals(a.length, b.length, "parameter counts differ");
    double scale = 0, worst = 0;
    for (double v : a) scale = Math.max(scale, Math.abs(v));
    for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), 1e-3 * scale));
    return worst;
  }

  static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
