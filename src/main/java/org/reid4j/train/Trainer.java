package org.reid4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.Batch;
import org.reid4j.data.DataLoader;
import org.reid4j.data.ImageSource;
import org.reid4j.data.IdentitySampler;
import org.reid4j.data.ReidDataset;
import org.reid4j.data.Transform;
import org.reid4j.data.Transforms;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.post.QueryExpansion;
import org.reid4j.io.AtomicFiles;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import org.reid4j.loss.CenterLoss;
import org.reid4j.loss.CrossEntropyLabelSmooth;
import org.reid4j.loss.CrossBatchMemory;
import org.reid4j.loss.TripletLoss;
import org.reid4j.model.ReidModel;
import org.reid4j.train.dist.ProcessGroupSession;

/**
 * The BoT training loop. Per epoch: P x K batches from an {@link IdentitySampler} (pk or
 * pk_balanced), decoded and augmented by {@link DataLoader} threads, then per batch {@code loss = ID_LOSS_WEIGHT * CE-LS(logits) +
 * TRIPLET_WEIGHT * batch-hard triplet(global feature) + CENTER_WEIGHT * centre(global feature)} (+
 * XBM.WEIGHT * the triplet loss against the cross-batch memory in SOLVER.XBM's epochs; the memory is
 * not checkpointed: a resumed run refills it),
 * backward, one optimiser step (and one SGD step of the centres, whose gradient is first multiplied
 * by 1 / CENTER_WEIGHT as in BoT). Every step runs inside a {@link PointerScope}, which frees the
 * step's native tensors when it closes (without it native memory grows by gigabytes).
 *
 * <p>After each epoch: a line in {@code OUTPUT_DIR/metrics.jsonl}, evaluation every
 * {@code EVAL_PERIOD} epochs and at the end (query and gallery features from
 * {@link ReidModel#embed} in eval mode without autograd, then {@link RetrievalEval}), and
 * checkpoints ({@link Checkpoints}: {@code last} every epoch, so a kill loses at most the epoch in
 * progress; {@code epoch_NNN} every {@code CHECKPOINT_PERIOD}; {@code best} on a new best mAP).
 * {@code SOLVER.MAX_MINUTES} stops at the end of the epoch that passes it (counted from the start
 * of this process's training, not across resumes), then evaluates.
 *
 * <p>Randomness: the sampler, the loader's augmentations and libtorch's generator are re-seeded
 * from (SOLVER.SEED, epoch) at the start of every epoch, so a resumed run sees the same batches and
 * augmentations as an uninterrupted one.
 *
 * <p>Backbone freezing ({@code FREEZE_BACKBONE_EPOCHS}): backbone parameters get
 * {@code requires_grad = false} for those epochs, so no gradient is computed for them and the
 * optimiser skips them (no moment updates, no weight decay); their BatchNorm statistics still
 * update, since the backbone stays in train mode. Partial freezing ({@code MODEL.FREEZE_STAGES}, see
 * {@link FrozenStages}) keeps the stem and the first stages fixed for the whole run, BN statistics
 * included.
 *
 * <p>Stages ({@code SOLVER.STAGES}, see {@link Stages}): the batches of an epoch come from its
 * stage's sampler ({@code pk} or {@code pk_balanced}, {@link IdentitySampler}) and the learning rate is
 * the schedule's times the stage's LR_FACTOR; the log names each stage as it begins, and the metrics
 * lines carry {@code stage} (1-based) and {@code sampler} when stages are configured.
 *
 * <p>Devices: on the CPU everything is float32. On CUDA (MODEL.DEVICE cuda, or auto with a GPU) the
 * model, the centres, the labels and the triplet mining live on the GPU; the images go through a
 * page-locked buffer with an asynchronous copy; cuDNN picks its fastest convolutions (benchmark mode,
 * TF32 allowed); with SOLVER.AMP_ON_CUDA the forward pass runs under float16 autocast with dynamic
 * loss scaling ({@link AmpScaler}). A step copies its numbers to the host once (all losses, the
 * accuracy, the active-triplet fraction and, with AMP, the overflow flag in one tensor), so the CPU
 * never waits on the GPU more than once per step.
 */
public final class Trainer {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * What a run produced. {@code eval} is with TEST's post-processing (DBA, QE) when it is on;
   * {@code plainEval} is then the same features without it (null when there is none).
   */
  public record Result(EvalResult eval, EvalResult plainEval, int epochs, long iterations, double trainSeconds, double totalSeconds,
      double imagesPerSecond, double outsideShare, boolean stoppedByBudget, Path lastCheckpoint, Path bestCheckpoint,
      Path metrics, Path summary, List<Double> epochLosses) {}

  private final TrainConfig cfg;
  private final ReidDataset data;
  private final PrintStream out;
  private final Path outDir;
  private final boolean tty;
  private boolean overwrite;
  private Boolean overlapBatches; // tests: overlap batch loading with the step on any device (null: on a GPU)
  private Boolean deferReads; // tests: read FP32 steps' numbers one step late (null: unless REID4J_DEFER_READ=0)
  private Boolean backgroundCheckpoints; // tests: write checkpoints in the background (null: REID4J_ASYNC_CHECKPOINTS)
  private Runnable beforeCheckpointWrite; // tests: run by the checkpoint writer thread before each write
  private Boolean emulatedAmp; // tests on the CUDA emulator: AMP's scaling on the CPU, its state on the "device" or not
  private java.util.function.LongPredicate emulatedAmpPoison; // ... the steps whose scaled loss is made infinite
  private int stopAfterEpochs; // tests: end the run after this many epochs, as a kill would (0: never)
  private FrozenStages frozen; // MODEL.FREEZE_STAGES of the run in progress
  private ProcessGroupSession group; // data-parallel training: this process's group (null: one process)
  private boolean multiTensor; // the run's Adam steps as reid4j's multi-tensor CUDA kernels
  private Map<String, Object> checkpointTimes; // the run's checkpoint writes, for summary.json
  /** REID4J_OVERLAP=0: on a GPU, load the next batch after a step instead of during it (for comparisons). */
  static final boolean NO_OVERLAP = "0".equals(System.getenv("REID4J_OVERLAP"));
  /**
   * REID4J_DEFER_READ=0: read each FP32 training step's numbers at the end of that step, as AMP steps do, instead
   * of one step later (for comparisons).
   */
  static final boolean NO_DEFER_READ = "0".equals(System.getenv("REID4J_DEFER_READ"));

  public Trainer(TrainConfig cfg, ReidDataset data, PrintStream out) {
    this(cfg, data, out, ProgressBar.isTerminal());
  }

  Trainer(TrainConfig cfg, ReidDataset data, PrintStream out, boolean tty) {
    this.cfg = cfg;
    this.data = data;
    this.out = out;
    this.outDir = Path.of(cfg.outputDir());
    this.tty = tty;
  }

