package org.reid4j.gallery;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.function.IntFunction;
import java.util.zip.CRC32C;
import org.reid4j.kernels.ResidentRows;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/**
 * An immutable block of rows on disk, written once at a checkpoint or compaction and never changed:
 * {@code NAME.f32} holds the features as raw little-endian float32 [rows, dimension], read through
 * read-only memory maps (so the gallery may be larger than the Java heap); {@code NAME.meta} holds
 * ids, pids, camids and attributes (magic, dimension, rows, one {@link Codec} meta per row, CRC-32C
 * of all of it), loaded onto the heap.
 *
 * <p>Deleted rows are not marked in the files: {@link #dead} says, per row, the sequence number of
 * the change that deleted it ({@link Snapshot#LIVE} while live), and the manifest lists the deleted
 * rows. Only the gallery's writer lock changes {@code dead}; readers compare it against their
 * snapshot's sequence number.
 *
 * <p>On the CUDA backend the gallery also keeps a copy of the rows on the device ({@link #mirror},
 * uploaded once by {@link #mirrorOn}; on the CPU backend, with {@link GalleryOptions#packedRows}, a
 * packed copy in native memory), which unfiltered searches use instead of the memory maps; the
 * gallery closes it when the segment leaves its list (compaction) or when it closes. A search still
 * holding an older snapshot then finds it closed and reads the memory maps instead.
 */
final class Segment {
  static final String FEATURES = ".f32", META = ".meta";
  private static final byte[] MAGIC = "R4JSEG01".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  /** Rows per memory map: one map is limited to 2 GiB, this keeps each at or under 1 GiB. */
  private final int chunkRows;

  final String name;
  final int rows, dimension;
  final RowMeta[] metas;
  final long[] dead;
  private final FloatBuffer[] chunks;
  private volatile ResidentRows mirror;

  /** Copies row r's feature into dst at off. */
  interface RowFeatures {
    void copy(int r, float[] dst, int off);
  }

  private Segment(String name, int dimension, RowMeta[] metas, FloatBuffer[] chunks, int chunkRows) {
    this.name = name;
    this.dimension = dimension;
    this.rows = metas.length;
    this.metas = metas;
    this.dead = new long[rows];
    Arrays.fill(dead, Snapshot.LIVE);
    this.chunks = chunks;
    this.chunkRows = chunkRows;
  }

