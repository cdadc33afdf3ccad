package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.reid4j.model.BackboneChecks.assertShape;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * EfficientNet-B0..B4 against torchvision: parameter counts, names and shapes, loading a
 * torchvision-named file, output stride with last stride 1 and 2, the stages MODEL.FREEZE_STAGES
 * counts, training through a ReidModel, and stochastic depth.
 *
 * <p>torchvision's published parameter counts include the classifier Linear(width, 1000), which the
 * backbone does not hold: width x 1000 + 1000 fewer. The widths (stem, last stage, head) and depths
 * per stage are those of torchvision's efficientnet_b0..b4.
 */
class EfficientNetTest {
  @TempDir Path dir;

  /** arch, torchvision num_params, stem width, last stage width, head width, blocks per stage. */
  private record Variant(String arch, long torchvisionParams, int stem, int last, int head, int[] depths) {}

  private static final List<Variant> VARIANTS = List.of(
      new Variant("efficientnet_b0", 5_288_548, 32, 320, 1280, new int[] {1, 2, 2, 3, 3, 4, 1}),
      new Variant("efficientnet_b1", 7_794_184, 32, 320, 1280, new int[] {2, 3, 3, 4, 4, 5, 2}),
      new Variant("efficientnet_b2", 9_109_994, 32, 352, 1408, new int[] {2, 3, 3, 4, 4, 5, 2}),
      new Variant("efficientnet_b3", 12_233_232, 40, 384, 1536, new int[] {2, 3, 3, 5, 5, 6, 2}),
      new Variant("efficientnet_b4", 19_341_616, 48, 448, 1792, new int[] {2, 4, 4, 6, 6, 8, 2}));

  @BeforeAll
  static void threads() {
    torch.set_num_threads(2);
    torch.manual_seed(5);
  }

  @Test
  void parameterCountsAreTorchvisionsWithoutTheClassifier() {
    for (Variant v : VARIANTS) {
      EfficientNet b = EfficientNet.create(v.arch, 3, 2);
      assertEquals(v.head, b.outChannels(), v.arch);
      assertArrayEquals(v.depths, b.stageDepths(), v.arch);
      long classifier = (long) v.head * 1000 + 1000;
      assertEquals(v.torchvisionParams - classifier, BackboneChecks.parameterCount(b), v.arch);
      b.close();
    }
  }

  @Test
  void namesAndShapesAreTorchvisions() {
    for (Variant v : VARIANTS) {
      EfficientNet b = EfficientNet.create(v.arch, 3, 1);
      Set<String> names = BackboneChecks.uniqueNames(b);
      Map<String, Tensor> sd = Tensors.namedParameters(b);
      sd.putAll(Tensors.namedBuffers(b));
      assertEquals(names, sd.keySet());
      // stem: conv - BN
      assertShape(sd, "features.0.0.weight", v.stem, 3, 3, 3);
      assertShape(sd, "features.0.1.running_mean", v.stem);
      assertShape(sd, "features.0.1.num_batches_tracked");
      // stage 1 (expansion 1): depthwise 3x3 is block.0, squeeze-excitation block.1, projection block.2
      assertShape(sd, "features.1.0.block.0.0.weight", v.stem, 1, 3, 3);
      assertShape(sd, "features.1.0.block.1.fc1.weight", v.stem / 4, v.stem, 1, 1);
      assertShape(sd, "features.1.0.block.1.fc1.bias", v.stem / 4);
      assertShape(sd, "features.1.0.block.1.fc2.weight", v.stem, v.stem / 4, 1, 1);
      assertFalse(sd.containsKey("features.1.0.block.3.0.weight"), v.arch + ": no expansion in stage 1");
      // stage 6's first block: expansion 1x1 (block.0), depthwise 5x5 (block.1), SE squeezing the block input / 4
      int in6 = EfficientNet.roundWidth(112 * widthMult(v));
      int out6 = EfficientNet.roundWidth(192 * widthMult(v));
      assertShape(sd, "features.6.0.block.0.0.weight", 6L * in6, in6, 1, 1);
      assertShape(sd, "features.6.0.block.1.0.weight", 6L * in6, 1, 5, 5);
      assertShape(sd, "features.6.0.block.2.fc1.weight", in6 / 4, 6L * in6, 1, 1);
      assertShape(sd, "features.6.0.block.3.0.weight", out6, 6L * in6, 1, 1);
      assertShape(sd, "features.6.0.block.3.1.running_var", out6);
      // stage 7 projects to the last width; the head conv to 4 x that width; nothing after it
      assertShape(sd, "features.7.0.block.3.0.weight", v.last, 6L * out6, 1, 1);
      assertShape(sd, "features.7." + (v.depths[6] - 1) + ".block.0.0.weight", 6L * (v.depths[6] > 1 ? v.last : out6),
          v.depths[6] > 1 ? v.last : out6, 1, 1);
      assertShape(sd, "features.8.0.weight", v.head, v.last, 1, 1);
      assertShape(sd, "features.8.1.bias", v.head);
      assertTrue(names.stream().noneMatch(n -> n.startsWith("features.9") || n.startsWith("classifier")), v.arch);
      assertTrue(names.stream().allMatch(n -> n.startsWith("features.")), v.arch);
      b.close();
    }
  }

