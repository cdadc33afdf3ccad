package org.reid4j.gallery;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import org.reid4j.kernels.FloatMatrix;

/**
 * Single-query searches of a {@link Gallery} from many threads, answered by one shared, circular
 * scan: a thread walks the gallery's rows piece by piece (about {@code pieceRows} rows each) in a
 * loop, and each kernel call computes one piece for every query in the scan. A query joins at the
 * next piece boundary, wherever the scan then is, and leaves, answered, once it has seen every
 * piece (the ones after the boundary, then, round the loop, the ones before it). So a query costs
 * one pass over the gallery shared with up to {@code maxActive - 1} others, and it never waits for
 * a pass that started before it to finish: a micro-batcher that gathers queries while the previous
 * batch runs makes each one wait for that batch and then its own (about two passes under load);
 * here a query waits at most one piece before its pass begins. (Databases call this a shared or
 * cooperative scan.)
 *
 * <p>The answers equal {@link Gallery#search(float[][], SearchOptions)}'s: each query searches the
 * snapshot current when it joined, and each piece merges its true k best eligible rows by (distance,
 * global index), a total order, so the order of the pieces does not matter. Queries with the same
 * snapshot and options share kernel calls; other groups take their turns piece by piece. Re-ranking
 * searches ({@link SearchOptions#rerank}) need the whole candidate list at once and are answered on
 * the scan's thread as they join.
 *
 * <p>At most {@code maxActive} queries are in the scan (1: each query alone, one after another);
 * at most {@code capacity} more wait, and {@link #submit} beyond that throws {@link
 * RejectedExecutionException} at once. {@link #close} stops accepting, finishes the queries in the
 * scan and in the queue (up to a timeout) and fails the rest.
 */
public final class SharedScan implements AutoCloseable {
  private record Job(float[] query, SearchOptions options, CompletableFuture<List<Hit>> answer) {}

  private static final class Member {
    final Job job;
    final FloatMatrix query;
    final Searcher.Best best = new Searcher.Best();
    int left; // pieces still to run

    Member(Job job, FloatMatrix query, int pieces) {
      this.job = job;
      this.query = query;
      this.left = pieces;
    }
  }

  /** The queries of one snapshot and options, and where the scan is in that snapshot's pieces. */
  private static final class Group {
    final Snapshot snapshot;
    final SearchOptions options;
    final List<Searcher.Piece> pieces;
    final List<Member> members = new ArrayList<>();
    int cursor;
    FloatMatrix queries; // the members' rows, rebuilt after the members change
    Searcher.Best[] best;

    Group(Snapshot snapshot, SearchOptions options, List<Searcher.Piece> pieces) {
      this.snapshot = snapshot;
      this.options = options;
      this.pieces = pieces;
    }
  }

  private final Gallery gallery;
  private final int maxActive, pieceRows;
  private final ArrayBlockingQueue<Job> queue;
  private final IntConsumer callObserver;
  private final Thread scanner;
  private final List<Group> groups = new ArrayList<>(); // the scanner's own
  private int active; // queries in the groups; the scanner's own
  private volatile boolean accepting = true, stopped;

  /**
   * @param maxActive the most queries in the scan at once (1 = one query at a time)
   * @param pieceRows about how many gallery rows one kernel call covers
   * @param capacity how many queries may wait to join; one more is refused
   * @param callObserver told the number of queries of each kernel call (metrics); may be null
   */
  public SharedScan(Gallery gallery, int maxActive, int pieceRows, int capacity, IntConsumer callObserver) {
    if (gallery == null) throw new IllegalArgumentException("gallery is null");
    this.gallery = gallery;
    if (maxActive < 1) throw new IllegalArgumentException("search: at most maxActive queries must be >= 1, got " + maxActive);
    if (pieceRows < 1) throw new IllegalArgumentException("search: rows per piece must be >= 1, got " + pieceRows);
    if (capacity < 1) throw new IllegalArgumentException("search: the queue must hold at least 1 request, got " + capacity);
    this.maxActive = maxActive;
    this.pieceRows = pieceRows;
    this.queue = new ArrayBlockingQueue<>(capacity);
    this.callObserver = callObserver == null ? n -> {} : callObserver;
    this.scanner = new Thread(this::run, "reid4j-search-scan");
    scanner.setDaemon(true);
    scanner.start();
  }

