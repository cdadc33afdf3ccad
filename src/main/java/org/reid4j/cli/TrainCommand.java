package org.reid4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;
import org.reid4j.train.Trainer;
import org.reid4j.train.dist.LocalLauncher;
import org.reid4j.train.dist.ProcessGroupSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reid4j train}: trains a ReID model with the BoT recipe, then evaluates it. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Train a re-identification model (BoT: CE with label smoothing + batch-hard triplet + centre "
        + "loss, BNNeck, warm-up), evaluating R1/mAP/mINP every SOLVER.EVAL_PERIOD epochs and at the end.",
        "With no arguments: configs/quickstart.yml, a small CNN on Fashion-MNIST in under 10 minutes on a CPU.",
        "Writes OUTPUT_DIR/checkpoints/{last,best}.pt, OUTPUT_DIR/metrics.jsonl and OUTPUT_DIR/summary.json."})
public final class TrainCommand implements Callable<Integer> {
  static final String QUICKSTART = "configs/quickstart.yml";
  static final String QUICKSTART_RESOURCE = "/org/reid4j/train/quickstart.yml";

  @Option(names = "--config", paramLabel = "FILE",
      description = "YAML config (default: " + QUICKSTART + "); it only needs the keys that differ from the defaults.")
  Path config;

  @Option(names = "--set", paramLabel = "KEY=VALUE",
      description = "Override a config value, e.g. --set SOLVER.BASE_LR=1e-3 --set INPUT.SIZE_TRAIN=[256,128] "
          + "(repeatable; applied after the file).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--resume", description = "Continue from OUTPUT_DIR/checkpoints/last.pt.")
  boolean resume;

  @Option(names = "--overwrite", description = "Start afresh in an OUTPUT_DIR that holds an earlier run, replacing "
      + "its checkpoints, metrics and summary (without it such a folder is refused).")
  boolean overwrite;

  @Option(names = "--data", paramLabel = "DIR", description = "Data set folder (sets DATALOADER.ROOT).")
  String data;

  @Option(names = "--output", paramLabel = "DIR", description = "Output folder (sets OUTPUT_DIR).")
  String output;

  @Option(names = "--nproc", paramLabel = "N", description = "Data-parallel training in N processes on this machine "
      + "(default 1): this process is rank 0 and starts ranks 1..N-1; each takes P / N identities of every batch and "
      + "the gradients are averaged (libtorch's c10d, Gloo on the CPU). Only rank 0 writes and evaluates.")
  int nproc = 1;

  @Option(names = "--rank", paramLabel = "R", description = "This process's rank in a group started by hand, e.g. "
      + "over several machines (with --world-size and --master; or from RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT "
      + "as PyTorch's launchers set them).")
  Integer rank;

  @Option(names = "--world-size", paramLabel = "N", description = "The number of processes in the group (with --rank).")
  Integer worldSize;

  @Option(names = "--master", paramLabel = "ADDR[:PORT]", description = "Rank 0's address, which every rank can reach "
      + "(port default 29500). With --nproc: the port to use on this machine (default: MASTER_PORT, else a free one).")
  String master;

  @Option(names = "--dist-timeout", paramLabel = "SECONDS", description = "How long a rank waits for the others, at "
      + "the start and in every collective, before it fails naming them (default ${DEFAULT-VALUE}; rank 0's "
      + "evaluations must fit in it).", defaultValue = "1800")
  int distTimeout;

