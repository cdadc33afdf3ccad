package org.reid4j.eval.rerank;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.apache.lucene.codecs.hnsw.DefaultFlatVectorScorer;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.search.KnnCollector;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TaskExecutor;
import org.apache.lucene.util.hnsw.HnswConcurrentMergeBuilder;
import org.apache.lucene.util.hnsw.HnswGraphBuilder;
import org.apache.lucene.util.hnsw.HnswGraphSearcher;
import org.apache.lucene.util.hnsw.OnHeapHnswGraph;
import org.apache.lucene.util.hnsw.RandomAccessVectorValues;
import org.apache.lucene.util.hnsw.RandomVectorScorer;
import org.apache.lucene.util.hnsw.RandomVectorScorerSupplier;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Metric;
import org.reid4j.report.ProgressLine;

/**
 * Each item's nearest neighbours from an HNSW graph built by Apache Lucene over the N = nq + ng
 * items (queries first, then the gallery), held in memory (no index files), re-scored exactly.
 *
 * <p>The graph orders by Lucene's EUCLIDEAN similarity (1 / (1 + squared distance)) for the
 * Euclidean metrics and by DOT_PRODUCT over L2-normalised copies for cosine: the same order as the
 * metric. The graph is built with beam ef; for item i it is searched with beam max(efSearch, L)
 * (L the list length) and the best
 * 2L results, plus i itself, are re-scored with {@link KReciprocal.ItemDistance} (the distance of the
 * exact path, bit for bit) and sorted by (distance, index); the first L are the list. If the graph
 * gives fewer than L items (it should not: Lucene joins disconnected parts when it finishes), that
 * item's row is computed exactly, as it is in an exhaustive search that did not reach every item.
 *
 * <p>Re-ranking also needs each item's largest distance to any item (its row maximum). The graph
 * answers that approximately: a second search, for the nearest items to -x_i (beam 32), whose
 * best 8 are re-scored; the largest distance seen for i (list, candidates, these) is kept. For
 * features of equal norm (after --normalize, or cosine) the nearest to -x_i are the farthest from
 * x_i; otherwise this is only a lower bound found by a heuristic. Either way it never exceeds the
 * true maximum.
 *
 * <p>With efSearch &gt;= N every search is exhaustive (a beam of N keeps every node it reaches), every
 * result is re-scored, and the lists and maxima are exactly those of the exact pass; an item from
 * which the graph does not reach all N (Lucene may fail to join a sparse graph, m = 1 say) gets
 * its exact row instead, so that this holds whatever the graph.
 *
 * <p>Cost: building, about N searches of beam ef; searching, N searches of beam efSearch and N of
 * beam 32; re-scoring 2 N L d; a search visits a few beam m nodes at d operations each. Memory: one
 * float[] copy of every row (N d floats; Lucene reads float[] rows), the graph (about N m 2 ints on
 * level 0), the lists (N L).
 * Graphs of 10,000 items or more are built on all cores with Lucene's concurrent builder (the
 * graph then depends on thread timing); smaller ones on one thread with a fixed seed
 * (reproducible).
 *
 * <p>Both phases take minutes to hours at a million items; given a step reporter, each reports a
 * {@link ProgressLine} ("hnsw graph 120,000/1,000,000 items (12%) ... ETA ...", then "hnsw search
 * ...") every {@link #PROGRESS_SECONDS} seconds. The graph's count is the size of Lucene's graph
 * (items inserted so far), read by a watcher thread.
 */
public final class HnswNeighbours {
  private HnswNeighbours() {}

  static final int FAR_BEAM = 32, FAR_RESCORE = 8;
  static final long SEED = 42;
  static final int CONCURRENT_FROM = 10_000;
  static final double PROGRESS_SECONDS = 10;
  /** Items between two looks at the clock (one lock per this many items, across the threads). */
  static final int PROGRESS_EVERY = 1024;

  /**
   * Neighbour lists of the N items.
   *
   * @param length L, the entries per item
   * @param idx [N * L] neighbours by (distance, index), the item itself included
   * @param dist [N * L] their distances
   * @param largest [N] the largest distance from each item seen (a lower bound of its row maximum)
   * @param buildMs time to build the graph
   * @param searchMs time to search it and re-score
   * @param graphBytes the graph's heap size as Lucene counts it
   * @param farthest [N] the item at that largest distance (the smallest index among equals; the item
   *     itself when N = 1)
   * @param exactRows items whose row was computed exactly because the graph did not reach enough items
   */
  public record Lists(int items, int length, int[] idx, float[] dist, float[] largest, int[] farthest, long buildMs,
      long searchMs, long graphBytes, int exactRows) {}