  private static double widthMult(Variant v) {
    return switch (v.arch) {
      case "efficientnet_b2" -> 1.1;
      case "efficientnet_b3" -> 1.2;
      case "efficientnet_b4" -> 1.4;
      default -> 1.0;
    };
  }

  @Test
  void channelRoundingIsTheMobileNetRule() {
    assertEquals(32, EfficientNet.roundWidth(32));
    assertEquals(40, EfficientNet.roundWidth(32 * 1.2)); // 38.4 -> 40
    assertEquals(48, EfficientNet.roundWidth(32 * 1.4)); // 44.8 -> 48
    assertEquals(24, EfficientNet.roundWidth(24 * 1.1)); // 26.4 -> 24 (within 10%)
    assertEquals(16, EfficientNet.roundWidth(13)); // 13 -> 16
    assertEquals(16, EfficientNet.roundWidth(17)); // 17 -> 16 (within 10%)
    assertEquals(24, EfficientNet.roundWidth(17.9)); // 17.9 -> 16 is more than 10% down: 24
    assertEquals(8, EfficientNet.roundWidth(2)); // at least 8
    assertEquals(3, EfficientNet.roundDepth(2, 1.4)); // 2.8 -> 3
    assertEquals(2, EfficientNet.roundDepth(1, 1.1)); // 1.1 -> 2
  }

  @Test
  void loadsATorchvisionNamedFileSkippingTheClassifier() throws Exception {
    BackboneChecks.loadsByName(ModelSpec.defaults("efficientnet_b0"), dir,
        Map.of("classifier.1.weight", Tensors.zeros(Tensors.CPU, 1000, 1280),
            "classifier.1.bias", Tensors.zeros(Tensors.CPU, 1000)), n -> n);
  }

  @Test
  void lastStrideSetsFeatures6sStride() {
    for (String arch : new String[] {"efficientnet_b0", "efficientnet_b2"}) {
      EfficientNet s1 = EfficientNet.create(arch, 3, 1);
      EfficientNet s2 = EfficientNet.create(arch, 3, 2);
      assertEquals(16, s1.outputStride());
      assertEquals(32, s2.outputStride());
      for (EfficientNet b : new EfficientNet[] {s1, s2}) {
        long[] shape = BackboneChecks.mapShape(b, 2, 3, 64, 32);
        assertArrayEquals(new long[] {2, b.outChannels(), 64 / b.outputStride(), 32 / b.outputStride()}, shape,
            arch + " output stride " + b.outputStride());
      }
      long[] square = BackboneChecks.mapShape(s1, 2, 3, 32, 32);
      assertArrayEquals(new long[] {2, s1.outChannels(), 2, 2}, square);
      // the weights do not depend on the stride: one's state loads into the other
      Map<String, Tensor> a = Tensors.namedParameters(s1);
      Map<String, Tensor> b = Tensors.namedParameters(s2);
      assertEquals(a.keySet(), b.keySet());
      for (String k : a.keySet()) assertArrayEquals(a.get(k).shape(), b.get(k).shape(), k);
    }
    assertThrows(IllegalArgumentException.class, () -> EfficientNet.create("efficientnet_b0", 3, 3));
    assertThrows(IllegalArgumentException.class, () -> EfficientNet.create("efficientnet_b7", 3, 1));
  }

