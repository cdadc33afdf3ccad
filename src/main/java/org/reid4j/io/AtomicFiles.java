package org.reid4j.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes a file so that readers see either the old content or the complete new one, never a
 * half-written file: write a temporary file in the same folder, then rename it over the target.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** The writer fills the stream; on any failure the temporary file is removed and the target is untouched. */
  public interface Writer {
    void write(OutputStream out) throws IOException;
  }

  public static void write(Path target, Writer writer) throws IOException {
    Path abs = target.toAbsolutePath();
    Path dir = abs.getParent();
    if (dir != null) createFolder(dir);
    Path tmp = newTemporary(abs);
    boolean done = false;
    try {
      try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
        writer.write(out);
      }
      try {
        Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
      }
      done = true;
    } finally {
      if (!done) Files.deleteIfExists(tmp);
    }
  }

  /**
   * A new empty temporary file beside {@code target}, named {@code .NAME.RANDOM.tmp}, with the usual
   * permissions (the umask's, like any other file the user writes; Files.createTempFile would make
   * it 0600, and the renamed result unreadable to others).
   */
  public static Path newTemporary(Path target) throws IOException {
    Path abs = target.toAbsolutePath();
    Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + Long.toUnsignedString(
        java.util.concurrent.ThreadLocalRandom.current().nextLong(), 36) + TMP_SUFFIX);
    try {
      return Files.createFile(tmp);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new java.nio.file.AccessDeniedException(abs.toString(), null, "cannot write it: the folder "
          + abs.getParent() + " is not writable");
    } catch (java.nio.file.NoSuchFileException e) {
      throw new java.nio.file.NoSuchFileException(abs.toString(), null, "cannot write it: the folder "
          + abs.getParent() + " does not exist");
    }
  }

  private static final String TMP_SUFFIX = ".tmp";

  /**
   * Removes the temporary files that a killed writer left in {@code dir} ({@code .NAME.RANDOM.tmp},
   * as {@link #newTemporary} names them; nothing else). Returns how many were removed.
   */
  public static int removeStale(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) return 0;
    int n = 0;
    try (var s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String f = p.getFileName().toString();
        if (f.startsWith(".") && f.endsWith(TMP_SUFFIX) && f.matches("\\..+\\.[0-9a-z]{1,13}\\.tmp")
            && Files.isRegularFile(p) && Files.deleteIfExists(p)) n++;
      }
    }
    return n;
  }

  /** Files.createDirectories, with errors that say which part of the path is in the way. */
  public static void createFolder(Path dir) throws IOException {
    try {
      Files.createDirectories(dir);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new java.nio.file.AccessDeniedException(e.getFile(), null, "cannot make the folder " + dir + " there");
    } catch (java.nio.file.FileSystemException e) {
      // FileAlreadyExistsException, or "Not a directory": some part of the path is a file
      for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent())
        if (Files.exists(p) && !Files.isDirectory(p))
          throw new java.nio.file.FileAlreadyExistsException(p.toString(), null, "is a file, so the folder " + dir
              + " cannot be made there");
      throw e;
    }
  }

  public static void writeString(Path target, String text) throws IOException {
    write(target, out -> out.write(text.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }
}
