package org.reid4j.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.IntConsumer;

/**
 * Coalesces requests that arrive one at a time on many threads into batches for one worker: the
 * service's way to turn 64 concurrent single-query searches into one GEMM, or 16 concurrent
 * images into one forward pass, and to share a single-threaded {@link Embedder} safely.
 *
 * <p>One dispatcher thread takes the oldest waiting request, then keeps collecting until the batch
 * holds {@code maxBatch} requests or {@code maxWait} has passed since that oldest request arrived,
 * whichever comes first, and calls the worker with the batch on its own thread; requests that
 * arrive meanwhile wait for the next batch. So a lone request waits at most {@code maxWait}, and
 * under load batches fill without waiting. {@code maxBatch = 1} switches batching off (each request
 * its own call, in arrival order), for comparison.
 *
 * <p>The queue is bounded: {@link #submit} on a full queue throws {@link QueueFullException} at
 * once (the caller answers 429/503) instead of growing memory without limit. A batch whose worker
 * call throws is retried one request at a time, so one bad request fails alone.
 *
 * <p>{@link #close} stops accepting, lets the queued requests finish (up to a timeout) and stops
 * the dispatcher; requests still queued after the timeout fail with {@link IllegalStateException}
 * (a batch already with the worker finishes).
 *
 * @param <I> a request
 * @param <O> its answer
 */
public final class MicroBatcher<I, O> implements AutoCloseable {

  /** Thrown by {@link #submit} when the queue holds {@code capacity} requests already. */
  public static final class QueueFullException extends java.util.concurrent.RejectedExecutionException {
    public QueueFullException(String message) {
      super(message);
    }
  }

  private record Job<I, O>(I request, CompletableFuture<O> answer, long arrived) {}

  private final String name;
  private final int maxBatch;
  private final long maxWaitNanos;
  private final ArrayBlockingQueue<Job<I, O>> queue;
  private final Function<List<I>, List<O>> worker;
  private final IntConsumer batchObserver;
  private final Thread dispatcher;
  private final AtomicLong batches = new AtomicLong(), requests = new AtomicLong();
  private volatile boolean accepting = true, stopped;

  /**
   * @param name for thread names and messages ("search", "embed")
   * @param maxBatch the largest batch handed to the worker (1 = no batching)
   * @param maxWaitMicros how long the oldest request may wait for others to join its batch
   * @param capacity how many requests may wait; one more is refused
   * @param worker answers a batch: one answer per request, in order (called on one thread only)
   * @param batchObserver told each batch's size (metrics); may be null
   */
  public MicroBatcher(String name, int maxBatch, long maxWaitMicros, int capacity, Function<List<I>, List<O>> worker,
      IntConsumer batchObserver) {
    if (maxBatch < 1) throw new IllegalArgumentException(name + ": the largest batch must be at least 1, got " + maxBatch);
    if (maxWaitMicros < 0) throw new IllegalArgumentException(name + ": the longest wait must be >= 0, got " + maxWaitMicros);
    if (capacity < 1) throw new IllegalArgumentException(name + ": the queue must hold at least 1 request, got " + capacity);
    this.name = name;
    this.maxBatch = maxBatch;
    this.maxWaitNanos = TimeUnit.MICROSECONDS.toNanos(maxWaitMicros);
    this.queue = new ArrayBlockingQueue<>(capacity);
    this.worker = Objects.requireNonNull(worker, "worker");
    this.batchObserver = batchObserver == null ? n -> {} : batchObserver;
    this.dispatcher = new Thread(this::run, "reid4j-" + name + "-batcher");
    dispatcher.setDaemon(true);
    dispatcher.start();
  }

  /**
   * Queues a request; the future completes with its answer, or exceptionally with what the worker
   * threw for it.
   *
   * @throws QueueFullException when {@code capacity} requests are waiting already
   * @throws IllegalStateException after {@link #close}
   */
  public CompletableFuture<O> submit(I request) {
    if (!accepting) throw new IllegalStateException("the " + name + " queue is closed (the service is stopping)");
    CompletableFuture<O> f = new CompletableFuture<>();
    Job<I, O> job = new Job<>(request, f, System.nanoTime());
    if (!queue.offer(job))
      throw new QueueFullException("the " + name + " queue is full (" + capacity() + " requests waiting); retry later");
    if (stopped && queue.remove(job)) // raced with close(): nobody would answer it
      throw new IllegalStateException("the " + name + " queue is closed (the service is stopping)");
    return f;
  }

  /** Requests waiting now (not counting the batch being worked on). */
  public int queued() {
    return queue.size();
  }

  public int capacity() {
    return queue.size() + queue.remainingCapacity();
  }

  public int maxBatch() {
    return maxBatch;
  }

  /** Batches handed to the worker so far. */
  public long batches() {
    return batches.get();
  }

  /** Requests answered so far (in all batches). */
  public long requests() {
    return requests.get();
  }

  private void run() {
    List<Job<I, O>> batch = new ArrayList<>(maxBatch);
    while (true) {
      try {
        Job<I, O> first = queue.poll(50, TimeUnit.MILLISECONDS);
        if (first == null) {
          if (stopped || (!accepting && queue.isEmpty())) return;
          continue;
        }
        batch.add(first);
        long deadline = first.arrived() + maxWaitNanos;
        while (batch.size() < maxBatch) {
          Job<I, O> next = queue.poll();
          if (next == null) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !accepting) break;
            next = queue.poll(left, TimeUnit.NANOSECONDS);
            if (next == null) break;
          }
          batch.add(next);
        }
        work(batch);
      } catch (InterruptedException e) {
        if (stopped) return;
      } catch (Throwable t) {
        for (Job<I, O> j : batch) j.answer().completeExceptionally(t);
      } finally {
        batch.clear();
      }
    }
  }

  private void work(List<Job<I, O>> batch) {
    batches.incrementAndGet();
    batchObserver.accept(batch.size());
    List<I> in = new ArrayList<>(batch.size());
    for (Job<I, O> j : batch) in.add(j.request());
    List<O> out;
    try {
      out = worker.apply(in);
      if (out == null || out.size() != in.size())
        throw new IllegalStateException(name + ": the worker answered " + (out == null ? "null" : out.size() + " results")
            + " for " + in.size() + " requests");
    } catch (RuntimeException | Error e) {
      if (batch.size() == 1) {
        requests.incrementAndGet();
        batch.get(0).answer().completeExceptionally(e);
        return;
      }
      for (Job<I, O> j : batch) work(List.of(j)); // isolate the request that fails
      return;
    }
    requests.addAndGet(batch.size());
    for (int i = 0; i < batch.size(); i++) batch.get(i).answer().complete(out.get(i));
  }

  /**
   * Stops accepting requests, answers the queued ones (waiting up to {@code timeoutMillis}), then
   * stops the dispatcher. Requests still queued after that fail.
   */
  public void close(long timeoutMillis) {
    accepting = false;
    try {
      dispatcher.join(Math.max(1, timeoutMillis));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    stopped = true; // the dispatcher sees it within 50 ms once its batch is done (not interrupted: the
    // worker may be in file I/O, which an interrupt would break)
    Job<I, O> j;
    while ((j = queue.poll()) != null)
      j.answer().completeExceptionally(new IllegalStateException("the service stopped before this " + name
          + " request was answered"));
  }

  @Override
  public void close() {
    close(10_000);
  }
}
