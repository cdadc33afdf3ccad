package org.reid4j.spark;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.apache.spark.util.LongAccumulator;
import org.junit.jupiter.api.Test;
import org.reid4j.data.SyntheticReid;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;
import scala.Tuple2;

/**
 * The block-partitioned kNN graph on local[2] against a plain reference: every item's lists and
 * maxima from one sort of its whole distance row. With the Java kernels the distances of a tile are
 * those of the whole matrix, so the graph must be exactly the reference; with the native CPU kernels
 * it must agree to 1e-6 and pick a valid top-L. Re-ranking from the graph then matches the
 * single-machine re-ranking.
 */
class KnnGraphTest {
  private static FloatMatrix rows(Random r, int n, int d, boolean ties) {
    float[] a = new float[n * d];
    for (int i = 0; i < n; i++) {
      if (ties && i > 0 && r.nextInt(3) == 0) System.arraycopy(a, r.nextInt(i) * d, a, i * d, d);
      else for (int k = 0; k < d; k++) a[i * d + k] = ties ? r.nextInt(3) - 1 : (float) r.nextGaussian();
    }
    return new FloatMatrix(n, d, a);
  }

  private static final Random GROUPS = new Random(System.nanoTime());

  /** The whole graph, its column blocks gathered into a random number of groups (1 .. blocks). */
  private static KnnGraph.Lists graph(FloatMatrix items, int blockRows, Metric metric, int len, Backend backend) {
    var rdd = KnnGraph.parallelize(SparkTestSession.context(), items, blockRows);
    int nb = rdd.getNumPartitions(), groups = 1 + GROUPS.nextInt(nb);
    return KnnGraph.collect(KnnGraph.build(rdd, nb, metric, len, backend, 0, nb, groups), items.rows(), len);
  }

  /** Each row of the full matrix d sorted by (value, index): the first len, and the row maxima. */
  private static KnnGraph.Lists reference(FloatMatrix d, int len) {
    int n = d.rows();
    int[] idx = new int[n * len];
    float[] dist = new float[n * len], max = new float[n];
    for (int i = 0; i < n; i++) {
      float[] row = Arrays.copyOfRange(d.data(), i * n, (i + 1) * n);
      Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
      Arrays.sort(order, Comparator.<Integer>comparingDouble(j -> row[j]).thenComparingInt(j -> j));
      max[i] = Float.NEGATIVE_INFINITY;
      for (float v : row) max[i] = Math.max(max[i], v);
      for (int p = 0; p < len; p++) {
        idx[i * len + p] = order[p];
        dist[i * len + p] = row[order[p]];
      }
    }
    return new KnnGraph.Lists(n, len, idx, dist, max);
  }