  /**
   * Lets {@link #run} start afresh in an OUTPUT_DIR that holds an earlier run, removing that run's
   * files (checkpoints, metrics, summary, pictures; nothing else) once the config, the data and the
   * model have been checked. Without it such a folder is refused.
   */
  public Trainer overwrite(boolean overwrite) {
    this.overwrite = overwrite;
    return this;
  }

  /**
   * Trains as one rank of a data-parallel group (see {@link ProcessGroupSession}): each rank takes
   * its share of every P x K batch (DATALOADER.P / world size whole identities, K images each, so
   * the batch-hard triplet still finds positives; P must be a multiple of the world size), the
   * gradients are averaged over the ranks after every backward, and only rank 0 writes (folder,
   * checkpoints, metrics.jsonl, summary.json) and evaluates; the others return a result without an
   * evaluation. Losses and accuracy in the metrics are averaged over the ranks; images/s counts all.
   *
   * <p>BatchNorm is per rank, as PyTorch's DDP without SyncBatchNorm: each rank normalises with the
   * statistics of its own share, and the running statistics saved and evaluated are rank 0's. So a
   * group is not bit-equal to one process with the whole batch (neither is the batch-hard triplet,
   * which mines within each rank's share); the gradient averaging itself is, which
   * {@code ProcessGroupSessionTest} checks on a model without BatchNorm.
   *
   * <p>Each rank's cross-batch memory (XBM) holds its own embeddings. Rank 0 draws the augmentations
   * and dropout masks one process would; the other ranks draw their own streams.
   *
   * <p>Budget decisions (SOLVER.MAX_MINUTES) are rank 0's, agreed at each step; a resumed group
   * starts from the checkpoint every rank reads (OUTPUT_DIR must be shared, or hold a copy of rank
   * 0's last.pt), checks that all ranks resume the same epoch, and copies rank 0's model. After every
   * epoch the ranks check that their parameters are still rank 0's.
   */
  public Trainer distributed(ProcessGroupSession group) {
    this.group = group != null && group.worldSize() > 1 ? group : null;
    return this;
  }

  /** The files of an earlier run in {@code dir} (relative names), empty when there is none. */
  public static List<String> earlierRun(Path dir) throws IOException {
    List<String> found = new ArrayList<>();
    for (String f : RUN_FILES) if (Files.exists(dir.resolve(f))) found.add(f);
    Path ck = dir.resolve("checkpoints");
    if (Files.isDirectory(ck))
      try (var l = Files.list(ck)) {
        l.map(p -> "checkpoints/" + p.getFileName()).filter(n -> n.endsWith(".pt")).sorted().forEach(found::add);
      }
    return found;
  }

  private static final List<String> RUN_FILES = List.of("metrics.jsonl", "summary.json", "curves.png", "cmc.png");

  private void removeEarlierRun() throws IOException {
    for (String f : RUN_FILES) Files.deleteIfExists(outDir.resolve(f));
    Path ck = outDir.resolve("checkpoints");
    if (Files.isDirectory(ck))
      try (var l = Files.list(ck)) {
        for (Path p : l.toList()) {
          String n = p.getFileName().toString();
          if (Files.isRegularFile(p) && (n.endsWith(".pt") || n.endsWith(".json") || n.endsWith(".tmp")))
            Files.delete(p);
        }
      }
  }

  /**
   * Tests: ends the run after {@code epochs} epochs of this process (their checkpoints written, then the
   * evaluation), as a kill after that epoch would leave the run folder, but without a budget.
   */
  Trainer stopAfterEpochs(int epochs) {
    this.stopAfterEpochs = epochs;
    return this;
  }

  /**
   * Tests: whether each step fetches the next batch and starts its copy before waiting for the device
   * (by default only on a GPU), so that the bookkeeping can be checked on the CPU.
   */
  Trainer overlapBatches(boolean on) {
    this.overlapBatches = on;
    return this;
  }

  /** Tests: whether FP32 update steps hand back their numbers one step late (by default yes). */
  Trainer deferReads(boolean on) {
    this.deferReads = on;
    return this;
  }

  /**
   * Tests: whether checkpoints are written in the background (by default on a GPU only, see
   * {@link CheckpointWriter}), and what the writer thread runs before each write (null: nothing).
   */
  Trainer backgroundCheckpoints(boolean on, Runnable beforeWrite) {
    this.backgroundCheckpoints = on;
    this.beforeCheckpointWrite = beforeWrite;
    return this;
  }

  /**
   * Tests on the CUDA emulator (whose "device" is host memory): a CPU run with AMP's loss scaling (no autocast: float32
   * throughout) and Adam on the CUDA kernels, the scale and the overflow verdict kept on the device when
   * {@code onDevice}; the steps (counted from 0) that {@code poisoned} accepts overflow ({@link AmpScaler#poison}).
   */
  Trainer emulatedAmp(boolean onDevice, java.util.function.LongPredicate poisoned) {
    this.emulatedAmp = onDevice;
    this.emulatedAmpPoison = poisoned;
    return this;
  }

