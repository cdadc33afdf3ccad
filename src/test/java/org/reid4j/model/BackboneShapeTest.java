package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Output shapes of every backbone on small inputs (ResNet-50/101 at 64x32, batch 2, to stay fast). */
class BackboneShapeTest {
  @BeforeAll
  static void threads() {
    torch.set_num_threads(2);
    torch.manual_seed(7);
  }

  private static long[] mapShape(Backbone b, int n, int c, int h, int w) {
    try (PointerScope s = new PointerScope()) {
      Tensor x = torch.randn(n, c, h, w);
      return b.forward(x).shape();
    }
  }

  @Test
  void smallCnnOn28x28GivesA7x7Map() {
    SmallCnn b = new SmallCnn(1, 128);
    assertArrayEquals(new long[] {2, 128, 7, 7}, mapShape(b, 2, 1, 28, 28));
    assertEquals(128, b.outChannels());
    ReidModel m = ReidModel.build(ModelSpec.defaults("small_cnn").withLastStride(2).withEmbedDim(64), 1, 10);
    assertEquals(64, m.featureDim());
    assertArrayEquals(new long[] {2, 64, 7, 7}, mapShape(m.backbone(), 2, 1, 28, 28));
  }

  @Test
  void smallCnnLastStride1KeepsA14x14Map() {
    SmallCnn b = new SmallCnn(1, 128, 1);
    assertArrayEquals(new long[] {2, 128, 14, 14}, mapShape(b, 2, 1, 28, 28));
    assertEquals(2, b.outputStride());
    assertEquals(4, new SmallCnn(1, 128, 2).outputStride());
    assertThrows(IllegalArgumentException.class, () -> new SmallCnn(1, 128, 3));
  }

  @Test
  void resnet18And34LastStride1And2() {
    for (String arch : new String[] {"resnet18", "resnet34"}) {
      ResNet s1 = ResNet.create(arch, 3, 1, false);
      ResNet s2 = ResNet.create(arch, 3, 2, false);
      // 64x32 -> stem /4 -> 16x8 -> layer2 /2 -> 8x4 -> layer3 /2 -> 4x2 -> layer4 /lastStride
      assertArrayEquals(new long[] {2, 512, 4, 2}, mapShape(s1, 2, 3, 64, 32), arch + " last stride 1");
      assertArrayEquals(new long[] {2, 512, 2, 1}, mapShape(s2, 2, 3, 64, 32), arch + " last stride 2");
      assertEquals(16, s1.outputStride());
      assertEquals(32, s2.outputStride());
    }
  }

  @Test
  void resnet50And101Shapes() {
    for (String arch : new String[] {"resnet50", "resnet101"}) {
      ResNet b = ResNet.create(arch, 3, 1, false);
      assertEquals(2048, b.outChannels());
      assertArrayEquals(new long[] {2, 2048, 4, 2}, mapShape(b, 2, 3, 64, 32), arch);
    }
    ResNet s2 = ResNet.create("resnet50", 3, 2, true);
    assertArrayEquals(new long[] {2, 2048, 2, 1}, mapShape(s2, 2, 3, 64, 32), "resnet50-ibn-a, last stride 2");
  }

  @Test
  void modelOutputsHaveFeatureAndClassShapes() {
    ReidModel m = ReidModel.build(ModelSpec.defaults("resnet18").withPooling("gem"), 3, 7);
    try (PointerScope s = new PointerScope()) {
      m.train(true);
      ReidModel.Output o = m.forward(torch.randn(3, 3, 64, 32), null);
      assertArrayEquals(new long[] {3, 512}, o.globalFeat().shape());
      assertArrayEquals(new long[] {3, 512}, o.neckFeat().shape());
      assertArrayEquals(new long[] {3, 7}, o.logits().shape());
      m.eval();
      assertArrayEquals(new long[] {3, 512}, m.embed(torch.randn(3, 3, 64, 32)).shape());
    }
    ReidModel r = ReidModel.build(ModelSpec.defaults("resnet18").withEmbedDim(256), 3, 7);
    assertEquals(256, r.featureDim());
    try (PointerScope s = new PointerScope()) {
      r.eval();
      assertArrayEquals(new long[] {2, 256}, r.embed(torch.randn(2, 3, 64, 32)).shape());
    }
  }

  @Test
  void badSpecsAndInputsAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> ModelSpec.defaults("resnet152"));
    assertThrows(IllegalArgumentException.class, () -> ModelSpec.defaults("resnet50").withLastStride(3));
    assertThrows(IllegalArgumentException.class, () -> ModelSpec.defaults("resnet50").withPooling("sum"));
    ReidModel m = ReidModel.build(ModelSpec.defaults("small_cnn"), 1, 3);
    try (PointerScope s = new PointerScope()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> m.forward(torch.randn(2, 3, 28, 28), null));
      org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[N, 1, H, W]"), e.getMessage());
    }
  }
}