  /**
   * Queues one query; the future completes with its hits, or exceptionally as {@link
   * Gallery#search(float[], SearchOptions)} would throw (a query of the wrong dimension or with a
   * non-finite value: IllegalArgumentException).
   *
   * @throws RejectedExecutionException when {@code capacity} queries are waiting already
   * @throws IllegalStateException after {@link #close}
   */
  public CompletableFuture<List<Hit>> submit(float[] query, SearchOptions options) {
    if (query == null) throw new IllegalArgumentException("the query is null");
    if (options == null) throw new IllegalArgumentException("search options are null");
    if (!accepting) throw new IllegalStateException("the search queue is closed (the service is stopping)");
    Job job = new Job(query, options, new CompletableFuture<>());
    if (!queue.offer(job))
      throw new RejectedExecutionException("the search queue is full (" + capacity() + " requests waiting); retry later");
    if (stopped && queue.remove(job)) // raced with close(): nobody would answer it
      throw new IllegalStateException("the search queue is closed (the service is stopping)");
    return job.answer();
  }

  /** Queries waiting to join the scan. */
  public int queued() {
    return queue.size();
  }

  public int capacity() {
    return queue.size() + queue.remainingCapacity();
  }

  private void run() {
    while (!stopped) {
      try {
        if (active == 0) {
          Job first = queue.poll(50, TimeUnit.MILLISECONDS);
          if (first == null) {
            if (!accepting && queue.isEmpty()) break;
            continue;
          }
          join(first);
        }
        Job next;
        while (active < maxActive && (next = queue.poll()) != null) join(next);
        for (Group g : List.copyOf(groups)) step(g);
      } catch (InterruptedException e) {
        break;
      } catch (RuntimeException | Error e) { // a bug here must neither stop the scan nor leave callers waiting
        failAll(e);
      }
    }
    failAll(stoppedBeforeAnswer());
    failQueued();
  }

  private static IllegalStateException stoppedBeforeAnswer() {
    return new IllegalStateException("the service stopped before this search was answered");
  }

  /** Fails the queries still waiting to join. */
  private void failQueued() {
    Job j;
    while ((j = queue.poll()) != null) j.answer().completeExceptionally(stoppedBeforeAnswer());
  }

  private void failAll(Throwable t) {
    for (Group g : groups)
      for (Member m : g.members) m.job.answer().completeExceptionally(t);
    groups.clear();
    active = 0;
  }

  private void join(Job job) {
    if (job.answer().isDone()) return; // given up by its caller (a timeout) while it waited
    try {
      if (job.options().rerank() != null) {
        job.answer().complete(gallery.search(new float[][] {job.query()}, job.options()).get(0));
        return;
      }
      FloatMatrix q = gallery.queryMatrix(new float[][] {job.query()});
      Snapshot s = gallery.searchSnapshot();
      Group group = null;
      for (Group g : groups)
        if (g.snapshot == s && g.options.equals(job.options())) group = g;
      if (group == null) {
        group = new Group(s, job.options(), Searcher.pieces(s, pieceRows));
        if (group.pieces.isEmpty()) { // an empty gallery
          job.answer().complete(List.of());
          return;
        }
        groups.add(group);
      }
      group.members.add(new Member(job, q, group.pieces.size()));
      group.queries = null;
      active++;
    } catch (RuntimeException | Error e) {
      job.answer().completeExceptionally(e);
    }
  }

  /** Runs the group's next piece for all its queries; answers those that have now seen every piece. */
  private void step(Group g) {
    if (g.queries == null) {
      int n = g.members.size(), d = g.members.get(0).query.cols();
      float[] q = new float[n * d];
      g.best = new Searcher.Best[n];
      for (int i = 0; i < n; i++) {
        System.arraycopy(g.members.get(i).query.data(), 0, q, i * d, d);
        g.best[i] = g.members.get(i).best;
      }
      g.queries = new FloatMatrix(n, d, q);
    }
    callObserver.accept(g.members.size());
    try {
      gallery.searcher().run(g.pieces.get(g.cursor), g.snapshot, g.queries, g.options, g.best);
    } catch (RuntimeException | Error e) { // the queries were checked as they joined: fail the group, not the scan
      for (Member m : g.members) m.job.answer().completeExceptionally(e);
      active -= g.members.size();
      groups.remove(g);
      return;
    }
    g.cursor = (g.cursor + 1) % g.pieces.size();
    boolean changed = false;
    for (int i = g.members.size() - 1; i >= 0; i--) {
      Member m = g.members.get(i);
      if (--m.left > 0) continue;
      g.members.remove(i);
      active--;
      changed = true;
      m.job.answer().complete(m.best.hits());
    }
    if (g.members.isEmpty()) groups.remove(g);
    else if (changed) g.queries = null;
  }

  /**
   * Stops accepting queries, answers those in the scan and the queue (waiting up to {@code
   * timeoutMillis}), then stops the scan; queries not answered by then fail.
   */
  public void close(long timeoutMillis) {
    accepting = false;
    try {
      scanner.join(Math.max(1, timeoutMillis));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    stopped = true; // the scanner sees it after its current piece and fails what is left
    if (scanner.isAlive()) {
      try {
        scanner.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    failQueued(); // a query queued after the scanner left
  }

  @Override
  public void close() {
    close(10_000);
  }
}