  /** Trains (from scratch, or from {@code OUTPUT_DIR/checkpoints/last.pt} when {@code resume}) and evaluates. */
  public Result run(boolean resume) throws IOException {
    long runStart = System.nanoTime();
    TrainConfig.Solver s = cfg.solver();
    Device device = Devices.choose(cfg.model().device());
    boolean cuda = device.is_cuda();
    if (!cuda) {
      String why = Devices.guardCpuTraining(cfg.model().backbone());
      if (why != null) out.println("note: libtorch's oneDNN convolutions are off for this run: " + why);
    }
    ImageSource train = data.train();
    int numClasses = train.numClasses();
    Checkpoints ck = new Checkpoints(outDir.resolve("checkpoints"));
    boolean leader = group == null || group.isLeader();
    int world = group == null ? 1 : group.worldSize();
    if (group != null && cuda)
      throw new IllegalArgumentException("data-parallel training runs on the CPU (Gloo) only: a CUDA group needs NCCL "
          + "and one GPU per rank, which train does not set up yet; set MODEL.DEVICE=cpu, or train on one process");
    // rank 0 draws what one process would; the others their own augmentations and dropout masks
    long rankSalt = group == null ? 0 : 0x9E3779B97F4A7C15L * group.rank();
    if (world > 1 && cfg.dataloader().p() % world != 0)
      throw new IllegalArgumentException("DATALOADER.P (" + cfg.dataloader().p() + ") must be a multiple of the world "
          + "size (" + world + "): each rank trains on P / world size whole identities of every batch");
    if (resume && !ck.exists("last"))
      throw new IllegalArgumentException("nothing to resume: " + ck.file("last") + " does not exist (run without "
          + "--resume to start, or point --output at the run to continue)" + (leader ? "" : "; in a group every rank "
          + "reads it: OUTPUT_DIR must be a shared folder or hold a copy of rank 0's"));
    List<String> earlier = resume || !leader ? List.of() : earlierRun(outDir);
    if (!earlier.isEmpty() && !overwrite)
      throw new IllegalArgumentException("OUTPUT_DIR " + outDir + " already holds a run (" + String.join(", ",
          earlier.subList(0, Math.min(4, earlier.size()))) + (earlier.size() > 4 ? ", ..." : "") + "): continue it "
          + "with --resume, replace it with --overwrite, or choose another folder (--output DIR)");

    torch.manual_seed(s.seed());
    ReidModel model = ReidModel.build(cfg.model(), cfg.input().channels(), numClasses);
    if (cuda) {
      org.bytedeco.pytorch.Context ctx = torch.globalContext();
      ctx.setBenchmarkCuDNN(true); // fixed input sizes: let cuDNN time its algorithms once
      ctx.setAllowTF32CuDNN(true);
      torch.cuda_manual_seed_all(s.seed());
      model.to(device, false);
    }
    String arch = architecture(model, numClasses);
    frozen = new FrozenStages(model, cfg.model().freezeStages()); // before the optimiser, which then leaves them out
    Kernels kernels = Kernels.create(Backend.AUTO);
    CrossEntropyLabelSmooth ce = new CrossEntropyLabelSmooth(numClasses, s.labelSmooth());
    TripletLoss triplet = new TripletLoss(s.tripletMargin(), s.softMargin(), kernels);
    CenterLoss center = s.centerWeight() > 0 ? new CenterLoss(numClasses, model.featureDim()) : null;
    if (center != null && cuda) center.to(device, false);
    TrainConfig.Xbm xbmCfg = s.xbm();
    CrossBatchMemory xbm = xbmCfg.size() > 0
        ? (cuda ? CrossBatchMemory.onDevice(xbmCfg.size(), model.featureDim(), device, s.tripletMargin(), s.softMargin())
            : new CrossBatchMemory(xbmCfg.size(), model.featureDim(), kernels, s.tripletMargin(), s.softMargin()))
        : null;

    Optimizers.Groups groups = Optimizers.forModel(new Optimizers.Settings(s.optimizer(), s.baseLr(), s.weightDecay(),
        s.weightDecayBias(), s.biasLrFactor(), s.momentum()), model, emulatedAmp != null);
    multiTensor = groups.multiTensorKernels();
    Optimizer centerOpt = center == null ? null : Optimizers.centers(center.parameters(), s.centerLr());
    Checkpoints.State state = new Checkpoints.State(model, groups, center, centerOpt);
    LrSchedule configured = new LrSchedule(LrSchedule.Kind.parse(s.schedule()), s.warmupFactor(), s.warmupEpochs(),
        s.steps(), s.gamma(), s.maxEpochs());
    LrSchedule schedule = configured;
    BackboneFreeze freeze = new BackboneFreeze(model.backboneParameters());

    int startEpoch = 0;
    long iterations = 0;
    double bestMap = -1;
    int bestEpoch = 0;
    double priorTrainSeconds = 0;
    Checkpoints.AmpState resumedAmp = null;
    if (resume) {
      requireResumable(Checkpoints.readMeta(ck.file("last")), ck.file("last"));
      Checkpoints.Meta m = Checkpoints.load(ck.file("last"), state, numClasses, arch);
      startEpoch = m.epoch();
      iterations = m.iterations();
      bestMap = m.bestMap();
      bestEpoch = m.bestEpoch();
      priorTrainSeconds = m.trainSeconds();
      resumedAmp = m.amp();
      out.printf("resumed from %s: %d epochs done, %,d iterations%s%n", ck.file("last"), startEpoch, iterations,
          bestMap >= 0 ? String.format(Locale.ROOT, ", best mAP %.4f at epoch %d", bestMap, bestEpoch) : "");
      if (!m.config().equals(cfg.toYaml()))
        out.println("note: the config differs from the checkpoint's; continuing with the current one");
    }
    if (group != null) {
      group.requireSame("epoch to resume from (" + ck.file("last") + ")", startEpoch);
      group.requireSame("iteration count to resume from (" + ck.file("last") + ")", iterations);
      group.broadcastModel(model);
      if (center != null) group.broadcastModel(center);
      out.printf("data parallel: rank %d of %d over %s (master %s); each rank trains on %d of the %d identities of "
          + "every batch, gradients averaged%n", group.rank(), world, group.config().backend(), group.config().master(),
          cfg.dataloader().p() / world, cfg.dataloader().p());
    }

    out.printf("train: %s, %,d images, %d classes; query %,d, gallery %,d%n", data.name(), train.size(), numClasses,
        data.query().size(), data.gallery().size());
    out.printf("model: %s; %s%n", arch, groups.describe());
    if (frozen.any())
      out.printf("frozen: the backbone's stem and first %d stage%s (MODEL.FREEZE_STAGES; %d tensors, BN statistics "
          + "fixed)%n", cfg.model().freezeStages(), cfg.model().freezeStages() == 1 ? "" : "s", frozen.tensors());
    if (frozen.any() && !resume && cfg.model().pretrainPath().isEmpty())
      out.println("warning: MODEL.FREEZE_STAGES keeps randomly initialised stages fixed (MODEL.PRETRAIN_PATH is "
          + "empty); freezing is meant for pretrained weights");
    String gpu = cuda ? Devices.deviceName(0) : null;
    out.printf("device: %s, %d torch threads, loader workers %d; kernels %s%n", cuda ? "cuda"
        + (gpu != null ? " (" + gpu + ")" : "") : "cpu",
        torch.get_num_threads(), cfg.dataloader().numWorkers(), kernels.describe());

    if (cfg.dataloader().k() < 2 && s.tripletWeight() > 0)
      out.println("warning: DATALOADER.K is " + cfg.dataloader().k() + ": a batch holds one image per identity, so the "
          + "triplet loss has no positive pair and stays 0 (use K >= 2, or SOLVER.TRIPLET_WEIGHT 0)");
    Stages stages = Stages.of(cfg), stagesNow = stages;
    Map<String, IdentitySampler> samplers = new LinkedHashMap<>();
    for (String kind : stages.samplers())
      samplers.put(kind, IdentitySampler.create(kind, train.pids(), cfg.dataloader().p(), cfg.dataloader().k(),
          s.seed()));
    int leftOut = samplers.values().iterator().next().leftOut();
    if (leftOut > 0)
      out.printf("sampler: %d %s with < 2 images left out (a batch-hard triplet needs a positive)%n", leftOut,
          leftOut == 1 ? "identity" : "identities");
    IdentitySampler sampler = samplers.get(stages.at(startEpoch).sampler());
    Transform trainTf = Transforms.train(cfg);
    ProgressBar bar = new ProgressBar(out, tty, s.logPeriod());
    StepInput input = new StepInput(device);
    AmpScaler amp = null;
    boolean ampOnDevice = AmpScaler.wanted(System.getenv(AmpScaler.DEVICE_ENV)); // a bad value stops any run
    if (emulatedAmp != null) {
      amp = new AmpScaler(emulatedAmp, true).poison(emulatedAmpPoison);
    } else if (cuda && s.ampOnCuda()) {
      if (ampOnDevice && !groups.multiTensorKernels()) {
        out.println("warning: " + AmpScaler.DEVICE_ENV + "=1 ignored: keeping AMP's state on the device needs Adam "
            + "on reid4j's CUDA kernels (SOLVER.OPTIMIZER " + s.optimizer() + ")");
        ampOnDevice = false;
      }
      amp = new AmpScaler(ampOnDevice, false);
    }
    if (amp != null && resumedAmp != null) { // the loss scale goes on where it was
      try {
        amp.restore(resumedAmp);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("checkpoint " + ck.file("last") + ": " + e.getMessage(), e);
      }
    }
    if (amp != null)
      out.println("mixed precision: autocast + dynamic loss scaling (CUDA)" + (amp.onDevice()
          ? "; the loss scale and the overflow verdict stay on the device (" + AmpScaler.DEVICE_ENV + "=1)" : ""));
    boolean background = leader && (backgroundCheckpoints != null ? backgroundCheckpoints
        : CheckpointWriter.wanted(cuda)) && CheckpointWriter.possible(state);
    if (background) out.println("checkpoints: written in the background from host copies of the state ("
        + CheckpointWriter.ENV + "=0 writes them on the training thread)");

    TrainStep step = new TrainStep(model, device, s, ce, triplet, center, groups, centerOpt, amp, input, xbm,
        (amp == null || amp.onDevice()) && (deferReads != null ? deferReads : !NO_DEFER_READ));
    if (group != null) {
      step.group = group;
      step.synced.addAll(toList(model.parameters(true)));
      if (center != null) step.synced.addAll(toList(center.parameters(true)));
    }

    // The time budget (SOLVER.MAX_MINUTES, counted from the start of run()) is planned before epoch 1
    // from a few measured steps, so the schedule, the header and the first ETA are already the real
    // ones; it is re-planned after every epoch, and a step that would leave too little time for the
    // final evaluation ends the run mid-epoch.
    Budget budget = null;
    int planned = s.maxEpochs();
    if (s.maxMinutes() > 0 && startEpoch < s.maxEpochs()) {
      double secondsPerImage = probe(step, model, sampler, trainTf, train, startEpoch);
      if (group != null) secondsPerImage = group.leaderValue(secondsPerImage); // rank 0 plans for the group
      int perEpochImages = shard(sampler.epoch(startEpoch)).stream().mapToInt(x -> x.length).sum();
      budget = new Budget(s.maxMinutes() * 60, runStart, secondsPerImage * (data.query().size()
          + data.gallery().size()) / 3 + 2);
      double perEpoch = secondsPerImage * perEpochImages;
      planned = plan(startEpoch, s.maxEpochs(), budget.secondsLeft(), perEpoch, budget.evalReserve);
      if (group != null) planned = (int) group.leaderValue(planned);
      out.printf(Locale.ROOT, "time budget: %.2f minutes (SOLVER.MAX_MINUTES); measured %,.0f images/s before "
          + "epoch %d -> %.0f s per epoch, %d of %d epochs (SOLVER.MAX_EPOCHS)%s%n", s.maxMinutes(),
          1 / secondsPerImage, startEpoch + 1, perEpoch, Math.max(planned - startEpoch, 0),
          s.maxEpochs() - startEpoch, planned < s.maxEpochs() ? "; the schedule is compressed to match" : "");
      if (planned <= startEpoch) {
        planned = startEpoch + 1; // not even one epoch fits: train part of one, until the budget says stop
        out.println("time budget: less than one epoch fits; training stops mid-epoch when the budget is spent");
      }
      if (planned < s.maxEpochs()) {
        schedule = configured.compressedTo(s.maxEpochs(), planned);
        stagesNow = stages.compressedTo(s.maxEpochs(), planned);
      }
    }
    out.printf("lr: %s%n", schedule);
    if (stages.configured()) out.printf("stages: %s%n", stagesNow.describe());

    Path lastPath = resume ? ck.file("last") : null, bestPath = ck.exists("best") && resume ? ck.file("best") : null;
    EvalResult lastEval = null, lastPlainEval = null;
    int lastEvalEpoch = -1;
    boolean stoppedByBudget = planned < s.maxEpochs();
    boolean partialEpoch = false;
    double partialFraction = 1;
    double trainSeconds = 0;
    long images = 0;
    double nativeSeconds = 0, stepSeconds = 0;
    List<Double> epochLosses = new ArrayList<>();
    int epoch = startEpoch;
    long loopStart = System.nanoTime();

    if (leader) { // in a group only rank 0 writes
      AtomicFiles.createFolder(outDir); // only now: a run refused above leaves no folder behind
      if (!earlier.isEmpty()) {
        removeEarlierRun();
        out.println("overwrite: removed the earlier run in " + outDir + " (" + earlier.size() + " files)");
      }
      int stale = AtomicFiles.removeStale(outDir) + AtomicFiles.removeStale(outDir.resolve("checkpoints"));
      if (stale > 0) out.println("removed " + stale + " temporary file(s) that an interrupted write left in " + outDir);
    }
    int stageIndex = -1; // never goes back, even when a revised time budget moves the boundaries
    try (MetricsLog metrics = leader ? new MetricsLog(outDir.resolve("metrics.jsonl"), startEpoch) : null;
        CheckpointWriter writer = new CheckpointWriter(ck, background, cuda)) {
      writer.beforeWrite = beforeCheckpointWrite;
      while (epoch < planned) {
        long epochStart = System.nanoTime();
        double syncBefore = step.syncSeconds;
        torch.manual_seed(mix(s.seed() ^ rankSalt, epoch));
        freeze.set(epoch < s.freezeBackboneEpochs());
        Stages.Stage stage = stagesNow.list().get(Math.max(stageIndex, stagesNow.at(epoch).index()));
        if (stage.index() != stageIndex && stages.configured())
          bar.println(stage.describe(stages.size()) + (stageIndex < 0 && epoch > 0 ? " (resumed at epoch " + (epoch + 1)
              + ")" : ""));
        stageIndex = stage.index();
        boolean xbmOn = xbm != null && epoch >= xbmCfg.startEpoch()
            && (xbmCfg.stopEpoch() == 0 || epoch < xbmCfg.stopEpoch());
        if (xbm != null && xbmOn != step.xbmOn)
          bar.println(xbmOn ? String.format(Locale.ROOT, "xbm: on from epoch %d: a memory of %,d embeddings (%d held), "
              + "triplet loss against it x %.3g", epoch + 1, xbm.size(), xbm.filled(), xbmCfg.weight())
              : "xbm: off from epoch " + (epoch + 1) + " (SOLVER.XBM.STOP_EPOCH)");
        step.xbmOn = xbmOn;
        List<int[]> batches = shard(samplers.get(stage.sampler()).epoch(epoch));
        int n = batches.size();
        TrainStep.EpochSums sums = new TrainStep.EpochSums();
        long epochImages = 0;
        double epochNative = 0, epochStep = 0;
        trainMode(model);
        try (DataLoader loader = new DataLoader(train, batches, trainTf, cfg.dataloader().numWorkers(),
            cfg.dataloader().prefetch(), mix(s.seed() ^ 0x5DEECE66DL ^ rankSalt, epoch))) {
          int it = 0;
          long tPrev = System.nanoTime();
          // the next batch's loading and copy during this step (GPU; the CPU only in tests)
          boolean overlap = overlapBatches != null ? overlapBatches : cuda && !NO_OVERLAP;
          Batch b = loader.hasNext() ? loader.next() : null;
          while (b != null) {
            it++;
            double factor = schedule.factor(epoch, (it - 1) / (double) n) * stage.lrFactor();
            groups.setFactor(factor);
            long t0 = System.nanoTime();
            float[] v;
            try {
              v = step.run(b, true, overlap ? loader : null);
            } catch (IllegalArgumentException e) {
              if (e.getMessage() == null || !e.getMessage().contains("non-finite")) throw e;
              throw new IllegalStateException(String.format(Locale.ROOT, "training diverged at epoch %d iteration %d: "
                  + "%s; lower SOLVER.BASE_LR (now %.3g)", epoch + 1, it, e.getMessage(), s.baseLr()), e);
            }
            long t1 = System.nanoTime();
            if (v != null) sums.add(v, epoch, s.baseLr()); // FP32: the previous step's numbers (none after the first)
            iterations++;
            epochImages += b.size();
            double elapsed = (t1 - epochStart) / 1e9;
            double rate = epochImages / Math.max(elapsed, 1e-9);
            double epochsLeft = (n - it) / (double) n + (planned - epoch - 1);
            double eta = elapsed / it * n * epochsLeft;
            if (sums.steps > 0) bar.update(sums.status(epoch, planned, it, n, groups.lr(0), rate, eta));
            long t2 = System.nanoTime();
            epochNative += (t1 - t0) / 1e9 - step.loaderWait;
            epochStep += (t2 - tPrev) / 1e9;
            tPrev = t2;
            if (budget != null && it < n && mustStop(budget)) {
              partialEpoch = true;
              partialFraction = it / (double) n;
              stoppedByBudget = true;
              bar.println(String.format(Locale.ROOT, "time budget: %.2f of %.2f minutes used; stopping epoch %d at "
                  + "iteration %d of %d to leave %.0f s for the evaluation", budget.minutesUsed(), s.maxMinutes(),
                  epoch + 1, it, n, budget.evalReserve));
              break;
            }
            b = overlap ? step.takeNext() : loader.hasNext() ? loader.next() : null;
          }
          float[] last = step.drain(); // the last step's numbers, when they are read one step late
          if (last != null) {
            sums.add(last, epoch, s.baseLr());
            double elapsed = (System.nanoTime() - epochStart) / 1e9;
            bar.update(sums.status(epoch, planned, it, n, groups.lr(0), epochImages / Math.max(elapsed, 1e-9),
                elapsed / Math.max(1, it) * n * (planned - epoch - 1)));
          }
          if (loader.skippedImages() > 0)
            bar.println("warning: " + loader.skippedImages() + " training images could not be loaded this epoch");
        }
        epoch++;
        double epochSeconds = (System.nanoTime() - epochStart) / 1e9;
        trainSeconds += epochSeconds;
        images += epochImages;
        nativeSeconds += epochNative;
        stepSeconds += epochStep;
        if (budget != null && !partialEpoch && epoch < planned) {
          double perEpoch = (System.nanoTime() - loopStart) / 1e9 / (epoch - startEpoch);
          int fit = Math.max(epoch, plan(epoch, s.maxEpochs(), budget.secondsLeft(), perEpoch, budget.evalReserve));
          // Lengthen only when 5% slower epochs would still fit, so that the plan does not swing with noise.
          if (fit > planned)
            fit = Math.max(planned, plan(epoch, s.maxEpochs(), budget.secondsLeft(), 1.05 * perEpoch,
                budget.evalReserve));
          if (group != null) fit = (int) group.leaderValue(fit);
          if (fit != planned) {
            bar.println(String.format(Locale.ROOT, "time budget: %.1f of %.2f minutes used, %.0f s per epoch -> %d "
                + "epochs in all (SOLVER.MAX_EPOCHS %d); the schedule is adjusted to match", budget.minutesUsed(),
                s.maxMinutes(), perEpoch, fit, s.maxEpochs()));
            planned = fit;
            schedule = configured.compressedTo(s.maxEpochs(), planned);
            stagesNow = stages.compressedTo(s.maxEpochs(), planned);
            if (planned < s.maxEpochs()) stoppedByBudget = true;
          }
        }
        boolean budgetHit = partialEpoch || (budget != null && epoch >= planned && planned < s.maxEpochs());
        boolean killed = stopAfterEpochs > 0 && epoch - startEpoch >= stopAfterEpochs;
        boolean lastEpoch = epoch >= planned || budgetHit || killed;
        int nIt = Math.max(1, n);
        if (group != null) {
          // the group's averages (every rank ran the same number of steps) and all ranks' images
          double[] all = group.allReduceSum(new double[] {sums.loss, sums.id, sums.tri, sums.cen, sums.acc,
              sums.active, sums.xbm, epochImages});
          sums.loss = all[0] / world;
          sums.id = all[1] / world;
          sums.tri = all[2] / world;
          sums.cen = all[3] / world;
          sums.acc = all[4] / world;
          sums.active = all[5] / world;
          sums.xbm = all[6] / world;
          images += (long) all[7] - epochImages; // the run's images/s counts every rank's too
          epochImages = (long) all[7];
          group.requireInSync(model, "after epoch " + epoch);
        }
        epochLosses.add(sums.loss / nIt);

        Map<String, Object> row = new LinkedHashMap<>();
        row.put("epoch", epoch);
        row.put("iterations", iterations);
        row.put("loss", sums.loss / nIt);
        row.put("id_loss", sums.id / nIt);
        row.put("triplet_loss", sums.tri / nIt);
        row.put("center_loss", sums.cen / nIt);
        row.put("accuracy", sums.acc / nIt);
        row.put("triplet_active", sums.active / nIt);
        if (xbm != null) row.put("xbm_loss", step.xbmOn ? sums.xbm / nIt : null);
        row.put("lr", groups.lr(0));
        if (stages.configured()) {
          row.put("stage", stage.index() + 1);
          row.put("sampler", stage.sampler());
        }
        row.put("seconds", epochSeconds);
        row.put("images_per_second", epochImages / Math.max(epochSeconds, 1e-9));
        row.put("outside_libtorch_share", epochStep > 0 ? 1 - epochNative / epochStep : 0.0);
        row.put("rss_mb", residentMegabytes());
        if (partialEpoch) row.put("partial_epoch", partialFraction);
        if (group != null) {
          row.put("world_size", world);
          row.put("gradient_sync_seconds", step.syncSeconds - syncBefore); // rank 0's, waits included
        }
        if (!leader) { // the epoch's evaluation, metrics and checkpoints are rank 0's
          if (budgetHit || killed) break;
          continue;
        }
        boolean best = false; // this epoch's evaluation is the best so far
        if (lastEpoch || (s.evalPeriod() > 0 && epoch % s.evalPeriod() == 0)) {
          long e0 = System.nanoTime();
          Evaluation ev = evaluate(model, kernels, bar);
          lastEval = ev.scores();
          lastPlainEval = ev.plain();
          if (budget != null) budget.evalReserve = (System.nanoTime() - e0) / 1e9 + 2;
          lastEvalEpoch = epoch;
          row.put("rank1", lastEval.rank1());
          row.put("rank5", lastEval.rank5());
          row.put("mAP", lastEval.mAP());
          row.put("mINP", lastEval.mINP());
          bar.println(String.format(Locale.ROOT, "epoch %d: R1 %.4f  R5 %.4f  mAP %.4f  mINP %.4f", epoch,
              lastEval.rank1(), lastEval.rank5(), lastEval.mAP(), lastEval.mINP()));
          if (lastEval.mAP() > bestMap) {
            bestMap = lastEval.mAP();
            bestEpoch = epoch;
            row.put("best", true);
            best = true;
          }
        }
        // The epoch's line goes to metrics.jsonl before last.pt records the epoch as done: a kill in
        // between resumes from the previous epoch, which drops the line and trains the epoch again.
        // (The other order lost the line: last.pt said the epoch was done, metrics.jsonl never had it.)
        metrics.append(row);
        Checkpoints.Meta meta = meta(epoch, iterations, numClasses, arch, model, bestMap, bestEpoch,
            priorTrainSeconds + trainSeconds, row, amp != null ? amp.state() : null);
        List<CheckpointWriter.File> files = new ArrayList<>(3);
        if (best) {
          files.add(new CheckpointWriter.File("best", meta));
          bestPath = ck.file("best").toAbsolutePath();
        }
        files.add(new CheckpointWriter.File("last", meta));
        lastPath = ck.file("last").toAbsolutePath();
        if (s.checkpointPeriod() > 0 && epoch % s.checkpointPeriod() == 0 && !lastEpoch)
          files.add(new CheckpointWriter.File(String.format(Locale.ROOT, "epoch_%03d", epoch), meta));
        // best.pt (if this epoch's evaluation is the best), last.pt, epoch_NNN.pt: from one copy of the state when
        // written in the background, in which case they are on disk by the next epoch's end (close() waits for them)
        writer.save(files, state);
        if (budgetHit || killed) {
          if (budgetHit)
            bar.println(String.format(Locale.ROOT, "stopped by the time budget after %d of %d epochs (SOLVER.MAX_EPOCHS): "
                + "%.1f of %.2f minutes used (SOLVER.MAX_MINUTES)", epoch, s.maxEpochs(), budget.minutesUsed(),
                s.maxMinutes()));
          break;
        }
      }
      checkpointTimes = writer.finish(); // the last write done before the summary says where the checkpoints are
    }
    if (group != null) group.barrier("end of training");
    if (!leader) {
      step.close();
      input.close();
      if (xbm != null) xbm.close();
      return new Result(null, null, epoch, iterations, trainSeconds, (System.nanoTime() - runStart) / 1e9,
          images / Math.max(trainSeconds, 1e-9), stepSeconds > 0 ? 1 - nativeSeconds / stepSeconds : 0, stoppedByBudget,
          null, null, outDir.resolve("metrics.jsonl"), outDir.resolve("summary.json"), epochLosses);
    }
    if (lastEval == null || lastEvalEpoch != epoch) {
      // resumed at or past MAX_EPOCHS: nothing trained, evaluate what there is
      Evaluation ev = evaluate(model, kernels, bar);
      lastEval = ev.scores();
      lastPlainEval = ev.plain();
    }
    double totalSeconds = (System.nanoTime() - runStart) / 1e9;
    double outside = stepSeconds > 0 ? 1 - nativeSeconds / stepSeconds : 0;
    Path summary = outDir.resolve("summary.json");
    Result r = new Result(lastEval, lastPlainEval, epoch, iterations, trainSeconds, totalSeconds, images / Math.max(trainSeconds, 1e-9),
        outside, stoppedByBudget, lastPath, bestPath, outDir.resolve("metrics.jsonl"), summary, epochLosses);
    Map<String, Object> budgetInfo = null;
    if (s.maxMinutes() > 0) {
      budgetInfo = new LinkedHashMap<>();
      budgetInfo.put("minutes", s.maxMinutes());
      budgetInfo.put("max_epochs", s.maxEpochs());
      budgetInfo.put("planned_epochs", planned);
      budgetInfo.put("partial_last_epoch", partialEpoch ? partialFraction : null);
      budgetInfo.put("minutes_used", totalSeconds / 60);
    }
    writeSummary(r, arch, numClasses, bestMap, bestEpoch, cuda, amp, budgetInfo);
    step.close();
    input.close();
    if (xbm != null) xbm.close();
    return r;
  }

