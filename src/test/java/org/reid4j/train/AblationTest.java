package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;

/**
 * The ablation end to end on the tiny Fashion-MNIST-layout fixture of {@link TrainerTest} (10
 * classes, 32 training and 110 test images each), every row shrunk to one epoch of P4 x K4 batches,
 * so all seven runs and the four evaluation variants take seconds.
 */
class AblationTest {
  @TempDir static Path data;
  @TempDir Path tmp;

  @BeforeAll
  static void writeFixture() throws IOException {
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
  }

  /** Per-row settings for seconds-long rows (none of them is a key the ablation controls). */
  static List<String> tiny() {
    return new ArrayList<>(List.of("DATALOADER.ROOT=\"" + data + "\"", "DATALOADER.P=4", "DATALOADER.K=4",
        "DATALOADER.NUM_WORKERS=1", "DATALOADER.PREFETCH=2", "SOLVER.BASE_LR=3.0e-3", "SOLVER.MAX_EPOCHS=1",
        "SOLVER.EVAL_PERIOD=100", "SOLVER.CHECKPOINT_PERIOD=100", "SOLVER.LOG_PERIOD=1000", "TEST.BATCH_SIZE=256"));
  }

  static TrainConfig quickstart() {
    Path q = Path.of("configs/quickstart.yml");
    assertTrue(Files.isRegularFile(q), "tests run in the repository root");
    return TrainConfig.load(q, List.of());
  }

  @Test
  void sevenRowsAndFourVariantsInMarkdownAndJson() throws IOException {
    Path md = tmp.resolve("docs/ablation.md"), work = tmp.resolve("work");
    Ablation.Settings s = new Ablation.Settings(quickstart(), "configs/quickstart.yml", tiny(), 1.0, 3, work, md,
        "./reid4j ablate --minutes-per-row 1 --seed 3", "a test");
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    Ablation.Report r;
    try (PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      r = new Ablation(s).run(ps);
    }
    String out = log.toString(StandardCharsets.UTF_8);
    assertEquals(7, r.rows().size());
    assertEquals(4, r.variants().size());
    assertTrue(out.contains("row 3/7: + label smoothing"), out);
    assertTrue(out.contains("row 0/7: baseline"), out);

    // The Markdown: two tables, 7 and 4 data rows.
    String text = Files.readString(md);
    List<String[]> rows = table(text, "| row | change |");
    List<String[]> variants = table(text, "| re-ranking | flip TTA |");
    assertEquals(7, rows.size(), text);
    assertEquals(4, variants.size(), text);
    assertTrue(text.contains("## What the runs show"), text);
    assertTrue(text.contains("`./reid4j ablate --minutes-per-row 1 --seed 3`"), text);
    assertTrue(text.contains("- seed: 3"), text);
    assertTrue(text.contains(Ablation.cpuModel()), text);

    // The JSON parses and its numbers are the Markdown's.
    JsonNode json = new ObjectMapper().readTree(r.json().toFile());
    assertEquals(md.resolveSibling("ablation.json"), r.json());
    assertEquals(7, json.get("rows").size());
    assertEquals(4, json.get("variants").size());
    assertEquals(3, json.get("seed").asLong());
    assertEquals(1.0, json.get("minutes_per_row").asDouble());
    for (int i = 0; i < 7; i++) {
      JsonNode j = json.get("rows").get(i);
      String[] m = rows.get(i);
      assertEquals(String.valueOf(i), m[0]);
      assertEquals(j.get("change").asText(), m[1]);
      assertEquals(Ablation.pct(j.get("rank1").asDouble()), m[2], "row " + i + " R1");
      assertEquals(Ablation.pct(j.get("mAP").asDouble()), m[3], "row " + i + " mAP");
      assertEquals(Ablation.pct(j.get("mINP").asDouble()), m[4], "row " + i + " mINP");
      assertEquals(j.get("epochs").asText(), m[5]);
      assertEquals(String.format(java.util.Locale.ROOT, "%.1f", j.get("minutes").asDouble()), m[6]);
      assertEquals(1, j.get("epochs").asInt(), "SOLVER.MAX_EPOCHS 1");
      assertEquals(r.rows().get(i).eval().mAP(), j.get("mAP").asDouble(), 1e-12);
      assertTrue(Files.isDirectory(work.resolve(Ablation.STEPS.get(i).dir())), "row " + i + "'s OUTPUT_DIR");
    }
    assertEquals("row_0_baseline", Ablation.STEPS.get(0).dir());
    for (int i = 0; i < 4; i++) {
      JsonNode j = json.get("variants").get(i);
      String[] m = variants.get(i);
      assertEquals(j.get("rerank").asBoolean() ? "on" : "off", m[0]);
      assertEquals(j.get("flip").asBoolean() ? "on" : "off", m[1]);
      assertEquals(Ablation.pct(j.get("rank1").asDouble()), m[2], "variant " + i + " R1");
      assertEquals(Ablation.pct(j.get("mAP").asDouble()), m[3], "variant " + i + " mAP");
    }
    assertEquals("off off", variants.get(0)[0] + " " + variants.get(0)[1]);
    assertEquals("on on", variants.get(3)[0] + " " + variants.get(3)[1]);
    // Re-extracting the last row's checkpoint without TTA reproduces the trainer's own evaluation.
    assertEquals(r.rows().get(6).eval().mAP(), r.variants().get(0).eval().mAP(), 1e-4);
    assertEquals(json.get("findings").asText(), text.substring(text.indexOf("## What the runs show") + 23).trim());

    // Each row's checkpoint stores the config it was meant to train with.
    List<TrainConfig> cfg = new ArrayList<>();
    for (Ablation.Row row : r.rows())
      cfg.add(TrainConfig.fromYamlString(Checkpoints.readMeta(row.checkpoint()).config()));
    for (int i = 0; i < 7; i++) {
      TrainConfig c = cfg.get(i);
      assertEquals("small_cnn", c.model().backbone());
      assertEquals(3, c.solver().seed());
      assertEquals(1.0, c.solver().maxMinutes());
      assertEquals(work.resolve(Ablation.STEPS.get(i).dir()).toString(), c.outputDir());
      assertEquals(i >= 1 ? 1 : 0, c.solver().warmupEpochs(), "row " + i);
      assertEquals(i >= 2 ? 0.5 : 0.0, c.input().reProb(), "row " + i);
      assertEquals(i >= 3 ? 0.1 : 0.0, c.solver().labelSmooth(), "row " + i);
      assertEquals(i >= 4 ? 1 : 2, c.model().lastStride(), "row " + i);
      assertEquals(i >= 5 ? "bnneck" : "none", c.model().neck(), "row " + i);
      assertEquals(i >= 6 ? 5.0e-4 : 0.0, c.solver().centerWeight(), "row " + i);
      assertEquals(0.3, c.solver().tripletMargin(), "softmax + triplet in every row");
      assertEquals("none", c.test().qe(), "row " + i + ": no QE, though the quick start's config has it");
      assertEquals(0, c.test().dbaK(), "row " + i);
    }
    assertEquals("alpha-qe", quickstart().test().qe(), "the base the rows override");
    assertEquals("after", cfg.get(5).model().neckFeat());
    assertEquals(0.5, cfg.get(6).solver().centerLr());
  }

