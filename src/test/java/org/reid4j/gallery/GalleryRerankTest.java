package org.reid4j.gallery;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * Online re-ranking: the neighbour graph against brute force (through adds, removes, replacements,
 * checkpoints, compaction and reopening), the search against a dense reference written from the
 * definition and against the offline {@code KReciprocal}, and searches racing writers. Seeds are
 * printed in every message.
 */
class GalleryRerankTest {
  @TempDir Path dir;

  enum Case { JAVA_SQ, JAVA_COS, CPU_SQ, CPU_EU }

  static GalleryOptions opts(Case c, int d) {
    return GallerySearchTest.opts(GallerySearchTest.Case.valueOf(c.name()), d);
  }

  static Metric metric(Case c) {
    return GallerySearchTest.metric(GallerySearchTest.Case.valueOf(c.name()));
  }

  static float[] gaussian(Random r, int d) {
    return GallerySearchTest.gaussian(r, d);
  }

  // ---- the graph ----

  /** Every live item's list equals its brute-force k1 nearest others; its max equals the brute maximum. */
  static void checkLists(Gallery g, List<Item> items, Metric m, int k1, String where) {
    NeighbourGraph graph = g.neighbourGraph();
    assertNotNull(graph, where + ": no graph");
    assertEquals(items.size(), graph.live, where + ": live items");
    Map<String, Integer> slot = new HashMap<>();
    for (int s = 0; s < graph.slots; s++) if (graph.nodes[s] != null) slot.put(graph.nodes[s].meta().id(), s);
    for (int i = 0; i < items.size(); i++) {
      Item x = items.get(i);
      NeighbourGraph.Node n = graph.nodes[slot.get(x.id())];
      List<Brute.Ref> all = new ArrayList<>();
      for (int j = 0; j < items.size(); j++)
        if (j != i) all.add(new Brute.Ref(items.get(j).id(), Brute.distance(x.feature(), items.get(j).feature(), m)));
      double max = all.stream().mapToDouble(Brute.Ref::distance).max().orElse(0);
      all.sort(Comparator.comparingDouble(Brute.Ref::distance)); // stable: insertion order breaks ties
      List<Brute.Ref> want = all.subList(0, Math.min(k1, all.size()));
      Map<String, Double> brute = new HashMap<>();
      for (Brute.Ref b : all) brute.put(b.id(), b.distance());
      // float rounding of the metric's formula: Euclidean is the square root of a difference of norms
      double tol = 1e-4 * Math.max(1, max) + (m == Metric.EUCLIDEAN ? 2e-3 * Math.sqrt(2 * norm2(x.feature()) + max) : 0);
      assertEquals(want.size(), n.nbr().length, where + " list length of " + x.id());
      for (int p = 0; p < want.size(); p++) {
        String id = graph.nodes[n.nbr()[p]].meta().id(), w = where + " list of " + x.id() + " rank " + (p + 1);
        assertEquals(want.get(p).distance(), n.dist()[p], tol, w);
        if (!id.equals(want.get(p).id())) { // a near tie may swap; an exact tie (duplicates) may not
          assertNotEquals(want.get(p).distance(), brute.get(id), w + ": exact tie out of insertion order");
          assertEquals(want.get(p).distance(), brute.get(id), tol, w + ": " + id + " vs " + want.get(p).id());
        }
      }
      assertEquals(max, n.max(), tol, where + " max of " + x.id());
    }
  }

  static double norm2(float[] f) {
    double s = 0;
    for (float v : f) s += (double) v * v;
    return s;
  }

  /** The graph's stored lists, maxima and weights equal those of a graph built from scratch. */
  static void checkAgainstFreshBuild(Gallery g, List<Item> items, Metric m, int k1, String where) {
    NeighbourGraph inc = g.neighbourGraph();
    List<RowMeta> metas = new ArrayList<>();
    List<float[]> feats = new ArrayList<>();
    for (Item it : items) {
      metas.add(RowMeta.of(it));
      feats.add(it.feature());
    }
    NeighbourGraph fresh = NeighbourGraph.build(metas, feats, m, Kernels.create(Backend.JAVA), k1, 5);
    Map<String, NeighbourGraph.Node> byId = new HashMap<>();
    for (int s = 0; s < inc.slots; s++) if (inc.nodes[s] != null) byId.put(inc.nodes[s].meta().id(), inc.nodes[s]);
    for (int i = 0; i < fresh.live; i++) {
      NeighbourGraph.Node f = fresh.nodes[i], n = byId.get(f.meta().id());
      String w = where + " item " + f.meta().id();
      assertEquals(ids(fresh, f.nbr()), ids(inc, n.nbr()), w + ": list");
      assertEquals(f.max(), n.max(), 1e-5f * Math.max(1, f.max()), w + ": max");
      assertEquals(ids(fresh, f.vCols()), ids(inc, n.vCols()), w + ": R*");
      for (int t = 0; t < f.vVals().length; t++) assertEquals(f.vVals()[t], n.vVals()[t], 1e-5f, w + ": V");
    }
  }