  /**
   * Settings whose saved state cannot carry over to a resumed run (the optimiser's moments, the
   * centre loss and its optimiser) must match the checkpoint's; libtorch would otherwise fail deep
   * inside with an internal assertion.
   */
  private void requireResumable(Checkpoints.Meta m, Path file) {
    TrainConfig wasCfg;
    try {
      wasCfg = TrainConfig.fromYamlString(m.config());
    } catch (RuntimeException e) {
      return; // an older config that no longer parses: the checks in Checkpoints.load still apply
    }
    TrainConfig.Solver was = wasCfg.solver(), now = cfg.solver();
    int frozeWas = wasCfg.model().freezeStages(), frozeNow = cfg.model().freezeStages();
    if (frozeWas != frozeNow)
      throw new IllegalArgumentException("cannot resume " + file + " with MODEL.FREEZE_STAGES " + frozeNow + ": it was "
          + "trained with " + frozeWas + ", and its optimiser state holds exactly the parameters that were not frozen; "
          + "resume with " + frozeWas + ", or start a new run (--overwrite or another --output)");
    if (!was.optimizer().equalsIgnoreCase(now.optimizer()))
      throw new IllegalArgumentException("cannot resume " + file + " with SOLVER.OPTIMIZER " + now.optimizer()
          + ": it was trained with " + was.optimizer() + " and its optimiser state is " + was.optimizer()
          + "'s; resume with " + was.optimizer() + ", or start a new run (--overwrite or another --output)");
    if ((was.centerWeight() > 0) != (now.centerWeight() > 0))
      throw new IllegalArgumentException("cannot resume " + file + " with SOLVER.CENTER_WEIGHT " + now.centerWeight()
          + ": it was trained with " + was.centerWeight() + " (the centre loss cannot be switched "
          + (now.centerWeight() > 0 ? "on" : "off") + " in a resumed run); start a new run instead");
  }

