package org.reid4j.gallery;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.reid4j.io.AtomicFiles;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/**
 * A persistent, searchable set of features in one folder; see the package documentation for what
 * it promises and how it lays out its files. Thread-safe: writers take a short lock (their fsyncs
 * are shared, not serialised), searches take no lock at all.
 */
public final class Gallery implements AutoCloseable {
  static final String LOCK_FILE = "LOCK";

  private final Path dir;
  private final GalleryOptions options;
  private final WriteAheadLog.Force force; // null: fsync off
  private final int dim;
  private final Kernels kernels;
  private final Searcher searcher;
  private final FileChannel lockChannel;
  private final RecoveryReport recovery;
  private final AtomicLong forces = new AtomicLong();
  private final ReentrantLock lock = new ReentrantLock();

  // Guarded by lock. The in-memory state holds only durable changes: a record is applied once the
  // log is forced past it, in log order, so searches and get never see an unacknowledged write.
  private WriteAheadLog log;
  private long generation;
  private List<Segment> segments = new ArrayList<>();
  private Delta delta;
  private final HashMap<String, Loc> ids = new HashMap<>();
  private final ArrayDeque<Pending> pending = new ArrayDeque<>();
  private long seq;
  /** The neighbour graph kept for re-ranking searches; null until one asks for it. */
  private GraphEditor graph;
  private volatile boolean closed;
  private Throwable failure;

  private volatile Snapshot current;

  /** Where an id's live row is: a segment row, or a delta row when seg is null. */
  private record Loc(Segment seg, int row) {}

  /** A logged change waiting for its force; applied (and answered) in log order. */
  private static final class Pending {
    final WriteAheadLog log;
    final long end;
    final Item item;
    final String removedId;
    boolean applied, existed;

    Pending(WriteAheadLog log, long end, Item item, String removedId) {
      this.log = log;
      this.end = end;
      this.item = item;
      this.removedId = removedId;
    }
  }

  private Gallery(Path dir, GalleryOptions options, WriteAheadLog.Force force, FileChannel lockChannel, Manifest m)
      throws IOException {
    this.dir = dir;
    this.options = options;
    this.force = options.fsync() ? force : null;
    this.dim = options.dimension();
    this.lockChannel = lockChannel;
    this.kernels = Kernels.create(options.backend());
    this.searcher = new Searcher(kernels, options.metric(), dim, options.blockRows());
    this.generation = m.generation();
    this.delta = new Delta(dim);
    boolean ok = false;
    try {
      for (Manifest.Entry e : m.segments()) {
        Segment s = Segment.open(dir, e.name(), dim, e.rows());
        for (int r : e.deleted()) Snapshot.kill(s.dead, r, 0);
        for (int r = 0; r < s.rows; r++) if (s.dead[r] == Snapshot.LIVE) ids.put(s.metas[r].id(), new Loc(s, r));
        segments.add(s);
        s.mirrorOn(kernels, options.metric(), options.packedRows());
      }
      WriteAheadLog.Opened o = WriteAheadLog.open(dir.resolve(m.log()), this.force, forces,
          payload -> {
            Codec.Op op = Codec.decode(payload, dim);
            if (op.item() != null) checkFeature(op.item().id(), op.item().featureRef());
            apply(op.item(), op.removedId());
          });
      this.log = o.log();
      this.recovery = o.report();
      publish();
      removeUnreferenced(m);
      ok = true;
    } finally {
      if (!ok) for (Segment s : segments) s.closeMirror();
    }
  }

  /**
   * Opens the gallery in {@code dir}, creating it (and the folder) if there is none. Replays the
   * write-ahead log; see {@link #recoveryReport()} for what that found. Only one Gallery may have a
   * folder open at a time, across processes.
   *
   * @throws IllegalArgumentException if the folder holds a gallery of another dimension or metric
   * @throws IllegalStateException if the gallery is open elsewhere
   */
  public static Gallery open(Path dir, GalleryOptions options) throws IOException {
    return open(dir, options, WriteAheadLog.Force.FSYNC);
  }