  static List<String> ids(NeighbourGraph g, int[] slots) {
    List<String> out = new ArrayList<>();
    for (int s : slots) out.add(g.nodes[s].meta().id());
    return out;
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void neighbourListsStayExactThroughChangesCheckpointsCompactionAndReopen(Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int d = 1 + r.nextInt(9);
    for (int k1 : new int[] {1, 3, 6}) {
      Path folder = dir.resolve("g" + k1);
      String where = c + " seed " + seed + " d " + d + " k1 " + k1;
      LinkedHashMap<String, Item> model = new LinkedHashMap<>();
      float[][] shared = {gaussian(r, d), gaussian(r, d)}; // exact duplicates make ties
      int next = 0;
      GalleryOptions o = opts(c, d);
      Gallery g = Gallery.open(folder, o);
      try {
        int first = new int[] {1, 2, 5, 11}[r.nextInt(4)];
        for (int i = 0; i < first; i++, next++) put(g, model, Item.of("i" + next, pick(r, shared, d)));
        g.buildNeighbours(k1);
        checkLists(g, List.copyOf(model.values()), metric(c), k1, where + " built");
        for (int round = 0; round < 6; round++) {
          String w = where + " round " + round;
          int add = 1 + r.nextInt(7);
          for (int i = 0; i < add; i++, next++) put(g, model, Item.of("i" + next, pick(r, shared, d)));
          for (int i = 0; i < 2 && model.size() > 1; i++) {
            String id = new ArrayList<>(model.keySet()).get(r.nextInt(model.size()));
            assertTrue(g.remove(id));
            model.remove(id);
          }
          if (!model.isEmpty()) // replace one: it moves to the end of the order
            put(g, model, Item.of(new ArrayList<>(model.keySet()).get(r.nextInt(model.size())), pick(r, shared, d)));
          if (round == 1) g.checkpoint();
          if (round == 3) g.compact();
          checkLists(g, List.copyOf(model.values()), metric(c), k1, w);
          checkAgainstFreshBuild(g, List.copyOf(model.values()), metric(c), k1, w);
          if (round == 4) {
            g.close();
            g = Gallery.open(folder, o);
            assertNull(g.neighbourGraph(), w + ": the graph is rebuilt after reopening, not loaded");
            g.search(gaussian(r, d), SearchOptions.top(1).rerank(k1, 1, 0.3f));
            checkLists(g, List.copyOf(model.values()), metric(c), k1, w + " reopened");
          }
        }
      } finally {
        g.close();
      }
    }
  }

  private static float[] pick(Random r, float[][] shared, int d) {
    return r.nextInt(4) == 0 ? shared[r.nextInt(shared.length)].clone() : gaussian(r, d);
  }

  private static void put(Gallery g, LinkedHashMap<String, Item> model, Item it) {
    g.add(it);
    model.remove(it.id());
    model.put(it.id(), it);
  }

  // ---- the search ----

  /**
   * The online re-ranked distance of every gallery item, straight from the definition (see
   * SearchOptions.rerank): items = the query (index 0) and the gallery in insertion order, dense
   * double distances, each item's list = itself, then the others by (distance, index).
   */
  record Reference(double[] fin, int[][] order, double[] vq) {}

  static Reference reference(List<Item> gallery, float[] q, Metric m, int k1, int k2, double lambda) {
    int n = gallery.size() + 1;
    k1 = Math.min(k1, n);
    k2 = Math.min(k2, n);
    int half = (int) Math.rint(k1 / 2.0);
    float[][] f = new float[n][];
    f[0] = q;
    for (int i = 1; i < n; i++) f[i] = gallery.get(i - 1).feature();
    double[][] dd = new double[n][n];
    double[] max = new double[n];
    int[][] order = new int[n][];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) max[i] = Math.max(max[i], dd[i][j] = i == j ? 0 : Brute.distance(f[i], f[j], m));
      final int ii = i;
      order[i] = java.util.stream.IntStream.range(0, n).boxed()
          .sorted(Comparator.<Integer>comparingInt(j -> j == ii ? 0 : 1).thenComparingDouble(j -> dd[ii][j])
              .thenComparingInt(j -> j))
          .mapToInt(Integer::intValue).toArray();
    }
    double[][] v = new double[n][n];
    for (int i = 0; i < n; i++) {
      List<Integer> rs = recip(order, i, k1 + 1);
      java.util.TreeSet<Integer> exp = new java.util.TreeSet<>(rs);
      for (int c : rs) {
        List<Integer> rh = recip(order, c, half + 1);
        long common = rh.stream().filter(rs::contains).count();
        if (common > 2.0 / 3.0 * rh.size()) exp.addAll(rh);
      }
      double sum = 0, mm = max[i] > 0 ? max[i] : 1;
      for (int c : exp) sum += v[i][c] = Math.exp(-dd[i][c] / mm);
      for (int c : exp) v[i][c] /= sum;
    }
    double[][] vf = new double[n][n];
    for (int i = 0; i < n; i++)
      for (int p = 0; p < k2; p++) for (int c = 0; c < n; c++) vf[i][c] += v[order[i][p]][c] / k2;
    double[] out = new double[n - 1];
    for (int j = 1; j < n; j++) {
      double s = 0;
      for (int c = 0; c < n; c++) s += Math.min(vf[0][c], vf[j][c]);
      out[j - 1] = (1 - lambda) * (1 - s / (2 - s)) + lambda * dd[0][j] / (max[0] > 0 ? max[0] : 1);
    }
    return new Reference(out, order, vf[0]);
  }

  private static List<Integer> recip(int[][] order, int i, int m) {
    List<Integer> out = new ArrayList<>();
    for (int p = 0; p < Math.min(m, order[i].length); p++) {
      int c = order[i][p];
      for (int t = 0; t < Math.min(m, order[c].length); t++)
        if (order[c][t] == i) {
          out.add(c);
          break;
        }
    }
    return out;
  }

  /**
   * The reference's re-ranked distance of each candidate: the L nearest eligible items, plus each
   * gallery item that the query's expanded V weighs and its k1 nearest others, where eligible.
   */
  /**
   * Whether the query's largest distance to any item is rounding noise (a gallery of copies of the
   * query): re-ranking divides by it, so the float and the double computation may give any ratio in
   * [0, 1] (as KernelsCases.RerankItems.noiseLevelColumn says for the offline kernels).
   */
  static boolean noiseLevel(List<Item> gallery, float[] q, Metric m) {
    double max = 0, scale = 1;
    for (float v : q) scale += (double) v * v;
    for (Item it : gallery) max = Math.max(max, Brute.distance(q, it.feature(), m));
    return max < 1e-4 * (m == Metric.COSINE ? 1 : m == Metric.EUCLIDEAN ? Math.sqrt(scale) : scale);
  }

  static Map<String, Double> candidates(List<Item> gallery, float[] q, Metric m, SearchOptions o) {
    SearchOptions.Rerank p = o.rerank();
    Reference ref = reference(gallery, q, m, p.k1(), p.k2(), p.lambda());
    Map<String, Integer> index = new HashMap<>();
    for (int i = 0; i < gallery.size(); i++) index.put(gallery.get(i).id(), i);
    Map<String, Double> out = new LinkedHashMap<>();
    SearchOptions eligible = new SearchOptions(gallery.size(), o.excludedCamid(), o.filters());
    Set<String> ok = new java.util.HashSet<>();
    for (Brute.Ref c : Brute.search(gallery, q, m, eligible)) ok.add(c.id());
    for (Brute.Ref c : Brute.search(gallery, q, m, new SearchOptions(p.candidates(), o.excludedCamid(), o.filters())))
      out.put(c.id(), ref.fin()[index.get(c.id())]);
    for (int c = 1; c < ref.vq().length; c++) {
      if (ref.vq()[c] == 0) continue;
      List<Integer> near = new ArrayList<>(List.of(c));
      for (int t = 1, taken = 0; t < ref.order()[c].length && taken < p.k1(); t++)
        if (ref.order()[c][t] != 0) {
          near.add(ref.order()[c][t]);
          taken++;
        }
      for (int y : near)
        if (ok.contains(gallery.get(y - 1).id())) out.put(gallery.get(y - 1).id(), ref.fin()[y - 1]);
    }
    return out;
  }

  /**
   * The hits are the k best candidates by the reference: at each rank the hit's distance equals the
   * reference's k-th smallest, and so does the reference's distance of the hit's item (so items
   * whose reference distances tie within float rounding may swap), every hit is a candidate, once.
   */
  static void checkRerank(Map<String, Double> cand, int k, List<Hit> hits, String where) {
    List<Double> sorted = new ArrayList<>(cand.values());
    sorted.sort(null);
    assertEquals(Math.min(k, cand.size()), hits.size(), where + ": hit count");
    Set<String> seen = new java.util.HashSet<>();
    for (int j = 0; j < hits.size(); j++) {
      Hit h = hits.get(j);
      String w = where + " rank " + (j + 1) + " (" + h.id() + ")";
      assertEquals(j + 1, h.rank(), w);
      assertTrue(seen.add(h.id()), w + ": returned twice");
      assertTrue(cand.containsKey(h.id()), w + ": not among the L nearest eligible items " + cand.keySet());
      assertEquals(sorted.get(j), h.distance(), 1e-4, w + ": distance");
      assertEquals(sorted.get(j), cand.get(h.id()), 2e-4, w + ": the reference ranks it elsewhere");
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void searchEqualsTheDenseReference(Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int[][] shapes = {{1, 3, 20, 6, 5}, {2, 4, 1, 1, 2}, {9, 5, 3, 2, 4}, {17, 6, 20, 20, 17}, {40, 8, 6, 3, 12},
        {60, 3, 10, 4, 60}}; // items, d, k1, k2 (clamped to k1), candidates
    int s = 0;
    for (int[] sh : shapes) {
      String where = c + " seed " + seed + " shape " + Arrays.toString(sh);
      try (Gallery g = Gallery.open(dir.resolve("s" + s++), opts(c, sh[1]))) {
        List<Item> items = new ArrayList<>();
        for (int i = 0; i < sh[0]; i++) {
          Item it = Item.of("i" + i, gaussian(r, sh[1])).withCamid(r.nextInt(3)).withAttribute("a", "v" + r.nextInt(2));
          items.add(it);
          g.add(it);
        }
        if (r.nextBoolean()) g.checkpoint();
        float lambda = new float[] {0f, 0.3f, 1f}[r.nextInt(3)];
        int k = 1 + r.nextInt(Math.min(sh[4], 6));
        SearchOptions base = SearchOptions.top(k).rerank(sh[2], Math.min(sh[3], sh[2]), lambda, sh[4]);
        for (SearchOptions o : List.of(base, base.excludeCamid(1), base.filter("a", "v0"))) {
          for (int t = 0; t < 3; t++) {
            float[] q = t == 0 ? items.get(r.nextInt(items.size())).feature() : gaussian(r, sh[1]);
            if (t == 0 && r.nextBoolean()) q = q.clone();
            List<Hit> hits = g.search(q, o);
            if (noiseLevel(items, q, metric(c))) { // re-ranked distances are ratios of rounding noise: range only
              for (Hit h : hits) assertTrue(h.distance() >= 0 && h.distance() <= 1, where + " noise-level " + h);
              continue;
            }
            checkRerank(candidates(items, q, metric(c), o), o.k(), hits, where + " " + o + " query " + t);
          }
        }
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = Case.class, names = {"JAVA_SQ", "JAVA_COS"})
  void withAllCandidatesOneQueryEqualsOfflineReranking(Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    for (int n : new int[] {1, 5, 33, 80}) {
      int d = 2 + r.nextInt(12), k1 = 1 + r.nextInt(25), k2 = 1 + r.nextInt(k1);
      float lambda = r.nextFloat();
      String where = c + " seed " + seed + " n " + n + " d " + d + " k1 " + k1 + " k2 " + k2 + " lambda " + lambda;
      try (Gallery g = Gallery.open(dir.resolve("o" + n), opts(c, d))) {
        FloatMatrix gm = FloatMatrix.zeros(n, d);
        for (int i = 0; i < n; i++) {
          float[] f = gaussian(r, d);
          g.add(Item.of("i" + i, f));
          System.arraycopy(f, 0, gm.data(), i * d, d);
        }
        float[] q = gaussian(r, d);
        float[] offline = Kernels.create(Backend.JAVA).rerank(new FloatMatrix(1, d, q.clone()), gm, metric(c),
            new RerankParams(k1, k2, lambda)).data();
        List<Hit> hits = g.search(q, SearchOptions.top(n).rerank(k1, k2, lambda, n));
        assertEquals(n, hits.size(), where);
        Map<String, Double> want = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) want.put("i" + i, (double) offline[i]);
        checkRerank(want, n, hits, where);
      }
    }
  }

  @Test
  void rejectsBadParametersAndAnEmptyGallery() throws Exception {
    SearchOptions o = SearchOptions.top(5);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.rerank(0, 1, 0.3f)).getMessage().contains("k1"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.rerank(5, 0, 0.3f)).getMessage().contains("k2"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.rerank(5, 6, 0.3f)).getMessage().contains("k2"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.rerank(5, 2, 1.5f)).getMessage()
        .contains("lambda"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.rerank(5, 2, Float.NaN)).getMessage()
        .contains("lambda"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.rerank(5, 2, 0.3f, 4)).getMessage()
        .contains("candidates"));
    assertEquals(SearchOptions.DEFAULT_CANDIDATES, o.rerank(20, 6, 0.3f).rerank().candidates());
    assertEquals(500, SearchOptions.top(500).rerank(20, 6, 0.3f).rerank().candidates());
    try (Gallery g = Gallery.open(dir, GalleryOptions.of(3).backend(Backend.JAVA).fsync(false))) {
      assertThrows(IllegalArgumentException.class, () -> g.buildNeighbours(0));
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> g.search(new float[] {1, 2, 3}, o.rerank(20, 6, 0.3f)));
      assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }
  }

  @Test
  void searchesRacingWritersSeeConsistentResults() throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int d = 6;
    Set<String> added = ConcurrentHashMap.newKeySet();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    try (Gallery g = Gallery.open(dir, GalleryOptions.of(d).backend(Backend.JAVA).fsync(false).blockRows(9))) {
      LinkedHashMap<String, Item> model = new LinkedHashMap<>();
      for (int i = 0; i < 30; i++) {
        added.add("i" + i);
        put(g, model, Item.of("i" + i, gaussian(r, d)));
      }
      g.buildNeighbours(5);
      long rs = r.nextLong();
      Thread[] readers = new Thread[2];
      for (int t = 0; t < readers.length; t++) {
        long mySeed = rs + t;
        readers[t] = new Thread(() -> {
          Random rr = new Random(mySeed);
          try {
            for (int i = 0; i < 150; i++) {
              List<Hit> hits = g.search(gaussian(rr, d), SearchOptions.top(10).rerank(5, 3, 0.3f, 20));
              Set<String> seen = new java.util.HashSet<>();
              for (int p = 0; p < hits.size(); p++) {
                Hit h = hits.get(p);
                assertTrue(added.contains(h.id()), "unknown id " + h.id());
                assertTrue(seen.add(h.id()), "id twice: " + h.id());
                assertEquals(p + 1, h.rank());
                if (p > 0) assertTrue(hits.get(p - 1).distance() <= h.distance(), "out of order: " + hits);
              }
            }
          } catch (Throwable e) {
            failed.compareAndSet(null, e);
          }
        });
        readers[t].start();
      }
      for (int i = 30; i < 110; i++) {
        added.add("i" + i);
        put(g, model, Item.of("i" + i, gaussian(r, d)));
        if (i % 3 == 0) {
          String id = new ArrayList<>(model.keySet()).get(r.nextInt(model.size()));
          g.remove(id);
          model.remove(id);
        }
        if (i % 40 == 0) g.checkpoint();
      }
      for (Thread t : readers) t.join();
      if (failed.get() != null) throw new AssertionError("seed " + seed, failed.get());
      checkAgainstFreshBuild(g, List.copyOf(model.values()), Metric.SQEUCLIDEAN, 5, "seed " + seed + " after race");
    }
  }
}
