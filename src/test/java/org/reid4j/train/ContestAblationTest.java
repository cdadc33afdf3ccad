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
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;

/**
 * The contest ablation end to end on the tiny fixture (each row one epoch): eleven independent rows, the
 * post-processing rows on row 0's model, Markdown and JSON that agree.
 */
class ContestAblationTest {
  @TempDir static Path data;
  @TempDir Path tmp;

  @BeforeAll
  static void writeFixture() throws IOException {
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
  }

  @Test
  void elevenIndependentRowsAndThePostProcessingRows() throws IOException {
    List<String> tiny = new java.util.ArrayList<>(AblationTest.tiny());
    tiny.replaceAll(o -> o.replace("DATALOADER.ROOT=\"" + AblationTest.data + "\"", "DATALOADER.ROOT=\"" + data + "\""));
    Path md = tmp.resolve("ablation-contest.md"), work = tmp.resolve("work");
    Ablation.Settings s = new Ablation.Settings(AblationTest.quickstart(), "configs/quickstart.yml", tiny, 1.0, 2, work,
        md, "./reid4j ablate --suite contest --minutes-per-row 1 --seed 2", null);
    ContestAblation c = new ContestAblation(s);
    // Rows are independent: each is the base plus its own change only.
    TrainConfig gem = c.rowConfig(1), arc = c.rowConfig(2);
    assertEquals("gem", gem.model().pooling());
    assertEquals("linear", gem.model().head());
    assertEquals("arcface", arc.model().head());
    assertEquals(AblationTest.quickstart().model().pooling(), arc.model().pooling());
    assertEquals(2, c.rowConfig(8).solver().stages().size(), "the two-stage row");
    for (int i = 0; i < c.steps().size(); i++)
      assertEquals("none", c.rowConfig(i).test().qe(), "row " + i + ": post-processing is measured in its own rows");
    assertEquals(List.of("SOLVER.STAGES=[{EPOCHS: 9, SAMPLER: pk}, {EPOCHS: 3, SAMPLER: pk_balanced, LR_FACTOR: 0.1}]",
        "SOLVER.MAX_EPOCHS=12"), ContestAblation.twoStage(12));

    ByteArrayOutputStream log = new ByteArrayOutputStream();
    ContestAblation.Report r;
    try (PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      r = c.run(ps);
    }
    assertEquals(11, r.rows().size());
    assertEquals(14, r.post().size(), "9 post-processing variants, flip and rotation TTA, 3 fusions");
    String text = Files.readString(md);
    JsonNode json = new ObjectMapper().readTree(r.json().toFile());
    assertEquals(11, json.get("training").size());
    assertEquals(14, json.get("post_processing").size());
    for (int i = 0; i < 11; i++) {
      JsonNode j = json.get("training").get(i);
      assertTrue(text.contains("| " + i + " | " + j.get("change").asText() + " |"), text);
      assertEquals(r.rows().get(i).eval().mAP(), j.get("mAP").asDouble(), 1e-12);
    }
    for (JsonNode j : json.get("post_processing"))
      assertTrue(text.contains("| " + j.get("post_processing").asText() + " | " + Ablation.pct(j.get("rank1").asDouble())
          + " | " + Ablation.pct(j.get("mAP").asDouble()) + " |"), j.toString());
    // The first post-processing row is row 0's model re-extracted without any of it: the trainer's own score.
    assertEquals(r.rows().get(0).eval().mAP(), r.post().get(0).eval().mAP(), 1e-4);
    assertTrue(text.contains("## What the runs show") && text.contains(json.get("findings").asText()), text);
    assertTrue(text.contains("`./reid4j ablate --suite contest --minutes-per-row 1 --seed 2`"), text);
  }
}