  /** The first {@code length} neighbours of each of the nq + ng items of q and g under the metric. */
  public static Lists of(FloatMatrix q, FloatMatrix g, Metric metric, int length, Candidates c) {
    return of(q, g, metric, length, c, null);
  }

  /** As above, reporting progress lines to {@code progress} (null: silent). */
  public static Lists of(FloatMatrix q, FloatMatrix g, Metric metric, int length, Candidates c,
      Consumer<String> progress) {
    return of(q, g, metric, length, c, progress, PROGRESS_SECONDS);
  }

  static Lists of(FloatMatrix q, FloatMatrix g, Metric metric, int length, Candidates c, Consumer<String> progress,
      double progressSeconds) {
    Checks.pairwiseInputs(q, g);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    int nq = q.rows(), n = nq + g.rows();
    List<float[]> rows = new ArrayList<>(n);
    for (int i = 0; i < n; i++) rows.add(i < nq ? q.row(i) : g.row(i - nq));
    return of(rows, metric, length, c, KReciprocal.ItemDistance.of(q, g, metric), progress, progressSeconds);
  }

  /**
   * The first {@code length} neighbours of each of the N given items (all of one length, finite), the
   * graph searched under the metric's order and the candidates re-scored with {@code exact}, which
   * must be that metric's distance between items i and j (a gallery's own, say). The rows are read,
   * not copied (for cosine, unit-length copies are made); they must not change during the call.
   */
  public static Lists of(List<float[]> items, Metric metric, int length, Candidates c, KReciprocal.ItemDistance exact,
      Consumer<String> progress) {
    requireItems(items, "HNSW neighbours");
    if (metric == null) throw new IllegalArgumentException("metric is null");
    if (exact == null) throw new IllegalArgumentException("HNSW neighbours: the re-scoring distance is null");
    return of(items, metric, length, c, exact, progress, PROGRESS_SECONDS);
  }

