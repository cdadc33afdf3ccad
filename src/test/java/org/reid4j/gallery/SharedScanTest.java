package org.reid4j.gallery;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.reid4j.kernels.Backend;

/**
 * {@link SharedScan}: queries that join a circular scan wherever it is get exactly the answers of
 * {@link Gallery#search}, each query runs every piece once, and the queue, errors and close behave.
 */
class SharedScanTest {
  @TempDir Path dir;

  /** A gallery of two segments with deletes and replacements, a delta, and duplicate features (ties). */
  static List<Item> fill(Gallery g, Random r, int d) {
    List<Item> items = new ArrayList<>();
    for (int i = 0; i < 230; i++) {
      float[] f = i % 17 == 5 ? items.get(i - 3).feature() : GallerySearchTest.gaussian(r, d);
      items.add(Item.of("i" + i, f).withCamid(i % 4).withAttribute("s", "" + i % 3));
    }
    g.addAll(items.subList(0, 120));
    g.checkpoint();
    g.remove("i7");
    g.addAll(items.subList(120, 190));
    g.checkpoint();
    g.add(Item.of("i3", GallerySearchTest.gaussian(r, d)).withCamid(2)); // a replacement, in the delta
    g.addAll(items.subList(190, 230)); // the delta
    g.remove("i200");
    return items;
  }

  @ParameterizedTest
  @EnumSource(GallerySearchTest.Case.class)
  void queriesJoiningAnywhereGetTheAnswersOfASearch(GallerySearchTest.Case c) throws Exception {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    int d = 11;
    try (Gallery g = Gallery.open(dir, GallerySearchTest.opts(c, d))) {
      fill(g, r, d);
      SearchOptions[] opts = {SearchOptions.top(5), SearchOptions.top(3).excludeCamid(1),
          SearchOptions.top(6).filter("s", "2"), SearchOptions.top(400)};
      int pieceRows = 1 + r.nextInt(40);
      List<Integer> calls = Collections.synchronizedList(new ArrayList<>());
      int nq = 96;
      List<float[]> qs = new ArrayList<>();
      try (SharedScan scan = new SharedScan(g, 1 + r.nextInt(24), pieceRows, 1000, calls::add)) {
        for (int i = 0; i < nq; i++) qs.add(GallerySearchTest.gaussian(r, d));
        // submitted from several threads, a few at a time, so that queries join a scan in progress
        Thread[] ts = new Thread[4];
        List<List<CompletableFuture<List<Hit>>>> per = new ArrayList<>();
        for (int t = 0; t < ts.length; t++) per.add(Collections.synchronizedList(new ArrayList<>()));
        for (int t = 0; t < ts.length; t++) {
          int tt = t;
          ts[t] = new Thread(() -> {
            for (int i = tt; i < nq; i += ts.length) {
              per.get(tt).add(scan.submit(qs.get(i), opts[i % opts.length]));
              if (i % 8 == tt) Thread.yield();
            }
          });
          ts[t].start();
        }
        for (Thread t : ts) t.join();
        String where = c + " seed " + seed + " pieces of " + pieceRows;
        // the references searched here while the scan thread may still be answering (both call the kernels)
        List<List<Hit>> want = new ArrayList<>();
        for (int i = 0; i < nq; i++) want.add(g.search(qs.get(i), opts[i % opts.length]));
        List<List<Hit>> got = new ArrayList<>(Collections.nCopies(nq, (List<Hit>) null));
        for (int t = 0; t < ts.length; t++)
          for (int j = 0; j < per.get(t).size(); j++) got.set(t + j * ts.length, per.get(t).get(j).get(30, TimeUnit.SECONDS));
        for (int i = 0; i < nq; i++) assertEquals(want.get(i), got.get(i), where + " query " + i);
        // every query ran every piece of the (unchanged) snapshot once
        int pieces = Searcher.pieces(g.searchSnapshot(), pieceRows).size();
        assertEquals((long) nq * pieces, calls.stream().mapToLong(Integer::longValue).sum(), where);
      }
    }
  }

  @Test
  void aQueryAlwaysSearchesOneWholeSnapshotWhileItemsAreAdded() throws Exception {
    Random r = new Random(11);
    int d = 6;
    try (Gallery g = Gallery.open(dir, GalleryOptions.of(d).backend(Backend.JAVA).fsync(false))) {
      fill(g, r, d);
      try (SharedScan scan = new SharedScan(g, 8, 3, 1000, null)) {
        for (int round = 0; round < 5; round++) {
          float[] q = GallerySearchTest.gaussian(r, d);
          SearchOptions o = SearchOptions.top(4);
          List<Hit> before = g.search(q, o);
          List<CompletableFuture<List<Hit>>> racing = new ArrayList<>();
          for (int i = 0; i < 10; i++) racing.add(scan.submit(q, o));
          // an item nearer than everything, added while those queries run
          g.add(Item.of("new" + round, q.clone()));
          if (round == 2) g.checkpoint();
          List<Hit> after = g.search(q, o);
          assertNotEquals(before, after);
          for (CompletableFuture<List<Hit>> f : racing) {
            List<Hit> got = f.get(30, TimeUnit.SECONDS);
            assertTrue(got.equals(before) || got.equals(after), "round " + round + ": " + got + " is neither " + before
                + " nor " + after);
          }
          assertEquals(after, scan.submit(q, o).get(30, TimeUnit.SECONDS), "round " + round + ": submitted after the add");
        }
      }
    }
  }