  private Checkpoints.Meta meta(int epoch, long iterations, int numClasses, String arch, ReidModel model,
      double bestMap, int bestEpoch, double trainSeconds, Map<String, Object> row, Checkpoints.AmpState amp) {
    return new Checkpoints.Meta(Checkpoints.FORMAT, epoch, iterations, numClasses, arch, Checkpoints.signature(model),
        cfg.solver().seed(), bestMap, bestEpoch, trainSeconds, Instant.now().toString(), new LinkedHashMap<>(row),
        cfg.toYaml(), amp);
  }

  /** Train mode, except the stages MODEL.FREEZE_STAGES keeps in eval mode. */
  private void trainMode(ReidModel model) {
    model.train(true);
    if (frozen != null) frozen.keepInEval();
  }

  /** An evaluation's scores, and those without TEST's DBA/QE when it has either (else null). */
  record Evaluation(EvalResult scores, EvalResult plain) {}

  /** Query and gallery features with the test transforms, then R1 / mAP / mINP. */
  Evaluation evaluate(ReidModel model, Kernels kernels, ProgressBar bar) throws IOException {
    long t0 = System.nanoTime();
    model.eval();
    LabelledFeatures q, g;
    try {
      q = extract(model, "query", data.query());
      g = extract(model, "gallery", data.gallery());
    } finally {
      trainMode(model);
    }
    long t1 = System.nanoTime();
    TrainConfig.Test t = cfg.test();
    RetrievalEval.Options options = new RetrievalEval.Options(Metric.parse(t.metric()), t.featNorm(),
        t.rerank() ? RerankParams.DEFAULT : null).withDba(t.dbaK()).withQe(t.qe().equals("none") ? null
            : new QueryExpansion.Params(QueryExpansion.Kind.parse(t.qe()), t.qeK(), 1, t.qeAlpha()));
    // only the scores are needed: a GPU backend scores the matrix where it computes it
    RetrievalEval.Report rep = RetrievalEval.run(kernels, q, g, options, step -> {}, false);
    EvalResult plain = null;
    if (options.dbaK() > 0 || options.qe() != null) {
      plain = RetrievalEval.run(kernels, q, g, options.withDba(0).withQe(null), step -> {}, false).result();
      bar.println(String.format(Locale.ROOT, "  %s: R1 %.4f  mAP %.4f; without it: R1 %.4f  mAP %.4f",
          postProcessing(t), rep.result().rank1(), rep.result().mAP(), plain.rank1(), plain.mAP()));
    }
    bar.println(String.format(Locale.ROOT, "evaluation: %,d queries x %,d gallery, features %.1f s, ranking %.1f s",
        q.size(), g.size(), (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9));
    return new Evaluation(rep.result(), plain);
  }

  /** rank1, rank5, rank10, mAP and mINP (fractions), as summary.json gives them. */
  private static Map<String, Object> scores(EvalResult e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("rank1", e.rank1());
    m.put("rank5", e.rank5());
    m.put("rank10", e.rank10());
    m.put("mAP", e.mAP());
    m.put("mINP", e.mINP());
    return m;
  }

  /** "DBA (k 3) + alpha-QE (k 10, alpha 3)": the post-processing TEST asks for. */
  public static String postProcessing(TrainConfig.Test t) {
    List<String> parts = new ArrayList<>();
    if (t.dbaK() > 0) parts.add("DBA (k " + t.dbaK() + ")");
    if (!t.qe().equals("none"))
      parts.add(t.qe() + " (k " + t.qeK() + (t.qe().equals("alpha-qe") ? ", alpha " + fmt(t.qeAlpha()) : "") + ")");
    return String.join(" + ", parts);
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }

  /** Features of every loadable image of {@code src} (eval mode, no autograd), with their pids and camids. */
  LabelledFeatures extract(ReidModel model, String name, ImageSource src) throws IOException {
    Device device = Devices.choose(cfg.model().device());
    int dim = -1;
    float[] feats = null;
    int rows = 0;
    List<int[]> kept = new ArrayList<>();
    try (StepInput input = new StepInput(device);
        NoGradGuard noGrad = new NoGradGuard();
        DataLoader loader = DataLoader.sequential(src, cfg.test().batchSize(), Transforms.test(cfg),
            cfg.dataloader().numWorkers())) {
      while (loader.hasNext()) {
        Batch b = loader.next();
        input.load(b);
        try (PointerScope scope = new PointerScope()) {
          Tensor f = model.embed(input.images(b)).to(torch.ScalarType.Float).cpu().contiguous(); // host copy
          if (dim < 0) {
            dim = (int) f.size(1);
            feats = new float[src.size() * dim];
          }
          f.data_ptr_float().get(feats, rows * dim, b.size() * dim); // host: f is the .cpu() copy above
        }
        rows += b.size();
        kept.add(b.indices());
      }
    }
    if (dim < 0) throw new IOException(name + ": no image could be loaded");
    int[] pids = new int[rows], camids = new int[rows];
    int r = 0;
    for (int[] idx : kept)
      for (int i : idx) {
        pids[r] = src.pid(i);
        camids[r] = src.camid(i);
        r++;
      }
    float[] exact = rows * dim == feats.length ? feats : java.util.Arrays.copyOf(feats, rows * dim);
    return new LabelledFeatures(name, new FloatMatrix(rows, dim, exact), pids, camids);
  }

  private void writeSummary(Result r, String arch, int numClasses, double bestMap, int bestEpoch, boolean cuda,
      AmpScaler amp, Map<String, Object> budgetInfo) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("dataset", data.name());
    m.put("model", arch);
    m.put("classes", numClasses);
    m.put("device", cuda ? "cuda" : "cpu");
    if (cuda) m.put("gpu", Devices.deviceName(0));
    m.put("amp", amp != null);
    m.put("adam_multi_tensor_kernels", multiTensor);
    if (amp != null) {
      m.put("amp_loss_scale", amp.scale());
      m.put("amp_state_on_device", amp.onDevice());
      m.put("amp_skipped_steps", amp.skippedSteps());
    }
    m.put("torch_threads", torch.get_num_threads());
    if (group != null) {
      m.put("world_size", group.worldSize());
      m.put("distributed_backend", group.config().backend().name().toLowerCase(Locale.ROOT));
    }
    m.put("epochs", r.epochs());
    m.put("iterations", r.iterations());
    m.putAll(scores(r.eval()));
    if (r.plainEval() != null) {
      m.put("post_processing", postProcessing(cfg.test()));
      m.put("without_post_processing", scores(r.plainEval()));
    }
    m.put("best_mAP", bestMap);
    m.put("best_epoch", bestEpoch);
    m.put("train_seconds", r.trainSeconds());
    m.put("total_seconds", r.totalSeconds());
    m.put("images_per_second", r.imagesPerSecond());
    m.put("outside_libtorch_share", r.outsideShare());
    m.put("stopped_by_time_budget", r.stoppedByBudget());
    m.put("time_budget", budgetInfo);
    m.put("checkpoints", checkpointTimes);
    m.put("last_checkpoint", String.valueOf(r.lastCheckpoint()));
    m.put("best_checkpoint", String.valueOf(r.bestCheckpoint()));
    m.put("metrics", r.metrics().toString());
    m.put("config", cfg.toYaml());
    AtomicFiles.writeString(r.summary(), JSON.writeValueAsString(m) + "\n");
  }

