package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.reid4j.io.Idx;
import org.reid4j.kernels.FloatMatrix;

/**
 * Fashion-MNIST (70,000 28x28 grey images of 10 clothing classes) as a small, real retrieval
 * benchmark: the class plays the identity. The retrieval protocol on the test split: the query
 * set is the first 100 test images of each class (in file order), the gallery the other 9,000;
 * query camera 0, gallery camera 1, so nothing is excluded by the same-camera rule.
 *
 * <p>On Debian the files come from {@code apt-get install -y dataset-fashion-mnist}.
 */
public final class FashionMnist {
  /** Where Debian's dataset-fashion-mnist package puts the IDX files. */
  public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");

  public static final int QUERIES_PER_CLASS = 100;
  public static final int CLASSES = 10;

  private FashionMnist() {}

  /** Images as [n, 784] bytes and their labels. */
  public record Split(Idx.ByteTensor images, Idx.ByteTensor labels) {
    public int size() {
      return labels.data().length;
    }

    public int label(int i) {
      return labels.unsigned(i);
    }

    /** Image i as floats in [0, 1], row-major 28x28. */
    public float[] pixels(int i) {
      int hw = images.shape()[1] * images.shape()[2];
      float[] out = new float[hw];
      for (int k = 0; k < hw; k++) out[k] = images.unsigned(i * hw + k) / 255f;
      return out;
    }
  }

  /** The retrieval protocol's index lists into the test split. */
  public record RetrievalSplit(int[] queryIdx, int[] galleryIdx) {}

  /** Reads "train" or "t10k" from dir; a missing folder or file says how to get it. */
  public static Split load(Path dir, String which) throws IOException {
    Path images = dir.resolve(which + "-images-idx3-ubyte.gz");
    Path labels = dir.resolve(which + "-labels-idx1-ubyte.gz");
    for (Path p : new Path[] {images, labels}) {
      if (!Files.exists(p))
        throw new IOException("Fashion-MNIST file " + p + " not found. Install the data set with "
            + "`sudo apt-get install -y dataset-fashion-mnist` (files go to " + DEFAULT_DIR
            + "), or name the folder that holds " + images.getFileName() + " and " + labels.getFileName()
            + " (DATALOADER.ROOT in a config, or fashion-mnist:DIR where a command takes --data NAME[:ROOT])");
    }
    Idx.ByteTensor img = Idx.read(images), lab = Idx.read(labels);
    if (img.shape().length != 3 || lab.shape().length != 1 || img.shape()[0] != lab.shape()[0])
      throw new IOException("Fashion-MNIST files in " + dir + " do not match: images shape "
          + java.util.Arrays.toString(img.shape()) + ", labels shape " + java.util.Arrays.toString(lab.shape())
          + " (expected [n, 28, 28] and [n])");
    for (int i = 0; i < lab.data().length; i++)
      if (lab.unsigned(i) >= CLASSES)
        throw new IOException(labels + ": label " + lab.unsigned(i) + " at index " + i + " is not in 0..9");
    return new Split(img, lab);
  }

  /** Query: the first 100 images of each class in file order; gallery: all others, in order. */
  public static RetrievalSplit retrievalSplit(Split test) {
    int n = test.size();
    int[] seen = new int[CLASSES];
    int queries = 0;
    boolean[] isQuery = new boolean[n];
    for (int i = 0; i < n; i++) {
      int c = test.label(i);
      if (seen[c] < QUERIES_PER_CLASS) {
        seen[c]++;
        isQuery[i] = true;
        queries++;
      }
    }
    int[] q = new int[queries], g = new int[n - queries];
    int qi = 0, gi = 0;
    for (int i = 0; i < n; i++) {
      if (isQuery[i]) q[qi++] = i;
      else g[gi++] = i;
    }
    return new RetrievalSplit(q, g);
  }

  /** Raw pixels (scaled to [0, 1]) of the given images as feature rows: the no-training baseline. */
  public static FloatMatrix pixelFeatures(Split split, int[] idx) {
    int hw = split.images().shape()[1] * split.images().shape()[2];
    FloatMatrix m = FloatMatrix.zeros(idx.length, hw);
    for (int r = 0; r < idx.length; r++) System.arraycopy(split.pixels(idx[r]), 0, m.data(), r * hw, hw);
    return m;
  }

  public static int[] labels(Split split, int[] idx) {
    int[] out = new int[idx.length];
    for (int i = 0; i < idx.length; i++) out[i] = split.label(idx[i]);
    return out;
  }
}