  /** {@link #open(Path, GalleryOptions)} with the log made durable by {@code force} (tests slow it down). */
  static Gallery open(Path dir, GalleryOptions options, WriteAheadLog.Force force) throws IOException {
    AtomicFiles.createFolder(dir);
    Path lockPath = dir.resolve(LOCK_FILE);
    FileChannel lockChannel = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    boolean ok = false;
    try {
      FileLock fl;
      try {
        fl = lockChannel.tryLock();
      } catch (OverlappingFileLockException e) {
        fl = null;
      }
      if (fl == null)
        throw new IllegalStateException("the gallery in " + dir + " is already open (" + lockPath + " is locked by"
            + " another process or another Gallery in this one); close that first");
      Manifest m;
      if (Files.exists(dir.resolve(Manifest.FILE))) {
        m = Manifest.read(dir);
        if (m.dimension() != options.dimension())
          throw new IllegalArgumentException("the gallery in " + dir + " has dimension " + m.dimension()
              + ", the options say " + options.dimension());
        if (!m.metric().equals(options.metric().name()))
          throw new IllegalArgumentException("the gallery in " + dir + " was created with metric "
              + m.metric() + ", the options say " + options.metric().name());
      } else {
        m = new Manifest(1, options.dimension(), options.metric().name(), 1, logName(1), List.of());
        Files.deleteIfExists(dir.resolve(m.log()));
        Files.createFile(dir.resolve(m.log()));
        m.write(dir);
      }
      Gallery g = new Gallery(dir, options, force, lockChannel, m);
      ok = true;
      return g;
    } finally {
      if (!ok) lockChannel.close();
    }
  }

  /**
   * Opens an existing gallery with the dimension and metric it was created with (and default
   * options otherwise); a folder without a gallery is an error, not a new gallery.
   */
  public static Gallery open(Path dir) throws IOException {
    return open(dir, storedOptions(dir).orElseThrow(() -> new IllegalArgumentException(dir + " holds no gallery (no "
        + Manifest.FILE + "); make one with Gallery.open(dir, options) or reid4j gallery import")));
  }

  /**
   * Default options with the dimension and metric of the gallery in {@code dir}, to change (the
   * backend, say) before {@link #open(Path, GalleryOptions)}; empty when the folder holds no gallery.
   */
  public static Optional<GalleryOptions> storedOptions(Path dir) throws IOException {
    if (!Files.exists(dir.resolve(Manifest.FILE))) return Optional.empty();
    Manifest m = Manifest.read(dir);
    return Optional.of(GalleryOptions.of(m.dimension()).metric(Metric.valueOf(m.metric())));
  }

  /** Counts for {@code reid4j gallery info} and monitoring. */
  public record Stats(int items, int dimension, Metric metric, int segments, long segmentRows, long deletedRows,
      int logRows, long logBytes) {}

  /** The gallery's counts as of the latest acknowledged change. */
  public Stats stats() {
    lock.lock();
    try {
      checkOpen();
      long segRows = 0, deleted = 0;
      for (Segment sg : segments) {
        segRows += sg.rows;
        deleted += sg.deadCount();
      }
      int logRows = 0;
      for (int r = 0; r < delta.count; r++) if (delta.dead[r] == Snapshot.LIVE) logRows++;
      return new Stats(ids.size(), dim, options.metric(), segments.size(), segRows, deleted, logRows, log.size());
    } finally {
      lock.unlock();
    }
  }

  /** What replaying the log found when this gallery was opened. */
  public RecoveryReport recoveryReport() {
    return recovery;
  }

  public Metric metric() {
    return options.metric();
  }

  /** Where the re-ranking neighbour graph's lists come from ({@link GalleryOptions#index}). */
  public org.reid4j.eval.rerank.Candidates neighbourIndex() {
    return options.index();
  }

  public int dimension() {
    return dim;
  }

  /** Adds an item, replacing any item with the same id; returns once the change is on disk. */
  public void add(Item item) {
    addAll(List.of(item));
  }

  /**
   * Adds items in order (a later one replaces an earlier one with the same id); returns once all
   * are on disk. Every item is checked before any is written; a crash part-way may keep a prefix.
   */
  public void addAll(Collection<Item> items) {
    List<Change> changes = new ArrayList<>(items.size());
    for (Item it : items) {
      if (it == null) throw new IllegalArgumentException("item is null");
      checkFeature(it.id(), it.featureRef());
      changes.add(new Change(it, null, Codec.put(it)));
    }
    commit(changes);
  }

