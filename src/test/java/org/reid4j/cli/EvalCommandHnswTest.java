package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** eval --candidates exact|hnsw: the same numbers as exact re-ranking when the graph search is exhaustive, and clear errors. */
class EvalCommandHnswTest {
  @TempDir Path tmp;

  private Path synth(String name, long seed) {
    Path dir = tmp.resolve(name);
    EvalCommandTest.Run r = EvalCommandTest.cli("synth", "--out", dir.toString(), "--ids", "40", "--cams", "3", "--dim",
        "24", "--distractors", "30", "--junk", "10", "--noise", "1.2", "--seed", Long.toString(seed));
    assertEquals(0, r.code(), r.err());
    return dir;
  }

  private JsonNode eval(Path dir, String json, String... extra) throws Exception {
    String[] base = {"eval", "--dir", dir.toString(), "--normalize", "--rerank", "--k1", "10", "--k2", "3", "--backend",
        "java", "--json", tmp.resolve(json).toString()};
    String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    EvalCommandTest.Run r = EvalCommandTest.cli(args);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("re-ranking candidates "), r.out());
    return new ObjectMapper().readTree(tmp.resolve(json).toFile());
  }

  @Test
  void exhaustiveHnswCandidatesGiveTheExactNumbersAndSaySo() throws Exception {
    Path dir = synth("case", System.nanoTime() % 1000);
    JsonNode exact = eval(dir, "exact.json");
    JsonNode hnsw = eval(dir, "hnsw.json", "--candidates", "hnsw", "--hnsw-m", "8", "--hnsw-ef", "100000");
    JsonNode usual = eval(dir, "usual.json", "--candidates", "hnsw");
    // a narrow graph-building beam, an exhaustive search: still exact
    JsonNode split = eval(dir, "split.json", "--candidates", "hnsw", "--hnsw-m", "4", "--hnsw-ef", "3",
        "--hnsw-ef-search", "100000");
    assertEquals("exact", exact.get("candidates").asText());
    assertEquals("hnsw", hnsw.get("candidates").get("kind").asText());
    assertEquals(8, hnsw.get("candidates").get("m").asInt());
    assertEquals(100000, hnsw.get("candidates").get("ef").asInt());
    assertEquals(16, usual.get("candidates").get("m").asInt());
    assertEquals(200, usual.get("candidates").get("ef").asInt());
    assertEquals(200, usual.get("candidates").get("ef_search").asInt(), "the search beam defaults to --hnsw-ef");
    assertEquals(3, split.get("candidates").get("ef").asInt());
    assertEquals(100000, split.get("candidates").get("ef_search").asInt());
    assertEquals(exact.get("mAP").asDouble(), split.get("mAP").asDouble(), 0.0);
    assertEquals(exact.get("cmc"), split.get("cmc"));
    assertEquals(exact.get("mAP").asDouble(), hnsw.get("mAP").asDouble(), 0.0);
    assertEquals(exact.get("rank1").asDouble(), hnsw.get("rank1").asDouble(), 0.0);
    assertEquals(exact.get("cmc"), hnsw.get("cmc"));
    // the default beam (200) on these few hundred items: close to exact, not necessarily equal
    assertEquals(exact.get("mAP").asDouble(), usual.get("mAP").asDouble(), 0.01);
    // the lists' recall against the exact ones, on every item here (fewer than 1,000): 1 when exhaustive
    assertNull(exact.get("candidate_recall"), "exact candidates are not measured");
    JsonNode rec = split.get("candidate_recall");
    int items = 40 * 2 + 40 * 3 * 2 + 30 + 10; // synth: 2 queries per id, ids x cams x per-cam + distractors + junk
    assertEquals(items, rec.get("sampled").asInt(), rec.toString());
    assertEquals(10, rec.get("k").asInt());
    assertEquals(1.0, rec.get("recall").asDouble(), 0.0);
    assertEquals(1.0, rec.get("min_recall").asDouble(), 0.0);
    // a narrow beam misses some of them, and the JSON says so
    JsonNode narrow = eval(dir, "narrow.json", "--candidates", "hnsw", "--hnsw-m", "2", "--hnsw-ef", "1",
        "--hnsw-recall", "50");
    JsonNode nr = narrow.get("candidate_recall");
    assertEquals(50, nr.get("sampled").asInt());
    assertTrue(nr.get("recall").asDouble() < 1.0, nr.toString());
    assertTrue(nr.get("epsilon_recall").asDouble() >= nr.get("recall").asDouble(), nr.toString());
    assertTrue(nr.get("min_recall").asDouble() <= nr.get("recall").asDouble(), nr.toString());
    assertNull(eval(dir, "none.json", "--candidates", "hnsw", "--hnsw-recall", "0").get("candidate_recall"));
  }

  @Test
  void badCandidateOptionsAreRefusedByName() throws Exception {
    Path d = synth("bad", 3);
    String dir = d.toString();
    ServeCommandTest.refused("--hnsw-m must be in [1, 512], got 0", "eval", "--dir", dir, "--rerank", "--candidates",
        "hnsw", "--hnsw-m", "0");
    ServeCommandTest.refused("--hnsw-ef must be in", "eval", "--dir", dir, "--rerank", "--candidates", "hnsw",
        "--hnsw-ef", "-3");
    ServeCommandTest.refused("--hnsw-ef applies only with --rerank --candidates hnsw", "eval", "--dir", dir, "--rerank",
        "--hnsw-ef", "50");
    ServeCommandTest.refused("--hnsw-m applies only with --rerank --candidates hnsw", "eval", "--dir", dir, "--rerank",
        "--candidates", "exact", "--hnsw-m", "8");
    ServeCommandTest.refused("--candidates applies only with --rerank", "eval", "--dir", dir, "--candidates", "hnsw");
    ServeCommandTest.refused("--hnsw-ef-search must be in [1, ", "eval", "--dir", dir, "--rerank", "--candidates",
        "hnsw", "--hnsw-ef-search", "0");
    ServeCommandTest.refused("--hnsw-ef-search applies only with --rerank --candidates hnsw", "eval", "--dir", dir,
        "--rerank", "--hnsw-ef-search", "50");
    ServeCommandTest.refused("--candidates: unknown candidates 'ivf': expected exact or hnsw", "eval", "--dir", dir,
        "--rerank", "--candidates", "ivf");
    ServeCommandTest.refused("--hnsw-recall applies only with --rerank --candidates hnsw", "eval", "--dir", dir,
        "--rerank", "--hnsw-recall", "10");
    ServeCommandTest.refused("--hnsw-recall must be 0 or more items, got -1", "eval", "--dir", dir, "--rerank",
        "--candidates", "hnsw", "--hnsw-recall", "-1");
    ServeCommandTest.refused("HNSW candidates need one feature vector per item", "eval", "--dir", dir, "--dir", dir,
        "--rerank", "--candidates", "hnsw");
  }
}
