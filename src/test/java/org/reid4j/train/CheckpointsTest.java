package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoint file handling on a tiny two-layer module (no data, no ReidModel). */
class CheckpointsTest {
  @TempDir Path tmp;

  static final class Tiny extends Module {
    final LinearImpl a, b;

    Tiny(int in, int classes) {
      a = register_module("a", new LinearImpl(in, 8));
      b = register_module("b", new LinearImpl(8, classes));
    }

    Tensor forward(Tensor x) {
      return b.forward(torch.relu(a.forward(x)));
    }

    List<Optimizers.Param> params() {
      return List.of(new Optimizers.Param("a.weight", a.weight(), false), new Optimizers.Param("a.bias", a.bias(), true),
          new Optimizers.Param("b.weight", b.weight(), false), new Optimizers.Param("b.bias", b.bias(), true));
    }
  }

  static Optimizers.Settings adam() {
    return new Optimizers.Settings("adam", 1e-2, 5e-4, 0.0, 2.0, 0.9);
  }

  static void steps(Tiny m, Optimizers.Groups opt, Tensor x, int n) {
    for (int i = 0; i < n; i++) {
      opt.zeroGrad();
      m.forward(x).pow(new org.bytedeco.pytorch.Scalar(2)).sum().backward();
      opt.step();
    }
  }

  static Checkpoints.Meta meta(int epoch, int classes, List<String> sig) {
    return new Checkpoints.Meta(Checkpoints.FORMAT, epoch, 10L * epoch, classes, "tiny", sig, 42L, 0.5, 1, 1.5,
        "now", Map.of("mAP", 0.5), "SOLVER:\n  SEED: 42\n", null);
  }

  @Test
  void roundTripRestoresModelAndOptimiserExactly() throws IOException {
    torch.manual_seed(3);
    Tiny m = new Tiny(5, 4);
    Optimizers.Groups g = Optimizers.create(adam(), m.params());
    assertEquals(2, g.size());
    assertEquals(2e-2, g.lr(1), 1e-12);
    Tensor x = torch.randn(6, 5);
    steps(m, g, x, 3);
    Checkpoints ck = new Checkpoints(tmp.resolve("checkpoints"));
    Path f = ck.save("last", meta(3, 4, Checkpoints.signature(m)), new Checkpoints.State(m, g, null, null));
    assertTrue(Files.exists(f));
    assertTrue(Files.exists(tmp.resolve("checkpoints/last.json")));
    try (var s = Files.list(tmp.resolve("checkpoints"))) {
      assertEquals(2, s.count(), "no temporary files left behind");
    }

    torch.manual_seed(99);
    Tiny m2 = new Tiny(5, 4);
    Optimizers.Groups g2 = Optimizers.create(adam(), m2.params());
    Checkpoints.Meta back = Checkpoints.load(f, new Checkpoints.State(m2, g2, null, null), 4, "tiny");
    assertEquals(3, back.epoch());
    assertEquals(Map.of("mAP", 0.5), back.metrics());
    assertEquals("SOLVER:\n  SEED: 42\n", back.config());
    assertEquals(0f, m.forward(x).sub(m2.forward(x)).abs().max().item_float(), "identical outputs after load");
    // Optimiser state too: the same further steps give the same weights.
    steps(m, g, x, 2);
    steps(m2, g2, x, 2);
    assertEquals(0f, m.forward(x).sub(m2.forward(x)).abs().max().item_float(), "identical after 2 more Adam steps");
  }

  @Test
  void wrongClassCountNamesBoth() throws IOException {
    Tiny m = new Tiny(5, 4);
    Optimizers.Groups g = Optimizers.create(adam(), m.params());
    Checkpoints ck = new Checkpoints(tmp);
    Path f = ck.save("last", meta(1, 4, Checkpoints.signature(m)), new Checkpoints.State(m, g, null, null));
    Tiny other = new Tiny(5, 7);
    Optimizers.Groups og = Optimizers.create(adam(), other.params());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Checkpoints.load(f, new Checkpoints.State(other, og, null, null), 7, "tiny7"));
    assertTrue(e.getMessage().contains("4 classes") && e.getMessage().contains("7 classes"), e.getMessage());
  }

  @Test
  void differentArchitectureNamesTheFirstDifference() throws IOException {
    Tiny m = new Tiny(5, 4);
    Optimizers.Groups g = Optimizers.create(adam(), m.params());
    Path f = new Checkpoints(tmp).save("best", meta(1, 4, Checkpoints.signature(m)),
        new Checkpoints.State(m, g, null, null));
    Tiny other = new Tiny(6, 4);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Checkpoints.load(f, new Checkpoints.State(other, null, null, null), 4, "tiny-wide"));
    assertTrue(e.getMessage().contains("a.weight [8, 5]") && e.getMessage().contains("a.weight [8, 6]"), e.getMessage());
  }

  @Test
  void garbageFileIsAnIOExceptionNamingIt() throws IOException {
    Path f = tmp.resolve("junk.pt");
    Files.writeString(f, "not an archive");
    IOException e = assertThrows(IOException.class, () -> Checkpoints.readMeta(f));
    assertTrue(e.getMessage().contains("junk.pt"), e.getMessage());
    assertThrows(java.nio.file.NoSuchFileException.class, () -> Checkpoints.readMeta(tmp.resolve("none.pt")));
  }

  @Test
  void sgdGroupsGetBiasLrAndDecay() {
    Tiny m = new Tiny(3, 2);
    m.b.bias().requires_grad_(false); // like the BNNeck bias: left out
    Optimizers.Groups g = Optimizers.create(new Optimizers.Settings("sgd", 0.1, 1e-4, 0.0, 2.0, 0.9), m.params());
    assertEquals(2, g.size());
    assertEquals(0.1, g.baseLr(0), 0);
    assertEquals(0.2, g.baseLr(1), 0);
    assertEquals(2, g.params(0).size());
    assertEquals(1, g.params(1).size());
    g.setFactor(0.5);
    assertEquals(0.05, g.lr(0), 1e-12);
    assertEquals(0.1, g.lr(1), 1e-12);
    assertTrue(g.describe().contains("biases: 1 tensors"), g.describe());
    assertThrows(IllegalArgumentException.class,
        () -> Optimizers.create(new Optimizers.Settings("rmsprop", 0.1, 0, 0, 1, 0), m.params()));
  }
}
