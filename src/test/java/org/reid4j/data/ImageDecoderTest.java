package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageDecoderTest {
  @TempDir Path tmp;

  /** A path that cannot be read as a file says which path and why (it printed only the path). */
  @Test
  void unreadablePathsSayWhy() throws IOException {
    Path folder = Files.createDirectories(tmp.resolve("looks_like.jpg"));
    IOException e = assertThrows(IOException.class, () -> ImageDecoder.decode(folder, 3));
    assertTrue(e.getMessage().startsWith(folder + ": cannot read the image (") && e.getMessage().length()
        > (folder + ": cannot read the image (").length() + 2, e.getMessage());
    Path locked = Files.write(tmp.resolve("locked.png"), new byte[] {1, 2, 3});
    if (locked.toFile().setReadable(false) && !Files.isReadable(locked)) { // not as root
      IOException d = assertThrows(IOException.class, () -> ImageDecoder.decode(locked, 3));
      assertEquals(locked + ": cannot read the image (permission denied)", d.getMessage());
    }
  }

  @Test
  void pngRgbExactAndLuminance() throws IOException {
    BufferedImage img = new BufferedImage(3, 2, BufferedImage.TYPE_INT_RGB);
    img.setRGB(0, 0, 0xff0000);
    img.setRGB(1, 0, 0x00ff00);
    img.setRGB(2, 0, 0x0000ff);
    img.setRGB(0, 1, 0x336699);
    Path f = tmp.resolve("a.png");
    ImageIO.write(img, "png", f.toFile());
    FloatImage rgb = ImageDecoder.decode(f, 3);
    assertEquals(3, rgb.channels());
    assertEquals(2, rgb.height());
    assertEquals(3, rgb.width());
    assertEquals(1f, rgb.get(0, 0, 0));
    assertEquals(0f, rgb.get(1, 0, 0));
    assertEquals(1f, rgb.get(1, 0, 1));
    assertEquals(1f, rgb.get(2, 0, 2));
    assertEquals(0x33 / 255f, rgb.get(0, 1, 0), 1e-6);
    assertEquals(0x66 / 255f, rgb.get(1, 1, 0), 1e-6);
    assertEquals(0x99 / 255f, rgb.get(2, 1, 0), 1e-6);
    FloatImage grey = ImageDecoder.decode(f, 1);
    assertEquals(1, grey.channels());
    assertEquals(0.299f, grey.get(0, 0, 0), 1e-6);
    assertEquals(0.587f, grey.get(0, 0, 1), 1e-6);
    assertEquals(0.114f, grey.get(0, 0, 2), 1e-6);
  }

  @Test
  void jpegDecodesCloseToItsSource() throws IOException {
    BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_3BYTE_BGR);
    for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) img.setRGB(x, y, 0x4080c0);
    Path f = tmp.resolve("a.jpg");
    ImageIO.write(img, "jpg", f.toFile());
    FloatImage rgb = ImageDecoder.decode(f, 3);
    assertEquals(0x40 / 255f, rgb.get(0, 5, 5), 0.03);
    assertEquals(0x80 / 255f, rgb.get(1, 5, 5), 0.03);
    assertEquals(0xc0 / 255f, rgb.get(2, 5, 5), 0.03);
  }

  @Test
  void greyPngKeepsItsValuesAndIsReplicatedForRgb() throws IOException {
    BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
    img.getRaster().setSample(0, 0, 0, 64);
    img.getRaster().setSample(1, 0, 0, 200);
    Path f = tmp.resolve("g.png");
    ImageIO.write(img, "png", f.toFile());
    FloatImage g = ImageDecoder.decode(f, 1);
    assertArrayEquals(new float[] {64 / 255f, 200 / 255f}, g.data(), 1e-6f);
    FloatImage rgb = ImageDecoder.decode(f, 3);
    for (int c = 0; c < 3; c++) assertEquals(64 / 255f, rgb.get(c, 0, 0), 1e-6);
  }

  @Test
  void corruptEmptyAndMissingFilesAreIOExceptionsNamingTheFile() throws IOException {
    Path garbage = tmp.resolve("garbage.jpg");
    Files.write(garbage, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
    Path empty = tmp.resolve("empty.jpg");
    Files.write(empty, new byte[0]);
    Path truncated = tmp.resolve("truncated.png");
    Fixtures.image(tmp.resolve("full.png"), 32, 32, 1, "png");
    byte[] full = Files.readAllBytes(tmp.resolve("full.png"));
    Files.write(truncated, java.util.Arrays.copyOf(full, full.length / 2));
    Path badJpeg = tmp.resolve("badheader.jpg");
    byte[] jpg = Files.readAllBytes(Fixtures.image(tmp.resolve("ok.jpg"), 32, 32, 2, "jpg"));
    for (int i = 20; i < 200 && i < jpg.length; i++) jpg[i] = (byte) 0xff;
    Files.write(badJpeg, jpg);
    for (Path p : new Path[] {garbage, empty, truncated, badJpeg, tmp.resolve("missing.jpg")}) {
      IOException e = assertThrows(IOException.class, () -> ImageDecoder.decode(p, 3), p.toString());
      assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
    }
  }
}