  @Test
  void emptyGalleriesBadQueriesAndReRankingSearches() throws Exception {
    Random r = new Random(5);
    int d = 8;
    try (Gallery g = Gallery.open(dir, GalleryOptions.of(d).backend(Backend.JAVA).fsync(false));
        SharedScan scan = new SharedScan(g, 4, 16, 100, null)) {
      assertEquals(List.of(), scan.submit(new float[d], SearchOptions.top(3)).get(30, TimeUnit.SECONDS));
      fill(g, r, d);
      float[] q = GallerySearchTest.gaussian(r, d);
      CompletableFuture<List<Hit>> shortQuery = scan.submit(new float[d - 1], SearchOptions.top(3));
      float[] nan = q.clone();
      nan[3] = Float.NaN;
      CompletableFuture<List<Hit>> nanQuery = scan.submit(nan, SearchOptions.top(3));
      CompletableFuture<List<Hit>> good = scan.submit(q, SearchOptions.top(3));
      SearchOptions rr = SearchOptions.top(5).rerank(6, 3, 0.3f);
      CompletableFuture<List<Hit>> reranked = scan.submit(q, rr);
      var e = assertThrows(ExecutionException.class, () -> shortQuery.get(30, TimeUnit.SECONDS));
      assertInstanceOf(IllegalArgumentException.class, e.getCause());
      assertTrue(e.getCause().getMessage().contains("dimension"), e.getCause().getMessage());
      e = assertThrows(ExecutionException.class, () -> nanQuery.get(30, TimeUnit.SECONDS));
      assertTrue(e.getCause().getMessage().contains("non-finite"), e.getCause().getMessage());
      assertEquals(g.search(q, SearchOptions.top(3)), good.get(30, TimeUnit.SECONDS));
      assertEquals(g.search(q, rr), reranked.get(30, TimeUnit.SECONDS));
      assertThrows(IllegalArgumentException.class, () -> scan.submit(null, SearchOptions.top(1)));
      assertThrows(IllegalArgumentException.class, () -> scan.submit(q, null));
    }
    assertThrows(IllegalArgumentException.class, () -> new SharedScan(null, 1, 1, 1, null));
  }

  @Test
  void aFullQueueRefusesAtOnceAndCloseAnswersWhatWasAccepted() throws Exception {
    Random r = new Random(9);
    int d = 5;
    try (Gallery g = Gallery.open(dir, GalleryOptions.of(d).backend(Backend.JAVA).fsync(false))) {
      fill(g, r, d);
      CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
      List<Integer> calls = Collections.synchronizedList(new ArrayList<>());
      SharedScan scan = new SharedScan(g, 1, 50, 2, n -> {
        calls.add(n);
        entered.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      float[] q = GallerySearchTest.gaussian(r, d);
      CompletableFuture<List<Hit>> first = scan.submit(q, SearchOptions.top(2));
      assertTrue(entered.await(30, TimeUnit.SECONDS), "the scan never started");
      // the scan holds one query (maxActive 1) and is held in its first piece: two more wait, a third is refused
      CompletableFuture<List<Hit>> second = scan.submit(q, SearchOptions.top(3)), third = scan.submit(q, SearchOptions.top(4));
      assertEquals(2, scan.queued());
      var full = assertThrows(RejectedExecutionException.class, () -> scan.submit(q, SearchOptions.top(1)));
      assertTrue(full.getMessage().contains("full"), full.getMessage());
      release.countDown();
      scan.close(30_000);
      assertEquals(g.search(q, SearchOptions.top(2)), first.get(1, TimeUnit.SECONDS));
      assertEquals(g.search(q, SearchOptions.top(3)), second.get(1, TimeUnit.SECONDS));
      assertEquals(g.search(q, SearchOptions.top(4)), third.get(1, TimeUnit.SECONDS));
      assertTrue(calls.stream().allMatch(n -> n == 1), "maxActive 1 ran calls of " + calls);
      assertThrows(IllegalStateException.class, () -> scan.submit(q, SearchOptions.top(1)));
    }
  }
}
