package org.reid4j.config;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigTest {
  @TempDir Path tmp;

  private Path yaml(String text) throws IOException {
    Path f = tmp.resolve("exp.yml");
    Files.writeString(f, text);
    return f;
  }

  /** The exception's message names the source, the key and contains every given fragment. */
  private static ConfigException fails(String source, String key, Runnable r, String... fragments) {
    ConfigException e = assertThrows(ConfigException.class, r::run);
    String m = e.getMessage();
    assertEquals(source, e.source(), m);
    assertEquals(key, e.key(), m);
    assertTrue(m.startsWith(source), m);
    if (!key.isEmpty()) assertTrue(m.contains(key), m);
    for (String f : fragments) assertTrue(m.contains(f), "expected '" + f + "' in: " + m);
    return e;
  }

  @Test
  void defaultsAreTheBotRecipe() {
    TrainConfig c = TrainConfig.defaults();
    assertEquals("resnet50", c.model().backbone());
    assertEquals(1, c.model().lastStride());
    assertEquals("bnneck", c.model().neck());
    assertEquals(3.0, c.model().gemP());
    assertEquals(0, c.model().embedDim());
    assertArrayEquals(new int[] {256, 128}, c.input().sizeTrain());
    assertArrayEquals(new double[] {0.02, 0.4}, c.input().reArea());
    assertEquals(10, c.input().padding());
    assertEquals(16, c.dataloader().p());
    assertEquals(4, c.dataloader().k());
    assertEquals("adam", c.solver().optimizer());
    assertEquals(3.5e-4, c.solver().baseLr());
    assertEquals(5e-4, c.solver().weightDecay());
    assertArrayEquals(new int[] {40, 70}, c.solver().steps());
    assertEquals(120, c.solver().maxEpochs());
    assertEquals(0.01, c.solver().warmupFactor());
    assertEquals(0.0005, c.solver().centerWeight());
    assertEquals(1L, c.solver().seed());
    assertEquals("pk", c.dataloader().sampler());
    assertEquals(List.of(), c.solver().stages());
    assertEquals(0, c.model().freezeStages());
    assertTrue(c.test().featNorm());
    assertEquals("sqeuclidean", c.test().metric());
    assertFalse(c.outputDir().isEmpty());
  }

  @Test
  void everyRecordComponentHasOneDefaultLine() throws IOException {
    String defaults;
    try (var in = getClass().getClassLoader().getResourceAsStream(ConfigLoader.DEFAULTS_RESOURCE)) {
      defaults = new String(in.readAllBytes());
    }
    for (String key : ConfigLoader.keys()) {
      String leaf = key.substring(key.lastIndexOf('.') + 1);
      assertTrue(defaults.contains(leaf + ":"), key + " has no line in defaults.yml");
    }
    assertEquals(15 + 20 + 10 + 27 + 4 + 8 + 1, ConfigLoader.keys().size()); // TEST has 8 keys; SOLVER.XBM 4 of its own
  }

  /** SOLVER.XBM is a sub-group: from a file (keys left out keep their defaults), from --set, back to YAML, checked. */
  @Test
  void xbmKeysAreASubgroup() {
    TrainConfig d = TrainConfig.load(null, List.of());
    assertEquals(new TrainConfig.Xbm(0, 1.0, 0, 0), d.solver().xbm());
    TrainConfig f = ConfigLoader.fromString("SOLVER:\n  XBM:\n    SIZE: 4096\n    STOP_EPOCH: 8\n", "x.yml", List.of());
    assertEquals(new TrainConfig.Xbm(4096, 1.0, 0, 8), f.solver().xbm());
    TrainConfig o = TrainConfig.load(null, List.of("SOLVER.XBM.WEIGHT=0.5", "SOLVER.XBM.START_EPOCH=2"));
    assertEquals(new TrainConfig.Xbm(0, 0.5, 2, 0), o.solver().xbm());
    String yaml = f.toYaml();
    assertTrue(yaml.contains("XBM:") && yaml.contains("SIZE: 4096"), yaml);
    assertEquals(f.solver().xbm(), ConfigLoader.fromString(yaml, "x.yml", List.of()).solver().xbm());
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.fromString("SOLVER:\n  XBM:\n    SIZ: 1\n", "x.yml", List.of()));
    assertTrue(e.getMessage().contains("SOLVER.XBM.SIZ") && e.getMessage().contains("did you mean SIZE"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> ConfigLoader.fromString("SOLVER:\n  XBM: 5\n", "x.yml", List.of()));
    assertTrue(e.getMessage().contains("SOLVER.XBM") && e.getMessage().contains("expected a mapping"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> TrainConfig.load(null, List.of("SOLVER.XBM.SIZE=-1")));
    assertTrue(e.getMessage().contains("SOLVER.XBM.SIZE"), e.getMessage());
    e = assertThrows(ConfigException.class,
        () -> TrainConfig.load(null, List.of("SOLVER.XBM.START_EPOCH=4", "SOLVER.XBM.STOP_EPOCH=3")));
    assertTrue(e.getMessage().contains("SOLVER.XBM.STOP_EPOCH") && e.getMessage().contains("--set"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> TrainConfig.load(null, List.of("SOLVER.XBM.WEIGHT=x")));
    assertTrue(e.getMessage().contains("a finite number"), e.getMessage());
  }

  /** Relative paths are listed (for the train header, which says what they are resolved against). */
  @Test
  void relativePathsAreNamedWithTheirKeys() throws IOException {
    TrainConfig c = TrainConfig.load(null, List.of("DATALOADER.ROOT=data/market", "OUTPUT_DIR=/abs/out",
        "MODEL.PRETRAIN_PATH=w/r50.safetensors"));
    assertEquals(java.util.Map.of("MODEL.PRETRAIN_PATH", "w/r50.safetensors", "DATALOADER.ROOT", "data/market"),
        c.relativePaths());
    assertEquals(List.of("MODEL.PRETRAIN_PATH", "DATALOADER.ROOT"), List.copyOf(c.relativePaths().keySet()));
    assertTrue(TrainConfig.load(null, List.of("DATALOADER.ROOT=/d", "OUTPUT_DIR=/o")).relativePaths().isEmpty());
  }

  @Test
  void fileThenOverridesInOrder() throws IOException {
    Path f = yaml("SOLVER:\n  BASE_LR: 0.01\n  MAX_EPOCHS: 30\nDATALOADER:\n  P: 8\nOUTPUT_DIR: runs/x\n");
    TrainConfig c = TrainConfig.load(f, List.of("SOLVER.BASE_LR=0.02", "INPUT.SIZE_TRAIN=[384, 192]",
        "SOLVER.STEPS=[10,20,25]", "MODEL.POOLING=gem", "SOLVER.MAX_EPOCHS=40", "SOLVER.MAX_EPOCHS=50",
        "MODEL.PRETRAIN_PATH=", "SOLVER.SEED=12345678901"));
    assertEquals(0.02, c.solver().baseLr(), "override beats file");
    assertEquals(50, c.solver().maxEpochs(), "later override wins");
    assertEquals(8, c.dataloader().p(), "file beats default");
    assertEquals(4, c.dataloader().k(), "default kept");
    assertEquals("runs/x", c.outputDir());
    assertArrayEquals(new int[] {384, 192}, c.input().sizeTrain());
    assertArrayEquals(new int[] {10, 20, 25}, c.solver().steps());
    assertEquals("gem", c.model().pooling());
    assertEquals("", c.model().pretrainPath());
    assertEquals(12345678901L, c.solver().seed());
    assertEquals(0.03, TrainConfig.load(null, List.of("SOLVER.BASE_LR=3e-2")).solver().baseLr());
    assertEquals(7.0, TrainConfig.load(null, List.of("SOLVER.BASE_LR=7")).solver().baseLr(), "an int is a number");
  }

  @Test
  void emptyFileAndEmptyGroupChangeNothing() throws IOException {
    assertEquals(TrainConfig.defaults(), TrainConfig.load(yaml(""), List.of()));
    assertEquals(TrainConfig.defaults(), TrainConfig.load(yaml("SOLVER:\n# nothing\n"), List.of()));
  }

  @Test
  void unknownKeyInFile() throws IOException {
    Path f = yaml("SOLVER:\n  BASE_LRR: 0.01\n");
    fails(f.toString(), "SOLVER.BASE_LRR", () -> TrainConfig.load(f, List.of()), "unknown key",
        "did you mean BASE_LR?", "SOLVER has OPTIMIZER, BASE_LR");
  }

  @Test
  void unknownGroupInFile() throws IOException {
    Path f = yaml("SOLVERS:\n  BASE_LR: 0.01\n");
    fails(f.toString(), "SOLVERS", () -> TrainConfig.load(f, List.of()), "unknown group",
        "MODEL, INPUT, DATALOADER, SOLVER, TEST, OUTPUT_DIR", "did you mean SOLVER?");
  }

  @Test
  void secondYamlDocumentIsAnError() throws IOException {
    Path f = tmp.resolve("two.yml");
    Files.writeString(f, "SOLVER:\n  BASE_LR: 0.1\n---\nSOLVER:\n  BASE_LR: 0.2\n");
    fails(f.toString(), "", () -> TrainConfig.load(f, List.of()), "more than one YAML document", "line 4");
  }

  @Test
  void imageSizesAreBounded() {
    fails("--set", "INPUT.SIZE_TRAIN", () -> TrainConfig.load(null, List.of("INPUT.SIZE_TRAIN=[100000,100000]")),
        "1.." + TrainConfig.MAX_SIDE);
    assertEquals(4096, TrainConfig.load(null, List.of("INPUT.SIZE_TEST=[4096,8]")).input().sizeTest()[0]);
  }

  @Test
  void unknownGroupListsEachGroupOnce() {
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(null, List.of("FOO.BAR=1")));
    assertEquals(1, e.getMessage().split("OUTPUT_DIR", -1).length - 1, e.getMessage());
  }

  @Test
  void unknownKeyInOverride() {
    fails("--set", "SOLVER.LR", () -> TrainConfig.load(null, List.of("SOLVER.LR=0.1")), "unknown key",
        "SOLVER has OPTIMIZER, BASE_LR");
    fails("--set", "DATALOADER.NUM_INSTANCE", () -> TrainConfig.load(null, List.of("DATALOADER.NUM_INSTANCE=4")),
        "unknown key", "DATALOADER has");
    fails("--set", "FOO.BAR", () -> TrainConfig.load(null, List.of("FOO.BAR=1")), "GROUP one of MODEL");
    fails("--set", "MODEL", () -> TrainConfig.load(null, List.of("MODEL=1")), "unknown key");
    fails("--set", "SOLVER.BASE_LR 0.1", () -> TrainConfig.load(null, List.of("SOLVER.BASE_LR 0.1")),
        "expected KEY=VALUE");
  }

  @Test
  void badEnumListsTheChoices() throws IOException {
    fails("--set", "MODEL.POOLING", () -> TrainConfig.load(null, List.of("MODEL.POOLING=mean")),
        "expected one of avg, max, gem", "got \"mean\"");
    Path f = yaml("DATALOADER:\n  DATASET: market\n");
    fails(f.toString(), "DATALOADER.DATASET", () -> TrainConfig.load(f, List.of()),
        "one of fashion-mnist, market1501, dukemtmc, msmt17, csv");
    fails("--set", "MODEL.BACKBONE", () -> TrainConfig.load(null, List.of("MODEL.BACKBONE=ResNet50")),
        "small_cnn, resnet18, resnet34, resnet50, resnet101");
  }

  @Test
  void badTypes() throws IOException {
    Path f = yaml("SOLVER:\n  BASE_LR: fast\n");
    fails(f.toString(), "SOLVER.BASE_LR", () -> TrainConfig.load(f, List.of()), "expected a finite number",
        "got \"fast\"");
    fails("--set", "SOLVER.MAX_EPOCHS", () -> TrainConfig.load(null, List.of("SOLVER.MAX_EPOCHS=1.5")),
        "expected an integer", "got 1.5");
    fails("--set", "TEST.FEAT_NORM", () -> TrainConfig.load(null, List.of("TEST.FEAT_NORM=1")), "true or false");
    fails("--set", "INPUT.SIZE_TRAIN", () -> TrainConfig.load(null, List.of("INPUT.SIZE_TRAIN=256")),
        "a list of integers");
    fails("--set", "INPUT.PIXEL_MEAN", () -> TrainConfig.load(null, List.of("INPUT.PIXEL_MEAN=[0.5, x, 0.5]")),
        "a list of numbers");
    fails("--set", "SOLVER.BASE_LR", () -> TrainConfig.load(null, List.of("SOLVER.BASE_LR=")), "got nothing");
    fails("--set", "SOLVER.BASE_LR", () -> TrainConfig.load(null, List.of("SOLVER.BASE_LR=[1, ")), "cannot parse");
    Path g = yaml("SOLVER: 3\n");
    fails(g.toString(), "SOLVER", () -> TrainConfig.load(g, List.of()), "expected a mapping of keys");
    Path h = yaml("- 1\n- 2\n");
    fails(h.toString(), "", () -> TrainConfig.load(h, List.of()), "expected a mapping with the groups");
  }

  @Test
  void badRangesNameTheSourceOfTheValue() throws IOException {
    fails("--set", "DATALOADER.P", () -> TrainConfig.load(null, List.of("DATALOADER.P=0")), "an integer >= 1", "got 0");
    fails("--set", "DATALOADER.K", () -> TrainConfig.load(null, List.of("DATALOADER.K=-2")), ">= 1");
    fails("--set", "INPUT.FLIP_PROB", () -> TrainConfig.load(null, List.of("INPUT.FLIP_PROB=1.5")),
        "a probability in [0, 1]", "got 1.5");
    fails("--set", "INPUT.SIZE_TEST", () -> TrainConfig.load(null, List.of("INPUT.SIZE_TEST=[256, 0]")),
        "[height, width] with both in 1..4096");
    fails("--set", "INPUT.SIZE_TRAIN", () -> TrainConfig.load(null, List.of("INPUT.SIZE_TRAIN=[256]")), "[height, width]");
    fails("--set", "SOLVER.STEPS", () -> TrainConfig.load(null, List.of("SOLVER.STEPS=[70, 40]")),
        "strictly ascending", "[70, 40]");
    fails("--set", "SOLVER.BASE_LR", () -> TrainConfig.load(null, List.of("SOLVER.BASE_LR=0")), "> 0");
    fails("--set", "MODEL.LAST_STRIDE", () -> TrainConfig.load(null, List.of("MODEL.LAST_STRIDE=3")), "1 or 2");
    fails("--set", "INPUT.RE_AREA", () -> TrainConfig.load(null, List.of("INPUT.RE_AREA=[0.5, 0.1]")), "min <= max");
    fails("--set", "INPUT.RE_ASPECT", () -> TrainConfig.load(null, List.of("INPUT.RE_ASPECT=3")), "(0, 1]");
    // Changing CHANNELS alone leaves the 3 default means: the error names the key and where it came from.
    fails("defaults.yml (built-in)", "INPUT.PIXEL_MEAN", () -> TrainConfig.load(null, List.of("INPUT.CHANNELS=1")),
        "one value per channel (INPUT.CHANNELS = 1)");
    fails("defaults.yml (built-in)", "DATALOADER.TRAIN_CSV", () -> TrainConfig.load(null, List.of("DATALOADER.DATASET=csv")),
        "a CSV file when DATALOADER.DATASET is csv");
    Path f = yaml("SOLVER:\n  WARMUP_FACTOR: 2.0\n");
    fails(f.toString(), "SOLVER.WARMUP_FACTOR", () -> TrainConfig.load(f, List.of()), "(0, 1]");
    assertEquals(0, TrainConfig.load(null, List.of("SOLVER.STEPS=[]")).solver().steps().length);
  }

  @Test
  void malformedYaml() throws IOException {
    Path f = yaml("SOLVER:\n  BASE_LR: [1, 2\n  MAX_EPOCHS: 3\n");
    fails(f.toString(), "", () -> TrainConfig.load(f, List.of()), "malformed YAML", "line");
    Path g = yaml("SOLVER:\n  BASE_LR: 0.1\n  BASE_LR: 0.2\n");
    fails(g.toString(), "", () -> TrainConfig.load(g, List.of()), "malformed YAML", "BASE_LR");
  }

  @Test
  void missingFile() {
    Path f = tmp.resolve("nope.yml");
    fails(f.toString(), "", () -> TrainConfig.load(f, List.of()), "config file not found");
  }

  @Test
  void roundTripGivesAnEqualConfig() {
    TrainConfig c = TrainConfig.load(null, List.of("SOLVER.BASE_LR=1.25e-5", "INPUT.PIXEL_MEAN=[0.1, 0.2, 0.3]",
        "OUTPUT_DIR='yes'", "MODEL.PRETRAIN_PATH='/a b/c: d.pth'", "SOLVER.STEPS=[]", "SOLVER.SEED=-7",
        "DATALOADER.ROOT='123'", "TEST.RERANK=true", "SOLVER.SCHEDULE=cosine"));
    String y = c.toYaml();
    assertTrue(y.contains("BASE_LR:"), y);
    TrainConfig back = TrainConfig.fromYamlString(y);
    assertEquals(c, back);
    assertEquals(y, back.toYaml());
    assertEquals("yes", back.outputDir());
    assertEquals("/a b/c: d.pth", back.model().pretrainPath());
    assertEquals("123", back.dataloader().root());
    assertEquals(1.25e-5, back.solver().baseLr());
    assertEquals(-7L, back.solver().seed());
    assertNotEquals(TrainConfig.defaults(), c);
    assertEquals(TrainConfig.defaults(), TrainConfig.fromYamlString(TrainConfig.defaults().toYaml()));
  }

  @Test
  void withAppliesOverridesToAResolvedConfig() {
    TrainConfig c = TrainConfig.load(null, List.of("SOLVER.MAX_EPOCHS=5"));
    TrainConfig d = c.with(List.of("SOLVER.BASE_LR=0.5"));
    assertEquals(5, d.solver().maxEpochs());
    assertEquals(0.5, d.solver().baseLr());
  }

  @Test
  void arraysAreCopiedInAndOut() {
    TrainConfig c = TrainConfig.defaults();
    c.input().sizeTrain()[0] = 1;
    c.solver().steps()[0] = 99;
    assertArrayEquals(new int[] {256, 128}, c.input().sizeTrain());
    assertArrayEquals(new int[] {40, 70}, c.solver().steps());
  }

  @Test
  void shippedConfigsLoad() {
    TrainConfig bot = TrainConfig.load(Path.of("configs/bot_r50_market.yml"), List.of());
    assertEquals("resnet50", bot.model().backbone());
    assertEquals("market1501", bot.dataloader().dataset());
    assertEquals(0.5, bot.input().reProb());
    TrainConfig q = TrainConfig.load(Path.of("configs/quickstart.yml"), List.of());
    assertEquals("small_cnn", q.model().backbone());
    assertEquals("fashion-mnist", q.dataloader().dataset());
    assertEquals(1, q.input().channels());
    assertArrayEquals(new int[] {28, 28}, q.input().sizeTrain());
    assertEquals(10, q.dataloader().p());
    assertEquals(16, q.dataloader().k());
    assertEquals(0.0, q.input().reProb());
    assertEquals(2e-3, q.solver().baseLr());
    assertEquals("cosine", q.solver().schedule());
    assertEquals(0.0, q.solver().centerWeight());
    // The quick start promises under 10 minutes wall clock, JVM start and evaluation included.
    assertTrue(q.solver().maxMinutes() > 0 && q.solver().maxMinutes() <= 9.0, "budget " + q.solver().maxMinutes());
    TrainConfig lt = TrainConfig.load(Path.of("configs/digix_longtail.yml"), List.of());
    assertEquals(List.of(new TrainConfig.Stage(50, "pk", 1.0), new TrainConfig.Stage(10, "pk_balanced", 0.1)),
        lt.solver().stages());
    assertEquals(60, lt.solver().maxEpochs(), "derived from the stages");
    assertEquals(1, lt.model().freezeStages());
    assertFalse(lt.model().pretrainPath().isEmpty(), "freezing is for pretrained stages");
  }

  @Test
  void contestAugmentationKeysDefaultOffRoundTripAndAreRangeChecked() {
    TrainConfig.Input d = TrainConfig.defaults().input();
    assertEquals(0.0, d.channelShuffleProb());
    assertEquals(0.0, d.ssrProb());
    assertEquals(0.0625, d.ssrShift());
    assertEquals(0.1, d.ssrScale());
    assertEquals(10.0, d.ssrRotate());
    assertEquals(0.0, d.noiseProb());
    assertEquals(0.0, d.saltPepperProb());
    TrainConfig c = TrainConfig.load(null, List.of("INPUT.CHANNEL_SHUFFLE_PROB=0.25", "INPUT.SSR_PROB=0.5",
        "INPUT.SSR_SHIFT=0.1", "INPUT.SSR_SCALE=0.2", "INPUT.SSR_ROTATE=45", "INPUT.NOISE_PROB=0.3",
        "INPUT.NOISE_STD=0.04", "INPUT.SALT_PEPPER_PROB=0.2", "INPUT.SALT_PEPPER_AMOUNT=0.01"));
    TrainConfig.Input in = c.input();
    assertEquals(0.25, in.channelShuffleProb());
    assertEquals(0.5, in.ssrProb());
    assertEquals(0.1, in.ssrShift());
    assertEquals(0.2, in.ssrScale());
    assertEquals(45.0, in.ssrRotate());
    assertEquals(0.3, in.noiseProb());
    assertEquals(0.04, in.noiseStd());
    assertEquals(0.2, in.saltPepperProb());
    assertEquals(0.01, in.saltPepperAmount());
    TrainConfig back = TrainConfig.fromYamlString(c.toYaml());
    assertEquals(c, back);
    assertEquals(0.01, back.input().saltPepperAmount());
    assertEquals(45.0, back.input().ssrRotate());
    assertNotEquals(TrainConfig.defaults(), c);

    String[][] bad = {
        {"INPUT.CHANNEL_SHUFFLE_PROB", "1.5", "a probability in [0, 1]"},
        {"INPUT.SSR_PROB", "-0.1", "a probability in [0, 1]"},
        {"INPUT.SSR_SHIFT", "2", "[0, 1]"},
        {"INPUT.SSR_SCALE", "1", "[0, 1)"},
        {"INPUT.SSR_ROTATE", "-5", "[0, 180]"},
        {"INPUT.NOISE_PROB", "2", "a probability in [0, 1]"},
        {"INPUT.NOISE_STD", "-0.01", "standard deviation"},
        {"INPUT.SALT_PEPPER_PROB", "1.01", "a probability in [0, 1]"},
        {"INPUT.SALT_PEPPER_AMOUNT", "-1", "[0, 1]"}};
    for (String[] b : bad)
      fails("--set", b[0], () -> TrainConfig.load(null, List.of(b[0] + "=" + b[1])), b[2], "got " + b[1]);
  }

  // ---- long-tail keys: DATALOADER.SAMPLER, SOLVER.STAGES, MODEL.FREEZE_STAGES ----

  @Test
  void stagesFromAFileDeriveMaxEpochsAndRoundTrip() throws IOException {
    Path f = yaml("DATALOADER:\n  SAMPLER: pk\nSOLVER:\n  STAGES:\n    - EPOCHS: 40\n    - {EPOCHS: 10, SAMPLER: "
        + "pk_balanced, LR_FACTOR: 0.1}\n");
    TrainConfig c = TrainConfig.load(f, List.of());
    assertEquals(List.of(new TrainConfig.Stage(40, "pk", 1.0), new TrainConfig.Stage(10, "pk_balanced", 0.1)),
        c.solver().stages(), "SAMPLER left out: DATALOADER.SAMPLER; LR_FACTOR left out: 1.0");
    assertEquals(50, c.solver().maxEpochs(), "derived from the stages when no file or --set gives it");
    TrainConfig back = TrainConfig.fromYamlString(c.toYaml());
    assertEquals(c, back);
    assertEquals(c.solver().stages(), back.solver().stages());
    assertEquals(c.toYaml(), back.toYaml());
    assertTrue(c.toYaml().contains("LR_FACTOR: 0.1"), c.toYaml());
    // A stage without SAMPLER takes the final DATALOADER.SAMPLER, even one a later --set gives.
    TrainConfig d = TrainConfig.load(f, List.of("DATALOADER.SAMPLER=pk_balanced"));
    assertEquals("pk_balanced", d.solver().stages().get(0).sampler());
    assertEquals("pk_balanced", d.solver().stages().get(1).sampler());
  }

  @Test
  void stagesFromSetInFlowSyntax() {
    TrainConfig c = TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 3, SAMPLER: pk}, {EPOCHS: 2, SAMPLER: "
        + "pk_balanced, LR_FACTOR: 0.5}]", "MODEL.FREEZE_STAGES=2", "DATALOADER.SAMPLER=pk_balanced"));
    assertEquals(List.of(new TrainConfig.Stage(3, "pk", 1.0), new TrainConfig.Stage(2, "pk_balanced", 0.5)),
        c.solver().stages());
    assertEquals(5, c.solver().maxEpochs());
    assertEquals(2, c.model().freezeStages());
    assertEquals("pk_balanced", c.dataloader().sampler());
    assertEquals(c, TrainConfig.fromYamlString(c.toYaml()));
    assertEquals(List.of(), TrainConfig.load(null, List.of("SOLVER.STAGES=[]")).solver().stages());
    assertEquals(120, TrainConfig.load(null, List.of("SOLVER.STAGES=[]")).solver().maxEpochs());
    // Given explicitly and equal to the sum: accepted.
    assertEquals(5, TrainConfig.load(null, List.of("SOLVER.MAX_EPOCHS=5", "SOLVER.STAGES=[{EPOCHS: 5}]"))
        .solver().maxEpochs());
  }

  @Test
  void badStagesNameTheStage() throws IOException {
    Path f = yaml("SOLVER:\n  STAGES:\n    - {EPOCHS: 4}\n    - {EPOCHS: 2, LR_FACTR: 0.1}\n");
    fails(f.toString(), "SOLVER.STAGES[1].LR_FACTR", () -> TrainConfig.load(f, List.of()), "unknown key",
        "did you mean LR_FACTOR?", "a stage has EPOCHS, SAMPLER, LR_FACTOR");
    fails("--set", "SOLVER.STAGES[1].EPOCHS", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 4}, "
        + "{SAMPLER: pk}]")), "missing", "every stage needs EPOCHS");
    fails("--set", "SOLVER.STAGES[0].SAMPLER", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 4, "
        + "SAMPLER: balanced}]")), "one of pk, pk_balanced", "got \"balanced\"");
    fails("--set", "SOLVER.STAGES[0].EPOCHS", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 2.5}]")),
        "an integer");
    fails("--set", "SOLVER.STAGES[1].EPOCHS", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 4}, "
        + "{EPOCHS: 0}]")), "an integer >= 1", "got 0");
    fails("--set", "SOLVER.STAGES[0].LR_FACTOR", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 4, "
        + "LR_FACTOR: 0}]")), "a number > 0");
    fails("--set", "SOLVER.STAGES", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=40")), "a list of stages");
    fails("--set", "SOLVER.STAGES[0]", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[40]")),
        "expected a mapping with EPOCHS, SAMPLER, LR_FACTOR");
  }

  @Test
  void stagesMustAddUpToAGivenMaxEpochs() throws IOException {
    Path f = yaml("SOLVER:\n  MAX_EPOCHS: 60\n  STAGES: [{EPOCHS: 40}, {EPOCHS: 10, SAMPLER: pk_balanced}]\n");
    fails(f.toString(), "SOLVER.MAX_EPOCHS", () -> TrainConfig.load(f, List.of()),
        "the sum of the SOLVER.STAGES epochs (40 + 10 = 50)", "got 60", "leave SOLVER.MAX_EPOCHS out");
    fails("--set", "SOLVER.MAX_EPOCHS", () -> TrainConfig.load(null, List.of("SOLVER.STAGES=[{EPOCHS: 3}]",
        "SOLVER.MAX_EPOCHS=4")), "(3 = 3)", "got 4");
    // A resolved config states MAX_EPOCHS, so new stages on top of it must state it too.
    TrainConfig c = TrainConfig.load(f, List.of("SOLVER.MAX_EPOCHS=50"));
    fails("<resolved config>", "SOLVER.MAX_EPOCHS", () -> c.with(List.of("SOLVER.STAGES=[{EPOCHS: 1}]")), "(1 = 1)",
        "got 50");
    assertEquals(1, c.with(List.of("SOLVER.STAGES=[{EPOCHS: 1}]", "SOLVER.MAX_EPOCHS=1")).solver().maxEpochs());
  }

  @Test
  void freezeStagesIsBoundedByTheBackbone() {
    assertEquals(4, TrainConfig.load(null, List.of("MODEL.FREEZE_STAGES=4")).model().freezeStages());
    fails("--set", "MODEL.FREEZE_STAGES", () -> TrainConfig.load(null, List.of("MODEL.FREEZE_STAGES=5")),
        "an integer in [0, 4] for resnet50", "got 5");
    fails("--set", "MODEL.FREEZE_STAGES", () -> TrainConfig.load(null, List.of("MODEL.BACKBONE=small_cnn",
        "MODEL.FREEZE_STAGES=4")), "[0, 3] for small_cnn", "got 4");
    fails("--set", "MODEL.FREEZE_STAGES", () -> TrainConfig.load(null, List.of("MODEL.FREEZE_STAGES=-1")), "got -1");
    assertEquals(7, TrainConfig.load(null, List.of("MODEL.BACKBONE=efficientnet_b2", "MODEL.FREEZE_STAGES=7")).model()
        .freezeStages());
    fails("--set", "MODEL.FREEZE_STAGES", () -> TrainConfig.load(null, List.of("MODEL.BACKBONE=efficientnet_b0",
        "MODEL.FREEZE_STAGES=8")), "[0, 7] for efficientnet_b0", "got 8");
    fails("--set", "MODEL.FREEZE_STAGES", () -> TrainConfig.load(null, List.of("MODEL.BACKBONE=densenet169",
        "MODEL.FREEZE_STAGES=5")), "[0, 4] for densenet169", "got 5");
    fails("--set", "DATALOADER.SAMPLER", () -> TrainConfig.load(null, List.of("DATALOADER.SAMPLER=balanced")),
        "one of pk, pk_balanced");
  }

  @Test
  void contestBackbonesAreChoicesAndRefuseIbn() {
    assertEquals(org.reid4j.model.ModelSpec.BACKBONES, TrainConfig.CHOICES.get("MODEL.BACKBONE"),
        "the config's choices are the backbones the model package builds");
    for (String b : List.of("efficientnet_b0", "efficientnet_b4", "densenet121", "densenet169")) {
      TrainConfig c = TrainConfig.load(null, List.of("MODEL.BACKBONE=" + b, "MODEL.LAST_STRIDE=2"));
      assertEquals(b, c.model().backbone());
      assertEquals(b, TrainConfig.fromYamlString(c.toYaml()).model().backbone());
      fails("--set", "MODEL.IBN", () -> TrainConfig.load(null, List.of("MODEL.BACKBONE=" + b, "MODEL.IBN=true")),
          "false for " + b, "ResNet backbones only");
    }
    assertTrue(TrainConfig.load(null, List.of("MODEL.BACKBONE=resnet50", "MODEL.IBN=true")).model().ibn());
  }
}
