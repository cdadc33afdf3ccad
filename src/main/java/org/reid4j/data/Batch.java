package org.reid4j.data;

/**
 * A batch ready for the model: {@code size} images of the same shape as one NCHW float array, with
 * each image's pid, camid and index in its {@link ImageSource}. Memory: size * C * H * W floats.
 */
public record Batch(int size, int channels, int height, int width, float[] images, int[] pids, int[] camids,
    int[] indices) {
  public Batch {
    if ((long) size * channels * height * width != images.length)
      throw new IllegalArgumentException("batch of " + size + " x " + channels + " x " + height + " x " + width
          + " needs " + (long) size * channels * height * width + " values, got " + images.length);
    if (pids.length != size || camids.length != size || indices.length != size)
      throw new IllegalArgumentException("batch of " + size + " with " + pids.length + " pids, " + camids.length
          + " camids and " + indices.length + " indices");
  }

  /** Image i as a FloatImage (copied). */
  public FloatImage image(int i) {
    int n = channels * height * width;
    float[] d = new float[n];
    System.arraycopy(images, i * n, d, 0, n);
    return new FloatImage(channels, height, width, d);
  }
}