  /** "small_cnn, avg pooling, bnneck (after), linear head, 128-d features, 10 classes". */
  private String architecture(ReidModel model, int numClasses) {
    TrainConfig.Model m = cfg.model();
    return m.backbone() + (!m.backbone().equals("small_cnn") ? " (last stride " + m.lastStride() + (m.ibn() ? ", IBN-a" : "")
        + ")" : "") + ", " + m.pooling() + " pooling, " + m.neck() + (m.neck().equals("none") ? "" : " (" + m.neckFeat()
        + ")") + ", " + m.head() + " head, " + model.featureDim() + "-d features, " + numClasses + " classes";
  }

  /**
   * How many epochs in all fit the time budget: {@code done} plus the whole epochs of
   * {@code perEpochSeconds} that fit in {@code secondsLeft} after reserving {@code evalReserveSeconds}
   * for the final evaluation; at most {@code maxEpochs}, at least {@code done} (= stop now).
   */
  static int plan(int done, int maxEpochs, double secondsLeft, double perEpochSeconds, double evalReserveSeconds) {
    double more = Math.floor((secondsLeft - evalReserveSeconds) / Math.max(perEpochSeconds, 1e-9));
    return (int) Math.max(done, Math.min(maxEpochs, done + Math.max(0, more)));
  }

