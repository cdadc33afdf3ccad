package org.reid4j.data;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * Decodes JPEG and PNG files (anything javax.imageio reads) into a {@link FloatImage} with values in
 * [0, 1]: RGB for 3 channels (grey images are replicated), luminance for 1 channel (colour images are
 * converted with the ITU-R 601 weights 0.299 R + 0.587 G + 0.114 B, as PIL's {@code convert("L")}).
 * Grey images keep their stored values (no gamma conversion, unlike {@code BufferedImage.getRGB}).
 * Any failure, including a decoder's runtime exception on corrupt data, is an IOException naming the
 * file. Cost: one read of the file and one pass over the pixels; thread-safe.
 */
public final class ImageDecoder {
  static {
    ImageIO.setUseCache(false); // no temporary files per decode
  }

  private ImageDecoder() {}

  public static FloatImage decode(Path file, int channels) throws IOException {
    if (channels != 1 && channels != 3)
      throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new IOException(file + ": image file not found", e);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new IOException(file + ": cannot read the image (permission denied)", e);
    } catch (IOException e) {
      throw new IOException(file + ": cannot read the image (" + (e.getMessage() == null ? e : e.getMessage()) + ")",
          e);
    }
    if (bytes.length == 0) throw new IOException(file + ": empty image file (0 bytes)");
    return convert(read(bytes, file.toString(), Integer.MAX_VALUE), file.toString(), channels);
  }

  /**
   * Decodes an encoded image held in memory (a request body, say); {@code source} names it in
   * errors. Images wider or taller than {@code maxSide} pixels are refused before their pixels are
   * decoded, so a small file that claims a huge size cannot exhaust memory.
   */
  public static FloatImage decode(byte[] bytes, String source, int channels, int maxSide) throws IOException {
    if (channels != 1 && channels != 3)
      throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
    if (bytes.length == 0) throw new IOException(source + ": empty image (0 bytes)");
    return convert(read(bytes, source, maxSide), source, channels);
  }

  /** The decoded image, as ImageIO.read would give it, after checking its size from the header. */
  private static BufferedImage read(byte[] bytes, String source, int maxSide) throws IOException {
    try (javax.imageio.stream.ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
      java.util.Iterator<javax.imageio.ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
      if (readers == null || !readers.hasNext())
        throw new IOException(source + ": not an image javax.imageio can read (expected JPEG or PNG, " + bytes.length
            + " bytes)");
      javax.imageio.ImageReader r = readers.next();
      try {
        r.setInput(in, true, true);
        int w = r.getWidth(0), h = r.getHeight(0);
        if (w > maxSide || h > maxSide)
          throw new IOException(source + ": the image is " + w + " x " + h + " pixels; at most " + maxSide
              + " pixels a side are accepted");
        return r.read(0);
      } finally {
        r.dispose();
      }
    } catch (IOException e) {
      if (e.getMessage() != null && e.getMessage().startsWith(source + ": ")) throw e;
      throw new IOException(source + ": corrupt or unreadable image (" + e + ")", e);
    } catch (RuntimeException e) {
      throw new IOException(source + ": corrupt or unreadable image (" + e + ")", e);
    }
  }

  private static FloatImage convert(BufferedImage img, String source, int channels) throws IOException {
    try {
      return toFloat(img, channels);
    } catch (RuntimeException e) {
      throw new IOException(source + ": cannot convert the decoded image (" + e + ")", e);
    }
  }

  /** The pixels of img as channels x h x w floats in [0, 1]. */
  public static FloatImage toFloat(BufferedImage img, int channels) {
    int w = img.getWidth(), h = img.getHeight(), hw = w * h;
    float[] out = new float[channels * hw];
    int type = img.getType();
    Raster raster = img.getRaster();
    if (type == BufferedImage.TYPE_BYTE_GRAY || type == BufferedImage.TYPE_USHORT_GRAY) {
      float scale = type == BufferedImage.TYPE_BYTE_GRAY ? 1f / 255f : 1f / 65535f;
      int[] row = new int[w];
      for (int y = 0; y < h; y++) {
        raster.getSamples(0, y, w, 1, 0, row);
        for (int x = 0; x < w; x++) out[y * w + x] = row[x] * scale;
      }
      for (int c = 1; c < channels; c++) System.arraycopy(out, 0, out, c * hw, hw);
      return new FloatImage(channels, h, w, out);
    }
    if (type == BufferedImage.TYPE_3BYTE_BGR && raster.getDataBuffer() instanceof DataBufferByte db
        && db.getNumBanks() == 1 && db.getData().length == hw * 3 && raster.getParent() == null) {
      byte[] bgr = db.getData();
      for (int i = 0; i < hw; i++) {
        float b = (bgr[3 * i] & 0xff) / 255f, g = (bgr[3 * i + 1] & 0xff) / 255f, r = (bgr[3 * i + 2] & 0xff) / 255f;
        store(out, i, hw, channels, r, g, b);
      }
      return new FloatImage(channels, h, w, out);
    }
    int[] argb = new int[w];
    for (int y = 0; y < h; y++) {
      img.getRGB(0, y, w, 1, argb, 0, w);
      for (int x = 0; x < w; x++) {
        int p = argb[x];
        store(out, y * w + x, hw, channels, ((p >> 16) & 0xff) / 255f, ((p >> 8) & 0xff) / 255f, (p & 0xff) / 255f);
      }
    }
    return new FloatImage(channels, h, w, out);
  }

  private static void store(float[] out, int i, int hw, int channels, float r, float g, float b) {
    if (channels == 3) {
      out[i] = r;
      out[hw + i] = g;
      out[2 * hw + i] = b;
    } else {
      out[i] = 0.299f * r + 0.587f * g + 0.114f * b;
    }
  }
}
