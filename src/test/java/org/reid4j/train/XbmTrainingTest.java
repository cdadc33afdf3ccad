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
}
