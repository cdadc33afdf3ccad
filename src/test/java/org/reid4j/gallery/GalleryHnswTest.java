package org.reid4j.gallery;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.kernels.Metric;

/**
 * {@link GalleryOptions#index} HNSW: with an ef of N or more the neighbour graph is the exact one
 * (checked against brute force and a fresh exact build, through changes and reopening); with a small
 * ef its lists are well-formed re-scored approximations (sorted, exact distances, true farthest
 * item) whose recall against brute force follows the beam. Seeds are printed in every message.
 */
class GalleryHnswTest {
  @TempDir Path dir;

  @ParameterizedTest
  @EnumSource(GalleryRerankTest.Case.class)
  void exhaustiveHnswBuildsTheExactGraphAndChangesKeepIt(GalleryRerankTest.Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int d = 1 + r.nextInt(9);
    for (int n : new int[] {1, 2, 3, 4 + r.nextInt(40)}) {
      int k1 = 1 + r.nextInt(6), m = 1 + r.nextInt(8);
      String where = c + " seed " + seed + " d " + d + " n " + n + " k1 " + k1 + " m " + m;
      Path folder = dir.resolve("g" + n);
      GalleryOptions o = GalleryRerankTest.opts(c, d).index(Candidates.hnsw(m, Candidates.MAX_EF));
      LinkedHashMap<String, Item> model = new LinkedHashMap<>();
      float[][] shared = {GalleryRerankTest.gaussian(r, d)}; // exact duplicates make ties
      Gallery g = Gallery.open(folder, o);
      try {
        for (int i = 0; i < n; i++) put(g, model, Item.of("i" + i, pick(r, shared, d)));
        g.buildNeighbours(k1);
        GalleryRerankTest.checkLists(g, List.copyOf(model.values()), GalleryRerankTest.metric(c), k1, where);
        GalleryRerankTest.checkAgainstFreshBuild(g, List.copyOf(model.values()), GalleryRerankTest.metric(c), k1,
            where);
        for (int round = 0; round < 3; round++) {
          String w = where + " round " + round;
          for (int i = 0; i < 3; i++) put(g, model, Item.of("a" + round + "_" + i, pick(r, shared, d)));
          String gone = new ArrayList<>(model.keySet()).get(r.nextInt(model.size()));
          assertTrue(g.remove(gone), w);
          model.remove(gone);
          GalleryRerankTest.checkLists(g, List.copyOf(model.values()), GalleryRerankTest.metric(c), k1, w);
        }
        g.close();
        g = Gallery.open(folder, o);
        g.search(GalleryRerankTest.gaussian(r, d), SearchOptions.top(1).rerank(k1, 1, 0.3f));
        GalleryRerankTest.checkLists(g, List.copyOf(model.values()), GalleryRerankTest.metric(c), k1,
            where + " reopened (rebuilt on the first re-ranking search)");
      } finally {
        g.close();
      }
    }
  }

