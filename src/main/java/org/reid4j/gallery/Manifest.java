package org.reid4j.gallery;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.reid4j.io.AtomicFiles;

/**
 * The one file that says what the gallery is: {@code MANIFEST.json}, naming the segments (with
 * their deleted rows) and the current write-ahead log. It is replaced atomically and durably
 * (temporary file, force, rename, force the folder), so a crash leaves either the old state or
 * the new one. Files it does not name are left-overs and are removed on open.
 *
 * @param format the layout version (1)
 * @param generation the number in the newest file names; each checkpoint takes the next one
 */
record Manifest(int format, int dimension, String metric, long generation, String log, List<Entry> segments) {
  static final String FILE = "MANIFEST.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One segment: its file name stem, row count and deleted rows (ascending). */
  record Entry(String name, int rows, int[] deleted) {}

  static Manifest read(Path dir) throws IOException {
    Manifest m = JSON.readValue(dir.resolve(FILE).toFile(), Manifest.class);
    if (m.format != 1) throw new IOException(dir.resolve(FILE) + " has format " + m.format + "; this reid4j reads 1");
    return m;
  }

  void write(Path dir) throws IOException {
    Path target = dir.resolve(FILE);
    Path tmp = AtomicFiles.newTemporary(target);
    boolean done = false;
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ByteBuffer b = ByteBuffer.wrap(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this));
        while (b.hasRemaining()) ch.write(b);
        ch.force(true);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("cannot replace " + target + " atomically on this file system", e);
      }
      done = true;
      forceFolder(dir);
    } finally {
      if (!done) Files.deleteIfExists(tmp);
    }
  }

  /** Makes the folder's entries (new, renamed and removed files) durable. */
  static void forceFolder(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}
