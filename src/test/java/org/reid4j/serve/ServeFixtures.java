package org.reid4j.serve;

import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.FloatImage;
import org.reid4j.data.ImageSource;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/** Small models with non-trivial BatchNorm statistics and in-memory image sources for the serve tests. */
final class ServeFixtures {
  private ServeFixtures() {}

  /** The INPUT settings of the test models: grey, 28 x 20, mean 0.5, std 0.25. */
  static TrainConfig config(String backbone, int channels) {
    String mean = channels == 1 ? "[0.5]" : "[0.5,0.4,0.3]", std = channels == 1 ? "[0.25]" : "[0.25,0.2,0.3]";
    return TrainConfig.defaults().with(List.of("MODEL.BACKBONE=" + backbone, "INPUT.CHANNELS=" + channels,
        "INPUT.PIXEL_MEAN=" + mean, "INPUT.PIXEL_STD=" + std, "INPUT.SIZE_TEST=[28,20]", "INPUT.SIZE_TRAIN=[28,20]",
        "OUTPUT_DIR=unused"));
  }

  /**
   * A small_cnn ReidModel (eval mode) whose BatchNorm weights, biases and running statistics are
   * random, so the train/eval distinction and the neck matter in every comparison.
   */
  static ReidModel model(ModelSpec spec, int channels, int classes, long seed) {
    torch.manual_seed(seed);
    ReidModel m = ReidModel.build(spec, channels, classes);
    try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (var e : m.stateDict().entrySet()) {
        String k = e.getKey();
        Tensor t = e.getValue();
        if (k.contains("bn") || k.startsWith("neck.")) {
          if (k.endsWith("running_var")) t.copy_(torch.rand(t.shape()).mul_(Tensors.scalar(1.5)).add_(Tensors.scalar(0.25)));
          else if (k.endsWith("running_mean") || k.endsWith("bias")) t.copy_(torch.randn(t.shape()).mul_(Tensors.scalar(0.2)));
          else if (k.endsWith(".weight")) t.copy_(torch.rand(t.shape()).add_(Tensors.scalar(0.5)));
        }
      }
    }
    m.eval();
    return m;
  }

  static ReidModel smallCnn(int channels, long seed) {
    return model(ModelSpec.defaults("small_cnn").withEmbedDim(16), channels, 5, seed);
  }

  /**
   * n random images with [0, 1] pixels and sizes varying around 28 x 20; loading any index in
   * {@code failing} throws an IOException as a corrupt file would.
   */
  static ImageSource images(int n, int channels, long seed, Set<Integer> failing) {
    FloatImage[] imgs = new FloatImage[n];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < n; i++) {
      int h = 20 + r.nextInt(20), w = 14 + r.nextInt(14);
      float[] d = new float[channels * h * w];
      for (int k = 0; k < d.length; k++) d[k] = (float) r.nextDouble();
      imgs[i] = new FloatImage(channels, h, w, d);
    }
    return new ImageSource() {
      @Override
      public int size() {
        return n;
      }

      @Override
      public int pid(int i) {
        return i % 3;
      }

      @Override
      public int camid(int i) {
        return i % 2;
      }

      @Override
      public FloatImage load(int i) throws IOException {
        if (failing.contains(i)) throw new IOException("image #" + i + ": corrupt or unreadable image (test)");
        return imgs[i];
      }

      @Override
      public String describe(int i) {
        return "test image #" + i;
      }

      @Override
      public int numClasses() {
        return 3;
      }
    };
  }
}
