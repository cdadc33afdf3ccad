package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.cli.EvalCommandTest.Run;
import org.reid4j.io.FeatureDir;
import org.reid4j.serve.VerificationThreshold;

/** eval --checkpoint (extraction and evaluation in one go, with pictures) and calibrate, end to end. */
class ModelEvalCommandsTest {
  @TempDir Path tmp;

  @Test
  void evalWithACheckpointEqualsExtractThenEvalAndDrawsPictures() throws Exception {
    Path ckpt = ExtractCommandTest.checkpoint(tmp);
    String data = ExtractCommandTest.csvData(tmp, true);
    Path a = tmp.resolve("a.json"), b = tmp.resolve("b.json"), plots = tmp.resolve("plots");
    Run r = EvalCommandTest.cli("eval", "--checkpoint", ckpt.toString(), "--data", data, "--flip", "--normalize",
        "--backend", "java", "--json", a.toString(), "--plots", plots.toString(), "--plot-queries", "3");
    assertEquals(0, r.code(), r.err());
    Path feats = tmp.resolve("feats");
    assertEquals(0, EvalCommandTest.cli("extract", "--checkpoint", ckpt.toString(), "--data", data, "--flip",
        "--out", feats.toString()).code());
    assertEquals(0, EvalCommandTest.cli("eval", "--dir", feats.toString(), "--normalize", "--backend", "java",
        "--json", b.toString()).code());
    JsonNode ja = new ObjectMapper().readTree(a.toFile()), jb = new ObjectMapper().readTree(b.toFile());
    assertEquals(jb.get("mAP").asDouble(), ja.get("mAP").asDouble(), 1e-12);
    assertEquals(jb.get("cmc").toString(), ja.get("cmc").toString());
    assertEquals(3, ja.get("queries_evaluated").asInt());
    assertNotNull(ImageIO.read(plots.resolve("cmc.png").toFile()));
    var ranked = ImageIO.read(plots.resolve("ranked.png").toFile());
    assertNotNull(ranked);
    assertTrue(ranked.getHeight() > ranked.getWidth() / 10, "three query rows");
  }

  @Test
  void rankedListIsLeftOutWhenAnImageWasSkipped() throws Exception {
    Path ckpt = ExtractCommandTest.checkpoint(tmp);
    String data = ExtractCommandTest.csvData(tmp, false);
    Path plots = tmp.resolve("plots");
    Run r = EvalCommandTest.cli("eval", "--checkpoint", ckpt.toString(), "--data", data, "--backend", "java",
        "--plots", plots.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.exists(plots.resolve("cmc.png")));
    assertFalse(Files.exists(plots.resolve("ranked.png")), "rows no longer match the image list");
  }

  @Test
  void evalCheckpointNeedsData() throws Exception {
    Path ckpt = ExtractCommandTest.checkpoint(tmp);
    Run r = EvalCommandTest.cli("eval", "--checkpoint", ckpt.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--checkpoint needs --data"), r.err());
    Path missing = tmp.resolve("nope.pt");
    r = EvalCommandTest.cli("eval", "--checkpoint", missing.toString(), "--data", "fashion-mnist");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("nope.pt"), r.err());
  }

  @Test
  void calibrateStoresAThresholdBesideTheCheckpointThatMatchesItsOwnRoc() throws Exception {
    Path ckpt = ExtractCommandTest.checkpoint(tmp);
    String data = ExtractCommandTest.csvData(tmp, true);
    Run r = EvalCommandTest.cli("calibrate", "--checkpoint", ckpt.toString(), "--data", data, "--split", "all",
        "--fpr", "0.25", "--backend", "java");
    assertEquals(0, r.code(), r.err());
    Path file = ckpt.getParent().resolve("threshold.json");
    VerificationThreshold t = VerificationThreshold.load(file);
    assertEquals(0.25, t.targetFpr(), 0);
    assertTrue(t.fprAtThreshold() <= 0.25, "FPR " + t.fprAtThreshold());
    // Recount by hand on the same features: the share of impostor pairs within the threshold.
    Path feats = tmp.resolve("feats");
    assertEquals(0, EvalCommandTest.cli("extract", "--checkpoint", ckpt.toString(), "--data", data, "--out",
        feats.toString()).code());
    var q = FeatureDir.readQuery(feats);
    var g = FeatureDir.readGallery(feats);
    int n = q.size() + g.size();
    float[][] f = new float[n][];
    int[] pid = new int[n];
    for (int i = 0; i < n; i++) {
      f[i] = i < q.size() ? q.features().row(i) : g.features().row(i - q.size());
      pid[i] = i < q.size() ? q.pids()[i] : g.pids()[i - q.size()];
    }
    int impostors = 0, falseAccepts = 0, genuine = 0, trueAccepts = 0;
    for (int i = 0; i < n; i++)
      for (int j = i + 1; j < n; j++) {
        boolean same = t.sameIdentity(f[i], f[j]);
        if (pid[i] == pid[j]) {
          genuine++;
          if (same) trueAccepts++;
        } else {
          impostors++;
          if (same) falseAccepts++;
        }
      }
    assertEquals(t.fprAtThreshold(), (double) falseAccepts / impostors, 1e-9);
    assertEquals(t.tprAtTarget(), (double) trueAccepts / genuine, 1e-9);
    // Bad target.
    assertEquals(2, EvalCommandTest.cli("calibrate", "--checkpoint", ckpt.toString(), "--data", data, "--fpr", "1.5")
        .code());
  }
}