  @Test
  void javaKernelsGiveExactlyTheSortedRows() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{1, 1, 1, 1}, {2, 3, 1, 5}, {17, 5, 4, 3}, {40, 7, 8, 21}, {33, 64, 3, 33}, {50, 11, 16, 50}};
    Kernels java = Kernels.create(Backend.JAVA);
    for (int[] s : shapes) {
      for (Metric metric : Metric.values()) {
        boolean ties = metric != Metric.COSINE && r.nextBoolean();
        FloatMatrix items = rows(r, s[0], s[2], ties);
        int len = Math.min(s[3], s[0]);
        KnnGraph.Lists g = graph(items, s[1], metric, len, Backend.JAVA);
        KnnGraph.Lists ref = reference(java.pairwise(items, items, metric), len);
        String what = Arrays.toString(s) + " " + metric + " ties " + ties;
        assertArrayEquals(ref.idx(), g.idx(), what);
        assertArrayEquals(ref.dist(), g.dist(), 0f, what);
        assertArrayEquals(ref.max(), g.max(), 0f, what);
      }
    }
  }

  /**
   * A shard's lists (its tiles against blocks outside it computed one-sided, those inside once for both
   * blocks) are the whole graph's, to the last bit on every host backend: the native one-sided, two-sided
   * and diagonal passes give the same distances.
   */
  @Test
  void shardsHoldTheWholeGraphsListsOfTheirRows() {
    Random r = new Random(System.nanoTime());
    FloatMatrix items = rows(r, 45, 6, true);
    int blockRows = 7, len = 9, nb = 7;
    for (Backend backend : new Backend[] {Backend.JAVA, Backend.CPU}) {
      if (Kernels.unavailableReason(backend) != null) continue;
      KnnGraph.Lists whole = graph(items, blockRows, Metric.SQEUCLIDEAN, len, backend);
      var rdd = KnnGraph.parallelize(SparkTestSession.context(), items, blockRows);
      for (int round = 0; round < 3; round++) {
        int from = r.nextInt(nb), to = from + 1 + r.nextInt(nb - from), groups = 1 + r.nextInt(nb);
        String what = backend + " blocks " + from + ":" + to + " in " + groups + " column groups";
        LongAccumulator tiles = SparkTestSession.context().sc().longAccumulator();
        List<Tuple2<Integer, PartialLists>> shard = KnnGraph.build(rdd, nb, Metric.SQEUCLIDEAN, len, backend, from, to,
            groups, tiles).collect();
        assertEquals(to - from, shard.size(), what);
        // every tile the shard needs, computed once
        assertEquals(KnnGraph.tiles(nb, from, to), tiles.value(), what + " tiles");
        for (Tuple2<Integer, PartialLists> t : shard) {
          PartialLists p = t._2();
          assertTrue(t._1() >= from && t._1() < to, what);
          assertEquals(t._1() * blockRows, p.start(), what);
          assertArrayEquals(Arrays.copyOfRange(whole.idx(), p.start() * len, (p.start() + p.rows()) * len), p.idx, what);
          assertArrayEquals(Arrays.copyOfRange(whole.dist(), p.start() * len, (p.start() + p.rows()) * len), p.dist, 0f,
              what);
          assertArrayEquals(Arrays.copyOfRange(whole.max(), p.start(), p.start() + p.rows()), p.max, 0f, what);
        }
      }
    }
    var rdd = KnnGraph.parallelize(SparkTestSession.context(), items, blockRows);
    assertThrows(IllegalArgumentException.class,
        () -> KnnGraph.build(rdd, nb, Metric.SQEUCLIDEAN, len, Backend.JAVA, 0, nb, nb + 1));
    assertThrows(IllegalArgumentException.class,
        () -> KnnGraph.build(rdd, nb, Metric.SQEUCLIDEAN, len, Backend.JAVA, 3, 3, 1));
  }

  @Test
  void tileAndTaskCountsAreThoseOfTheUpperTriangle() {
    assertEquals(15, KnnGraph.tiles(5, 0, 5)); // 5 on the diagonal + 10 above
    assertEquals(2 + 1 + 2 * 3, KnnGraph.tiles(5, 1, 3)); // blocks 1, 2: (1,1) (1,2) (2,2), then 3 outside each
    assertEquals(1, KnnGraph.tiles(1, 0, 1));
    assertEquals(25, KnnGraph.tasks(0, 5, 5));
    assertEquals(2 * 8, KnnGraph.tasks(3, 5, 8)); // row groups: at most the shard's blocks
    assertEquals(1, KnnGraph.rowGroups(0, 9, 1));
  }

  @Test
  void nativeKernelsAgreeToOneMillionthAndPickATrueTopL() {
    org.junit.jupiter.api.Assumptions.assumeTrue(Kernels.unavailableReason(Backend.CPU) == null,
        "the native CPU kernels are not built here");
    Random r = new Random(System.nanoTime());
    Kernels cpu = Kernels.create(Backend.CPU);
    int[][] shapes = {{1, 4, 3, 1}, {29, 6, 37, 9}, {130, 47, 64, 21}, {200, 64, 130, 21}};
    for (int[] s : shapes) {
      for (Metric metric : Metric.values()) {
        FloatMatrix items = rows(r, s[0], s[2], false);
        int len = Math.min(s[3], s[0]);
        KnnGraph.Lists g = graph(items, s[1], metric, len, Backend.CPU);
        FloatMatrix full = cpu.pairwise(items, items, metric);
        int n = s[0];
        for (int i = 0; i < n; i++) {
          float max = Float.NEGATIVE_INFINITY;
          for (int j = 0; j < n; j++) max = Math.max(max, full.data()[i * n + j]);
          assertEquals(max, g.max()[i], 1e-6 * Math.max(1, Math.abs(max)), "row max " + i);
          boolean[] in = new boolean[n];
          for (int p = 0; p < len; p++) {
            int j = g.idx()[i * len + p];
            assertFalse(in[j], "item " + i + " lists " + j + " twice");
            in[j] = true;
            float want = full.data()[i * n + j];
            assertEquals(want, g.dist()[i * len + p], 1e-6 * Math.max(1, Math.abs(want)), "item " + i + " slot " + p);
          }
          float last = g.dist()[i * len + len - 1];
          for (int j = 0; j < n; j++)
            if (!in[j]) assertTrue(full.data()[i * n + j] >= last - 1e-6 * Math.max(1, Math.abs(last)),
                "item " + i + ": " + j + " is nearer than the list's last");
        }
      }
    }
  }

  @Test
  void rerankingFromTheGraphIsTheSingleMachineReranking() {
    Random r = new Random(System.nanoTime());
    SyntheticReid.Case c = SyntheticReid.build(new SyntheticReid.Spec(40, 3, 2, 24, 30, 10, 1.5f, 0.3f, 0, 0,
        r.nextLong()));
    LabelledFeatures q = c.query().l2Normalized(), g = c.gallery().l2Normalized();
    FloatMatrix items = Main.concat(q.features(), g.features());
    RerankParams p = new RerankParams(8 + r.nextInt(13), 1 + r.nextInt(6), 0.3f);
    int n = items.rows(), len = KReciprocal.listLength(p, n);
    int blockRows = 17 + r.nextInt(60);
    // Java kernels: the graph is exact, so the re-ranked matrix is the single-machine one bit for bit
    KnnGraph.Lists exact = graph(items, blockRows, Metric.SQEUCLIDEAN, len + r.nextInt(4), Backend.JAVA);
    Kernels java = Kernels.create(Backend.JAVA);
    GraphRerank.Result fromGraph = GraphRerank.runKeeping(q, g, exact, Metric.SQEUCLIDEAN, p, java);
    FloatMatrix single = KReciprocal.rerank(q.features(), g.features(), Metric.SQEUCLIDEAN, p);
    assertArrayEquals(single.data(), fromGraph.distance().data(), 0f, "blocks of " + blockRows + ", " + p);
    // re-ranked and scored a block of queries at a time (the job's way): the same scores, no matrix
    GraphRerank.Result blocked = GraphRerank.run(q, g, exact, Metric.SQEUCLIDEAN, p, java, null);
    assertNull(blocked.distance());
    EvalResult kept = fromGraph.eval(), inBlocks = blocked.eval();
    assertEquals(kept.mAP(), inBlocks.mAP(), 0.0);
    assertEquals(kept.mINP(), inBlocks.mINP(), 0.0);
    assertArrayEquals(kept.cmc(), inBlocks.cmc(), 0.0);
    assertEquals(kept.queriesEvaluated(), inBlocks.queriesEvaluated());
    // the default backend against `reid4j eval --rerank` on it: the same scores to 1e-3
    Kernels auto = Kernels.create(Backend.AUTO);
    KnnGraph.Lists lists = graph(items, blockRows, Metric.SQEUCLIDEAN, len, auto.backend());
    EvalResult spark = GraphRerank.run(q, g, lists, Metric.SQEUCLIDEAN, p, auto, null).eval();
    EvalResult eval = RetrievalEval.run(auto, c.query(), c.gallery(),
        new RetrievalEval.Options(Metric.SQEUCLIDEAN, true, p)).result();
    assertEquals(eval.mAP(), spark.mAP(), 1e-3, auto.describe());
    assertEquals(eval.rank1(), spark.rank1(), 1e-3, auto.describe());
    assertTrue(eval.queriesEvaluated() > 0);
  }

  @Test
  void shortGraphsAndOtherItemCountsAreRefused() {
    Random r = new Random(System.nanoTime());
    SyntheticReid.Case c = SyntheticReid.build(new SyntheticReid.Spec(10, 2, 1, 8, 3, 1, 1f, 0.3f, 0, 0, r.nextLong()));
    FloatMatrix items = Main.concat(c.query().features(), c.gallery().features());
    RerankParams p = new RerankParams(6, 3, 0.3f);
    KnnGraph.Lists shortLists = graph(items, 8, Metric.SQEUCLIDEAN, 5, Backend.JAVA);
    Kernels java = Kernels.create(Backend.JAVA);
    String m = assertThrows(IllegalArgumentException.class,
        () -> GraphRerank.run(c.query(), c.gallery(), shortLists, Metric.SQEUCLIDEAN, p, java, null)).getMessage();
    assertTrue(m.contains("keeps 5 neighbours per item") && m.contains("needs 7"), m);
    KnnGraph.Lists fewer = graph(Main.concat(c.query().features(), c.query().features()), 8, Metric.SQEUCLIDEAN, 7,
        Backend.JAVA);
    m = assertThrows(IllegalArgumentException.class,
        () -> GraphRerank.runKeeping(c.query(), c.gallery(), fewer, Metric.SQEUCLIDEAN, p, java)).getMessage();
    assertTrue(m.contains("the graph has " + fewer.items() + " items"), m);
  }
}