  private static Lists of(List<float[]> items, Metric metric, int length, Candidates c, KReciprocal.ItemDistance exact,
      Consumer<String> progress, double progressSeconds) {
    if (c == null || c.exact()) throw new IllegalArgumentException("HNSW neighbours need HNSW candidates, got " + c);
    int n = items.size();
    if (n < 1) throw new IllegalArgumentException("HNSW neighbours: no items");
    int d = items.get(0).length;
    if (length < 1 || length > n)
      throw new IllegalArgumentException("HNSW neighbours: list length must be in [1, " + n + "], got " + length);
    if ((long) n * length > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("HNSW neighbours: lists of " + n + " x " + length + " do not fit");

    long t0 = System.nanoTime();
    Index index = Index.build(items, metric, c, progress, progressSeconds);
    OnHeapHnswGraph graph = index.graph;
    RandomVectorScorerSupplier scorers = index.scorers;
    RandomAccessVectorValues.Floats vectors = index.vectors;
    VectorSimilarityFunction sim = index.sim;
    long buildMs = (System.nanoTime() - t0) / 1_000_000;

    long t1 = System.nanoTime();
    boolean exhaustive = c.efSearch() >= n;
    int beam = Math.min(n, Math.max(c.efSearch(), length));
    int rescore = exhaustive ? n : Math.min(n, 2 * length);
    int farBeam = exhaustive ? n : Math.min(n, FAR_BEAM), farRescore = exhaustive ? n : Math.min(n, FAR_RESCORE);
    int[] idx = new int[n * length];
    float[] dist = new float[n * length];
    float[] largest = new float[n];
    int[] farthest = new int[n];
    LongAdder fallbacks = new LongAdder();
    Counter searched = new Counter(new ProgressLine(progress, progressSeconds, n, t1, "hnsw search", "items", "items",
        0));
    int block = 64;
    IntStream.range(0, (n + block - 1) / block).parallel().forEach(b -> {
      try {
        RandomVectorScorerSupplier own = scorers.copy();
        RandomAccessVectorValues.Floats values = vectors.copy();
        int[] cand = new int[rescore + 1];
        float[] cd = new float[rescore + 1];
        float[] neg = new float[d];
        for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
          searched.add();
          ScoreDoc[] near = HnswGraphSearcher.search(own.scorer(i), beam, graph, null, Integer.MAX_VALUE)
              .topDocs().scoreDocs;
          int size = 0;
          boolean self = false;
          for (int r = 0; r < Math.min(rescore, near.length); r++) {
            cand[size++] = near[r].doc;
            self |= near[r].doc == i;
          }
          if (!self) cand[size++] = i;
          boolean full = size < length || (exhaustive && near.length < n);
          if (full) {
            size = fullRow(exact, n, i, cand = new int[n], cd = new float[n]);
            fallbacks.increment();
          } else {
            for (int r = 0; r < size; r++) cd[r] = exact.between(i, cand[r]);
          }
          int at = farthest(cand, cd, size);
          float max = cd[at];
          int arg = cand[at];
          sortedPrefix(cand, cd, size, length, idx, dist, i * length);
          if (full) { // max is the row maximum itself
            largest[i] = max;
            farthest[i] = arg;
            cand = new int[rescore + 1];
            cd = new float[rescore + 1];
            continue;
          }

          float[] x = values.vectorValue(i);
          for (int k = 0; k < d; k++) neg[k] = -x[k];
          RandomVectorScorer far = DefaultFlatVectorScorer.INSTANCE.getRandomVectorScorer(sim, values, neg);
          KnnCollector fc = HnswGraphSearcher.search(far, farBeam, graph, null, Integer.MAX_VALUE);
          ScoreDoc[] farDocs = fc.topDocs().scoreDocs;
          for (int r = 0; r < Math.min(farRescore, farDocs.length); r++) {
            int o = farDocs[r].doc;
            float e = exact.between(i, o);
            if (e > max || (e == max && o < arg)) {
              max = e;
              arg = o;
            }
          }
          largest[i] = max;
          farthest[i] = arg;
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    long searchMs = (System.nanoTime() - t1) / 1_000_000;
    return new Lists(n, length, idx, dist, largest, farthest, buildMs, searchMs, graph.ramBytesUsed(),
        fallbacks.intValue());
  }

  /**
   * The HNSW graph that {@link #of} builds over N items (its m and building ef), kept to be searched
   * directly: for measuring recall against the search beam without searching for every item, say.
   */
  public static final class Index {
    final RandomAccessVectorValues.Floats vectors;
    final RandomVectorScorerSupplier scorers;
    final OnHeapHnswGraph graph;
    final VectorSimilarityFunction sim;
    private final int n;

    private Index(RandomAccessVectorValues.Floats vectors, RandomVectorScorerSupplier scorers, OnHeapHnswGraph graph,
        VectorSimilarityFunction sim, int n) {
      this.vectors = vectors;
      this.scorers = scorers;
      this.graph = graph;
      this.sim = sim;
      this.n = n;
    }

    /**
     * Builds the graph of the items (all of one length; read, not copied, except unit-length copies
     * for cosine) with the candidates' m and building ef, reporting progress lines (null: none).
     */
    public static Index build(List<float[]> items, Metric metric, Candidates c, Consumer<String> progress) {
      requireItems(items, "HNSW index");
      if (items.isEmpty()) throw new IllegalArgumentException("HNSW index: no items");
      if (metric == null) throw new IllegalArgumentException("metric is null");
      if (c == null || c.exact()) throw new IllegalArgumentException("an HNSW index needs HNSW candidates, got " + c);
      return build(items, metric, c, progress, PROGRESS_SECONDS);
    }

    static Index build(List<float[]> items, Metric metric, Candidates c, Consumer<String> progress,
        double progressSeconds) {
      int n = items.size(), d = items.get(0).length;
      boolean cosine = metric == Metric.COSINE;
      List<float[]> rows = cosine ? new ArrayList<>(n) : items;
      if (cosine) for (float[] r : items) rows.add(unit(r));
      VectorSimilarityFunction sim = cosine ? VectorSimilarityFunction.DOT_PRODUCT : VectorSimilarityFunction.EUCLIDEAN;
      RandomAccessVectorValues.Floats vectors = RandomAccessVectorValues.fromFloats(rows, d);
      try {
        RandomVectorScorerSupplier scorers = DefaultFlatVectorScorer.INSTANCE.getRandomVectorScorerSupplier(sim, vectors);
        ProgressLine line = progress == null ? null : new ProgressLine(progress, progressSeconds, n, System.nanoTime(),
            "hnsw graph", "items", "items", 0);
        return new Index(vectors, scorers, HnswNeighbours.build(scorers, n, c, line, progressSeconds), sim, n);
      } catch (IOException e) {
        throw new UncheckedIOException(e); // in memory: not expected
      }
    }

    /**
     * Item i's nearest items as the graph finds them with this beam (at most {@code count}, nearest
     * first by the graph's score; i itself among them). Safe to call from several threads.
     */
    public int[] nearest(int i, int beam, int count) {
      if (i < 0 || i >= n) throw new IllegalArgumentException("HNSW index: item " + i + " is outside [0, " + n + ")");
      if (beam < 1 || count < 1) throw new IllegalArgumentException("HNSW index: beam and count must be positive");
      try {
        ScoreDoc[] near = HnswGraphSearcher.search(scorers.copy().scorer(i), Math.min(n, beam), graph, null,
            Integer.MAX_VALUE).topDocs().scoreDocs;
        int[] out = new int[Math.min(count, near.length)];
        for (int r = 0; r < out.length; r++) out[r] = near[r].doc;
        return out;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** The graph's heap size as Lucene counts it. */
    public long bytes() {
      return graph.ramBytesUsed();
    }
  }

  /**
   * Builds the graph; meanwhile a watcher thread shows the graph's size (the items inserted so far)
   * on {@code line} (every progressSeconds, polled at most once a second; null: no line, no thread).
   * Lucene's builders ask for a scorer per item and for many of its neighbours, so the graph's own
   * count is the one to show.
   */
  private static OnHeapHnswGraph build(RandomVectorScorerSupplier scorers, int n, Candidates c, ProgressLine line,
      double progressSeconds) throws IOException {
    int beam = Math.min(c.ef(), n); // a wider beam cannot find more, only allocate more
    HnswGraphBuilder single = HnswGraphBuilder.create(scorers, c.m(), beam, SEED, n);
    OnHeapHnswGraph graph = single.getGraph();
    long pollMillis = (long) Math.max(1, Math.min(1000, progressSeconds * 1000));
    Thread watcher = line == null ? null : new Thread(() -> {
      try {
        while (!Thread.currentThread().isInterrupted()) {
          Thread.sleep(pollMillis);
          line.update(graph.size());
        }
      } catch (InterruptedException e) {
        // the build is over
      }
    }, "reid4j-hnsw-progress");
    if (watcher != null) {
      watcher.setDaemon(true);
      watcher.start();
    }
    try {
      int threads = Runtime.getRuntime().availableProcessors();
      if (n < CONCURRENT_FROM || threads < 2) return single.build(n);
      ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
        Thread t = new Thread(r, "reid4j-hnsw-build");
        t.setDaemon(true);
        return t;
      });
      try {
        return new HnswConcurrentMergeBuilder(new TaskExecutor(pool), threads, scorers, c.m(), beam, graph, null)
            .build(n);
      } finally {
        pool.shutdownNow();
      }
    } finally {
      if (watcher != null) watcher.interrupt();
    }
  }

  /** Items done across threads, shown by a {@link ProgressLine} every {@link #PROGRESS_EVERY} items. */
  private static final class Counter {
    private final AtomicLong done = new AtomicLong();
    private final ProgressLine line;

    Counter(ProgressLine line) {
      this.line = line;
    }

    void add() {
      long now = done.incrementAndGet();
      if (now % PROGRESS_EVERY == 0) line.update(now);
    }
  }

  /** Every distance of item i's row into cand/cd; returns n. */
  private static int fullRow(KReciprocal.ItemDistance exact, int n, int i, int[] cand, float[] cd) {
    for (int j = 0; j < n; j++) {
      cand[j] = j;
      cd[j] = exact.between(i, j);
    }
    return n;
  }

  /** Items all non-null, non-empty and of item 0's length (an empty list passes); errors start with {@code what}. */
  private static void requireItems(List<float[]> items, String what) {
    if (items == null) throw new IllegalArgumentException(what + ": items are null");
    for (int i = 0; i < items.size(); i++)
      if (items.get(i) == null || items.get(i).length == 0 || items.get(i).length != items.get(0).length)
        throw new IllegalArgumentException(what + ": item " + i + " is null, empty or not of item 0's length");
  }

  /** The position among the size candidates of the largest distance (the smallest item among equals). */
  private static int farthest(int[] cand, float[] cd, int size) {
    int best = 0;
    for (int r = 1; r < size; r++)
      if (cd[r] > cd[best] || (cd[r] == cd[best] && cand[r] < cand[best])) best = r;
    return best;
  }

  /**
   * Sorts the size candidates (distinct items) by (distance, index) and writes the first length to
   * idx/dist from {@code at}.
   */
  static void sortedPrefix(int[] cand, float[] cd, int size, int length, int[] idx, float[] dist, int at) {
    long[] keys = new long[size];
    for (int r = 0; r < size; r++) {
      // distances are >= 0, so their float bits order as the floats do
      keys[r] = ((long) Float.floatToIntBits(cd[r]) << 32) | cand[r];
    }
    Arrays.sort(keys);
    for (int r = 0; r < length; r++) {
      idx[at + r] = (int) keys[r];
      dist[at + r] = Float.intBitsToFloat((int) (keys[r] >>> 32));
    }
  }

  private static float[] unit(float[] r) {
    double s = 0;
    for (float v : r) s += (double) v * v;
    if (s == 0) return r;
    float inv = (float) (1 / Math.sqrt(s));
    float[] u = new float[r.length];
    for (int k = 0; k < r.length; k++) u[k] = r[k] * inv;
    return u;
  }
}
