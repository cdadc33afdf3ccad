package org.reid4j.gallery;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Metric;

class GalleryTest {
  @TempDir Path dir;

  static GalleryOptions opts(int d) {
    return GalleryOptions.of(d).backend(Backend.JAVA);
  }

  static float[] f(float... v) {
    return v;
  }

  static void assertItem(Item expected, Item actual) {
    assertEquals(expected.id(), actual.id());
    assertArrayEquals(expected.feature(), actual.feature());
    assertEquals(expected.pid(), actual.pid());
    assertEquals(expected.camid(), actual.camid());
    assertEquals(expected.attributes(), actual.attributes());
  }

  @Test
  void addGetReplaceRemoveAndReopen() throws Exception {
    Item a = Item.of("a", f(1, 2, 3)).withPid(7).withCamid(2).withAttribute("site", "north");
    Item b = Item.of("b", f(4, 5, 6));
    Item a2 = Item.of("a", f(0, 0, 1)).withAttribute("ünï", "çödé ✓");
    try (Gallery g = Gallery.open(dir, opts(3))) {
      assertTrue(g.recoveryReport().clean());
      g.add(a);
      g.add(b);
      assertEquals(2, g.size());
      assertItem(a, g.get("a").orElseThrow());
      g.add(a2);
      assertEquals(2, g.size());
      assertItem(a2, g.get("a").orElseThrow());
      assertTrue(g.remove("b"));
      assertFalse(g.remove("b"));
      assertTrue(g.get("b").isEmpty());
      assertEquals(1, g.size());
    }
    try (Gallery g = Gallery.open(dir, opts(3))) {
      assertEquals(1, g.size());
      assertItem(a2, g.get("a").orElseThrow());
      assertTrue(g.get("b").isEmpty());
      g.add(b);
    }
    try (Gallery g = Gallery.open(dir, opts(3))) {
      assertEquals(2, g.size());
      assertItem(b, g.get("b").orElseThrow());
    }
  }

  @Test
  void logReplaysWithoutClose() throws Exception {
    Gallery g = Gallery.open(dir, opts(2));
    g.add(Item.of("x", f(1, 2)).withCamid(3));
    g.add(Item.of("y", f(3, 4)));
    g.remove("x");
    g.abandon();
    try (Gallery h = Gallery.open(dir, opts(2))) {
      assertEquals(3, h.recoveryReport().recordsReplayed());
      assertTrue(h.recoveryReport().clean());
      assertEquals(1, h.size());
      assertArrayEquals(f(3, 4), h.get("y").orElseThrow().feature());
    }
  }

  @Test
  void checkpointsMakeSegmentsAndReopenSeesTheSame() throws Exception {
    GalleryOptions o = opts(4).checkpointBytes(300);
    try (Gallery g = Gallery.open(dir, o)) {
      for (int i = 0; i < 40; i++) g.add(Item.of("i" + i, f(i, i + 1, i + 2, i + 3)).withPid(i));
      assertTrue(g.segmentCount() >= 3, "segments: " + g.segmentCount());
      for (int i = 0; i < 40; i += 3) g.remove("i" + i);
      g.add(Item.of("i1", f(9, 9, 9, 9)));
    }
    try (Gallery g = Gallery.open(dir, o)) {
      assertEquals(40 - 14, g.size());
      for (int i = 0; i < 40; i++) {
        var it = g.get("i" + i);
        if (i % 3 == 0) assertTrue(it.isEmpty(), "i" + i);
        else if (i == 1) assertArrayEquals(f(9, 9, 9, 9), it.orElseThrow().feature());
        else {
          assertArrayEquals(f(i, i + 1, i + 2, i + 3), it.orElseThrow().feature());
          assertEquals(i, it.orElseThrow().pid());
        }
      }
      long files = Files.list(dir).filter(p -> p.toString().endsWith(".log")).count();
      assertEquals(1, files, "old logs are removed");
    }
  }

  @Test
  void compactionDropsDeadRowsAndKeepsOrder() throws Exception {
    GalleryOptions o = opts(2).checkpointBytes(1 << 20).compactFraction(0.9);
    try (Gallery g = Gallery.open(dir, o)) {
      for (int i = 0; i < 10; i++) g.add(Item.of("i" + i, f(1, 1)));
      g.checkpoint();
      for (int i = 10; i < 20; i++) g.add(Item.of("i" + i, f(1, 1)));
      g.checkpoint();
      for (int i = 0; i < 20; i += 2) g.remove("i" + i);
      g.checkpoint();
      assertEquals(2, g.segmentCount());
      g.compact();
      assertEquals(1, g.segmentCount());
      Manifest m = Manifest.read(dir);
      assertEquals(10, m.segments().get(0).rows());
      assertEquals(0, m.segments().get(0).deleted().length);
      List<Hit> hits = g.search(f(1, 1), SearchOptions.top(20));
      assertEquals(List.of("i1", "i3", "i5", "i7", "i9", "i11", "i13", "i15", "i17", "i19"),
          hits.stream().map(Hit::id).toList());
    }
    try (Gallery g = Gallery.open(dir, o)) {
      assertEquals(10, g.size());
      assertEquals(2, Files.list(dir).filter(p -> p.getFileName().toString().startsWith("seg-")).count());
    }
  }

