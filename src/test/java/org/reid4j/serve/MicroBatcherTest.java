package org.reid4j.serve;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MicroBatcherTest {

  /** Squares each request; records every batch it is given. */
  static final class Squares {
    final List<List<Integer>> batches = Collections.synchronizedList(new ArrayList<>());
    volatile CountDownLatch gate = new CountDownLatch(0);
    final java.util.concurrent.Semaphore entered = new java.util.concurrent.Semaphore(0);

    List<Integer> apply(List<Integer> in) {
      entered.release(); // the batch is fixed once the worker has it
      try {
        gate.await();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      batches.add(List.copyOf(in));
      List<Integer> out = new ArrayList<>();
      for (int x : in) {
        if (x < 0) throw new IllegalArgumentException("negative: " + x);
        out.add(x * x);
      }
      return out;
    }
  }

  @Test
  void requestsQueuedWhileTheWorkerIsBusyShareOneBatchInArrivalOrder() throws Exception {
    Squares w = new Squares();
    w.gate = new CountDownLatch(1);
    List<Integer> sizes = Collections.synchronizedList(new ArrayList<>());
    try (MicroBatcher<Integer, Integer> b = new MicroBatcher<>("test", 8, 0, 100, w::apply, sizes::add)) {
      CompletableFuture<Integer> first = b.submit(1); // taken at once; the worker blocks on the gate
      assertTrue(w.entered.tryAcquire(10, TimeUnit.SECONDS));
      List<CompletableFuture<Integer>> rest = new ArrayList<>();
      for (int i = 2; i <= 12; i++) rest.add(b.submit(i));
      assertEquals(11, b.queued());
      w.gate.countDown();
      assertEquals(1, first.get(5, TimeUnit.SECONDS));
      for (int i = 0; i < rest.size(); i++) assertEquals((i + 2) * (i + 2), rest.get(i).get(5, TimeUnit.SECONDS));
      assertEquals(List.of(List.of(1), List.of(2, 3, 4, 5, 6, 7, 8, 9), List.of(10, 11, 12)), w.batches);
      assertEquals(List.of(1, 8, 3), sizes);
      assertEquals(3, b.batches());
      assertEquals(12, b.requests());
    }
  }

  @Test
  void aLoneRequestWaitsAtMostMaxWaitForCompany() throws Exception {
    Squares w = new Squares();
    try (MicroBatcher<Integer, Integer> b = new MicroBatcher<>("test", 64, 150_000, 100, w::apply, null)) {
      long t0 = System.nanoTime();
      CompletableFuture<Integer> f = b.submit(3);
      Thread.sleep(20);
      CompletableFuture<Integer> g = b.submit(4); // joins the first one's batch, which waits 150 ms
      assertEquals(9, f.get(5, TimeUnit.SECONDS));
      assertEquals(16, g.get(5, TimeUnit.SECONDS));
      double ms = (System.nanoTime() - t0) / 1e6;
      assertTrue(ms >= 140, "answered after " + ms + " ms, before the wait was over");
      assertEquals(List.of(List.of(3, 4)), w.batches);
    }
    Squares v = new Squares();
    try (MicroBatcher<Integer, Integer> b = new MicroBatcher<>("test", 1, 10_000_000, 100, v::apply, null)) {
      long t0 = System.nanoTime();
      assertEquals(25, b.submit(5).get(5, TimeUnit.SECONDS));
      assertTrue((System.nanoTime() - t0) / 1e6 < 5000, "a full batch of one does not wait");
    }
  }

  @Test
  void aFullQueueRefusesAtOnceAndABadRequestFailsAlone() throws Exception {
    Squares w = new Squares();
    w.gate = new CountDownLatch(1);
    try (MicroBatcher<Integer, Integer> b = new MicroBatcher<>("search", 4, 0, 3, w::apply, null)) {
      CompletableFuture<Integer> busy = b.submit(1);
      assertTrue(w.entered.tryAcquire(10, TimeUnit.SECONDS));
      CompletableFuture<Integer> ok = b.submit(2), bad = b.submit(-3), ok2 = b.submit(4);
      MicroBatcher.QueueFullException e = assertThrows(MicroBatcher.QueueFullException.class, () -> b.submit(5));
      assertTrue(e.getMessage().contains("search queue is full (3 requests waiting)"), e.getMessage());
      w.gate.countDown();
      assertEquals(1, busy.get(5, TimeUnit.SECONDS));
      assertEquals(4, ok.get(5, TimeUnit.SECONDS));
      ExecutionException x = assertThrows(ExecutionException.class, () -> bad.get(5, TimeUnit.SECONDS));
      assertEquals("negative: -3", x.getCause().getMessage());
      assertEquals(16, ok2.get(5, TimeUnit.SECONDS));
      // the failing batch [2, -3, 4] was retried one request at a time
      assertEquals(List.of(List.of(1), List.of(2, -3, 4), List.of(2), List.of(-3), List.of(4)), w.batches);
      assertEquals(25, b.submit(5).get(5, TimeUnit.SECONDS), "room again once the queue drained");
    }
  }

  @Test
  void closeAnswersWhatIsQueuedThenRefuses() throws Exception {
    Squares w = new Squares();
    w.gate = new CountDownLatch(1);
    MicroBatcher<Integer, Integer> b = new MicroBatcher<>("embed", 2, 0, 10, w::apply, null);
    List<CompletableFuture<Integer>> fs = new ArrayList<>();
    for (int i = 0; i < 5; i++) fs.add(b.submit(i));
    Thread closer = new Thread(() -> b.close(10_000));
    closer.start();
    Thread.sleep(50);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.submit(9));
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
    w.gate.countDown();
    closer.join();
    for (int i = 0; i < 5; i++) assertEquals(i * i, fs.get(i).get(1, TimeUnit.SECONDS));

    Squares stuck = new Squares();
    stuck.gate = new CountDownLatch(1);
    MicroBatcher<Integer, Integer> c = new MicroBatcher<>("embed", 1, 0, 10, stuck::apply, null);
    CompletableFuture<Integer> running = c.submit(1);
    assertTrue(stuck.entered.tryAcquire(10, TimeUnit.SECONDS));
    CompletableFuture<Integer> waiting = c.submit(2);
    c.close(100); // the worker is stuck: what is still queued after the timeout fails, it does not hang
    ExecutionException x = assertThrows(ExecutionException.class, () -> waiting.get(1, TimeUnit.SECONDS));
    assertTrue(x.getCause().getMessage().contains("stopped before"), x.getCause().getMessage());
    stuck.gate.countDown();
    assertEquals(1, running.get(5, TimeUnit.SECONDS));
  }

  @Test
  void badSettingsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new MicroBatcher<Integer, Integer>("x", 0, 0, 1, l -> l, null));
    assertThrows(IllegalArgumentException.class, () -> new MicroBatcher<Integer, Integer>("x", 1, -1, 1, l -> l, null));
    assertThrows(IllegalArgumentException.class, () -> new MicroBatcher<Integer, Integer>("x", 1, 0, 0, l -> l, null));
  }
}
