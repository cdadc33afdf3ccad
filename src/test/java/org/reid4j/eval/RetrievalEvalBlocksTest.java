package org.reid4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NativeMatrix;
import org.reid4j.kernels.QueryLabels;
import org.reid4j.kernels.QueryScores;
import org.reid4j.kernels.RerankParams;

/**
 * Evaluation a block of queries at a time (what lets a million-item HNSW evaluation run without its
 * [nq, ng] matrix) against the whole matrix: the same per-query scores for every block size, on the
 * host backends, with junk pids, queries without a match and ties.
 */
class RetrievalEvalBlocksTest {
  private static void assertSameScores(QueryScores want, QueryScores got, String what) {
    assertArrayEquals(want.first(), got.first(), what);
    assertArrayEquals(want.ap(), got.ap(), 0, what);
    assertArrayEquals(want.inp(), got.inp(), 0, what);
    assertArrayEquals(want.nanColumn(), got.nanColumn(), what);
  }

  /** The host backends: their distances do not depend on how the queries are split into blocks. */
  private static List<Kernels> hostBackends() {
    List<Kernels> l = new ArrayList<>();
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU})
      if (Kernels.unavailableReason(b) == null) l.add(Kernels.create(b));
    return l;
  }

  /** Sides with repeated rows (exact ties) besides the clustered ones of {@link RetrievalEvalNativeTest}. */
  private static LabelledFeatures side(Random r, String name, int n, int d) {
    LabelledFeatures s = RetrievalEvalNativeTest.side(r, name, n, d, 9, 3);
    float[] v = s.features().data();
    for (int i = 1; i < n; i++) if (r.nextInt(5) == 0) System.arraycopy(v, r.nextInt(i) * d, v, i * d, d);
    return s;
  }

  @Test
  void blocksOfQueriesScoreLikeTheWholeMatrix() {
    long seed = System.nanoTime();
    Random r = new Random(seed);
    int[][] shapes = {{1, 1, 3}, {1, 7, 2}, {5, 1, 4}, {13, 57, 6}, {31, 140, 9}};
    for (Kernels k : hostBackends()) {
      for (int[] s : shapes) {
        LabelledFeatures q = side(r, "query", s[0], s[2]), g = side(r, "gallery", s[1], s[2]);
        QueryLabels labels = new QueryLabels(q.pids(), q.camids(), g.pids(), g.camids());
        Metric m = Metric.values()[r.nextInt(Metric.values().length)];
        int n = s[0] + s[1];
        RerankParams p = new RerankParams(1 + r.nextInt(12), 1 + r.nextInt(6), r.nextFloat()).clampedTo(n);
        Candidates c = Candidates.hnsw(2 + r.nextInt(10), 2 + r.nextInt(20));
        FloatMatrix raw = k.pairwise(q.features(), g.features(), m);
        QueryScores plain = ReidEvaluator.scoreQueries(raw, q.pids(), q.camids(), g.pids(), g.camids());
        QueryScores reranked = ReidEvaluator.scoreQueries(
            KReciprocal.rerank(q.features(), g.features(), m, p, c, raw), q.pids(), q.camids(), g.pids(), g.camids());
        for (int block : new int[] {1, 2, 3, s[0], s[0] + 5}) {
          String what = "seed " + seed + " " + k.describe() + " " + java.util.Arrays.toString(s) + " " + m + " " + p + " " + c + " block "
              + block;
          assertSameScores(plain, RetrievalEval.scoreInBlocks(k, q.features(), g.features(), m, labels, null,
              null, block), what);
          float[] queryMax = RetrievalEval.queryRowMaxima(k, q.features(), g.features(), m, null, block);
          KReciprocal.Rows rows = KReciprocal.rows(q.features(), g.features(), m, p, c, queryMax, null);
          assertSameScores(reranked, RetrievalEval.scoreInBlocks(k, q.features(), g.features(), m, labels, rows,
              null, block), what);
          // the gallery handed over in native memory: the same scores, and the caller's matrix left open as it was
          try (NativeMatrix ng = NativeMatrix.of(g.features())) {
            assertSameScores(reranked, RetrievalEval.scoreInBlocks(k, q.features(), g.features(), ng, m, labels, rows,
                null, block), what + " native gallery");
            assertArrayEquals(g.features().data(), ng.toHeap().data(), 0f, what + " native gallery kept");
          }
        }
      }
    }
  }

  @Test
  void blocksOfQueriesInNativeMemoryScoreLikeTheWholeMatrix() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{1, 1, 2}, {1, 9, 3}, {6, 1, 5}, {17, 83, 7}};
    for (Kernels k : hostBackends()) {
      for (int[] s : shapes) {
        LabelledFeatures q = side(r, "query", s[0], s[2]), g = side(r, "gallery", s[1], s[2]);
        QueryLabels labels = new QueryLabels(q.pids(), q.camids(), g.pids(), g.camids());
        Metric m = Metric.values()[r.nextInt(Metric.values().length)];
        try (NativeMatrix nq = NativeMatrix.of(q.features()); NativeMatrix ng = NativeMatrix.of(g.features());
            NativeMatrix whole = k.pairwise(nq, ng, m)) {
          QueryScores want = ReidEvaluator.scoreQueries(whole, q.pids(), q.camids(), g.pids(), g.camids());
          for (int block : new int[] {1, 2, 5, s[0], s[0] + 3}) {
            String what = k.describe() + " " + java.util.Arrays.toString(s) + " " + m + " block " + block;
            assertSameScores(want, RetrievalEval.scoreNativeInBlocks(k, nq, ng, m, labels, null, block), what);
          }
          // the blocks read the features without changing them
          assertArrayEquals(q.features().data(), nq.toHeap().data(), 0f);
        }
      }
    }
  }

  @Test
  void hnswEvaluationWithoutTheMatrixEqualsTheOneThatKeepsIt() {
    Random r = new Random(System.nanoTime());
    LabelledFeatures q = side(r, "query", 37, 11), g = side(r, "gallery", 211, 11);
    for (Kernels k : hostBackends()) {
      RetrievalEval.Options o = new RetrievalEval.Options(Metric.EUCLIDEAN, true, RerankParams.DEFAULT)
          .withCandidates(Candidates.hnsw(8, 50));
      List<String> steps = new ArrayList<>();
      RetrievalEval.Report kept = RetrievalEval.run(k, q, g, o, s -> {}, true);
      RetrievalEval.Report streamed = RetrievalEval.run(k, q, g, o, steps::add, false);
      assertNotNull(kept.distance());
      assertNull(streamed.distance(), "the blocked path keeps no matrix");
      assertTrue(steps.stream().anyMatch(s -> s.contains("block by block")), steps.toString());
      assertTrue(streamed.timingsMs().containsKey("rerank+evaluate"), streamed.timingsMs().toString());
      EvalResult a = kept.result(), b = streamed.result();
      assertEquals(a.mAP(), b.mAP(), 0);
      assertEquals(a.mINP(), b.mINP(), 0);
      assertArrayEquals(a.cmc(), b.cmc(), 0);
      assertEquals(a.queriesEvaluated(), b.queriesEvaluated());
      assertEquals(a.queriesSkipped(), b.queriesSkipped());
    }
  }

  /**
   * Exact re-ranking of a gallery whose [nq, ng] matrix "does not fit" (the limit lowered for the
   * test): lists from the kernels' list pass, then blocks of queries, on the heap path and on the
   * native-memory path (whose gallery the blocks read in place), against the dense re-ranking that
   * keeps the matrix.
   */
  @Test
  void exactRerankingWithoutTheMatrixScoresLikeTheDenseOne() {
    Random r = new Random(System.nanoTime());
    LabelledFeatures q = side(r, "query", 29, 13), g = side(r, "gallery", 173, 13);
    long limit = RetrievalEval.matrixLimit;
    for (Kernels k : hostBackends()) {
      for (Metric m : new Metric[] {Metric.EUCLIDEAN, Metric.COSINE}) {
        RetrievalEval.Options o = new RetrievalEval.Options(m, false, new RerankParams(9, 3, 0.3f));
        String ctx = k.describe() + " " + m;
        EvalResult want = RetrievalEval.run(k, q, g, o, s -> {}, true).result();
        List<String> steps = new ArrayList<>();
        RetrievalEval.Report heap, nat;
        RetrievalEval.matrixLimit = 29L * 173 - 1;
        try (NativeMatrix nq = NativeMatrix.of(q.features()); NativeMatrix ng = NativeMatrix.of(g.features())) {
          heap = RetrievalEval.run(k, q, g, o, steps::add, false);
          nat = RetrievalEval.runNative(k, new RetrievalEval.NativeFeatures("query", nq, q.pids(), q.camids()),
              new RetrievalEval.NativeFeatures("gallery", ng, g.pids(), g.camids()), o, steps::add, false);
          assertArrayEquals(g.features().data(), ng.toHeap().data(), 0f, ctx + ": the native gallery is left as it was");
        } finally {
          RetrievalEval.matrixLimit = limit;
        }
        assertEquals(2, steps.stream().filter(s -> s.contains("pass without its matrix")).count(), ctx + " " + steps);
        for (RetrievalEval.Report got : List.of(heap, nat)) {
          assertNull(got.distance(), ctx);
          // Java: the lists and raw distances are the dense pass's own; native: its kernels' distances re-scored
          // in Java, equal to rounding, which on these Gaussian features does not reorder a list or a ranking
          EvalResult res = got.result();
          assertEquals(want.mAP(), res.mAP(), 1e-9, ctx);
          assertEquals(want.mINP(), res.mINP(), 1e-9, ctx);
          assertArrayEquals(want.cmc(), res.cmc(), 1e-9, ctx);
          assertEquals(want.queriesEvaluated(), res.queriesEvaluated(), ctx);
        }
      }
    }
  }

  @Test
  void aBlockOfQueriesNeverExceedsItsBudget() {
    assertEquals(1, RetrievalEval.blockRows(10, Integer.MAX_VALUE - 8));
    assertEquals(10, RetrievalEval.blockRows(10, 100));
    long rows = RetrievalEval.blockRows(1_000_000, 990_000);
    assertTrue(rows >= 1 && rows * 990_000 <= RetrievalEval.BLOCK_VALUES, "rows " + rows);
    assertThrows(IllegalArgumentException.class, () -> RetrievalEval.scoreInBlocks(Kernels.create(Backend.JAVA),
        new FloatMatrix(1, 1, new float[1]), new FloatMatrix(1, 1, new float[1]), Metric.EUCLIDEAN,
        new QueryLabels(new int[1], new int[1], new int[1], new int[] {1}), null, null, 0));
  }
}