  @Override
  public Integer call() throws IOException {
    List<String> all = new ArrayList<>(overrides);
    if (data != null) all.add("DATALOADER.ROOT=" + yamlString(data));
    if (output != null) all.add("OUTPUT_DIR=" + yamlString(output));
    TrainConfig cfg;
    String source;
    if (config != null) {
      if (!Files.isRegularFile(config)) throw new java.nio.file.NoSuchFileException(config + " (--config)");
      cfg = TrainConfig.load(config, all);
      source = config.toString();
    } else {
      Path q = Path.of(QUICKSTART);
      if (Files.isRegularFile(q)) {
        cfg = TrainConfig.load(q, all);
        source = QUICKSTART;
      } else {
        cfg = loadBundledQuickstart(all, " (give --config FILE)");
        source = "built-in quickstart (" + QUICKSTART + " not found in " + Path.of("").toAbsolutePath() + ")";
      }
    }
    ProcessGroupSession.Config group = groupConfig();
    boolean leader = group == null || group.rank() == 0;
    if (!leader) { // a worker: its output goes to rank 0's console, prefixed; rank 0 says what the group does
      Trainer.Result r = runGroup(cfg, group, null, System.err);
      System.out.printf(Locale.ROOT, "rank %d: done, %d epochs (%,d iterations, %.1f min)%n", group.rank(), r.epochs(),
          r.iterations(), r.trainSeconds() / 60);
      return 0;
    }
    System.out.println("config: " + source + (all.isEmpty() ? "" : " with " + String.join(" ", all)));
    java.util.Map<String, String> relative = cfg.relativePaths();
    if (!relative.isEmpty()) {
      StringBuilder b = new StringBuilder("relative paths, resolved against the working directory ")
          .append(Path.of("").toAbsolutePath()).append(" (not the config's folder):");
      relative.forEach((k, v) -> b.append(' ').append(k).append('=').append(v));
      System.out.println(b);
    }
    ReidDataset dataset;
    try {
      dataset = ReidDataset.open(cfg);
    } catch (IOException e) {
      boolean rooted = !cfg.dataloader().dataset().equals("csv"); // csv sets use DATALOADER.*_CSV, not a root
      throw new IOException(e.getMessage() + (data == null && rooted ? "; train's --data DIR sets DATALOADER.ROOT"
          : ""), e);
    }
    if (resume && overwrite) throw new IllegalArgumentException("--resume continues a run, --overwrite replaces it: "
        + "give one of them");
    Trainer.Result r = group == null ? new Trainer(cfg, dataset, System.out).overwrite(overwrite).run(resume)
        : runGroup(cfg, group, dataset, System.out);
    System.out.printf(Locale.ROOT, "%nresult after %d epochs (%,d iterations, %.1f min training, %.1f min in all%s):%n",
        r.epochs(), r.iterations(), r.trainSeconds() / 60, r.totalSeconds() / 60,
        r.stoppedByBudget() ? ", stopped by SOLVER.MAX_MINUTES" : "");
    System.out.printf(Locale.ROOT, "  R1 %.4f  R5 %.4f  R10 %.4f  mAP %.4f  mINP %.4f%n", r.eval().rank1(),
        r.eval().rank5(), r.eval().rank10(), r.eval().mAP(), r.eval().mINP());
    if (r.plainEval() != null)
      System.out.printf(Locale.ROOT, "  (with %s; without it: R1 %.4f  mAP %.4f  mINP %.4f)%n",
          Trainer.postProcessing(cfg.test()), r.plainEval().rank1(), r.plainEval().mAP(), r.plainEval().mINP());
    System.out.printf(Locale.ROOT, "  %,.0f images/s; %.1f%% of step time outside libtorch (data wait + Java)%n",
        r.imagesPerSecond(), 100 * r.outsideShare());
    System.out.println("  checkpoint: " + r.lastCheckpoint() + (r.bestCheckpoint() != null ? " (best: "
        + r.bestCheckpoint() + ")" : ""));
    System.out.println("  metrics:    " + r.metrics());
    System.out.println("  summary:    " + r.summary());
    pictures(r);
    return 0;
  }

  /**
   * The group this process belongs to, from the flags or PyTorch's variables (RANK, WORLD_SIZE,
   * MASTER_ADDR, MASTER_PORT, GLOO_SOCKET_IFNAME); null for a plain one-process run.
   */
  ProcessGroupSession.Config groupConfig() {
    if (nproc < 1) throw new IllegalArgumentException("--nproc must be at least 1, got " + nproc);
    if (distTimeout < 1) throw new IllegalArgumentException("--dist-timeout must be at least 1 second, got " + distTimeout);
    Duration timeout = Duration.ofSeconds(distTimeout);
    Map<String, String> env = System.getenv();
    if (nproc > 1) {
      if (rank != null || worldSize != null)
        throw new IllegalArgumentException("--nproc starts a group on this machine; --rank and --world-size are for "
            + "groups started by hand: give one or the other");
      String addr = "127.0.0.1";
      int port;
      if (master != null) {
        Map.Entry<String, Integer> m = ProcessGroupSession.Config.parseMaster(master);
        addr = m.getKey();
        port = m.getValue();
      } else if (env.get("MASTER_PORT") != null) {
        port = ProcessGroupSession.Config.masterFromEnvironment(env).getValue();
      } else {
        port = freePort();
      }
      return new ProcessGroupSession.Config(0, nproc, addr, port, timeout, ProcessGroupSession.Backend.GLOO,
          env.get("GLOO_SOCKET_IFNAME"));
    }
    if (rank == null && worldSize == null && master == null) {
      if (!ProcessGroupSession.Config.inEnvironment(env)) return null;
      ProcessGroupSession.Config c = ProcessGroupSession.Config.fromEnvironment(env, timeout);
      return c.worldSize() > 1 ? c : null;
    }
    if (rank == null || worldSize == null)
      throw new IllegalArgumentException("a group started by hand needs --rank and --world-size (and --master for "
          + "ranks on other machines than rank 0)");
    Map.Entry<String, Integer> m = master != null ? ProcessGroupSession.Config.parseMaster(master)
        : ProcessGroupSession.Config.masterFromEnvironment(env);
    return new ProcessGroupSession.Config(rank, worldSize, m.getKey(), m.getValue(), timeout,
        ProcessGroupSession.Backend.GLOO, env.get("GLOO_SOCKET_IFNAME"));
  }

