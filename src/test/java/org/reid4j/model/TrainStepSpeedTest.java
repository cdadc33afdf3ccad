package org.reid4j.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.loss.CrossEntropyLabelSmooth;
import org.reid4j.loss.TripletLoss;

/**
 * Forward + backward time per batch (CE-LS + batch-hard triplet), printed, never asserted. Runs only
 * with -Dreid4j.bench=true (or REID4J_BENCH=1): {@code mvn test -Dtest=TrainStepSpeedTest -Dreid4j.bench=true}.
 */
class TrainStepSpeedTest {

  private static boolean enabled() {
    return Boolean.getBoolean("reid4j.bench") || "1".equals(System.getenv("REID4J_BENCH"));
  }

  private static void measure(String what, ModelSpec spec, int channels, int h, int w, int p, int k, int warmup,
      int steps) {
    torch.set_num_threads(2);
    int n = p * k;
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) labels[i] = i / k;
    ReidModel m = ReidModel.build(spec, channels, p);
    m.train(true);
    CrossEntropyLabelSmooth ce = new CrossEntropyLabelSmooth(p, 0.1);
    Kernels miner = Kernels.create(Kernels.unavailableReason(Backend.CPU) == null ? Backend.CPU : Backend.JAVA);
    TripletLoss tri = new TripletLoss(0.3, false, miner);
    double[] ms = new double[steps];
    for (int s = -warmup; s < steps; s++) {
      try (PointerScope scope = new PointerScope()) {
        Tensor x = torch.randn(n, channels, h, w);
        Tensor y = Tensors.longs(labels, Tensors.CPU);
        long t0 = System.nanoTime();
        ReidModel.Output o = m.forward(x, y);
        Tensor loss = ce.forward(o.logits(), y).add(tri.forward(o.globalFeat(), labels).loss());
        loss.backward();
        double dt = (System.nanoTime() - t0) / 1e6;
        if (s >= 0) ms[s] = dt;
        for (ReidModel.NamedParam np : m.namedParams()) np.tensor().grad().zero_();
      }
    }
    double[] sorted = ms.clone();
    Arrays.sort(sorted);
    double median = sorted[steps / 2];
    System.out.printf("[bench] %s: batch %d, threads %d, miner %s: median %.1f ms/step (min %.1f, max %.1f)"
        + " -> %.0f images/s%n", what, n, torch.get_num_threads(), miner.backend(), median, sorted[0],
        sorted[steps - 1], n * 1000.0 / median);
  }

  @Test
  void smallCnnFashionMnist() {
    assumeTrue(enabled(), "benchmark: run with -Dreid4j.bench=true");
    measure("small_cnn 1x28x28", ModelSpec.defaults("small_cnn"), 1, 28, 28, 10, 16, 5, 20);
  }

  @Test
  void resnet50Market() {
    assumeTrue(enabled(), "benchmark: run with -Dreid4j.bench=true");
    measure("resnet50 3x256x128 last stride 1", ModelSpec.defaults("resnet50"), 3, 256, 128, 16, 4, 1, 3);
  }
}