  /** Removes the item with this id; returns whether there was one, once the change is on disk. */
  public boolean remove(String id) {
    Item.checkString(id, "id", "item id", Item.MAX_ID_BYTES);
    return commit(List.of(new Change(null, id, Codec.remove(id)))).get(0).existed;
  }

  /** The item with this id, as of the latest acknowledged change. */
  public Optional<Item> get(String id) {
    lock.lock();
    try {
      checkOpen();
      Loc loc = ids.get(id);
      if (loc == null) return Optional.empty();
      float[] f = new float[dim];
      RowMeta m;
      if (loc.seg == null) {
        System.arraycopy(delta.features, loc.row * dim, f, 0, dim);
        m = delta.metas[loc.row];
      } else {
        loc.seg.copyRow(loc.row, f, 0);
        m = loc.seg.metas[loc.row];
      }
      return Optional.of(new Item(m.id(), f, m.pid(), m.camid(), m.attributes()));
    } finally {
      lock.unlock();
    }
  }

  /** How many items the gallery holds. */
  public int size() {
    lock.lock();
    try {
      checkOpen();
      return ids.size();
    } finally {
      lock.unlock();
    }
  }

  /**
   * The k best items for each query (see {@link SearchOptions}), on a consistent snapshot. With
   * {@link SearchOptions#rerank re-ranking}, each query is re-ranked on its own against the
   * neighbour graph of that snapshot; the first such search (or one with another k1) builds the
   * graph first, under the writer lock (writers wait, other searches do not).
   *
   * @throws IllegalStateException with re-ranking, if the gallery is empty
   */
  public List<List<Hit>> search(float[][] queries, SearchOptions options) {
    if (options == null) throw new IllegalArgumentException("search options are null");
    FloatMatrix q = queryMatrix(queries);
    if (options.rerank() != null) {
      NeighbourGraph g = graphFor(options.rerank().k1());
      List<List<Hit>> out = new ArrayList<>(queries.length);
      for (int i = 0; i < queries.length; i++) out.add(OnlineRerank.search(g, q.row(i), options));
      return out;
    }
    return searcher.search(searchSnapshot(), q, options);
  }

  /** The queries as one matrix, after checking that each has the gallery's dimension and finite values. */
  FloatMatrix queryMatrix(float[][] queries) {
    if (queries == null) throw new IllegalArgumentException("queries is null");
    FloatMatrix q = FloatMatrix.zeros(queries.length, dim);
    for (int i = 0; i < queries.length; i++) {
      if (queries[i] == null) throw new IllegalArgumentException("query " + i + " is null");
      if (queries[i].length != dim)
        throw new IllegalArgumentException("query " + i + " has " + queries[i].length + " values, the gallery's"
            + " dimension is " + dim);
      for (int c = 0; c < dim; c++)
        if (!Float.isFinite(queries[i][c]))
          throw new IllegalArgumentException("query " + i + " has a non-finite value (" + queries[i][c]
              + ") at index " + c);
      System.arraycopy(queries[i], 0, q.data(), i * dim, dim);
    }
    Checks.requireUsable(q, "queries");
    return q;
  }

  /** What a search starting now sees. */
  Snapshot searchSnapshot() {
    Snapshot s = current;
    if (closed) throw new IllegalStateException("the gallery in " + dir + " is closed");
    return s;
  }

  Searcher searcher() {
    return searcher;
  }

  /** The k best items for one query. */
  public List<Hit> search(float[] query, SearchOptions options) {
    return search(new float[][] {query}, options).get(0);
  }

