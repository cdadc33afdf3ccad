package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.config.TrainConfig;
import org.reid4j.loss.CrossEntropyLabelSmooth;

/** Checks shared by the torchvision-named backbone tests (EfficientNetTest, DenseNetTest). */
final class BackboneChecks {
  private BackboneChecks() {}

  /** Number of parameter scalars (buffers not counted), as torchvision's num_params. */
  static long parameterCount(Module m) {
    long n = 0;
    for (Tensor t : Tensors.namedParameters(m).values()) n += t.numel();
    return n;
  }

  /** Every parameter and buffer name of the backbone, asserting that none occurs twice. */
  static Set<String> uniqueNames(Backbone b) {
    Set<String> names = new HashSet<>();
    int entries = 0;
    for (StringTensorDict d : new StringTensorDict[] {b.named_parameters(true), b.named_buffers(true)}) {
      for (long i = 0; i < d.size(); i++) {
        String name = d.get(i).key().getString();
        assertTrue(names.add(name), "duplicate entry " + name);
        entries++;
      }
    }
    assertEquals(entries, names.size());
    return names;
  }

  static void assertShape(Map<String, Tensor> state, String name, long... shape) {
    Tensor t = state.get(name);
    assertNotNull(t, "no entry " + name);
    assertArrayEquals(shape, t.shape(), name);
  }

  /** The feature map shape of a forward pass in eval mode on random [n, c, h, w] images. */
  static long[] mapShape(Backbone b, int n, int c, int h, int w) {
    b.eval();
    try (PointerScope s = new PointerScope()) {
      return b.forward(torch.randn(n, c, h, w)).shape();
    }
  }

  /**
   * Writes {@code src}'s backbone state with torchvision names plus {@code classifier} entries to a
   * safetensors file and loads it into a freshly built model of the same spec: every backbone entry is
   * copied and equals the source afterwards.
   */
  static void loadsByName(ModelSpec spec, Path dir, Map<String, Tensor> classifier,
      java.util.function.UnaryOperator<String> fileName) throws Exception {
    torch.manual_seed(21);
    ReidModel src = ReidModel.build(spec, 3, 5);
    // running statistics away from libtorch's 0/1 defaults, so a missed buffer would show
    try (PointerScope s = new PointerScope()) {
      src.train(true);
      src.backbone().forward(torch.randn(2, 3, 64, 32).mul(Tensors.scalar(3)).add(Tensors.scalar(1)));
    }
    Map<String, Tensor> state = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, Tensor> e : PretrainedTest.backboneState(src).entrySet())
      state.put(fileName.apply(e.getKey()), e.getValue());
    Path f = dir.resolve(spec.backbone() + ".safetensors");
    PretrainedTest.writeSafetensors(f, state, false, classifier);
    torch.manual_seed(22);
    ReidModel dst = ReidModel.build(spec, 3, 7);
    String first = dst.stateDict().keySet().stream().filter(k -> k.startsWith("backbone.")).findFirst().orElseThrow();
    assertFalse(torch.equal(src.stateDict().get(first), dst.stateDict().get(first)), "differs before loading");
    int entries = Tensors.namedParameters(dst.backbone()).size() + Tensors.namedBuffers(dst.backbone()).size();
    assertEquals(entries, Pretrained.load(dst.backbone(), f), spec.backbone() + ": every entry copied");
    Map<String, Tensor> s = src.stateDict();
    Map<String, Tensor> d = dst.stateDict();
    int compared = 0;
    for (Map.Entry<String, Tensor> e : d.entrySet()) {
      if (!e.getKey().startsWith("backbone.")) continue;
      assertTrue(torch.equal(s.get(e.getKey()), e.getValue()), spec.backbone() + ": " + e.getKey() + " not loaded");
      compared++;
    }
    assertEquals(entries, compared);
  }

  /**
   * A training step of a ReidModel on the backbone: forward on 6 small images, identity loss,
   * backward; every trainable parameter gets a finite, non-zero gradient.
   */
  static void trainStep(ModelSpec spec, int h, int w) {
    int[] labels = {0, 0, 1, 1, 2, 2};
    ReidModel m = ReidModel.build(spec, 3, 3);
    m.train(true);
    try (PointerScope s = new PointerScope()) {
      Tensor y = Tensors.longs(labels, Tensors.CPU);
      ReidModel.Output o = m.forward(torch.randn(labels.length, 3, h, w), y);
      assertArrayEquals(new long[] {labels.length, m.featureDim()}, o.globalFeat().shape());
      assertArrayEquals(new long[] {labels.length, 3}, o.logits().shape());
      Tensor loss = new CrossEntropyLabelSmooth(3, 0.1).forward(o.logits(), y);
      loss.backward();
      assertTrue(Double.isFinite(loss.item_double()), spec.backbone() + " " + spec.head());
      for (ReidModel.NamedParam p : m.namedParams()) {
        Tensor g = p.tensor().grad();
        assertTrue(g.defined(), spec.backbone() + " " + spec.head() + ": no gradient for " + p.name());
        double sum = g.abs().sum().item_double();
        assertTrue(Double.isFinite(sum) && sum > 0, spec.backbone() + " " + spec.head() + ": gradient of "
            + p.name() + " is " + sum);
      }
    }
    m.eval();
    try (PointerScope s = new PointerScope()) {
      assertArrayEquals(new long[] {2, m.featureDim()}, m.embed(torch.randn(2, 3, h, w)).shape());
    }
  }

  /**
   * stemAndStages: empty for 0, the stage count the config checks, each n adding parameters, and all
   * stages together holding every backbone parameter (so FREEZE_STAGES = numStages freezes it all).
   * {@code prefixesOf(n)} names the entries the stem and first n stages must hold.
   */
  static void stagesCover(Backbone b, String arch, java.util.function.IntFunction<List<String>> prefixesOf) {
    int stages = b.numStages();
    assertEquals(TrainConfig.backboneStages(arch), stages, arch);
    assertTrue(b.stemAndStages(0).isEmpty());
    Map<String, Tensor> all = Tensors.namedParameters(b);
    long previous = 0;
    for (int n = 1; n <= stages; n++) {
      long count = 0;
      for (Module m : b.stemAndStages(n)) count += Tensors.namedParameters(m).size();
      List<String> prefixes = prefixesOf.apply(n);
      long want = all.keySet().stream().filter(k -> prefixes.stream().anyMatch(k::startsWith)).count();
      assertEquals(want, count, arch + ": parameters of the stem and " + n + " stages");
      assertTrue(count > previous, arch + ": stage " + n + " adds parameters");
      previous = count;
    }
    assertEquals(all.size(), previous, arch + ": all stages cover the backbone");
  }
}