  @Test
  void automaticCompactionPastTheDeadFraction() throws Exception {
    try (Gallery g = Gallery.open(dir, opts(2).compactFraction(0.25))) {
      for (int i = 0; i < 8; i++) g.add(Item.of("i" + i, f(i, 0)));
      g.checkpoint();
      g.add(Item.of("j", f(0, 0)));
      g.checkpoint();
      assertEquals(2, g.segmentCount());
      for (int i = 0; i < 4; i++) g.remove("i" + i);
      g.checkpoint();
      assertEquals(1, g.segmentCount());
      assertEquals(5, Manifest.read(dir).segments().get(0).rows());
    }
  }

  @Test
  void invalidInputsSayWhatIsWrong() throws Exception {
    try (Gallery g = Gallery.open(dir, opts(3))) {
      var e = assertThrows(IllegalArgumentException.class, () -> g.add(Item.of("p", f(1, 2))));
      assertTrue(e.getMessage().contains("'p'") && e.getMessage().contains("2 values"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> g.add(Item.of("q", f(1, Float.NaN, 2))));
      assertTrue(e.getMessage().contains("'q'") && e.getMessage().contains("index 1"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> g.addAll(List.of(Item.of("ok", f(1, 2, 3)), Item.of("r", f(1, 2, Float.POSITIVE_INFINITY)))));
      assertTrue(e.getMessage().contains("'r'") && e.getMessage().contains("index 2"), e.getMessage());
      assertEquals(0, g.size(), "nothing of a rejected batch is written");
      e = assertThrows(IllegalArgumentException.class, () -> Item.of("", f(1, 2, 3)));
      assertTrue(e.getMessage().contains("empty"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Item.of("a\ud800b", f(1, 2, 3)));
      assertTrue(e.getMessage().contains("surrogate"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Item.of("a\nb", f(1, 2, 3)));
      assertTrue(e.getMessage().contains("control"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> g.search(f(1, 2), SearchOptions.top(1)));
      assertTrue(e.getMessage().contains("query 0 has 2 values"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> g.search(f(1, Float.NaN, 2), SearchOptions.top(1)));
      assertTrue(e.getMessage().contains("index 1"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> SearchOptions.top(0));
      assertTrue(e.getMessage().contains("k must be at least 1"), e.getMessage());
    }
  }

  @Test
  void closedGalleryAndSecondOpenAndMismatchedOptions() throws Exception {
    Gallery g = Gallery.open(dir, opts(3).metric(Metric.COSINE));
    var e = assertThrows(IllegalStateException.class, () -> Gallery.open(dir, opts(3).metric(Metric.COSINE)));
    assertTrue(e.getMessage().contains("already open"), e.getMessage());
    g.close();
    assertThrows(IllegalStateException.class, () -> g.add(Item.of("a", f(1, 2, 3))));
    assertThrows(IllegalStateException.class, () -> g.search(f(1, 2, 3), SearchOptions.top(1)));
    assertThrows(IllegalStateException.class, g::size);
    var m = assertThrows(IllegalArgumentException.class, () -> Gallery.open(dir, opts(3)));
    assertTrue(m.getMessage().contains("COSINE") && m.getMessage().contains("SQEUCLIDEAN"), m.getMessage());
    var d = assertThrows(IllegalArgumentException.class, () -> Gallery.open(dir, opts(4).metric(Metric.COSINE)));
    assertTrue(d.getMessage().contains("dimension 3"), d.getMessage());
    Gallery.open(dir, opts(3).metric(Metric.COSINE)).close();
  }

  /**
   * Concurrent writers share forces. Each force is slowed to 20 ms (a fast disk would let one force
   * finish before the next writer arrives, and sharing would depend on timing); then while one
   * force runs, the other writers append and wait, and the next force covers them all.
   */
  @Test
  void groupCommitSharesForces() throws Exception {
    int threads = 8, each = 25;
    WriteAheadLog.Force slow = ch -> {
      ch.force(false);
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        throw new java.io.InterruptedIOException();
      }
    };
    try (Gallery g = Gallery.open(dir, opts(4), slow)) {
      Thread[] ts = new Thread[threads];
      for (int t = 0; t < threads; t++) {
        int tt = t;
        ts[t] = new Thread(() -> {
          for (int i = 0; i < each; i++) g.add(Item.of(tt + "-" + i, f(tt, i, 0, 1)));
        });
        ts[t].start();
      }
      for (Thread t : ts) t.join();
      assertEquals(threads * each, g.size());
      long forces = g.logForces();
      assertTrue(forces > 0, "fsync is on");
      assertTrue(forces < threads * each / 2, forces + " forces for " + threads * each + " adds");
    }
    try (Gallery g = Gallery.open(dir, opts(4).fsync(false), slow)) {
      g.add(Item.of("z", f(1, 1, 1, 1)));
      assertEquals(0, g.logForces(), "fsync off forces nothing per write");
    }
  }
}
