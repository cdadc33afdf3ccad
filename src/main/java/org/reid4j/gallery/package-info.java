/**
 * A persistent gallery: a feature index that a Java service embeds, with the durability of a
 * database and exact k-nearest search through {@link org.reid4j.kernels.Kernels}.
 *
 * <h2>What is promised</h2>
 * <ul>
 *   <li>{@link org.reid4j.gallery.Gallery#add}, {@code addAll} and {@code remove} return only once
 *       the change is in the write-ahead log and the log has been forced to disk
 *       ({@code FileChannel.force}). Concurrent writers share forces (group commit): the first
 *       waiter forces once for everything appended so far. With {@code fsync(false)} a change is
 *       acknowledged once it is in the operating system's cache: a killed process loses nothing,
 *       a power loss may lose acknowledged changes. That is for tests and bulk imports only.</li>
 *   <li>Searches and {@code get} see only acknowledged changes: a logged change is applied to the
 *       in-memory state after its force, in log order.</li>
 *   <li>Opening replays the log. A torn or damaged tail (short header, impossible length, short
 *       payload, CRC-32C mismatch, undecodable payload) is cut off at the first bad record, never
 *       loaded, and reported by {@link org.reid4j.gallery.Gallery#recoveryReport()}. Replay stops at
 *       the first bad record, so damage in the middle of a log (not a crash, a failing disk) also
 *       drops the records after it; the report says how many bytes went.</li>
 *   <li>Search is exact: every visible row that passes the camera exclusion and the attribute
 *       filters is scored. Ties in distance go to the item inserted earlier, where an item's
 *       insertion is that of its current version (replacing an item moves it to the end).</li>
 *   <li>One process (one Gallery) per folder, enforced with a lock on {@code LOCK}.</li>
 * </ul>
 *
 * <h2>On disk</h2>
 * <pre>
 * MANIFEST.json       format, dimension, metric, generation, the current log, the segments with
 *                     their deleted rows; replaced atomically (temp, force, rename, force folder)
 * wal-NNNNNN.log      records: int32 length, int32 CRC-32C of the payload, payload (see Codec)
 * seg-NNNNNN.f32      a segment's features, raw little-endian float32 [rows, dimension], mmapped
 * seg-NNNNNN.meta     its ids, pids, camids, attributes, with a CRC-32C
 * LOCK                held with FileChannel.tryLock while open
 * </pre>
 * A checkpoint (when the log passes {@code checkpointBytes}, on {@code checkpoint()} and on
 * close) writes the delta's live rows as a new segment, starts a new empty log, and replaces the
 * manifest; files the manifest no longer names are then removed (also on open, after a crash
 * part-way). When deleted rows pass {@code compactFraction} of the segment rows, the checkpoint
 * also rewrites all segments into one ({@code compact()} does so on request). Checkpoints run on
 * the writer's thread under the writer lock: writers wait for them, searches do not.
 *
 * <h2>Snapshots</h2>
 * The gallery publishes an immutable {@code Snapshot} (the segment list, a view of the in-memory
 * delta, and the number of the last applied change) through one volatile field; a search reads it
 * once and works on it without locks. Segments never change on disk; the delta only grows (by
 * copying into larger arrays); a deletion records the change number that deleted a row, which
 * snapshots taken earlier ignore. Old segment files removed by compaction stay readable to
 * searches still holding their mappings.
 *
 * <h2>Costs</h2>
 * Per row on the heap: its metadata (id, pid, camid, attributes; some 100 bytes) and an 8-byte
 * deletion mark; features stay in the mapped files, except the delta's (at most about
 * {@code checkpointBytes}). A search without exclusions or filters hands each run of visible rows
 * to the kernels in place; a filtered one copies each block of {@code blockRows} eligible rows from
 * the mapping into a heap matrix. Compaction rewrites every segment.
 *
 * <h2>On a CUDA device</h2>
 * With the CUDA backend each segment's rows are also kept on the device ({@code ResidentRows}),
 * uploaded once when the segment is opened or written (checkpoint, compaction): a search without
 * exclusions or filters sends only its queries, and runs of visible rows become row ranges of the
 * device copy. The delta and filtered searches take the host path above. A segment's device memory
 * is freed when a compaction drops it (after the searches using it; a search still holding an
 * older snapshot then reads the mapping) and when the gallery closes. Device memory per row:
 * {@code 4 * (dimension + 1)} bytes, up to twice that while a copy grows.
 *
 * <p>On the native CPU backend, {@link org.reid4j.gallery.GalleryOptions#packedRows} does the same in
 * native memory: each segment's rows are packed once for the distance kernels, and unfiltered
 * searches use that copy (results bit for bit those of the mapped path) instead of packing the
 * mapped rows on every call; about {@code 4 * (dimension + 1)} bytes a row, held until the segment is
 * dropped or the gallery closes. Off by default: the mapped segments alone need no memory of their own.
 *
 * <h2>Online re-ranking</h2>
 * {@link org.reid4j.gallery.SearchOptions#rerank SearchOptions.rerank(k1, k2, lambda)} re-ranks each
 * query's L nearest eligible items with k-reciprocal encoding against a neighbour graph of the
 * gallery: every live item's k1 nearest others, its largest distance and its weight vector V
 * ({@code NeighbourGraph}, built by {@code GraphEditor}/{@code NeighbourGraph.build}, used by
 * {@code OnlineRerank}). The graph is built on the first re-ranking search or by
 * {@link org.reid4j.gallery.Gallery#buildNeighbours}, published with each snapshot, and kept exact
 * under adds and removes (a batch of more than max(64, items / 32) changes drops it instead; the
 * next re-ranking search rebuilds it). It is not persisted: it lives on the heap (with a copy of
 * every feature, 4 d bytes per item) and is rebuilt after reopening. A query costs one pass over
 * the features plus work on its candidates and the few items around it, not an N x N pass.
 * Building it is an N x N distance pass (N^2 d) with the default {@link
 * org.reid4j.gallery.GalleryOptions#index index}; with an HNSW index (Apache Lucene's graph, its
 * candidates re-scored exactly) about N ef m d, for galleries far past 100,000 items: each item's
 * list may then miss a nearer item and its largest distance is a lower bound (with ef of N or more
 * both are exact). Adds and removes then maintain the graph as always.
 *
 * <p>Against offline re-ranking ({@code reid4j eval --rerank}, {@code KReciprocal}): each returned
 * distance equals, up to float rounding, what offline re-ranking gives for this query alone with
 * all live items as the gallery. It differs from an offline run over a query set in that the other
 * queries are not items of the graph (offline, they enter the gallery's neighbour lists,
 * reciprocal sets and maxima), only the L nearest eligible items are re-ranked (offline ranks all),
 * and each normaliser M(x) is a maximum over the gallery and this query only. See
 * {@link org.reid4j.gallery.SearchOptions#rerank(int, int, float, int)}.
 *
 * <h2>Not here yet</h2>
 * Persisting the neighbour graph (it is rebuilt after a reopen). The gallery CLI, micro-batching
 * and the HTTP API live in {@code reid4j gallery}, {@link org.reid4j.serve.BatchedSearch} and
 * {@code reid4j serve}; searches from many threads sharing the gallery's passes, in {@link SharedScan}.
 */
package org.reid4j.gallery;