  /** Writes a segment of {@code rows} rows, forces both files, and opens it. */
  static Segment write(Path dir, String name, int dimension, int rows, IntFunction<RowMeta> meta,
      RowFeatures features) throws IOException {
    Path f32 = dir.resolve(name + FEATURES);
    try (FileChannel ch = FileChannel.open(f32, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      int perBuffer = Math.max(1, (1 << 20) / (dimension * 4));
      float[] tmp = new float[perBuffer * dimension];
      ByteBuffer b = ByteBuffer.allocate(tmp.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      for (int r0 = 0; r0 < rows; r0 += perBuffer) {
        int n = Math.min(perBuffer, rows - r0);
        for (int i = 0; i < n; i++) features.copy(r0 + i, tmp, i * dimension);
        b.clear();
        b.asFloatBuffer().put(tmp, 0, n * dimension);
        b.limit(n * dimension * 4);
        while (b.hasRemaining()) ch.write(b);
      }
      ch.force(true);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(MAGIC);
    Codec.writeInt(out, dimension);
    Codec.writeInt(out, rows);
    for (int r = 0; r < rows; r++) Codec.writeMeta(out, meta.apply(r));
    CRC32C crc = new CRC32C();
    crc.update(out.toByteArray());
    Codec.writeInt(out, (int) crc.getValue());
    try (FileChannel ch = FileChannel.open(dir.resolve(name + META), StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(out.toByteArray());
      while (b.hasRemaining()) ch.write(b);
      ch.force(true);
    }
    return open(dir, name, dimension, rows);
  }

  /** Opens a segment the manifest lists with {@code rows} rows, checking both files against it. */
  static Segment open(Path dir, String name, int dimension, int rows) throws IOException {
    byte[] m = Files.readAllBytes(dir.resolve(name + META));
    if (m.length < MAGIC.length + 12 || !Arrays.equals(Arrays.copyOf(m, MAGIC.length), MAGIC))
      throw new IOException(dir.resolve(name + META) + " is not a gallery segment's metadata file");
    CRC32C crc = new CRC32C();
    crc.update(m, 0, m.length - 4);
    ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
    if ((int) crc.getValue() != b.getInt(m.length - 4))
      throw new IOException(dir.resolve(name + META) + " is damaged (checksum mismatch)");
    b.position(MAGIC.length).limit(m.length - 4);
    int dim = b.getInt(), n = b.getInt();
    if (dim != dimension || n != rows)
      throw new IOException(dir.resolve(name + META) + " holds [" + n + ", " + dim + "], the manifest says ["
          + rows + ", " + dimension + "]");
    RowMeta[] metas = new RowMeta[n];
    for (int r = 0; r < n; r++) metas[r] = Codec.readMeta(b);
    Path f32 = dir.resolve(name + FEATURES);
    int chunkRows = Math.max(1, (1 << 30) / (dimension * 4));
    FloatBuffer[] chunks = new FloatBuffer[(rows + chunkRows - 1) / chunkRows];
    try (FileChannel ch = FileChannel.open(f32, StandardOpenOption.READ)) {
      if (ch.size() != (long) rows * dimension * 4)
        throw new IOException(f32 + " has " + ch.size() + " bytes, [" + rows + ", " + dimension + "] float32 needs "
            + (long) rows * dimension * 4);
      for (int c = 0; c < chunks.length; c++) {
        long from = (long) c * chunkRows, to = Math.min(rows, from + chunkRows);
        chunks[c] = ch.map(FileChannel.MapMode.READ_ONLY, from * dimension * 4, (to - from) * dimension * 4)
            .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
      }
    }
    return new Segment(name, dimension, metas, chunks, chunkRows);
  }

  /** The first row after r's memory map (rows of one map are contiguous in memory). */
  int mapEnd(int r) {
    return Math.min(rows, (r / chunkRows + 1) * chunkRows);
  }

  /** Rows r0 .. r0+n-1 in place, as a buffer positioned at row r0 (they must lie in one map, see {@link #mapEnd}). */
  FloatBuffer rowsInPlace(int r0, int n) {
    if (n < 0 || r0 < 0 || r0 + n > mapEnd(r0)) throw new IllegalArgumentException("rows " + r0 + " + " + n
        + " cross a memory map of segment " + name);
    FloatBuffer b = chunks[r0 / chunkRows].duplicate();
    b.position((r0 % chunkRows) * dimension);
    b.limit(b.position() + n * dimension);
    return b;
  }

  /**
   * Uploads the rows to {@code kernels}' device, once (a no-op on backends without device rows, or
   * when already mirrored); with {@code packedRows}, on the native CPU backend, keeps them packed in
   * native memory instead (see {@link GalleryOptions#packedRows}). A failure (the device or the memory
   * is full, say) is logged and leaves the segment without a mirror: searches then read the memory
   * maps, as on the other backends.
   */
  void mirrorOn(Kernels kernels, Metric metric, boolean packedRows) {
    if (mirror != null || rows == 0) return;
    ResidentRows dev = null;
    try {
      dev = (packedRows ? kernels.residentRows(dimension, metric, rows) : kernels.deviceRows(dimension, metric))
          .orElse(null);
      if (dev == null) return;
      for (int r0 = 0; r0 < rows; r0 = mapEnd(r0)) dev.append(rowsInPlace(r0, mapEnd(r0) - r0), mapEnd(r0) - r0);
      mirror = dev;
    } catch (RuntimeException e) {
      if (dev != null) dev.close();
      System.getLogger(Segment.class.getName()).log(System.Logger.Level.WARNING, "gallery segment " + name
          + ": rows not kept on the device (" + e.getMessage() + "); searches read them from the memory maps");
    }
  }

  /** The rows on the device (possibly closed by now), or null. */
  ResidentRows mirror() {
    return mirror;
  }

  /** Frees the device copy, after the searches using it. Idempotent. */
  void closeMirror() {
    ResidentRows m = mirror;
    if (m != null) m.close();
  }

  void copyRow(int r, float[] dst, int off) {
    chunks[r / chunkRows].get((r % chunkRows) * dimension, dst, off, dimension);
  }

  int deadCount() {
    int n = 0;
    for (int r = 0; r < rows; r++) if (Snapshot.deadAt(dead, r) != Snapshot.LIVE) n++;
    return n;
  }
}
