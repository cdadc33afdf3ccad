package org.reid4j.data;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.reid4j.config.TrainConfig;

/**
 * Loader throughput (not a test: run by hand). Writes JPEG person-crop stand-ins (smooth colour
 * regions plus noise, 64x128 like Market-1501 and 128x256) and times the BoT training pipeline, then
 * Fashion-MNIST with the quickstart pipeline. Args: [workers] [fashion-mnist dir].
 */
public final class LoaderBench {
  public static void main(String[] args) throws Exception {
    int workers = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    Path dir = Files.createTempDirectory("reid4j-bench");
    TrainConfig bot = TrainConfig.defaults();
    for (int[] wh : new int[][] {{64, 128}, {128, 256}}) {
      List<Path> files = new ArrayList<>();
      int n = 768;
      int[] pids = new int[n];
      for (int i = 0; i < n; i++) {
        Path f = dir.resolve(wh[0] + "_" + i + ".jpg");
        ImageIO.write(crop(wh[0], wh[1], i), "jpg", f.toFile());
        files.add(f);
        pids[i] = i / 8;
      }
      FileImageSource src = FileImageSource.relabelled("bench", files, pids, new int[n], 3);
      PKSampler s = new PKSampler(src.pids(), 16, 4, 1);
      Transform t = Transforms.train(bot);
      run("warm-up", src, s.epoch(0), t, workers);
      run(wh[0] + "x" + wh[1] + " JPEG -> BoT train 256x128 RGB", src, s.epoch(1), t, workers);
      run(wh[0] + "x" + wh[1] + " JPEG -> BoT train 256x128 RGB", src, s.epoch(2), t, workers);
    }
    Path fm = Path.of(args.length > 1 ? args[1] : FashionMnist.DEFAULT_DIR.toString());
    if (Files.exists(fm.resolve("train-images-idx3-ubyte.gz"))) {
      TrainConfig q = TrainConfig.load(Path.of("configs/quickstart.yml"), List.of("DATALOADER.ROOT=" + fm));
      ReidDataset d = ReidDataset.open(q);
      PKSampler s = new PKSampler(d.train().pids(), 10, 16, 1);
      run("warm-up", d.train(), s.epoch(0), Transforms.train(q), workers);
      run("fashion-mnist 28x28 quickstart train", d.train(), s.epoch(1), Transforms.train(q), workers);
      run("fashion-mnist 28x28 quickstart train", d.train(), s.epoch(1), Transforms.train(q), 1);
      run("fashion-mnist 28x28 test (sequential)", d.gallery(), null, Transforms.test(q), workers);
    }
  }

  private static BufferedImage crop(int w, int h, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    int[] colours = new int[6];
    for (int i = 0; i < colours.length; i++) colours[i] = r.nextInt(1 << 24);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        int c = colours[Math.min(5, y * 6 / h)];
        int noise = r.nextInt(16) - 8;
        int red = clamp(((c >> 16) & 0xff) + noise), g = clamp(((c >> 8) & 0xff) + noise), b = clamp((c & 0xff) + noise);
        img.setRGB(x, y, (red << 16) | (g << 8) | b);
      }
    return img;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  private static void run(String what, ImageSource src, List<int[]> batches, Transform t, int workers) {
    long t0 = System.nanoTime();
    int images = 0;
    try (DataLoader l = batches == null ? DataLoader.sequential(src, 256, t, workers)
        : new DataLoader(src, batches, t, workers, 4, 7)) {
      while (l.hasNext()) images += l.next().size();
    }
    double s = (System.nanoTime() - t0) / 1e9;
    System.out.printf("%-50s %d workers: %6d images in %6.2f s = %8.0f images/s%n", what, workers, images, s,
        images / s);
  }
}
