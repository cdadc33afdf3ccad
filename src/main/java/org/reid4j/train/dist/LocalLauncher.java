package org.reid4j.train.dist;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code reid4j train --nproc N}: this process is rank 0, and this class starts ranks 1..N-1 on the
 * same machine: the same java, class path and JVM options (less debug agents and a CDS archive
 * being written), the same command-line arguments plus {@code --rank r --world-size N --master
 * addr:port}. Their output comes back line by line prefixed {@code [rank r]}. Each rank gets
 * {@code OMP_NUM_THREADS} = cores / N unless it is set, so that N processes do not each start a
 * thread per core. {@link #close} stops workers that are still running (rank 0 failed); a worker
 * whose rank 0 died fails on its own at its next collective.
 */
public final class LocalLauncher implements AutoCloseable {
  private final List<Process> workers = new ArrayList<>();
  private final List<Thread> pumps = new ArrayList<>();
  private final Thread hook;

  private LocalLauncher() {
    hook = new Thread(this::stop, "reid4j-stop-workers");
    Runtime.getRuntime().addShutdownHook(hook); // Ctrl-C on rank 0 takes the workers with it
  }

  /** Threads per rank when N ranks share this machine: cores / N, at least 1. */
  public static int threadsPerRank(int nproc) {
    return Math.max(1, Runtime.getRuntime().availableProcessors() / nproc);
  }

  /**
   * Starts ranks 1..nproc-1 running {@code mainClass} with {@code args} followed by the rank flags;
   * their output goes to {@code log}, each line prefixed.
   */
  public static LocalLauncher start(int nproc, String masterAddr, int masterPort, String mainClass, List<String> args,
      PrintStream log) throws IOException {
    LocalLauncher l = new LocalLauncher();
    try {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      List<String> jvm = new ArrayList<>();
      for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
        if (!a.startsWith("-agentlib") && !a.startsWith("-javaagent") && !a.startsWith("-XX:ArchiveClassesAtExit")
            && !a.startsWith("-Xrunjdwp"))
          jvm.add(a);
      for (int r = 1; r < nproc; r++) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java);
        cmd.addAll(jvm);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(args);
        cmd.addAll(List.of("--rank", String.valueOf(r), "--world-size", String.valueOf(nproc), "--master",
            masterAddr + ":" + masterPort));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.putIfAbsent("OMP_NUM_THREADS", String.valueOf(threadsPerRank(nproc)));
        env.putIfAbsent("OMP_WAIT_POLICY", "PASSIVE");
        // the flags name the group; stale variables from an outer launcher must not contradict them
        for (String v : List.of("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK")) env.remove(v);
        Process p = pb.start();
        l.workers.add(p);
        String prefix = "[rank " + r + "] ";
        Thread t = new Thread(() -> pump(p, prefix, log), "reid4j-rank-" + r + "-output");
        t.setDaemon(true);
        t.start();
        l.pumps.add(t);
      }
      return l;
    } catch (IOException | RuntimeException e) {
      l.close();
      throw e;
    }
  }

  private static void pump(Process p, String prefix, PrintStream log) {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; )
        synchronized (log) {
          log.println(prefix + line);
        }
    } catch (IOException e) {
      // the worker is gone; its exit code tells the rest
    }
  }

  /**
   * The workers that ended with a non-zero exit code, as "rank 1 (pid 123) exited with code 2",
   * joined by "; " (empty when none did). Waits up to {@code grace} for workers that are still
   * running to end first, since a dead peer is often noticed a moment before its exit is.
   */
  public String failures(Duration grace) {
    long deadline = System.nanoTime() + grace.toNanos();
    List<String> out = new ArrayList<>();
    for (int i = 0; i < workers.size(); i++) {
      Process p = workers.get(i);
      try {
        long left = deadline - System.nanoTime();
        if (left > 0) p.waitFor(left, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (!p.isAlive() && p.exitValue() != 0)
        out.add("rank " + (i + 1) + " (pid " + p.pid() + ") exited with code " + p.exitValue() + describe(p.exitValue()));
    }
    return String.join("; ", out);
  }

  /** Waits up to {@code timeout} for every worker to end; returns the failures (see {@link #failures}). */
  public String await(Duration timeout) {
    String f = failures(timeout);
    List<String> alive = new ArrayList<>();
    for (int i = 0; i < workers.size(); i++) if (workers.get(i).isAlive()) alive.add("rank " + (i + 1));
    if (!alive.isEmpty())
      f = (f.isEmpty() ? "" : f + "; ") + String.join(", ", alive) + " still running " + timeout.toSeconds() + " s after "
          + "rank 0 finished";
    for (Thread t : pumps) {
      try {
        t.join(1000); // the last lines of output
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return f;
  }

  private static String describe(int code) {
    return code > 128 ? " (killed by signal " + (code - 128) + ")" : "";
  }

  private void stop() {
    for (Process p : workers) if (p.isAlive()) p.destroy();
    for (Process p : workers) {
      try {
        if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly();
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Stops the workers that are still running (after a failure; after success they have ended). */
  @Override
  public void close() {
    stop();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // already shutting down: the hook runs anyway
    }
  }
}