  /**
   * Runs this rank of the group (rank 0 with --nproc first starts the others), and turns a peer's
   * death into one message naming it. {@code dataset} is null on a worker, which opens its own.
   */
  private Trainer.Result runGroup(TrainConfig cfg, ProcessGroupSession.Config gc, ReidDataset dataset, PrintStream out)
      throws IOException {
    if (gc.backend() != ProcessGroupSession.Backend.GLOO)
      throw new IllegalArgumentException("only the Gloo backend (CPU) is wired into train");
    if (dataset == null) dataset = ReidDataset.open(cfg);
    LocalLauncher workers = null;
    ProcessGroupSession session = null;
    int threads = nproc > 1 ? LocalLauncher.threadsPerRank(nproc) : 0;
    try {
      if (nproc > 1) {
        out.printf("data parallel: starting ranks 1..%d on this machine (master %s, %d torch thread%s per rank)%n",
            nproc - 1, gc.master(), threads, threads == 1 ? "" : "s");
        workers = LocalLauncher.start(nproc, gc.masterAddr(), gc.masterPort(), Main.class.getName(), workerArgs(),
            System.err);
        if (System.getenv("OMP_NUM_THREADS") == null) {
          org.reid4j.train.Devices.useAllCores(); // marks the threads as chosen, then this rank takes its share
          org.bytedeco.pytorch.global.torch.set_num_threads(threads);
        }
      }
      LocalLauncher w = workers;
      session = ProcessGroupSession.join(gc, () -> {
        String f = w == null ? "" : w.failures(Duration.ZERO);
        return f.isEmpty() ? null : f;
      });
      Trainer.Result r = new Trainer(cfg, dataset, gc.rank() == 0 ? out : new PrintStream(OutputStream.nullOutputStream()))
          .overwrite(overwrite).distributed(session).run(resume);
      if (workers != null) {
        String f = workers.await(Duration.ofSeconds(60));
        if (!f.isEmpty()) throw new IllegalStateException("rank 0 finished, but not every worker did: " + f);
      }
      return r;
    } catch (RuntimeException | IOException e) {
      if (session != null) session.reportFailure(e);
      String dead = workers == null ? "" : workers.failures(Duration.ofSeconds(3));
      if (!dead.isEmpty() && !(e.getMessage() != null && e.getMessage().contains(dead)))
        throw new ProcessGroupSession.GroupFailure(e.getMessage() + " [workers: " + dead + "]", e);
      throw e;
    } finally {
      if (session != null) session.close();
      if (workers != null) workers.close();
    }
  }

  /** This command's arguments for a worker (the rank flags are added by the launcher). */
  private List<String> workerArgs() {
    List<String> a = new ArrayList<>(List.of("train"));
    if (config != null) a.addAll(List.of("--config", config.toString()));
    for (String o : overrides) a.addAll(List.of("--set", o));
    if (resume) a.add("--resume");
    if (data != null) a.addAll(List.of("--data", data));
    if (output != null) a.addAll(List.of("--output", output));
    a.addAll(List.of("--dist-timeout", String.valueOf(distTimeout)));
    return a; // not --overwrite: only rank 0 touches OUTPUT_DIR
  }

  private static int freePort() {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("no free port for the group's rendezvous (give --master 127.0.0.1:PORT)", e);
    }
  }

  /** Training curves and the CMC curve as PNG beside the metrics; a failure here loses no result. */
  private static void pictures(Trainer.Result r) {
    Path dir = r.metrics().toAbsolutePath().getParent();
    try {
      Path curves = dir.resolve("curves.png"), cmc = dir.resolve("cmc.png");
      org.reid4j.report.TrainingCurves.render(r.metrics(), curves);
      org.reid4j.report.CmcCurve.render(r.eval(), "CMC after " + r.epochs() + " epochs", cmc);
      System.out.println("  pictures:   " + curves + ", " + cmc);
    } catch (IOException | RuntimeException | InternalError | LinkageError e) {
      // InternalError: AWT finds no fonts (a bare machine without fontconfig's files)
      System.err.println("reid4j train: warning: could not draw the pictures: " + e);
    }
  }

  /**
   * The copy of configs/quickstart.yml packed into the jar, for runs from another working folder
   * ({@code ablate} uses it too); {@code missingHint} follows the file name when the copy is absent.
   */
  static TrainConfig loadBundledQuickstart(List<String> overrides, String missingHint) throws IOException {
    try (InputStream in = TrainCommand.class.getResourceAsStream(QUICKSTART_RESOURCE)) {
      if (in == null) throw new java.nio.file.NoSuchFileException(QUICKSTART + missingHint);
      Path tmp = Files.createTempFile("reid4j-quickstart", ".yml");
      try {
        Files.write(tmp, in.readAllBytes());
        return TrainConfig.load(tmp, overrides);
      } finally {
        Files.deleteIfExists(tmp);
      }
    }
  }

  /** A YAML double-quoted scalar, so paths with ':' or '#' survive. */
  static String yamlString(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
