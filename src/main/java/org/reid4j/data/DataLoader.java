package org.reid4j.data;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Decodes and transforms batches on worker threads, keeping at most {@code prefetch} batches in
 * flight, and hands them out in order. Each image gets its own random stream, seeded from (loader
 * seed, batch index, position in the batch), so the batches do not depend on the number of workers or
 * on thread timing: 1 worker and 8 give identical results. With 0 workers the work runs on the
 * calling thread.
 *
 * <p>An image that fails to load (missing, corrupt, empty) never ends the run: it is reported once per
 * image and source with one line on stderr, counted in {@link #skippedImages()}, and, in a training
 * loader, replaced by a copy of another (already transformed) image of the same pid from the same
 * batch; with no such image, or in a {@link #sequential} loader, it is dropped, so the batch is
 * smaller ({@link Batch#indices()} lists what was kept). A batch left empty is not delivered. Other
 * exceptions (a transform bug) are thrown from {@link #next()}.
 *
 * <p>Memory: up to {@code prefetch} decoded batches. {@link #close()} stops the workers (they are
 * daemon threads, so a forgotten loader does not keep the JVM alive).
 */
public final class DataLoader implements AutoCloseable, Iterator<Batch> {
  private static final AtomicInteger IDS = new AtomicInteger();
  /** Images already warned about, per source, so a bad file is reported once per run, not per epoch. */
  private static final Map<ImageSource, Set<Integer>> WARNED = Collections.synchronizedMap(new WeakHashMap<>());

  private final ImageSource src;
  private final List<int[]> batches;
  private final Transform transform;
  private final long seed;
  private final int prefetch;
  private final boolean replaceFailed;
  private final ExecutorService pool; // null when workers == 0
  private final Executor executor;
  private final ArrayDeque<CompletableFuture<Object>[]> inFlight = new ArrayDeque<>();
  private final String threadPrefix;
  private final AtomicLong skipped = new AtomicLong();
  private int submitted, taken; // batch indices: next to submit, next to assemble
  private Batch ready;
  private volatile boolean closed;

  /**
   * A loader over the given batches (indices into src), e.g. one epoch of a {@link PKSampler}.
   * workers >= 0 threads, prefetch >= 1 batches in flight.
   */
  public DataLoader(ImageSource src, List<int[]> batches, Transform t, int workers, int prefetch, long seed) {
    this(src, batches, t, workers, prefetch, seed, true);
  }

  private DataLoader(ImageSource src, List<int[]> batches, Transform t, int workers, int prefetch, long seed,
      boolean replaceFailed) {
    if (workers < 0) throw new IllegalArgumentException("workers must be >= 0, got " + workers);
    if (prefetch < 1) throw new IllegalArgumentException("prefetch must be >= 1, got " + prefetch);
    this.src = src;
    this.batches = List.copyOf(batches);
    this.transform = t;
    this.seed = seed;
    this.prefetch = prefetch;
    this.replaceFailed = replaceFailed;
    this.threadPrefix = "reid4j-loader-" + IDS.incrementAndGet() + "-";
    if (workers == 0) {
      pool = null;
      executor = Runnable::run;
    } else {
      AtomicInteger n = new AtomicInteger();
      pool = Executors.newFixedThreadPool(workers, r -> {
        Thread th = new Thread(r, threadPrefix + n.getAndIncrement());
        th.setDaemon(true);
        return th;
      });
      executor = pool;
    }
    fill();
  }

  /**
   * A test-time loader over all of src in index order, batchSize images per batch; images that fail
   * to load are reported and left out (the batch's indices say which were kept).
   */
  public static DataLoader sequential(ImageSource src, int batchSize, Transform t, int workers) {
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    List<int[]> batches = new ArrayList<>();
    for (int from = 0; from < src.size(); from += batchSize) {
      int[] b = new int[Math.min(batchSize, src.size() - from)];
      for (int i = 0; i < b.length; i++) b[i] = from + i;
      batches.add(b);
    }
    return new DataLoader(src, batches, t, workers, Math.max(2, 2 * workers), 0L, false);
  }

  /** Number of batches this loader was given (empty ones are not delivered). */
  public int numBatches() {
    return batches.size();
  }

  /** Image loads that failed so far (each replaced or dropped). */
  public long skippedImages() {
    return skipped.get();
  }

  /** The prefix of this loader's worker thread names, for diagnostics. */
  public String threadNamePrefix() {
    return threadPrefix;
  }

  @Override
  public boolean hasNext() {
    if (closed) return false;
    while (ready == null && taken < batches.size()) {
      Batch b = assemble(taken, await(inFlight.poll()));
      taken++;
      fill();
      if (b.size() > 0) ready = b;
    }
    return ready != null;
  }

  @Override
  public Batch next() {
    if (!hasNext()) throw new NoSuchElementException(closed ? "the loader is closed" : "no more batches");
    Batch b = ready;
    ready = null;
    return b;
  }

  @Override
  public void close() {
    closed = true;
    for (CompletableFuture<Object>[] fs : inFlight) for (CompletableFuture<Object> f : fs) f.cancel(true);
    inFlight.clear();
    if (pool != null) {
      pool.shutdownNow();
      try {
        pool.awaitTermination(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** True once close() has run and every worker thread has ended. */
  public boolean isTerminated() {
    return closed && (pool == null || pool.isTerminated());
  }

  private void fill() {
    while (!closed && submitted < batches.size() && submitted - taken < prefetch) {
      int b = submitted++;
      int[] idx = batches.get(b);
      @SuppressWarnings("unchecked")
      CompletableFuture<Object>[] fs = new CompletableFuture[idx.length];
      for (int j = 0; j < idx.length; j++) {
        int pos = j;
        fs[j] = CompletableFuture.supplyAsync(() -> loadOne(b, pos, idx[pos]), executor);
      }
      inFlight.add(fs);
    }
  }

  /** The transformed image, or the IOException that stopped it (returned, not thrown). */
  private Object loadOne(int batch, int pos, int index) {
    if (closed) return null;
    try {
      FloatImage img = src.load(index);
      return transform.apply(img, new SplittableRandom(imageSeed(seed, batch, pos)));
    } catch (IOException e) {
      return e;
    }
  }

  /** The random seed of the image at position pos of batch b. */
  static long imageSeed(long seed, int batch, int pos) {
    return PKSampler.mix(PKSampler.mix(seed, batch), pos);
  }

  private Object[] await(CompletableFuture<Object>[] fs) {
    Object[] out = new Object[fs.length];
    for (int j = 0; j < fs.length; j++) {
      try {
        out[j] = fs[j].get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for a batch", e);
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        if (c instanceof RuntimeException r) throw r;
        if (c instanceof Error err) throw err;
        throw new IllegalStateException("loading failed", c);
      }
    }
    return out;
  }

  private Batch assemble(int b, Object[] results) {
    int[] idx = batches.get(b);
    int n = idx.length;
    FloatImage[] imgs = new FloatImage[n];
    int[] from = new int[n]; // source position of each kept slot (a replacement copies another position)
    for (int j = 0; j < n; j++) {
      if (results[j] instanceof FloatImage f) imgs[j] = f;
      else if (results[j] instanceof IOException e) warn(idx[j], e);
    }
    List<Integer> kept = new ArrayList<>();
    for (int j = 0; j < n; j++) {
      if (imgs[j] != null) {
        from[j] = j;
        kept.add(j);
        continue;
      }
      skipped.incrementAndGet();
      if (!replaceFailed) continue;
      int pid = src.pid(idx[j]);
      for (int d = 1; d < n; d++) { // nearest loaded image of the same pid, later positions first
        int r = j + d < n ? j + d : -1, l = j - d;
        int hit = r >= 0 && imgs[r] != null && src.pid(idx[r]) == pid ? r
            : l >= 0 && imgs[l] != null && src.pid(idx[l]) == pid ? l : -1;
        if (hit >= 0) {
          from[j] = hit;
          kept.add(j);
          break;
        }
        if (j + d >= n && l < 0) break;
      }
    }
    if (kept.isEmpty()) return new Batch(0, 1, 1, 1, new float[0], new int[0], new int[0], new int[0]);
    FloatImage first = imgs[from[kept.get(0)]];
    int c = first.channels(), h = first.height(), w = first.width();
    FloatImage[] parts = new FloatImage[kept.size()]; // kept apart: the consumer copies them where it needs them
    int[] pids = new int[kept.size()], cams = new int[kept.size()], indices = new int[kept.size()];
    for (int s = 0; s < kept.size(); s++) {
      int j = kept.get(s), at = from[j];
      FloatImage img = imgs[at];
      if (img.channels() != c || img.height() != h || img.width() != w)
        throw new IllegalStateException(src.describe(idx[at]) + ": transformed to " + img + " but the batch holds "
            + first + " (the transforms must give one size; check INPUT.SIZE_TRAIN / SIZE_TEST)");
      parts[s] = img;
      indices[s] = idx[at];
      pids[s] = src.pid(idx[at]);
      cams[s] = src.camid(idx[at]);
    }
    return Batch.of(parts, c, h, w, pids, cams, indices);
  }

  private void warn(int index, IOException e) {
    Set<Integer> seen = WARNED.computeIfAbsent(src, s -> ConcurrentHashMap.newKeySet());
    if (seen.add(index))
      System.err.println(("warning: skipping image " + src.describe(index) + ": " + e.getMessage()).replace('\n', ' ')
          + (replaceFailed ? " (replaced by another image of the same id in its batch where possible)" : ""));
  }
}
