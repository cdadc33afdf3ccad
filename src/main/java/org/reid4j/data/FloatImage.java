package org.reid4j.data;

/**
 * An image as planar floats, channel-major (CHW): value (c, y, x) is {@code data[(c * height + y) * width + x]}.
 * Pixels are in [0, 1] until {@link Transforms} normalises them. The array is shared, not copied;
 * transforms return new images and never modify their input. Memory: 4 bytes per value
 * (a 3 x 256 x 128 image is 384 KiB).
 */
public record FloatImage(int channels, int height, int width, float[] data) {
  public FloatImage {
    if (channels < 1 || height < 1 || width < 1)
      throw new IllegalArgumentException("image shape [" + channels + ", " + height + ", " + width + "] must be positive");
    if (data == null) throw new IllegalArgumentException("data is null");
    if ((long) channels * height * width != data.length)
      throw new IllegalArgumentException("image shape [" + channels + ", " + height + ", " + width + "] needs "
          + (long) channels * height * width + " values, got " + data.length);
  }

  public static FloatImage zeros(int channels, int height, int width) {
    return new FloatImage(channels, height, width, new float[channels * height * width]);
  }

  public float get(int c, int y, int x) {
    return data[(c * height + y) * width + x];
  }

  public void set(int c, int y, int x, float v) {
    data[(c * height + y) * width + x] = v;
  }

  /** Values per channel plane, height * width. */
  public int planeSize() {
    return height * width;
  }

  public FloatImage copy() {
    return new FloatImage(channels, height, width, data.clone());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FloatImage f && f.channels == channels && f.height == height && f.width == width
        && java.util.Arrays.equals(f.data, data);
  }

  @Override
  public int hashCode() {
    return java.util.Arrays.hashCode(data) * 31 + (channels * 31 + height) * 31 + width;
  }

  @Override
  public String toString() {
    return "FloatImage[" + channels + " x " + height + " x " + width + "]";
  }
}
