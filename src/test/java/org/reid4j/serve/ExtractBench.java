package org.reid4j.serve;

import java.util.Locale;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ImageSource;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;

/**
 * Extraction speed (not a test): images/s of {@link ModelEmbedder#embed} alone and of the whole
 * {@link Extractor} (decode-free in-memory images, resize, normalise, forward) for small_cnn on
 * 1 x 28 x 28 and ResNet-50 on 3 x 256 x 128, randomly initialised. Run with
 * {@code java -cp <test classpath> org.reid4j.serve.ExtractBench [resnet-images] [small-images]}
 * and OMP_WAIT_POLICY=PASSIVE; numbers on shared machines move by up to 2x between minutes.
 */
public final class ExtractBench {
  private ExtractBench() {}

  public static void main(String[] args) {
    int resnetImages = args.length > 0 ? Integer.parseInt(args[0]) : 256;
    int smallImages = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
    System.out.printf(Locale.ROOT, "libtorch threads %d, cores %d, load %.2f%n", torch.get_num_threads(),
        Runtime.getRuntime().availableProcessors(),
        java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    run("small_cnn ls1 1x28x28", ModelSpec.defaults("small_cnn"), 1, new int[] {28, 28}, 128, smallImages, 20, 28);
    run("small_cnn ls2 1x28x28", ModelSpec.defaults("small_cnn").withLastStride(2), 1, new int[] {28, 28}, 128,
        smallImages, 20, 28);
    run("resnet50 3x256x128", ModelSpec.defaults("resnet50"), 3, new int[] {256, 128}, 64, resnetImages, 128, 64);
  }

  private static void run(String name, ModelSpec spec, int c, int[] size, int batch, int n, int srcH, int srcW) {
    torch.manual_seed(1);
    ReidModel m = ReidModel.build(spec, c, 751);
    double[] mean = new double[c], std = new double[c];
    java.util.Arrays.fill(mean, 0.5);
    java.util.Arrays.fill(std, 0.25);
    try (ModelEmbedder e = new ModelEmbedder(m, size, mean, std, null, true, name)) {
      float[] x = new float[batch * c * size[0] * size[1]];
      for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i * 0.01);
      e.embed(x, batch, size[0], size[1]); // warm-up
      int reps = Math.max(1, n / batch);
      long t0 = System.nanoTime();
      for (int r = 0; r < reps; r++) e.embed(x, batch, size[0], size[1]);
      double s = (System.nanoTime() - t0) / 1e9;
      System.out.printf(Locale.ROOT, "%-22s embed only, batch %d: %,.1f img/s (%d batches, %.1f s)%n", name, batch,
          reps * batch / s, reps, s);
      ImageSource src = fixedSize(n, c, srcH, srcW);
      for (boolean flip : new boolean[] {false, true}) {
        Extractor.Result res = Extractor.extract(e, src, Extractor.Options.defaults().withBatchSize(batch).withFlip(flip));
        System.out.printf(Locale.ROOT, "%-22s extractor, batch %d%s: %,.1f img/s (%,d images, %.1f s)%n", name, batch,
            flip ? ", flip" : "", res.imagesPerSecond(), res.kept().length, res.seconds());
      }
    }
  }

  private static ImageSource fixedSize(int n, int c, int h, int w) {
    float[] d = new float[c * h * w];
    for (int i = 0; i < d.length; i++) d[i] = (float) ((Math.sin(i) + 1) / 2);
    org.reid4j.data.FloatImage img = new org.reid4j.data.FloatImage(c, h, w, d);
    return new ImageSource() {
      public int size() { return n; }
      public int pid(int i) { return 0; }
      public int camid(int i) { return 0; }
      public org.reid4j.data.FloatImage load(int i) { return img; }
      public String describe(int i) { return "bench #" + i; }
      public int numClasses() { return 1; }
    };
  }
}