  /**
   * Builds the neighbour graph for re-ranking with this k1 now (replacing one with another k1),
   * rather than on the first re-ranking search. Takes the writer lock for the build: about N^2 d
   * distance work on the kernels (seconds for 16,000 items of d 2048 on two cores), or with an HNSW
   * {@link GalleryOptions#index} a Lucene graph's build and N searches (approximate lists). The graph is
   * then kept exact under every add and remove, except that a batch of more than
   * max(64, items / 32) changes between two publications drops it (one rebuild is cheaper than
   * that many incremental passes); the next re-ranking search rebuilds it. It lives on the heap
   * only and is rebuilt after the gallery is reopened.
   */
  public void buildNeighbours(int k1) {
    buildNeighbours(k1, null);
  }

  /**
   * As {@link #buildNeighbours(int)}, reporting progress lines to {@code progress} (null: none):
   * with an HNSW {@link GalleryOptions#index}, the graph's build and search every few seconds.
   */
  public void buildNeighbours(int k1, Consumer<String> progress) {
    if (k1 < 1) throw new IllegalArgumentException("re-ranking k1 must be at least 1, got " + k1);
    lock.lock();
    try {
      checkOpen();
      graph = new GraphEditor(buildGraph(k1, progress));
      publish();
    } finally {
      lock.unlock();
    }
  }

  /** The current graph if it has this k1, else a new one (built under the lock). */
  private NeighbourGraph graphFor(int k1) {
    NeighbourGraph g = current.graph();
    if (closed) throw new IllegalStateException("the gallery in " + dir + " is closed");
    if (g != null && g.k1 == k1) return g;
    lock.lock();
    try {
      checkOpen();
      if (graph == null || graph.k1() != k1) {
        graph = new GraphEditor(buildGraph(k1, null));
        publish();
      }
      return current.graph();
    } finally {
      lock.unlock();
    }
  }

  /** The live items in search order (segments, then the delta), as a new graph. Under the lock. */
  private NeighbourGraph buildGraph(int k1, Consumer<String> progress) {
    List<RowMeta> metas = new ArrayList<>();
    List<float[]> feats = new ArrayList<>();
    for (Segment sg : segments)
      for (int r = 0; r < sg.rows; r++)
        if (Snapshot.deadAt(sg.dead, r) == Snapshot.LIVE) {
          float[] f = new float[dim];
          sg.copyRow(r, f, 0);
          metas.add(sg.metas[r]);
          feats.add(f);
        }
    for (int r = 0; r < delta.count; r++)
      if (Snapshot.deadAt(delta.dead, r) == Snapshot.LIVE) {
        metas.add(delta.metas[r]);
        feats.add(java.util.Arrays.copyOfRange(delta.features, r * dim, (r + 1) * dim));
      }
    return NeighbourGraph.build(metas, feats, options.metric(), kernels, k1, options.blockRows(), options.index(),
        progress);
  }

  /** The graph of the current snapshot, or null (for tests). */
  NeighbourGraph neighbourGraph() {
    return current.graph();
  }

  /** Moves the log's changes into a segment now (as happens when the log outgrows its threshold). */
  public void checkpoint() {
    withLock(() -> checkpointLocked(false));
  }

  /** Rewrites all segments into one without deleted rows (also done automatically; see GalleryOptions). */
  public void compact() {
    withLock(() -> checkpointLocked(true));
  }

  /** Checkpoints and releases the folder. Idempotent. */
  @Override
  public void close() throws IOException {
    lock.lock();
    try {
      if (closed) return;
      try {
        if (failure == null && (log.size() > 0 || !pending.isEmpty())) checkpointLocked(false);
      } finally {
        closed = true;
        for (Segment s : segments) s.closeMirror(); // after the searches using them
        log.close();
        lockChannel.close();
      }
    } finally {
      lock.unlock();
    }
  }

  /** Drops the gallery as a crash would: no checkpoint, files left as they are (for tests of recovery). */
  void abandon() throws IOException {
    lock.lock();
    try {
      closed = true;
      for (Segment s : segments) s.closeMirror();
      log.close();
      lockChannel.close();
    } finally {
      lock.unlock();
    }
  }

  /** How many times the log has been forced (for tests of group commit). */
  long logForces() {
    return forces.get();
  }

  /** The segments of the current snapshot (for tests). */
  List<Segment> currentSegments() {
    return current.segments();
  }

  /** How many segments the current snapshot has (for tests). */
  int segmentCount() {
    return current.segments().size();
  }

  // ---- writing ----

