package org.reid4j.serve;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntConsumer;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.Hit;
import org.reid4j.gallery.SearchOptions;

/**
 * Single-query searches of a {@link Gallery} from many threads, coalesced by a {@link MicroBatcher}:
 * the queries waiting together are grouped by their {@link SearchOptions} and each group is one
 * {@link Gallery#search(float[][], SearchOptions)} call, i.e. one pass over the gallery (one GEMM per
 * block of items) for up to {@code maxBatch} queries instead of one pass each. Results equal those
 * of single searches. {@link #close} stops the batcher; the gallery stays open.
 */
public final class BatchedSearch implements AutoCloseable {
  private record Job(float[] query, SearchOptions options) {}

  private final Gallery gallery;
  private final MicroBatcher<Job, List<Hit>> batcher;

  /** See {@link MicroBatcher} for the batching settings; {@code batchObserver} may be null. */
  public BatchedSearch(Gallery gallery, int maxBatch, long maxWaitMicros, int capacity, IntConsumer batchObserver) {
    this.gallery = gallery;
    this.batcher = new MicroBatcher<>("search", maxBatch, maxWaitMicros, capacity, this::run, batchObserver);
  }

  /**
   * Queues one query; the future completes with its hits, or exceptionally as
   * {@link Gallery#search(float[], SearchOptions)} would throw.
   *
   * @throws MicroBatcher.QueueFullException when {@code capacity} queries are waiting already
   */
  public CompletableFuture<List<Hit>> submit(float[] query, SearchOptions options) {
    return batcher.submit(new Job(query, options));
  }

  /** Queries waiting for a batch. */
  public int queued() {
    return batcher.queued();
  }

  private List<List<Hit>> run(List<Job> jobs) {
    Map<SearchOptions, List<Integer>> groups = new LinkedHashMap<>();
    for (int i = 0; i < jobs.size(); i++) groups.computeIfAbsent(jobs.get(i).options(), k -> new ArrayList<>()).add(i);
    List<List<Hit>> out = new ArrayList<>(Collections.nCopies(jobs.size(), (List<Hit>) null));
    for (Map.Entry<SearchOptions, List<Integer>> g : groups.entrySet()) {
      float[][] q = new float[g.getValue().size()][];
      for (int j = 0; j < q.length; j++) q[j] = jobs.get(g.getValue().get(j)).query();
      List<List<Hit>> r = gallery.search(q, g.getKey());
      for (int j = 0; j < q.length; j++) out.set(g.getValue().get(j), r.get(j));
    }
    return out;
  }

  /** Answers the queued queries (waiting up to {@code timeoutMillis}) and stops. */
  public void close(long timeoutMillis) {
    batcher.close(timeoutMillis);
  }

  @Override
  public void close() {
    close(10_000);
  }
}
