package org.reid4j.data;

import java.nio.FloatBuffer;
import java.util.stream.IntStream;

/**
 * A batch ready for the model: {@code size} images of the same shape, with each image's pid, camid
 * and index in its {@link ImageSource}. Memory: size * C * H * W floats.
 *
 * <p>A batch the loader assembles keeps its images apart ({@link #of}): the trainer copies them
 * straight into its (page-locked) input buffer with {@link #copyImagesTo}, in parallel, so the
 * thread that drives the device neither allocates nor fills a joined array (at 64 x 3 x 256 x 128
 * that is 25 MB per step, three passes over memory before). {@link #images()} joins them on first
 * use for the callers that want one NCHW array.
 */
public final class Batch {
  private final int size;
  private final int channels;
  private final int height;
  private final int width;
  private final FloatImage[] parts; // null when built from one array
  private final int[] pids;
  private final int[] camids;
  private final int[] indices;
  private volatile float[] images;   // joined on demand when built from parts

  /** A batch whose images are already one NCHW array. */
  public Batch(int size, int channels, int height, int width, float[] images, int[] pids, int[] camids,
      int[] indices) {
    this(size, channels, height, width, images, null, pids, camids, indices);
  }

  private Batch(int size, int channels, int height, int width, float[] images, FloatImage[] parts, int[] pids,
      int[] camids, int[] indices) {
    if (images != null && (long) size * channels * height * width != images.length)
      throw new IllegalArgumentException("batch of " + size + " x " + channels + " x " + height + " x " + width
          + " needs " + (long) size * channels * height * width + " values, got " + images.length);
    if (pids.length != size || camids.length != size || indices.length != size)
      throw new IllegalArgumentException("batch of " + size + " with " + pids.length + " pids, " + camids.length
          + " camids and " + indices.length + " indices");
    if (parts != null) {
      if (parts.length != size)
        throw new IllegalArgumentException("batch of " + size + " with " + parts.length + " images");
      for (int i = 0; i < size; i++)
        if (parts[i].channels() != channels || parts[i].height() != height || parts[i].width() != width)
          throw new IllegalArgumentException("image " + i + " of the batch is " + parts[i] + ", expected "
              + channels + " x " + height + " x " + width);
    }
    this.size = size;
    this.channels = channels;
    this.height = height;
    this.width = width;
    this.images = images;
    this.parts = parts;
    this.pids = pids;
    this.camids = camids;
    this.indices = indices;
  }

  /** A batch of separate images of one shape C x H x W (kept apart; see the class comment). */
  public static Batch of(FloatImage[] images, int channels, int height, int width, int[] pids, int[] camids,
      int[] indices) {
    return new Batch(images.length, channels, height, width, null, images.clone(), pids, camids, indices);
  }

  public int size() {
    return size;
  }

  public int channels() {
    return channels;
  }

  public int height() {
    return height;
  }

  public int width() {
    return width;
  }

  public int[] pids() {
    return pids;
  }

  public int[] camids() {
    return camids;
  }

  public int[] indices() {
    return indices;
  }

  /** The images as one NCHW array (joined on the first call when the batch keeps them apart). */
  public float[] images() {
    float[] a = images;
    if (a == null) {
      synchronized (this) {
        a = images;
        if (a == null) {
          int per = channels * height * width;
          a = new float[Math.multiplyExact(size, per)];
          for (int i = 0; i < size; i++) System.arraycopy(parts[i].data(), 0, a, i * per, per);
          images = a;
        }
      }
    }
    return a;
  }

  /**
   * Writes the images, NCHW, into dst from its position (which is left unchanged); dst must have
   * room for size * C * H * W values. Large batches are copied by several threads.
   */
  public void copyImagesTo(FloatBuffer dst) {
    int per = channels * height * width;
    long n = (long) size * per;
    if (dst.remaining() < n)
      throw new IllegalArgumentException("the buffer has room for " + dst.remaining() + " values, the batch has " + n);
    int base = dst.position();
    if (images != null) { // one array already (given so, or joined for a caller of images())
      dst.duplicate().put(images);
      return;
    }
    IntStream all = IntStream.range(0, size);
    if (n >= 1 << 20) all = all.parallel(); // a few MB and more: worth the threads
    all.forEach(i -> dst.duplicate().position(base + i * per).put(parts[i].data()));
  }

  /** Image i as a FloatImage (copied). */
  public FloatImage image(int i) {
    int n = channels * height * width;
    float[] d = new float[n];
    if (parts != null) System.arraycopy(parts[i].data(), 0, d, 0, n);
    else System.arraycopy(images, i * n, d, 0, n);
    return new FloatImage(channels, height, width, d);
  }
}
