package org.reid4j.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.kernels.NativeMatrix;

/**
 * The on-disk layout of an extracted retrieval case: six .npy files in one folder,
 * {@code query_feats.npy} [nq, d] float, {@code query_pids.npy} / {@code query_camids.npy} [nq] int,
 * and the same three for {@code gallery_}.
 */
public final class FeatureDir {
  private FeatureDir() {}

  public static final String[] FILES = {"query_feats.npy", "query_pids.npy", "query_camids.npy",
      "gallery_feats.npy", "gallery_pids.npy", "gallery_camids.npy"};

  /** Reads one side from three files; errors name the file. */
  public static LabelledFeatures read(String name, Path feats, Path pids, Path camids) throws IOException {
    var f = Npy.read(feats).asMatrix();
    int[] p = Npy.read(pids).asInts();
    int[] c = Npy.read(camids).asInts();
    if (p.length != f.rows())
      throw new IOException(pids + ": has " + p.length + " pids but " + feats + " has " + f.rows() + " rows");
    if (c.length != f.rows())
      throw new IOException(camids + ": has " + c.length + " camids but " + feats + " has " + f.rows() + " rows");
    return new LabelledFeatures(name + " (" + feats + ")", f, p, c);
  }

  public static LabelledFeatures readQuery(Path dir) throws IOException {
    requireDir(dir);
    return read("query", dir.resolve(FILES[0]), dir.resolve(FILES[1]), dir.resolve(FILES[2]));
  }

  public static LabelledFeatures readGallery(Path dir) throws IOException {
    requireDir(dir);
    return read("gallery", dir.resolve(FILES[3]), dir.resolve(FILES[4]), dir.resolve(FILES[5]));
  }

  /** Both sides of a case with the features in native memory; closing it frees them. */
  public record NativeCase(RetrievalEval.NativeFeatures query, RetrievalEval.NativeFeatures gallery)
      implements AutoCloseable {
    @Override
    public void close() {
      query.features().close();
      gallery.features().close();
    }
  }

  /**
   * {@link #readQuery} and {@link #readGallery} with the features read straight into native memory
   * (for {@code RetrievalEval.runNative}); the same checks and messages.
   */
  public static NativeCase readNative(Path dir) throws IOException {
    requireDir(dir);
    Path[] f = new Path[FILES.length];
    for (int i = 0; i < f.length; i++) f[i] = dir.resolve(FILES[i]);
    return readNative(f);
  }

  /** The same from six files in the order of {@link #FILES} (query features, pids, camids, then gallery). */
  public static NativeCase readNative(Path[] files) throws IOException {
    RetrievalEval.NativeFeatures q = readNative("query", files[0], files[1], files[2]);
    try {
      return new NativeCase(q, readNative("gallery", files[3], files[4], files[5]));
    } catch (IOException | RuntimeException e) {
      q.features().close();
      throw e;
    }
  }

  private static RetrievalEval.NativeFeatures readNative(String name, Path feats, Path pids, Path camids)
      throws IOException {
    int[] p = Npy.read(pids).asInts();
    int[] c = Npy.read(camids).asInts();
    NativeMatrix f = Npy.readMatrix(feats);
    try {
      if (p.length != f.rows())
        throw new IOException(pids + ": has " + p.length + " pids but " + feats + " has " + f.rows() + " rows");
      if (c.length != f.rows())
        throw new IOException(camids + ": has " + c.length + " camids but " + feats + " has " + f.rows() + " rows");
      return new RetrievalEval.NativeFeatures(name + " (" + feats + ")", f, p, c);
    } catch (IOException | RuntimeException e) {
      f.close();
      throw e;
    }
  }

  /** Writes both sides (each file atomically). */
  public static void write(Path dir, LabelledFeatures query, LabelledFeatures gallery) throws IOException {
    Files.createDirectories(dir);
    Npy.writeFloat32(dir.resolve(FILES[0]), query.features());
    Npy.writeInt32(dir.resolve(FILES[1]), query.pids());
    Npy.writeInt32(dir.resolve(FILES[2]), query.camids());
    Npy.writeFloat32(dir.resolve(FILES[3]), gallery.features());
    Npy.writeInt32(dir.resolve(FILES[4]), gallery.pids());
    Npy.writeInt32(dir.resolve(FILES[5]), gallery.camids());
  }

  private static void requireDir(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) throw new java.nio.file.NoSuchFileException(dir.toString(), null, "not a folder");
  }
}