  /** Small beams: every list well-formed; recall@k1 near 1 with a wide beam, visibly below it with a tiny one. */
  @Test
  void smallBeamListsAreWellFormedApproximations() throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int n = 2000 + r.nextInt(500), d = 12, k1 = 10;
    List<Item> items = new ArrayList<>();
    float[] centre = null;
    for (int i = 0; i < n; i++) { // clusters of 5 around Gaussian centres
      if (i % 5 == 0) centre = GalleryRerankTest.gaussian(r, d);
      float[] f = new float[d];
      for (int k = 0; k < d; k++) f[k] = centre[k] + 0.5f * (float) r.nextGaussian();
      items.add(Item.of("i" + i, f));
    }
    Metric metric = Metric.SQEUCLIDEAN;
    // brute force: every item's k1 nearest others by (distance, insertion order)
    List<Set<Integer>> truth = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      float[] row = new float[n];
      for (int j = 0; j < n; j++)
        row[j] = NeighbourGraph.distance(items.get(i).feature(), NeighbourGraph.dot(items.get(i).feature(),
            items.get(i).feature()), items.get(j).feature(), NeighbourGraph.dot(items.get(j).feature(),
            items.get(j).feature()), metric);
      Set<Integer> s = new HashSet<>();
      for (int j : NeighbourGraph.nearest(row, i, k1).idx()) s.add(j);
      truth.add(s);
    }
    double[] recall = new double[2];
    int[][] config = {{16, 200}, {2, 3}};
    for (int t = 0; t < 2; t++) {
      String where = "seed " + seed + " n " + n + " m " + config[t][0] + " ef " + config[t][1];
      try (Gallery g = Gallery.open(dir.resolve("s" + t), GalleryOptions.of(d).fsync(false)
          .index(Candidates.hnsw(config[t][0], config[t][1])))) {
        g.addAll(items);
        g.buildNeighbours(k1);
        NeighbourGraph graph = g.neighbourGraph();
        assertEquals(n, graph.live, where);
        long found = 0;
        for (int i = 0; i < n; i++) {
          NeighbourGraph.Node x = graph.nodes[i];
          String w = where + " item " + i;
          assertEquals("i" + i, x.meta().id(), w + ": slots follow insertion order");
          assertEquals(k1, x.nbr().length, w + ": list length");
          Set<Integer> seen = new HashSet<>();
          for (int p = 0; p < k1; p++) {
            int j = x.nbr()[p];
            assertNotEquals(i, j, w + ": the item is not its own neighbour");
            assertTrue(seen.add(j), w + ": " + j + " twice");
            assertEquals(graph.distance(i, j), x.dist()[p], w + ": rank " + p + " re-scored with the graph's distance");
            if (p > 0) {
              float a = x.dist()[p - 1], b = x.dist()[p];
              assertTrue(a < b || (a == b && x.nbr()[p - 1] < j), w + ": sorted by (distance, slot) at rank " + p);
            }
            if (truth.get(i).contains(j)) found++;
          }
          assertTrue(x.argmax() >= 0 && x.argmax() < n, w + ": farthest item " + x.argmax());
          assertEquals(graph.distance(i, x.argmax()), x.max(), w + ": the largest distance is that of its item");
          assertTrue(x.max() >= x.dist()[k1 - 1], w + ": the largest distance is at least the k1-th");
          assertNotNull(x.vCols(), w + ": weights computed");
        }
        recall[t] = found / (double) (n * k1);
        // searches re-rank over the graph
        List<Hit> hits = g.search(items.get(0).feature(), SearchOptions.top(5).rerank(k1, 3, 0.3f));
        assertEquals(5, hits.size(), where);
      }
    }
    assertTrue(recall[0] >= 0.95, "seed " + seed + ": recall@" + k1 + " with m 16, ef 200 is " + recall[0]);
    assertTrue(recall[1] < 0.99 && recall[1] < recall[0], "seed " + seed + ": recall@" + k1
        + " with m 2, ef 3 is " + recall[1] + " (wide beam " + recall[0] + "): the tiny beam's graph was not used?");
    System.out.printf("recall@%d: m 16 ef 200 %.4f, m 2 ef 3 %.4f (seed %d)%n", k1, recall[0], recall[1], seed);
  }

  @Test
  void theIndexIsAnOptionNotStoredInTheGallery() throws Exception {
    Path folder = dir.resolve("opt");
    try (Gallery g = Gallery.open(folder, GalleryOptions.of(3).index(Candidates.hnsw(8, 50)))) {
      assertEquals(Candidates.hnsw(8, 50), g.neighbourIndex());
    }
    assertEquals(Candidates.EXACT, Gallery.storedOptions(folder).orElseThrow().index());
    try (Gallery g = Gallery.open(folder, GalleryOptions.of(3))) {
      assertEquals(Candidates.EXACT, g.neighbourIndex(), "reopened with the default: exact");
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GalleryOptions.of(3).index(null));
    assertTrue(e.getMessage().contains("index is null"), e.getMessage());
  }

  private static float[] pick(Random r, float[][] shared, int d) {
    return r.nextInt(4) == 0 ? shared[0].clone() : GalleryRerankTest.gaussian(r, d);
  }

  private static void put(Gallery g, LinkedHashMap<String, Item> model, Item it) {
    g.add(it);
    model.remove(it.id());
    model.put(it.id(), it);
  }
}
