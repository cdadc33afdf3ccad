package org.reid4j.config;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The whole description of a training run, grouped as BoT / fast-reid configs are: {@link Model},
 * {@link Input}, {@link Dataloader}, {@link Solver}, {@link Test} and the output folder. Immutable.
 *
 * <p>Every default lives in one place, the classpath resource {@code org/reid4j/config/defaults.yml};
 * an experiment file only says what differs, and {@code --set KEY=VALUE} overrides win over both
 * ({@link #load}). YAML keys are the record component names in UPPER_SNAKE case (component
 * {@code baseLr} of {@code solver()} is {@code SOLVER.BASE_LR}); the records are the schema, so a
 * new knob is one record component plus one line in defaults.yml. Loading is strict: an unknown key,
 * a value of the wrong type, an enum value outside its choices or a value out of range throws
 * {@link ConfigException} naming the file (or {@code --set}), the key and what was expected.
 *
 * <p>Enum-like values are lower-case strings checked against {@link #CHOICES} (compare them with
 * {@code equals}). {@link #toYaml()} gives the fully resolved config, which {@link #fromYamlString}
 * reads back to an equal config (checkpoints store it). Cost: a few microseconds per accessor-free
 * read; loading parses two small YAML documents.
 */
public record TrainConfig(Model model, Input input, Dataloader dataloader, Solver solver, Test test, String outputDir) {

  /** MODEL: backbone, pooling, neck and head. */
  public record Model(
      String backbone,
      int lastStride,
      boolean ibn,
      String pretrainPath,
      String pooling,
      double gemP,
      String neck,
      String neckFeat,
      String head,
      double headScale,
      double headMargin,
      double dropout,
      int embedDim,
      String device,
      int freezeStages) {}

  /**
   * INPUT: image sizes ({h, w}) and the augmentations (the BoT ones, then the optional DIGIX 2020
   * contest ones, all off by default: see {@link org.reid4j.data.Augmentations}). Arrays are copied
   * in and out.
   */
  public record Input(
      int[] sizeTrain,
      int[] sizeTest,
      int channels,
      int padding,
      double flipProb,
      double reProb,
      double[] reArea,
      double reAspect,
      double[] pixelMean,
      double[] pixelStd,
      boolean rescalePad,
      double channelShuffleProb,
      double ssrProb,
      double ssrShift,
      double ssrScale,
      double ssrRotate,
      double noiseProb,
      double noiseStd,
      double saltPepperProb,
      double saltPepperAmount) {
    public Input {
      sizeTrain = sizeTrain.clone();
      sizeTest = sizeTest.clone();
      reArea = reArea.clone();
      pixelMean = pixelMean.clone();
      pixelStd = pixelStd.clone();
    }

    @Override
    public int[] sizeTrain() {
      return sizeTrain.clone();
    }

    @Override
    public int[] sizeTest() {
      return sizeTest.clone();
    }

    @Override
    public double[] reArea() {
      return reArea.clone();
    }

    @Override
    public double[] pixelMean() {
      return pixelMean.clone();
    }

    @Override
    public double[] pixelStd() {
      return pixelStd.clone();
    }
  }

  /** DATALOADER: which data set, P identities x K images per batch and how identities are drawn, loader threads. */
  public record Dataloader(
      String dataset,
      String root,
      String trainCsv,
      String queryCsv,
      String galleryCsv,
      int p,
      int k,
      String sampler,
      int numWorkers,
      int prefetch) {}

  /** SOLVER: optimiser, learning-rate schedule, loss weights and run control. */
  public record Solver(
      String optimizer,
      double baseLr,
      double weightDecay,
      double weightDecayBias,
      double biasLrFactor,
      double momentum,
      int maxEpochs,
      List<Stage> stages,
      int warmupEpochs,
      double warmupFactor,
      int[] steps,
      double gamma,
      String schedule,
      int freezeBackboneEpochs,
      double idLossWeight,
      double labelSmooth,
      double tripletWeight,
      double tripletMargin,
      boolean softMargin,
      double centerWeight,
      double centerLr,
      long seed,
      int checkpointPeriod,
      int evalPeriod,
      int logPeriod,
      double maxMinutes,
      boolean ampOnCuda,
      Xbm xbm) {
    public Solver {
      steps = steps.clone();
      stages = List.copyOf(stages);
    }

    @Override
    public int[] steps() {
      return steps.clone();
    }
  }

  /**
   * One element of SOLVER.STAGES: {@code {EPOCHS: n, SAMPLER: pk|pk_balanced, LR_FACTOR: f}}. The stages
   * run one after the other in one run (one model, one optimiser, one checkpoint series, one metrics
   * file); stage j covers the {@code epochs} epochs after the earlier stages', draws its batches with
   * {@code sampler} and multiplies the learning-rate schedule by {@code lrFactor} (see
   * org.reid4j.train.Stages). In a config file SAMPLER may be left out (it is then DATALOADER.SAMPLER)
   * and LR_FACTOR too (then 1.0); the resolved config always lists all three.
   */
  public record Stage(int epochs, String sampler, double lrFactor) {}

  /**
   * SOLVER.XBM: cross-batch memory (Wang et al. 2020). {@code size} embeddings (0 = off) are kept in a
   * FIFO, and from epoch {@code startEpoch} (0-based, inclusive) until {@code stopEpoch} (exclusive;
   * 0 = to the end) every batch also adds {@code weight} x the batch-hard triplet loss of its anchors
   * against the memory (see org.reid4j.loss.CrossBatchMemory). The memory fills from the start epoch.
   */
  public record Xbm(int size, double weight, int startEpoch, int stopEpoch) {}

  /**
   * TEST: evaluation batch size and the retrieval options of the trainer's evaluations: normalisation,
   * DBA ({@code dbaK} neighbours, 0 = off), query expansion ({@code qe}: none, qe or alpha-qe, with
   * {@code qeK} neighbours and {@code qeAlpha}), re-ranking, metric; applied in that order as eval's
   * --normalize, --dba-k, --qe, --rerank do.
   */
  public record Test(int batchSize, boolean featNorm, int dbaK, String qe, int qeK, double qeAlpha, boolean rerank,
      String metric) {}

  /** The allowed values of every enum-like key, by key path; the first value is not necessarily the default. */
  public static final Map<String, List<String>> CHOICES = Map.ofEntries(
      Map.entry("MODEL.BACKBONE", List.of("small_cnn", "resnet18", "resnet34", "resnet50", "resnet101",
          "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
          "densenet121", "densenet169")),
      Map.entry("MODEL.POOLING", List.of("avg", "max", "gem")),
      Map.entry("MODEL.NECK", List.of("bnneck", "none")),
      Map.entry("MODEL.NECK_FEAT", List.of("before", "after")),
      Map.entry("MODEL.HEAD", List.of("linear", "arcface", "cosface", "curricularface")),
      Map.entry("MODEL.DEVICE", List.of("auto", "cpu", "cuda")),
      Map.entry("DATALOADER.DATASET", List.of("fashion-mnist", "market1501", "dukemtmc", "msmt17", "csv")),
      Map.entry("DATALOADER.SAMPLER", List.of("pk", "pk_balanced")),
      Map.entry("SOLVER.OPTIMIZER", List.of("adam", "sgd")),
      Map.entry("SOLVER.STAGES.SAMPLER", List.of("pk", "pk_balanced")), // SAMPLER of every SOLVER.STAGES element
      Map.entry("SOLVER.SCHEDULE", List.of("multistep", "cosine")),
      Map.entry("TEST.METRIC", List.of("sqeuclidean", "euclidean", "cosine")),
      Map.entry("TEST.QE", List.of("none", "qe", "alpha-qe")));

  /**
   * The stages MODEL.FREEZE_STAGES counts for a backbone (after its stem): layer1..layer4 of a ResNet;
   * conv2..conv4 (each with its BN) of small_cnn, whose conv1 is the stem; features.1..7 of an
   * EfficientNet (the head conv features.8 with stage 7); denseblock1..4 of a DenseNet (each with the
   * transition after it; norm5 with block 4).
   */
  public static int backboneStages(String backbone) {
    if (backbone.equals("small_cnn")) return 3;
    return backbone.startsWith("efficientnet_") ? 7 : 4;
  }

  /**
   * Defaults, then the YAML file (if not null), then the {@code KEY=VALUE} overrides in order
   * (the value is a YAML scalar or flow list: {@code SOLVER.BASE_LR=1e-3}, {@code INPUT.SIZE_TRAIN=[256,128]}).
   */
  public static TrainConfig load(Path yamlOrNull, List<String> overrides) {
    return ConfigLoader.load(yamlOrNull, overrides == null ? List.of() : overrides);
  }

  /** The built-in defaults alone. */
  public static TrainConfig defaults() {
    return load(null, List.of());
  }

  /** Reads a YAML document such as {@link #toYaml()} writes (missing keys take their defaults). */
  public static TrainConfig fromYamlString(String yaml) {
    return ConfigLoader.fromString(yaml, "<yaml string>", List.of());
  }

  /** This config with further {@code KEY=VALUE} overrides applied (e.g. on resume). */
  public TrainConfig with(List<String> overrides) {
    return ConfigLoader.fromString(toYaml(), "<resolved config>", overrides);
  }

  /** The fully resolved config as YAML, every key present, in the defaults' order. */
  public String toYaml() {
    return ConfigLoader.toYaml(this);
  }

  /** Writes {@link #toYaml()} atomically to file. */
  public void save(Path file) throws IOException {
    org.reid4j.io.AtomicFiles.writeString(file, toYaml());
  }

  /** Equality of the resolved values (the records hold arrays, so record equality would compare identities). */
  @Override
  public boolean equals(Object o) {
    return o instanceof TrainConfig c && c.toYaml().equals(toYaml());
  }

  @Override
  public int hashCode() {
    return toYaml().hashCode();
  }

  /**
   * The path-valued keys whose value is a relative path, in config order (key to value). Such paths
   * are resolved against the process's working directory, not the config file's folder; the train
   * header says so, since a config moved or run from elsewhere then points somewhere else.
   */
  public Map<String, String> relativePaths() {
    Map<String, String> all = new LinkedHashMap<>();
    all.put("MODEL.PRETRAIN_PATH", model.pretrainPath);
    all.put("DATALOADER.ROOT", dataloader.root);
    all.put("DATALOADER.TRAIN_CSV", dataloader.trainCsv);
    all.put("DATALOADER.QUERY_CSV", dataloader.queryCsv);
    all.put("DATALOADER.GALLERY_CSV", dataloader.galleryCsv);
    all.put("OUTPUT_DIR", outputDir);
    Map<String, String> relative = new LinkedHashMap<>();
    all.forEach((k, v) -> {
      if (v != null && !v.isBlank() && !Path.of(v).isAbsolute()) relative.put(k, v);
    });
    return relative;
  }

  @Override
  public String toString() {
    return "TrainConfig{" + model + ", input=" + Arrays.toString(input.sizeTrain) + "x" + input.channels
        + ", " + dataloader + ", solver=" + solver.optimizer + " lr " + solver.baseLr + " epochs "
        + solver.maxEpochs + ", outputDir=" + outputDir + "}";
  }

  /** Receives range problems found by {@link #validate}; the loader adds the source of the value. */
  interface Problems {
    void fail(String key, String expected, Object got);
  }

  /** Range and consistency checks (types and enum choices are checked while reading). */
  void validate(Problems p) {
    Model m = model;
    if (m.lastStride != 1 && m.lastStride != 2) p.fail("MODEL.LAST_STRIDE", "1 or 2", m.lastStride);
    if (m.ibn && (m.backbone.startsWith("efficientnet_") || m.backbone.startsWith("densenet")))
      p.fail("MODEL.IBN", "false for " + m.backbone + " (IBN-a norms are for the ResNet backbones only)", m.ibn);
    if (!(m.gemP > 0)) p.fail("MODEL.GEM_P", "a number > 0", m.gemP);
    if (!(m.headScale > 0)) p.fail("MODEL.HEAD_SCALE", "a number > 0", m.headScale);
    if (!(m.headMargin >= 0 && m.headMargin < Math.PI / 2))
      p.fail("MODEL.HEAD_MARGIN", "a number in [0, pi/2)", m.headMargin);
    if (!(m.dropout >= 0 && m.dropout < 1)) p.fail("MODEL.DROPOUT", "a probability in [0, 1)", m.dropout);
    if (m.embedDim < 0) p.fail("MODEL.EMBED_DIM", "an integer >= 0 (0 = the backbone's width)", m.embedDim);
    int stages = backboneStages(m.backbone);
    if (m.freezeStages < 0 || m.freezeStages > stages)
      p.fail("MODEL.FREEZE_STAGES", "an integer in [0, " + stages + "] for " + m.backbone + " (0 = none; N freezes "
          + "the stem and the first N of its " + stages + " stages)", m.freezeStages);

    Input in = input;
    size(p, "INPUT.SIZE_TRAIN", in.sizeTrain);
    size(p, "INPUT.SIZE_TEST", in.sizeTest);
    if (in.channels != 1 && in.channels != 3) p.fail("INPUT.CHANNELS", "1 (grey) or 3 (RGB)", in.channels);
    if (in.padding < 0) p.fail("INPUT.PADDING", "an integer >= 0", in.padding);
    prob(p, "INPUT.FLIP_PROB", in.flipProb);
    prob(p, "INPUT.RE_PROB", in.reProb);
    if (in.reArea.length != 2 || !(in.reArea[0] > 0 && in.reArea[0] <= in.reArea[1] && in.reArea[1] <= 1))
      p.fail("INPUT.RE_AREA", "[min, max] with 0 < min <= max <= 1 (fractions of the image area)",
          Arrays.toString(in.reArea));
    if (!(in.reAspect > 0 && in.reAspect <= 1))
      p.fail("INPUT.RE_ASPECT", "a number in (0, 1] (aspect ratios are drawn from [r, 1/r])", in.reAspect);
    if (in.pixelMean.length != in.channels)
      p.fail("INPUT.PIXEL_MEAN", "one value per channel (INPUT.CHANNELS = " + in.channels + ")",
          Arrays.toString(in.pixelMean));
    if (in.pixelStd.length != in.channels)
      p.fail("INPUT.PIXEL_STD", "one value per channel (INPUT.CHANNELS = " + in.channels + ")",
          Arrays.toString(in.pixelStd));
    for (double s : in.pixelStd)
      if (!(s > 0)) p.fail("INPUT.PIXEL_STD", "values > 0", Arrays.toString(in.pixelStd));
    prob(p, "INPUT.CHANNEL_SHUFFLE_PROB", in.channelShuffleProb);
    prob(p, "INPUT.SSR_PROB", in.ssrProb);
    if (!(in.ssrShift >= 0 && in.ssrShift <= 1))
      p.fail("INPUT.SSR_SHIFT", "a fraction of the image size in [0, 1]", in.ssrShift);
    if (!(in.ssrScale >= 0 && in.ssrScale < 1))
      p.fail("INPUT.SSR_SCALE", "a number in [0, 1) (the zoom is drawn from [1 - s, 1 + s])", in.ssrScale);
    if (!(in.ssrRotate >= 0 && in.ssrRotate <= 180))
      p.fail("INPUT.SSR_ROTATE", "degrees in [0, 180] (the angle is drawn from [-r, r])", in.ssrRotate);
    prob(p, "INPUT.NOISE_PROB", in.noiseProb);
    if (!(in.noiseStd >= 0 && in.noiseStd <= 1))
      p.fail("INPUT.NOISE_STD", "a standard deviation in [0, 1] (on [0, 1] pixels)", in.noiseStd);
    prob(p, "INPUT.SALT_PEPPER_PROB", in.saltPepperProb);
    if (!(in.saltPepperAmount >= 0 && in.saltPepperAmount <= 1))
      p.fail("INPUT.SALT_PEPPER_AMOUNT", "a fraction of the pixels in [0, 1]", in.saltPepperAmount);

    Dataloader d = dataloader;
    if (d.p < 1) p.fail("DATALOADER.P", "an integer >= 1 (identities per batch)", d.p);
    if (d.k < 1) p.fail("DATALOADER.K", "an integer >= 1 (images per identity)", d.k);
    if (d.numWorkers < 0) p.fail("DATALOADER.NUM_WORKERS", "an integer >= 0 (0 = decode on the caller's thread)",
        d.numWorkers);
    if (d.prefetch < 1) p.fail("DATALOADER.PREFETCH", "an integer >= 1 (batches prepared ahead)", d.prefetch);
    if (d.dataset.equals("csv")) {
      if (d.trainCsv.isEmpty()) p.fail("DATALOADER.TRAIN_CSV", "a CSV file when DATALOADER.DATASET is csv", "\"\"");
      if (d.queryCsv.isEmpty()) p.fail("DATALOADER.QUERY_CSV", "a CSV file when DATALOADER.DATASET is csv", "\"\"");
      if (d.galleryCsv.isEmpty())
        p.fail("DATALOADER.GALLERY_CSV", "a CSV file when DATALOADER.DATASET is csv", "\"\"");
    }

    Solver s = solver;
    if (!(s.baseLr > 0)) p.fail("SOLVER.BASE_LR", "a number > 0", s.baseLr);
    if (!(s.weightDecay >= 0)) p.fail("SOLVER.WEIGHT_DECAY", "a number >= 0", s.weightDecay);
    if (!(s.weightDecayBias >= 0)) p.fail("SOLVER.WEIGHT_DECAY_BIAS", "a number >= 0", s.weightDecayBias);
    if (!(s.biasLrFactor > 0)) p.fail("SOLVER.BIAS_LR_FACTOR", "a number > 0", s.biasLrFactor);
    if (!(s.momentum >= 0 && s.momentum < 1)) p.fail("SOLVER.MOMENTUM", "a number in [0, 1)", s.momentum);
    if (s.maxEpochs < 1) p.fail("SOLVER.MAX_EPOCHS", "an integer >= 1", s.maxEpochs);
    stages(p, s);
    if (s.warmupEpochs < 0) p.fail("SOLVER.WARMUP_EPOCHS", "an integer >= 0", s.warmupEpochs);
    if (!(s.warmupFactor > 0 && s.warmupFactor <= 1))
      p.fail("SOLVER.WARMUP_FACTOR", "a number in (0, 1]", s.warmupFactor);
    for (int i = 0; i < s.steps.length; i++) {
      if (s.steps[i] < 1 || (i > 0 && s.steps[i] <= s.steps[i - 1])) {
        p.fail("SOLVER.STEPS", "strictly ascending epochs >= 1", Arrays.toString(s.steps));
        break;
      }
    }
    if (!(s.gamma > 0 && s.gamma <= 1)) p.fail("SOLVER.GAMMA", "a number in (0, 1]", s.gamma);
    if (s.freezeBackboneEpochs < 0) p.fail("SOLVER.FREEZE_BACKBONE_EPOCHS", "an integer >= 0", s.freezeBackboneEpochs);
    if (!(s.idLossWeight >= 0)) p.fail("SOLVER.ID_LOSS_WEIGHT", "a number >= 0", s.idLossWeight);
    if (!(s.labelSmooth >= 0 && s.labelSmooth < 1)) p.fail("SOLVER.LABEL_SMOOTH", "a number in [0, 1)", s.labelSmooth);
    if (!(s.tripletWeight >= 0)) p.fail("SOLVER.TRIPLET_WEIGHT", "a number >= 0", s.tripletWeight);
    if (!(s.tripletMargin >= 0)) p.fail("SOLVER.TRIPLET_MARGIN", "a number >= 0", s.tripletMargin);
    if (!(s.centerWeight >= 0)) p.fail("SOLVER.CENTER_WEIGHT", "a number >= 0 (0 disables the centre loss)",
        s.centerWeight);
    if (!(s.centerLr > 0)) p.fail("SOLVER.CENTER_LR", "a number > 0", s.centerLr);
    if (s.checkpointPeriod < 1) p.fail("SOLVER.CHECKPOINT_PERIOD", "an integer >= 1 (epochs)", s.checkpointPeriod);
    if (s.evalPeriod < 1) p.fail("SOLVER.EVAL_PERIOD", "an integer >= 1 (epochs)", s.evalPeriod);
    if (s.logPeriod < 1) p.fail("SOLVER.LOG_PERIOD", "an integer >= 1 (iterations)", s.logPeriod);
    if (!(s.maxMinutes >= 0)) p.fail("SOLVER.MAX_MINUTES", "a number >= 0 (0 = no limit)", s.maxMinutes);
    Xbm x = s.xbm;
    if (x.size < 0) p.fail("SOLVER.XBM.SIZE", "an integer >= 0 (0 = off)", x.size);
    if (!(x.weight >= 0)) p.fail("SOLVER.XBM.WEIGHT", "a number >= 0", x.weight);
    if (x.startEpoch < 0) p.fail("SOLVER.XBM.START_EPOCH", "an integer >= 0", x.startEpoch);
    if (x.stopEpoch < 0 || (x.stopEpoch > 0 && x.stopEpoch <= x.startEpoch))
      p.fail("SOLVER.XBM.STOP_EPOCH", "0 (to the end) or an epoch after SOLVER.XBM.START_EPOCH (" + x.startEpoch + ")",
          x.stopEpoch);

    if (test.batchSize < 1) p.fail("TEST.BATCH_SIZE", "an integer >= 1", test.batchSize);
    if (test.dbaK < 0) p.fail("TEST.DBA_K", "an integer >= 0 (0 = off)", test.dbaK);
    if (test.qeK < 1) p.fail("TEST.QE_K", "an integer >= 1", test.qeK);
    if (!(test.qeAlpha >= 0)) p.fail("TEST.QE_ALPHA", "a number >= 0", test.qeAlpha);
    if (outputDir.isBlank()) p.fail("OUTPUT_DIR", "a folder path", "\"" + outputDir + "\"");
  }

  /** The largest image side a config may ask for: far above any ReID input, far below int overflow. */
  public static final int MAX_SIDE = 4096;

  private static void size(Problems p, String key, int[] hw) {
    if (hw.length != 2 || hw[0] < 1 || hw[1] < 1 || hw[0] > MAX_SIDE || hw[1] > MAX_SIDE)
      p.fail(key, "[height, width] with both in 1.." + MAX_SIDE, Arrays.toString(hw));
  }

  /** Each stage's range; then the stages' epochs must add up to SOLVER.MAX_EPOCHS. */
  private static void stages(Problems p, Solver s) {
    if (s.stages.isEmpty()) return;
    long sum = 0;
    StringBuilder terms = new StringBuilder();
    for (int i = 0; i < s.stages.size(); i++) {
      Stage st = s.stages.get(i);
      if (st.epochs < 1) p.fail("SOLVER.STAGES[" + i + "].EPOCHS", "an integer >= 1", st.epochs);
      if (!(st.lrFactor > 0)) p.fail("SOLVER.STAGES[" + i + "].LR_FACTOR", "a number > 0", st.lrFactor);
      sum += st.epochs;
      terms.append(i == 0 ? "" : " + ").append(st.epochs);
    }
    if (sum != s.maxEpochs)
      p.fail("SOLVER.MAX_EPOCHS", "the sum of the SOLVER.STAGES epochs (" + terms + " = " + sum + ") when "
          + "SOLVER.STAGES is given (leave SOLVER.MAX_EPOCHS out and it is derived from the stages)", s.maxEpochs);
  }

  private static void prob(Problems p, String key, double v) {
    if (!(v >= 0 && v <= 1)) p.fail(key, "a probability in [0, 1]", v);
  }
}