  /** A put (item set) or a remove (removedId set) with its log record. */
  private record Change(Item item, String removedId, byte[] record) {}

  /** Logs the changes, waits for the (shared) force past them, applies and publishes them. */
  private List<Pending> commit(List<Change> changes) {
    List<Pending> mine = new ArrayList<>(changes.size());
    lock.lock();
    try {
      checkOpen();
      for (Change c : changes) {
        long end = log.append(c.record());
        Pending p = new Pending(log, end, c.item(), c.removedId());
        pending.add(p);
        mine.add(p);
      }
    } catch (IOException e) {
      throw fail(e);
    } finally {
      lock.unlock();
    }
    if (mine.isEmpty()) return mine;
    Pending last = mine.get(mine.size() - 1);
    try {
      last.log.sync(last.end);
    } catch (IOException e) {
      lock.lock();
      try {
        throw fail(e);
      } finally {
        lock.unlock();
      }
    }
    lock.lock();
    try {
      applyDurable();
      if (failure == null && !closed && log.size() > options.checkpointBytes()) checkpointLocked(false);
    } finally {
      lock.unlock();
    }
    return mine;
  }

  /** Applies every pending change the log has forced, in order, and publishes the result. */
  private void applyDurable() {
    boolean any = false;
    while (!pending.isEmpty() && pending.peek().end <= pending.peek().log.forcedOffset()) {
      Pending p = pending.poll();
      p.existed = apply(p.item, p.removedId);
      p.applied = true;
      any = true;
    }
    if (any) publish();
  }

  /** One change to the in-memory state; returns whether the id existed before. */
  private boolean apply(Item item, String removedId) {
    seq++;
    String id = item != null ? item.id() : removedId;
    Loc old = item != null ? ids.get(id) : ids.remove(id);
    if (old != null) Snapshot.kill(old.seg == null ? delta.dead : old.seg.dead, old.row, seq);
    if (item != null) ids.put(id, new Loc(null, delta.append(RowMeta.of(item), item.featureRef())));
    if (graph != null && (old != null || item != null)) {
      if (graph.changes() >= Math.max(64, graph.live() / 32)) graph = null; // rebuilt on the next re-ranking search
      else {
        if (old != null) graph.remove(id);
        if (item != null) graph.add(RowMeta.of(item), item.featureRef().clone());
      }
    }
    return old != null;
  }

  private void publish() {
    current = new Snapshot(seq, List.copyOf(segments), delta.view(), graph == null ? null : graph.freeze());
  }

  /**
   * Forces and applies everything logged, writes the delta's live rows as a new segment (and, when
   * asked or when deleted rows pass the threshold, rewrites all segments into one), starts a new
   * log, and makes that state durable by replacing the manifest. Files no longer named are removed.
   */
  private void checkpointLocked(boolean forceCompact) {
    checkOpen();
    try {
      log.sync(log.size());
      applyDurable();
      long gen = generation;
      List<Segment> next = new ArrayList<>(segments);
      int[] live = new int[delta.count];
      int n = 0;
      for (int r = 0; r < delta.count; r++) if (Snapshot.deadAt(delta.dead, r) == Snapshot.LIVE) live[n++] = r;
      if (n > 0) {
        Delta d = delta;
        int[] rows = live;
        next.add(Segment.write(dir, segmentName(++gen), dim, n, i -> d.metas[rows[i]],
            (i, dst, off) -> System.arraycopy(d.features, rows[i] * dim, dst, off, dim)));
      }
      long total = 0, dead = 0;
      for (Segment s : next) {
        total += s.rows;
        dead += s.deadCount();
      }
      if ((forceCompact && (dead > 0 || next.size() > 1)) || dead > options.compactFraction() * total)
        next = List.of(merge(next, segmentName(++gen)));
      String logName = logName(++gen);
      Files.deleteIfExists(dir.resolve(logName));
      Files.createFile(dir.resolve(logName));
      Manifest.forceFolder(dir);
      List<Manifest.Entry> entries = new ArrayList<>();
      for (Segment s : next) {
        int[] del = new int[s.rows];
        int nd = 0;
        for (int r = 0; r < s.rows; r++) if (Snapshot.deadAt(s.dead, r) != Snapshot.LIVE) del[nd++] = r;
        entries.add(new Manifest.Entry(s.name, s.rows, java.util.Arrays.copyOf(del, nd)));
      }
      Manifest m = new Manifest(1, dim, options.metric().name(), gen, logName, entries);
      m.write(dir);
      // The new state is durable; switch to it.
      log.close();
      WriteAheadLog.Opened o = WriteAheadLog.open(dir.resolve(logName), force, forces, p -> {
        throw new IllegalStateException("a new log is not empty");
      });
      log = o.log();
      generation = gen;
      List<Segment> dropped = new ArrayList<>(segments);
      dropped.removeAll(next);
      segments = next;
      for (Segment s : next) s.mirrorOn(kernels, options.metric(), options.packedRows()); // the new ones: uploaded once
      delta = new Delta(dim);
      ids.clear();
      for (Segment s : segments)
        for (int r = 0; r < s.rows; r++)
          if (Snapshot.deadAt(s.dead, r) == Snapshot.LIVE) ids.put(s.metas[r].id(), new Loc(s, r));
      seq++;
      publish();
      for (Segment s : dropped) s.closeMirror(); // searches of older snapshots still using one finish first
      removeUnreferenced(m);
    } catch (IOException e) {
      throw fail(e);
    }
  }