  @Test
  void greyInputChangesOnlyTheStem() {
    EfficientNet grey = EfficientNet.create("efficientnet_b0", 1, 1);
    assertArrayEquals(new long[] {32, 1, 3, 3}, Tensors.namedParameters(grey).get("features.0.0.weight").shape());
    assertArrayEquals(new long[] {2, 1280, 4, 2}, BackboneChecks.mapShape(grey, 2, 1, 64, 32));
  }

  @Test
  void freezeStagesCountsTheStemAndFeatures1To7() {
    EfficientNet b = EfficientNet.create("efficientnet_b0", 3, 1);
    assertEquals(7, b.numStages());
    BackboneChecks.stagesCover(b, "efficientnet_b0", n -> {
      List<String> p = new ArrayList<>();
      for (int i = 0; i <= n; i++) p.add("features." + i + ".");
      if (n == 7) p.add("features.8.");
      return p;
    });
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.stemAndStages(8));
    assertTrue(e.getMessage().contains("MODEL.FREEZE_STAGES") && e.getMessage().contains("[0, 7]"), e.getMessage());
  }

  @Test
  void trainsUnderEveryHeadKind() {
    for (String head : new String[] {"linear", "arcface"})
      BackboneChecks.trainStep(ModelSpec.defaults("efficientnet_b0").withHead(head, 30, 0.5), 64, 32);
    BackboneChecks.trainStep(ModelSpec.defaults("efficientnet_b0").withPooling("gem").withEmbedDim(256)
        .withHead("cosface", 30, 0.35), 32, 32);
  }

  /**
   * Stochastic depth: in training the residual branches are dropped at random (two forwards of the
   * same batch differ even though BN uses the same batch statistics), in evaluation never.
   */
  @Test
  void stochasticDepthOnlyInTraining() {
    torch.manual_seed(9);
    EfficientNet b = EfficientNet.create("efficientnet_b0", 3, 1);
    try (PointerScope s = new PointerScope()) {
      Tensor x = torch.randn(4, 3, 32, 32);
      b.train(true);
      Tensor t1 = b.forward(x);
      Tensor t2 = b.forward(x);
      assertFalse(torch.allclose(t1, t2, 1e-6, 1e-6, false), "training forwards drop different branches");
      b.eval();
      assertTrue(torch.equal(b.forward(x), b.forward(x)), "evaluation is deterministic");
    }
  }

  @Test
  void ibnIsRefusedNamingTheKey() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.defaults("efficientnet_b3").withIbn(true));
    assertTrue(e.getMessage().contains("MODEL.IBN") && e.getMessage().contains("efficientnet_b3"), e.getMessage());
  }

  @Test
  void survivesGarbageCollection() throws InterruptedException {
    ReidModel m = ReidModel.build(ModelSpec.defaults("efficientnet_b0"), 3, 5);
    for (int i = 0; i < 3; i++) {
      byte[][] garbage = new byte[64][];
      for (int k = 0; k < garbage.length; k++) garbage[k] = new byte[1 << 20];
      System.gc();
      Thread.sleep(20);
    }
    m.eval();
    m.train(true);
    m.to(Tensors.CPU, false);
    m.close();
  }
}
