package org.reid4j.gallery;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.ResidentRows;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/**
 * Gallery search against {@link Brute} on seeded random data, for every metric and every backend.
 * The CUDA cases skip without a GPU, except in the surefire execution {@code cuda-emulator} (the
 * CUDA library emulated on the CPU), where they must run: there the segments' rows are searched on
 * the (emulated) device, as {@link ResidentRows} mirrors.
 */
class GallerySearchTest {
  @TempDir Path dir;

  static final boolean CUDA_EMULATED = Boolean.getBoolean("reid4j.cuda.emulated");

  enum Case { JAVA_SQ, JAVA_EU, JAVA_COS, CPU_SQ, CPU_EU, CPU_COS, CPU_PACKED_SQ, CPU_PACKED_EU, CPU_PACKED_COS,
    CUDA_SQ, CUDA_EU, CUDA_COS }

  static Backend backend(Case c) {
    return c.name().startsWith("CPU") ? Backend.CPU : c.name().startsWith("CUDA") ? Backend.CUDA : Backend.JAVA;
  }

  /** Segments kept beside their memory maps: on the CUDA device, or packed in native memory (GalleryOptions.packedRows). */
  static boolean mirrored(Case c) {
    return backend(c) == Backend.CUDA || c.name().contains("PACKED");
  }

  static Metric metric(Case c) {
    return c.name().endsWith("SQ") ? Metric.SQEUCLIDEAN : c.name().endsWith("EU") ? Metric.EUCLIDEAN : Metric.COSINE;
  }

  static GalleryOptions opts(Case c, int d) {
    if (backend(c) == Backend.CUDA && CUDA_EMULATED)
      assertNull(Kernels.unavailableReason(Backend.CUDA), "the CUDA emulator was preloaded but CUDA is unavailable");
    Assumptions.assumeTrue(Kernels.unavailableReason(backend(c)) == null, () -> "no " + backend(c) + " backend: "
        + Kernels.unavailableReason(backend(c)));
    return GalleryOptions.of(d).backend(backend(c)).metric(metric(c)).fsync(false).blockRows(7)
        .packedRows(c.name().contains("PACKED"));
  }

  static float[] gaussian(Random r, int d) {
    float[] v = new float[d];
    for (int i = 0; i < d; i++) v[i] = (float) r.nextGaussian();
    return v;
  }

