package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.loss.CenterLoss;
import org.reid4j.loss.CrossEntropyLabelSmooth;
import org.reid4j.loss.TripletLoss;

/** One BoT-style training step reaches every trainable parameter, and never the BNNeck bias. */
class GradientFlowTest {
  @BeforeAll
  static void threads() {
    torch.set_num_threads(2);
    torch.manual_seed(11);
  }

  static Kernels miner() {
    return Kernels.create(Kernels.unavailableReason(Backend.CPU) == null ? Backend.CPU : Backend.JAVA);
  }

  private static void checkStep(ModelSpec spec, int channels, int h, int w) {
    int classes = 3;
    int[] labels = {0, 0, 1, 1, 2, 2};
    ReidModel m = ReidModel.build(spec, channels, classes);
    CenterLoss center = new CenterLoss(classes, m.featureDim());
    CrossEntropyLabelSmooth ce = new CrossEntropyLabelSmooth(classes, 0.1);
    m.train(true);
    try (PointerScope s = new PointerScope()) {
      Tensor y = Tensors.longs(labels, Tensors.CPU);
      ReidModel.Output o = m.forward(torch.randn(labels.length, channels, h, w), y);
      // a margin of 10 keeps every triplet active so the check does not depend on the random draw
      Tensor loss = ce.forward(o.logits(), y)
          .add(new TripletLoss(10.0, false, miner()).forward(o.globalFeat(), labels).loss())
          .add(center.forward(o.globalFeat(), y).mul(Tensors.scalar(5e-4)));
      loss.backward();
      assertTrue(Double.isFinite(loss.item_double()));
      int checked = 0;
      for (ReidModel.NamedParam p : m.namedParams()) {
        Tensor g = p.tensor().grad();
        assertTrue(g.defined(), spec + ": no gradient for " + p.name());
        assertTrue(g.abs().sum().item_double() > 0, spec + ": zero gradient for " + p.name());
        assertEquals(p.name().endsWith("bias"), p.isBias(), p.name());
        checked++;
      }
      assertEquals(m.backboneParameters().size() + m.headParameters().size(), checked);
      assertTrue(center.centers().grad().defined());
      Map<String, Tensor> sd = m.stateDict();
      if (spec.neck().equals("bnneck")) {
        Tensor bias = sd.get("neck.bias");
        assertFalse(bias.requires_grad(), "BNNeck bias must be frozen");
        assertTrue(!bias.grad().defined() || bias.grad().abs().sum().item_double() == 0, "BNNeck bias got a gradient");
        assertTrue(m.namedParams().stream().noneMatch(p -> p.name().equals("neck.bias")));
        assertTrue(sd.get("neck.weight").grad().defined());
      }
    }
  }

  @Test
  void smallCnnEveryHead() {
    for (String head : new String[] {"linear", "arcface", "cosface", "curricularface"}) {
      double margin = head.equals("cosface") ? 0.35 : 0.5;
      checkStep(ModelSpec.defaults("small_cnn").withPooling("gem").withHead(head, 30, margin).withDropout(0.1),
          1, 28, 28);
    }
    checkStep(ModelSpec.defaults("small_cnn").withNeck("none", "before").withPooling("max"), 1, 28, 28);
  }

  @Test
  void resnet18IbnGem() {
    checkStep(ModelSpec.defaults("resnet18").withIbn(true).withPooling("gem"), 3, 64, 32);
  }

  @Test
  void resnet18WithReduction() {
    checkStep(ModelSpec.defaults("resnet18").withEmbedDim(128).withLastStride(2), 3, 64, 32);
  }
}
