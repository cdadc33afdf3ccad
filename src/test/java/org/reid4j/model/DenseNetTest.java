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
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DenseNet-121/169 against torchvision: parameter counts, names and shapes, loading a
 * torchvision-named file (current and older layer names), output stride with last stride 1 and 2,
 * the stages MODEL.FREEZE_STAGES counts, and training through a ReidModel.
 *
 * <p>torchvision's published parameter counts include the classifier Linear(width, 1000): width x
 * 1000 + 1000 more than the backbone holds.
 */
class DenseNetTest {
  @TempDir Path dir;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(2);
    torch.manual_seed(6);
  }

  @Test
  void parameterCountsAreTorchvisionsWithoutTheClassifier() {
    DenseNet d121 = DenseNet.create("densenet121", 3, 2);
    assertEquals(1024, d121.outChannels());
    assertEquals(7_978_856L - (1024L * 1000 + 1000), BackboneChecks.parameterCount(d121));
    DenseNet d169 = DenseNet.create("densenet169", 3, 2);
    assertEquals(1664, d169.outChannels());
    assertEquals(14_149_480L - (1664L * 1000 + 1000), BackboneChecks.parameterCount(d169));
    d121.close();
    d169.close();
  }

  @Test
  void namesAndShapesAreTorchvisions() {
    // block sizes; channels entering each block: 64, then half of what the previous block left
    int[][] configs = {{6, 12, 24, 16}, {6, 12, 32, 32}};
    String[] archs = {"densenet121", "densenet169"};
    for (int a = 0; a < archs.length; a++) {
      DenseNet b = DenseNet.create(archs[a], 3, 1);
      Set<String> names = BackboneChecks.uniqueNames(b);
      Map<String, Tensor> sd = Tensors.namedParameters(b);
      sd.putAll(Tensors.namedBuffers(b));
      assertEquals(names, sd.keySet());
      assertShape(sd, "features.conv0.weight", 64, 3, 7, 7);
      assertShape(sd, "features.norm0.running_var", 64);
      int[] cfg = configs[a];
      int channels = 64;
      int entries = 1 + 5; // conv0, norm0
      for (int i = 0; i < 4; i++) {
        String block = "features.denseblock" + (i + 1) + ".";
        assertShape(sd, block + "denselayer1.norm1.weight", channels);
        assertShape(sd, block + "denselayer1.conv1.weight", 128, channels, 1, 1);
        assertShape(sd, block + "denselayer1.norm2.num_batches_tracked");
        assertShape(sd, block + "denselayer" + cfg[i] + ".conv1.weight", 128, channels + 32L * (cfg[i] - 1), 1, 1);
        assertShape(sd, block + "denselayer" + cfg[i] + ".conv2.weight", 32, 128, 3, 3);
        assertFalse(sd.containsKey(block + "denselayer" + (cfg[i] + 1) + ".conv1.weight"), block);
        entries += cfg[i] * (5 + 1 + 5 + 1);
        channels += 32 * cfg[i];
        if (i < 3) {
          String t = "features.transition" + (i + 1) + ".";
          assertShape(sd, t + "norm.weight", channels);
          assertShape(sd, t + "conv.weight", channels / 2, channels, 1, 1);
          entries += 5 + 1;
          channels /= 2;
        }
      }
      assertFalse(sd.containsKey("features.transition4.conv.weight"));
      assertShape(sd, "features.norm5.weight", channels);
      assertShape(sd, "features.norm5.running_mean", channels);
      entries += 5;
      assertEquals(b.outChannels(), channels);
      assertEquals(entries, sd.size(), archs[a] + ": state-dict entries");
      assertTrue(names.stream().allMatch(n -> n.startsWith("features.")), archs[a]);
      b.close();
    }
    // densenet121's transitions, as torchvision prints them: 256 -> 128, 512 -> 256, 1024 -> 512
    Map<String, Tensor> sd = Tensors.namedParameters(DenseNet.create("densenet121", 3, 2));
    assertShape(sd, "features.transition1.conv.weight", 128, 256, 1, 1);
    assertShape(sd, "features.transition2.conv.weight", 256, 512, 1, 1);
    assertShape(sd, "features.transition3.conv.weight", 512, 1024, 1, 1);
  }

  @Test
  void loadsATorchvisionNamedFileSkippingTheClassifier() throws Exception {
    BackboneChecks.loadsByName(ModelSpec.defaults("densenet121"), dir,
        Map.of("classifier.weight", Tensors.zeros(Tensors.CPU, 1000, 1024),
            "classifier.bias", Tensors.zeros(Tensors.CPU, 1000)), n -> n);
  }

  /** torchvision's published DenseNet files name layers norm.1, conv.1, norm.2, conv.2; they load too. */
  @Test
  void loadsTheOlderDenseLayerNames() throws Exception {
    BackboneChecks.loadsByName(ModelSpec.defaults("densenet121").withLastStride(2), dir,
        Map.of("classifier.weight", Tensors.zeros(Tensors.CPU, 1000, 1024),
            "classifier.bias", Tensors.zeros(Tensors.CPU, 1000)),
        n -> n.replaceAll("(denselayer\\d+)\\.(norm|conv)([12])\\.(weight|bias|running_mean|running_var)$",
            "$1.$2.$3.$4"));
    assertEquals("features.denseblock2.denselayer7.norm1.weight",
        Pretrained.canonical("features.denseblock2.denselayer7.norm.1.weight"));
    assertEquals("features.denseblock1.denselayer1.conv2.weight",
        Pretrained.canonical("backbone.features.denseblock1.denselayer1.conv.2.weight"));
    assertEquals("features.transition1.norm.weight", Pretrained.canonical("features.transition1.norm.weight"));
  }

  @Test
  void lastStrideDropsTransition3sPool() {
    for (String arch : new String[] {"densenet121", "densenet169"}) {
      DenseNet s1 = DenseNet.create(arch, 3, 1);
      DenseNet s2 = DenseNet.create(arch, 3, 2);
      assertEquals(16, s1.outputStride());
      assertEquals(32, s2.outputStride());
      for (DenseNet b : new DenseNet[] {s1, s2}) {
        long[] shape = BackboneChecks.mapShape(b, 2, 3, 64, 32);
        assertArrayEquals(new long[] {2, b.outChannels(), 64 / b.outputStride(), 32 / b.outputStride()}, shape,
            arch + " output stride " + b.outputStride());
      }
      Map<String, Tensor> a = Tensors.namedParameters(s1);
      Map<String, Tensor> b = Tensors.namedParameters(s2);
      assertEquals(a.keySet(), b.keySet());
      for (String k : a.keySet()) assertArrayEquals(a.get(k).shape(), b.get(k).shape(), k);
      s1.close();
      s2.close();
    }
    assertThrows(IllegalArgumentException.class, () -> DenseNet.create("densenet121", 3, 4));
    assertThrows(IllegalArgumentException.class, () -> DenseNet.create("densenet201", 3, 1));
  }

  @Test
  void outputIsAfterNorm5AndReLU() {
    DenseNet b = DenseNet.create("densenet121", 3, 1);
    b.eval();
    try (org.bytedeco.javacpp.PointerScope s = new org.bytedeco.javacpp.PointerScope()) {
      Tensor y = b.forward(torch.randn(2, 3, 32, 32));
      assertEquals(0.0, y.min().item_double(), 0.0, "ReLU after norm5: no negative outputs, some zeros");
      assertTrue(y.max().item_double() > 0);
    }
  }

  @Test
  void freezeStagesCountsTheStemAndDenseBlocksWithTheirTransitions() {
    DenseNet b = DenseNet.create("densenet121", 3, 1);
    assertEquals(4, b.numStages());
    BackboneChecks.stagesCover(b, "densenet121", n -> {
      List<String> p = new ArrayList<>(List.of("features.conv0.", "features.norm0."));
      for (int i = 1; i <= n; i++) {
        p.add("features.denseblock" + i + ".");
        p.add(i < 4 ? "features.transition" + i + "." : "features.norm5.");
      }
      return p;
    });
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.stemAndStages(5));
    assertTrue(e.getMessage().contains("MODEL.FREEZE_STAGES") && e.getMessage().contains("[0, 4]"), e.getMessage());
  }

  @Test
  void trainsUnderEveryHeadKind() {
    for (String head : new String[] {"linear", "arcface"})
      BackboneChecks.trainStep(ModelSpec.defaults("densenet121").withHead(head, 30, 0.5), 64, 32);
  }

  @Test
  void ibnIsRefusedNamingTheKey() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.defaults("densenet169").withIbn(true));
    assertTrue(e.getMessage().contains("MODEL.IBN") && e.getMessage().contains("densenet169"), e.getMessage());
  }

  @Test
  void survivesGarbageCollection() throws InterruptedException {
    ReidModel m = ReidModel.build(ModelSpec.defaults("densenet121"), 3, 5);
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
