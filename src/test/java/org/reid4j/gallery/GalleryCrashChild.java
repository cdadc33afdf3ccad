package org.reid4j.gallery;

import java.nio.file.Path;
import java.util.Random;
import org.reid4j.kernels.Backend;

/**
 * A child process for {@link GalleryRecoveryTest}: opens the gallery in args[0], prints "ready",
 * then two threads add items "c&lt;args[1] + i&gt;" forever, printing "ack ID" after each add returns.
 * The test kills it with SIGKILL at a random moment.
 */
public final class GalleryCrashChild {
  static final int DIM = 6;

  static float[] feature(String id) {
    Random r = new Random(id.hashCode());
    float[] f = new float[DIM];
    for (int i = 0; i < DIM; i++) f[i] = (float) r.nextGaussian();
    return f;
  }

  static GalleryOptions options() {
    return GalleryOptions.of(DIM).backend(Backend.JAVA).checkpointBytes(4096);
  }

  public static void main(String[] args) throws Exception {
    Gallery g = Gallery.open(Path.of(args[0]), options());
    int start = Integer.parseInt(args[1]);
    System.out.println("ready");
    System.out.flush();
    for (int t = 0; t < 2; t++) {
      int tt = t;
      new Thread(() -> {
        for (int i = tt; ; i += 2) {
          String id = "c" + (start + i);
          g.add(Item.of(id, feature(id)).withCamid(tt));
          synchronized (System.out) {
            System.out.println("ack " + id);
            System.out.flush();
          }
        }
      }).start();
    }
  }
}