  /** Hits equal the reference: same distances (float tolerance) and the reference's order. */
  static void check(List<Brute.Ref> ref, List<Hit> hits, String where) {
    assertEquals(ref.size(), hits.size(), where + ": hit count");
    for (int j = 0; j < ref.size(); j++) {
      Hit h = hits.get(j);
      assertEquals(j + 1, h.rank(), where);
      double tol = 1e-4 * Math.max(1, Math.abs(ref.get(j).distance()));
      assertEquals(ref.get(j).distance(), h.distance(), tol, where + " rank " + (j + 1));
      if (!ref.get(j).id().equals(h.id())) {
        // Only a near tie of distinct features may swap (float vs double rounding); exact ties may not.
        Brute.Ref other = ref.stream().filter(x -> x.id().equals(h.id())).findFirst().orElse(null);
        assertNotNull(other, where + " rank " + (j + 1) + ": " + h.id() + " is not in the reference top-k " + ref);
        assertNotEquals(ref.get(j).distance(), other.distance(), where + ": exact tie out of insertion order");
        assertEquals(ref.get(j).distance(), other.distance(), tol, where + ": " + h.id() + " vs " + ref.get(j).id());
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void matchesBruteForceAcrossSegmentsDeletesExclusionsAndFilters(Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int d = 13;
    String where = c + " seed " + seed;
    LinkedHashMap<String, Item> model = new LinkedHashMap<>();
    try (Gallery g = Gallery.open(dir, opts(c, d))) {
      float[][] q = new float[5][];
      for (int i = 0; i < q.length; i++) q[i] = gaussian(r, d);
      for (List<Hit> hits : g.search(q, SearchOptions.top(3))) assertEquals(List.of(), hits, "empty gallery");
      int n = 0;
      for (int round = 0; round < 4; round++) {
        int add = 1 + r.nextInt(30);
        for (int i = 0; i < add; i++, n++) {
          Item it = Item.of("i" + n, r.nextInt(6) == 0 && !model.isEmpty() ? model.values().iterator().next().feature()
              : gaussian(r, d)).withPid(r.nextInt(5)).withCamid(r.nextInt(3)).withAttribute("color", "c" + r.nextInt(3));
          if (r.nextBoolean()) it = it.withAttribute("shape", "s" + r.nextInt(2));
          g.add(it);
          model.remove(it.id());
          model.put(it.id(), it);
        }
        for (int i = 0; i < 3 && n > 0; i++) {
          String id = "i" + r.nextInt(n);
          assertEquals(model.remove(id) != null, g.remove(id));
        }
        if (n > 3) { // replace one: it moves to the end of the insertion order
          Item it = Item.of("i" + r.nextInt(n), gaussian(r, d)).withCamid(1);
          g.add(it);
          model.remove(it.id());
          model.put(it.id(), it);
        }
        if (round % 2 == 0) g.checkpoint();
        if (round == 3) g.compact();
        assertMirrored(g, c, where + " round " + round);
        List<Item> items = new ArrayList<>(model.values());
        for (SearchOptions o : List.of(SearchOptions.top(1), SearchOptions.top(4), SearchOptions.top(n + 10),
            SearchOptions.top(6).excludeCamid(1), SearchOptions.top(5).filter("color", "c2"),
            SearchOptions.top(50).filter("color", "c0").filter("shape", "s1").excludeCamid(0))) {
          List<List<Hit>> res = g.search(q, o);
          assertEquals(q.length, res.size());
          for (int i = 0; i < q.length; i++)
            check(Brute.search(items, q[i], metric(c), o), res.get(i), where + " round " + round + " " + o + " q" + i);
        }
      }
    }
  }

  /** On CUDA (or packed on the CPU) every segment of the current snapshot is mirrored, whole; elsewhere none is. */
  static void assertMirrored(Gallery g, Case c, String where) {
    for (Segment s : g.currentSegments()) {
      ResidentRows m = s.mirror();
      if (!mirrored(c)) {
        assertNull(m, where + ": segment " + s.name + " mirrored on " + backend(c));
        continue;
      }
      assertNotNull(m, where + ": segment " + s.name + " is not on the device");
      assertFalse(m.isClosed(), where + ": segment " + s.name + "'s device rows are closed");
      assertEquals(s.rows, m.rows(), where + ": segment " + s.name);
    }
  }

  /**
   * CUDA: segments are uploaded once when written (checkpoint, compaction) or opened; the ones a
   * compaction drops are freed, and a search still holding the old snapshot falls back to the
   * memory maps with the same answer; closing the gallery frees the rest (the emulator fails the
   * test run if device memory is left allocated at exit).
   */
  @ParameterizedTest
  @EnumSource(value = Case.class, names = {"CUDA_SQ", "CUDA_EU", "CUDA_COS", "CPU_PACKED_SQ", "CPU_PACKED_EU",
      "CPU_PACKED_COS"})
  void cudaSegmentsLiveOnTheDeviceUntilDroppedOrClosed(Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int d = 16;
    String where = c + " seed " + seed;
    LinkedHashMap<String, Item> model = new LinkedHashMap<>();
    float[][] q = new float[3][];
    for (int i = 0; i < q.length; i++) q[i] = gaussian(r, d);
    List<SearchOptions> searches = List.of(SearchOptions.top(1), SearchOptions.top(7), SearchOptions.top(500));
    List<Segment> before;
    List<ResidentRows> mirrors = new ArrayList<>();
    try (Gallery g = Gallery.open(dir, opts(c, d))) {
      for (int n = 0; n < 120; n++) {
        Item it = Item.of("i" + n, n % 9 == 5 ? model.get("i" + (n - 5)).feature() : gaussian(r, d));
        g.add(it);
        model.put(it.id(), it);
        if (n % 40 == 39) g.checkpoint();
      }
      for (int i = 0; i < 25; i++) { // deletes in the middle of segments: runs of rows become ranges
        String id = "i" + r.nextInt(120);
        assertEquals(model.remove(id) != null, g.remove(id));
      }
      assertMirrored(g, c, where + " before compaction");
      before = g.currentSegments();
      assertEquals(3, before.size(), where);
      for (Segment s : before) mirrors.add(s.mirror());
      checkAll(g, model, q, searches, c, where + " before compaction");

      g.compact();
      assertMirrored(g, c, where + " after compaction");
      assertEquals(1, g.currentSegments().size(), where);
      for (ResidentRows m : mirrors) assertTrue(m.isClosed(), where + ": a dropped segment's device rows are still open");
      checkAll(g, model, q, searches, c, where + " after compaction");

      // A search of the snapshot taken before the compaction: its segments' device rows are gone.
      Searcher old = new Searcher(Kernels.create(backend(c)), metric(c), d, 7);
      Snapshot snap = new Snapshot(Long.MAX_VALUE - 1, before, new Delta(d).view(), null);
      List<Item> items = new ArrayList<>(model.values());
      for (SearchOptions o : searches) {
        List<List<Hit>> res = old.search(snap, new org.reid4j.kernels.FloatMatrix(q.length, d, flat(q)), o);
        for (int i = 0; i < q.length; i++)
          check(Brute.search(items, q[i], metric(c), o), res.get(i), where + " old snapshot " + o + " q" + i);
      }
    }
    for (Segment s : before) assertTrue(s.mirror().isClosed(), where);
    // Reopened: the segment is uploaded when opened.
    try (Gallery g = Gallery.open(dir, opts(c, d))) {
      assertMirrored(g, c, where + " reopened");
      checkAll(g, model, q, searches, c, where + " reopened");
      mirrors.clear();
      for (Segment s : g.currentSegments()) mirrors.add(s.mirror());
    }
    for (ResidentRows m : mirrors) assertTrue(m.isClosed(), where + ": device rows left open by close");
  }

  static float[] flat(float[][] q) {
    float[] f = new float[q.length * q[0].length];
    for (int i = 0; i < q.length; i++) System.arraycopy(q[i], 0, f, i * q[i].length, q[i].length);
    return f;
  }

  static void checkAll(Gallery g, LinkedHashMap<String, Item> model, float[][] q, List<SearchOptions> searches, Case c,
      String where) {
    List<Item> items = new ArrayList<>(model.values());
    for (SearchOptions o : searches) {
      List<List<Hit>> res = g.search(q, o);
      for (int i = 0; i < q.length; i++)
        check(Brute.search(items, q[i], metric(c), o), res.get(i), where + " " + o + " q" + i);
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void tiesGoByInsertionOrderAcrossSegmentsAndDelta(Case c) throws Exception {
    Random r = new Random(42);
    int d = 5;
    float[][] distinct = new float[3][];
    for (int i = 0; i < 3; i++) distinct[i] = gaussian(r, d);
    List<Item> items = new ArrayList<>();
    try (Gallery g = Gallery.open(dir, opts(c, d))) {
      for (int i = 0; i < 30; i++) {
        Item it = Item.of("t" + i, distinct[i % 3]);
        g.add(it);
        items.add(it);
        if (i % 11 == 10) g.checkpoint();
      }
      float[] q = gaussian(r, d);
      List<Hit> hits = g.search(q, SearchOptions.top(25));
      List<String> expected = Brute.search(items, q, metric(c), SearchOptions.top(25)).stream().map(Brute.Ref::id).toList();
      assertEquals(expected, hits.stream().map(Hit::id).toList());
      for (int j = 1; j < hits.size(); j++) assertTrue(hits.get(j - 1).distance() <= hits.get(j).distance());
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void oneItemAndKBeyondTheGallery(Case c) throws Exception {
    try (Gallery g = Gallery.open(dir, opts(c, 3))) {
      g.add(Item.of("only", new float[] {1, 0, 0}).withPid(4).withCamid(2));
      List<Hit> hits = g.search(new float[] {0, 1, 0}, SearchOptions.top(10));
      assertEquals(1, hits.size());
      Hit h = hits.get(0);
      assertEquals("only", h.id());
      assertEquals(4, h.pid());
      assertEquals(2, h.camid());
      assertEquals(1, h.rank());
      assertEquals(Brute.distance(new float[] {0, 1, 0}, new float[] {1, 0, 0}, metric(c)), h.distance(), 1e-6);
      assertEquals(List.of(), g.search(new float[] {0, 1, 0}, SearchOptions.top(10).excludeCamid(2)));
      assertEquals(List.of(), g.search(new float[] {0, 1, 0}, SearchOptions.top(10).filter("a", "b")));
      assertEquals(List.of(), g.search(new float[0][], SearchOptions.top(3)));
    }
  }
}
