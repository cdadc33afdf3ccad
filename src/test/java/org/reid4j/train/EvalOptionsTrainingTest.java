package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.ConfigException;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.post.QueryExpansion;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.serve.Embedder;
import org.reid4j.serve.Extractor;
import org.reid4j.serve.ModelLoader;

/** TEST.DBA_K and TEST.QE in the trainer's evaluation: the score eval's pipeline gives on the same features. */
class EvalOptionsTrainingTest {
  @TempDir static Path data;
  @TempDir Path runs;

  @Test
  void theTrainersEvaluationAppliesDbaAndQueryExpansion() throws IOException {
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
    Path out = runs.resolve("qe");
    List<String> o = TrainerTest.tiny(data, out, 1);
    o.addAll(List.of("TEST.QE=alpha-qe", "TEST.QE_K=5", "TEST.QE_ALPHA=2", "TEST.DBA_K=3"));
    TrainConfig cfg = TrainConfig.load(null, o);
    Trainer.Result r = new Trainer(cfg, ReidDataset.open(cfg), System.out, false).run(false);

    ReidDataset ds = ReidDataset.open(cfg);
    ModelLoader.Loaded loaded = ModelLoader.load(r.lastCheckpoint(), null, List.of());
    LabelledFeatures q, g;
    try (Embedder e = ModelLoader.embedder(loaded, null)) {
      Extractor.Options eo = Extractor.Options.defaults().withBatchSize(256).withWorkers(1).withProgress(null, 10);
      q = Ablation.features(e, "query", ds.query(), eo);
      g = Ablation.features(e, "gallery", ds.gallery(), eo);
    }
    Kernels k = Kernels.create(Backend.AUTO);
    RetrievalEval.Options plain = new RetrievalEval.Options(Metric.parse(cfg.test().metric()), true, null);
    RetrievalEval.Options post = plain.withDba(3)
        .withQe(new QueryExpansion.Params(QueryExpansion.Kind.ALPHA, 5, 1, 2));
    double withPost = RetrievalEval.run(k, q, g, post).result().mAP();
    double without = RetrievalEval.run(k, q, g, plain).result().mAP();
    assertEquals(withPost, r.eval().mAP(), 1e-4, "the trainer's mAP is the post-processed one");
    assertNotEquals(without, withPost, 1e-6, "and the post-processing changed it");
    assertEquals(without, r.plainEval().mAP(), 1e-4, "the run also reports the score without it");
    com.fasterxml.jackson.databind.JsonNode sum = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(r.summary().toFile());
    assertEquals("DBA (k 3) + alpha-qe (k 5, alpha 2)", sum.get("post_processing").asText());
    assertEquals(without, sum.get("without_post_processing").get("mAP").asDouble(), 1e-4);
    assertEquals(withPost, sum.get("mAP").asDouble(), 1e-4);
  }

  @Test
  void badKeysAreRefusedByName() {
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(null, List.of("TEST.QE=aqe")));
    assertTrue(e.getMessage().contains("TEST.QE") && e.getMessage().contains("alpha-qe"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> TrainConfig.load(null, List.of("TEST.QE_K=0")));
    assertTrue(e.getMessage().contains("TEST.QE_K"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> TrainConfig.load(null, List.of("TEST.DBA_K=-2")));
    assertTrue(e.getMessage().contains("TEST.DBA_K"), e.getMessage());
  }
}