  /** Resident set size of this process in MiB (Linux /proc), or -1 where unavailable. */
  static double residentMegabytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status")))
        if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return -1;
  }

  /** This rank's share of each batch: whole identities (K indices each), the same count on every rank. */
  private List<int[]> shard(List<int[]> batches) {
    if (group == null) return batches;
    int w = group.worldSize(), r = group.rank(), k = cfg.dataloader().k();
    List<int[]> mine = new ArrayList<>(batches.size());
    for (int[] b : batches) {
      if (b.length % (w * k) != 0)
        throw new IllegalStateException("a batch of " + b.length + " indices cannot be split into " + w + " shares of "
            + "whole identities of K = " + k);
      int per = b.length / w;
      mine.add(java.util.Arrays.copyOfRange(b, r * per, (r + 1) * per));
    }
    return mine;
  }

  /** The budget's verdict: rank 0's in a group (its clock decides for all, at the same step). */
  private boolean mustStop(Budget budget) {
    boolean stop = budget.mustStop();
    return group == null ? stop : group.leaderValue(stop ? 1 : 0) > 0;
  }

  /** A 64-bit mix of the run seed and the epoch (SplitMix64's finaliser), for per-epoch streams. */
  static long mix(long seed, long epoch) {
    long z = seed + 0x9E3779B97F4A7C15L * (epoch + 1);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return (z ^ (z >>> 31)) & Long.MAX_VALUE;
  }



  /**
   * Seconds per training image, measured before epoch {@code epoch + 1} on up to 24 of its own
   * batches (loader included; the first step, and others in the first 2 s, only warm up and are not
   * timed): forward and backward without optimiser steps, and the BatchNorm statistics put back
   * afterwards, so the model is as it was. Stops after 10 s of timed steps (a large network on a
   * CPU), with at least one timed step.
   */
  private double probe(TrainStep step, ReidModel model, IdentitySampler sampler, Transform tf, ImageSource train, int epoch) {
    List<int[]> all = shard(sampler.epoch(epoch));
    List<int[]> batches = all.subList(0, Math.min(all.size(), 24));
    List<Tensor> buffers = toList(model.buffers(true));
    List<Tensor> saved = new ArrayList<>();
    try (NoGradGuard ng = new NoGradGuard()) {
      for (Tensor t : buffers) {
        Tensor c = t.clone();
        c.retainReference();
        saved.add(c);
      }
    }
    long images = 0;
    double seconds = 0;
    try (DataLoader loader = new DataLoader(train, batches, tf, cfg.dataloader().numWorkers(),
        cfg.dataloader().prefetch(), mix(cfg.solver().seed() ^ 0x3C6EF372L, epoch))) {
      trainMode(model);
      long t = System.nanoTime(), start = t;
      int done = 0;
      while (loader.hasNext() && seconds < 10) {
        Batch b = loader.next();
        step.run(b, false);
        long now = System.nanoTime();
        done++;
        // warm-up, not timed: the first step, and further ones for the first 2 s (at most 4 steps)
        boolean warm = done == 1 || (done <= 4 && (now - start) / 1e9 < 2);
        if (!warm || !loader.hasNext() && images == 0) {
          images += b.size();
          seconds += (now - t) / 1e9;
        }
        t = now;
      }
    } finally {
      try (NoGradGuard ng = new NoGradGuard()) {
        for (int i = 0; i < buffers.size(); i++) {
          buffers.get(i).copy_(saved.get(i));
          saved.get(i).releaseReference();
        }
      }
    }
    if (images == 0) throw new IllegalStateException("the time-budget probe loaded no training image");
    return seconds / images;
  }

  /** SOLVER.MAX_MINUTES as a clock: what is left, and when a step must be the last. */
  private static final class Budget {
    final double seconds;
    final long start;
    double evalReserve; // the final evaluation's estimated seconds, then its measured ones

    Budget(double seconds, long start, double evalReserve) {
      this.seconds = seconds;
      this.start = start;
      this.evalReserve = evalReserve;
    }

    double secondsLeft() {
      return seconds - (System.nanoTime() - start) / 1e9;
    }

    double minutesUsed() {
      return (System.nanoTime() - start) / 60e9;
    }

    /** True once the time left is no more than the evaluation needs. */
    boolean mustStop() {
      return secondsLeft() <= evalReserve;
    }
  }

  /**
   * The vector's tensors as handles of their own (each shares its element's storage and holds a
   * reference to it), so they stay valid after the vector is collected.
   */
  static List<Tensor> toList(TensorVector v) {
    List<Tensor> l = new ArrayList<>();
    for (long i = 0; i < v.size(); i++) l.add(new Tensor(v.get(i)));
    java.lang.ref.Reference.reachabilityFence(v);
    return l;
  }

  /** Turns requires_grad off and on for the backbone parameters that were trainable to begin with. */
  static final class BackboneFreeze {
    private final List<Tensor> params = new ArrayList<>();
    private boolean frozen;

    BackboneFreeze(List<Tensor> backbone) {
      for (Tensor t : backbone) if (t.requires_grad()) params.add(t);
    }

    void set(boolean freeze) {
      if (freeze == frozen) return;
      for (Tensor t : params) t.requires_grad_(!freeze);
      frozen = freeze;
    }
  }

}