  @Test
  void everyRowOverrideIsAKnownConfigKey() {
    Ablation a = new Ablation(new Ablation.Settings(quickstart(), "q", List.of(), 2.0, 1, tmp, tmp.resolve("a.md"),
        "x", null));
    // Loading is strict (an unknown key throws), so resolving every row proves the keys exist; and each
    // row's own settings are visible in its resolved config.
    for (int i = 0; i < Ablation.STEPS.size(); i++) {
      String yaml = a.rowConfig(i).toYaml();
      for (String o : Ablation.STEPS.get(i).overrides()) {
        String key = o.substring(o.indexOf('.') + 1, o.indexOf('='));
        assertTrue(yaml.contains(key + ":"), key + " in row " + i);
      }
    }
    assertThrows(org.reid4j.config.ConfigException.class, () -> quickstart().with(List.of("INPUT.RE_PROBABILITY=0.5")),
        "an unknown key would have been caught");
  }

  @Test
  void badArgumentsAreClearErrors() {
    for (double m : new double[] {0, -1, Double.NaN}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Ablation.Settings(
          quickstart(), "q", List.of(), m, 1, tmp, tmp.resolve("a.md"), "x", null));
      assertTrue(e.getMessage().contains("minutes per row must be a number of minutes > 0"), e.getMessage());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Ablation.Settings(
        quickstart(), "q", List.of("MODEL.NECK=bnneck"), 1, 1, tmp, tmp.resolve("a.md"), "x", null));
    assertTrue(e.getMessage().contains("MODEL.NECK"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> new Ablation.Settings(
        quickstart(), "q", List.of("TEST.QE=qe"), 1, 1, tmp, tmp.resolve("a.md"), "x", null));
    assertTrue(e.getMessage().contains("TEST.QE") && e.getMessage().contains("DBA/QE"), e.getMessage());

    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream oldErr = System.err;
    int code;
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      code = org.reid4j.cli.Main.run("ablate", "--minutes-per-row", "0", "--out", tmp.resolve("x.md").toString(),
          "--work", tmp.resolve("w").toString());
    } finally {
      System.setErr(oldErr);
    }
    assertEquals(2, code, err.toString());
    assertEquals(1, err.toString().strip().lines().count(), "one line, no usage: " + err);
    assertTrue(err.toString().contains("--minutes-per-row must be a number of minutes > 0, got 0.0"), err.toString());
    assertFalse(Files.exists(tmp.resolve("x.md")));
    assertFalse(Files.exists(tmp.resolve("w")));
  }

  /** The data rows of the Markdown table whose header line starts with header, cells trimmed. */
  static List<String[]> table(String md, String header) {
    List<String[]> rows = new ArrayList<>();
    String[] lines = md.split("\n");
    int i = 0;
    while (i < lines.length && !lines[i].startsWith(header)) i++;
    assertTrue(i < lines.length, "no table " + header);
    for (i += 2; i < lines.length && lines[i].startsWith("|"); i++) {
      String l = lines[i].trim();
      String[] cells = l.substring(1, l.length() - 1).split("\\|");
      for (int k = 0; k < cells.length; k++) cells[k] = cells[k].trim();
      rows.add(cells);
    }
    return rows;
  }
}
