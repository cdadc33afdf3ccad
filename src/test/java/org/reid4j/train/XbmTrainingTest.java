package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SOLVER.XBM in a real (tiny) run: on for epoch 2 only, as START_EPOCH / STOP_EPOCH say, logged and in metrics. */
class XbmTrainingTest {
  @TempDir static Path data;
  @TempDir Path runs;

  @Test
  void xbmRunsBetweenItsStartAndStopEpochs() throws IOException {
    TrainerTest.writeFixture(data, StagedTrainingTest.TRAIN_PER_CLASS, 110, 21);
    Path out = runs.resolve("xbm");
    List<String> o = TrainerTest.tiny(data, out, 3);
    o.addAll(List.of("SOLVER.XBM.SIZE=48", "SOLVER.XBM.WEIGHT=0.5", "SOLVER.XBM.START_EPOCH=1",
        "SOLVER.XBM.STOP_EPOCH=2"));
    String log = StagedTrainingTest.runLog(o);
    int on = log.indexOf("xbm: on from epoch 2: a memory of 48 embeddings (0 held)"),
        off = log.indexOf("xbm: off from epoch 3");
    assertTrue(on >= 0 && off > on, log);
    List<JsonNode> rows = MetricsLog.read(out.resolve("metrics.jsonl"));
    assertEquals(3, rows.size());
    assertTrue(rows.get(0).get("xbm_loss").isNull(), rows.get(0).toString());
    double mid = rows.get(1).get("xbm_loss").asDouble(-1);
    assertTrue(mid >= 0 && Double.isFinite(mid), rows.get(1).toString());
    assertTrue(rows.get(2).get("xbm_loss").isNull(), rows.get(2).toString());
    // The memory's triplet loss is part of the total: the epoch's loss is at least its weighted share.
    assertTrue(rows.get(1).get("loss").asDouble() >= 0.5 * mid - 1e-6, rows.get(1).toString());
  }

  /**
   * configs/digix_arcface.yml's losses and head (ArcFace m 0.35 s 30 weighted 0.25, triplet margin 0.6,
   * dropout 0.2, GeM, XBM on then off) train on the small fixture: the config's MODEL head keys and
   * SOLVER loss keys as they stand, only the backbone, input and data made tiny.
   */
  @Test
  void theDigixArcfaceConfigTrains() throws IOException {
    TrainerTest.writeFixture(data, StagedTrainingTest.TRAIN_PER_CLASS, 110, 21);
    org.reid4j.config.TrainConfig sample = org.reid4j.config.TrainConfig.load(Path.of("configs/digix_arcface.yml"),
        List.of());
    assertEquals("arcface", sample.model().head());
    assertEquals(0.35, sample.model().headMargin());
    assertEquals(0.25, sample.solver().idLossWeight());
    assertEquals(0.6, sample.solver().tripletMargin());
    Path out = runs.resolve("arcface");
    List<String> o = TrainerTest.tiny(data, out, 3);
    o.addAll(List.of("MODEL.HEAD=" + sample.model().head(), "MODEL.HEAD_SCALE=" + sample.model().headScale(),
        "MODEL.HEAD_MARGIN=" + sample.model().headMargin(), "MODEL.DROPOUT=" + sample.model().dropout(),
        "MODEL.POOLING=" + sample.model().pooling(), "SOLVER.ID_LOSS_WEIGHT=" + sample.solver().idLossWeight(),
        "SOLVER.TRIPLET_MARGIN=" + sample.solver().tripletMargin(), "SOLVER.XBM.SIZE=64", "SOLVER.XBM.START_EPOCH=0",
        "SOLVER.XBM.STOP_EPOCH=2"));
    String log = StagedTrainingTest.runLog(o);
    List<JsonNode> rows = MetricsLog.read(out.resolve("metrics.jsonl"));
    assertEquals(3, rows.size(), log);
    for (JsonNode r : rows) assertTrue(Double.isFinite(r.get("loss").asDouble()), r.toString());
    assertTrue(rows.get(2).get("loss").asDouble() < rows.get(0).get("loss").asDouble(), "the loss falls: " + rows);
    JsonNode last = rows.get(2);
    assertTrue(last.has("mAP") && last.get("mAP").asDouble() > 0.2, last.toString());
  }
}