  /** One segment with the live rows of all, in their order. */
  private Segment merge(List<Segment> from, String name) throws IOException {
    List<Segment> src = new ArrayList<>();
    List<Integer> rows = new ArrayList<>();
    for (Segment s : from)
      for (int r = 0; r < s.rows; r++)
        if (Snapshot.deadAt(s.dead, r) == Snapshot.LIVE) {
          src.add(s);
          rows.add(r);
        }
    return Segment.write(dir, name, dim, rows.size(), i -> src.get(i).metas[rows.get(i)],
        (i, dst, off) -> src.get(i).copyRow(rows.get(i), dst, off));
  }

  /** Deletes segment and log files the manifest does not name, and stale temporary files. */
  private void removeUnreferenced(Manifest m) throws IOException {
    Set<String> keep = new HashSet<>();
    keep.add(m.log());
    for (Manifest.Entry e : m.segments()) {
      keep.add(e.name() + Segment.FEATURES);
      keep.add(e.name() + Segment.META);
    }
    try (var files = Files.list(dir)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        String f = p.getFileName().toString();
        if (f.matches("(seg-\\d+\\.(f32|meta))|(wal-\\d+\\.log)") && !keep.contains(f)) Files.deleteIfExists(p);
      }
    }
    AtomicFiles.removeStale(dir);
  }

  // ---- checks ----

  private void checkFeature(String id, float[] f) {
    if (f.length != dim)
      throw new IllegalArgumentException("item '" + id + "': feature has " + f.length + " values, the gallery's"
          + " dimension is " + dim);
    double sq = 0;
    for (int c = 0; c < dim; c++) {
      if (!Float.isFinite(f[c]))
        throw new IllegalArgumentException("item '" + id + "': feature has a non-finite value (" + f[c]
            + ") at index " + c);
      sq += (double) f[c] * f[c];
    }
    if (sq > Checks.MAX_SQUARED_NORM)
      throw new IllegalArgumentException("item '" + id + "': feature's squared norm " + sq + " is beyond what"
          + " float32 distances can hold; L2-normalise or scale the features");
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("the gallery in " + dir + " is closed");
    if (failure != null)
      throw new IllegalStateException("the gallery in " + dir + " stopped after a write failed (" + failure
          + "); reopen it to recover from its log", failure);
  }

  private RuntimeException fail(IOException e) {
    failure = e;
    return new UncheckedIOException("gallery " + dir + ": write failed; the gallery accepts no more changes", e);
  }

  private void withLock(Runnable r) {
    lock.lock();
    try {
      r.run();
    } finally {
      lock.unlock();
    }
  }

  private static String segmentName(long gen) {
    return String.format("seg-%06d", gen);
  }

  private static String logName(long gen) {
    return String.format("wal-%06d.log", gen);
  }
}
