package org.reid4j.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;

/** Tiny generated images in real formats, written with javax.imageio. */
final class Fixtures {
  private Fixtures() {}

  /** A random-colour RGB image of w x h written as format ("jpg" or "png") to f. */
  static Path image(Path f, int w, int h, long seed, String format) throws IOException {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    SplittableRandom r = new SplittableRandom(seed);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, r.nextInt(1 << 24));
    Files.createDirectories(f.toAbsolutePath().getParent());
    if (!ImageIO.write(img, format, f.toFile())) throw new IOException("no writer for " + format);
    return f;
  }

  static Path jpg(Path f) throws IOException {
    return image(f, 8, 16, f.getFileName().toString().hashCode(), "jpg");
  }

  /** The given names (relative to dir) as tiny JPEG files; names not ending in .jpg are written as text. */
  static void files(Path dir, String... names) throws IOException {
    for (String n : names) {
      Path f = dir.resolve(n);
      if (n.endsWith(".jpg")) jpg(f);
      else {
        Files.createDirectories(f.getParent());
        Files.writeString(f, "not an image");
      }
    }
  }
}
