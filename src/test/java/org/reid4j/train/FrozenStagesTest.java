package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.reid4j.config.TrainConfig;
import org.reid4j.loss.CrossEntropyLabelSmooth;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/**
 * MODEL.FREEZE_STAGES: after Adam steps with weight decay, every parameter and BatchNorm statistic of
 * the stem and the first N stages is bit-identical to its value before, and those of the later
 * stages have moved.
 */
class FrozenStagesTest {
  @BeforeAll
  static void threads() {
    torch.set_num_threads(2);
  }

  /** name -> a private copy of every state-dict entry. */
  private static Map<String, Tensor> snapshot(ReidModel m) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    try (NoGradGuard g = new NoGradGuard()) {
      for (var e : m.stateDict().entrySet()) {
        Tensor c = e.getValue().clone();
        c.retainReference();
        out.put(e.getKey(), c);
      }
    }
    return out;
  }

  /**
   * Freezes n stages, takes a few Adam steps (weight decay 5e-4, as BoT) in train mode the way the
   * trainer does, and checks each backbone entry against {@code frozenPrefixes}.
   */
  private static void check(ModelSpec spec, int channels, int h, int w, int n, List<String> frozenPrefixes,
      List<String> movingPrefixes) {
    torch.manual_seed(3);
    int[] labels = {0, 0, 1, 1, 2, 2, 3, 3};
    ReidModel m = ReidModel.build(spec, channels, 4);
    FrozenStages frozen = new FrozenStages(m, n);
    List<Optimizers.Param> params = new ArrayList<>();
    for (ReidModel.NamedParam p : m.namedParams()) params.add(new Optimizers.Param(p.name(), p.tensor(), p.isBias()));
    Optimizers.Groups groups = Optimizers.create(new Optimizers.Settings("adam", 1e-2, 5e-4, 5e-4, 1.0, 0.9), params);
    int frozenParams = 0;
    for (ReidModel.NamedParam p : m.namedParams())
      if (frozenPrefixes.stream().anyMatch(p.name()::startsWith)) frozenParams++;
    assertTrue(frozenParams > 0 && frozenParams == frozen.tensors(), spec.backbone() + ": " + frozen.tensors());
    int inOptimizer = 0;
    for (int g = 0; g < groups.size(); g++) inOptimizer += (int) groups.params(g).size();
    assertEquals(m.namedParams().size() - frozenParams, inOptimizer, "the optimiser leaves the frozen tensors out");

    Map<String, Tensor> before = snapshot(m);
    CrossEntropyLabelSmooth ce = new CrossEntropyLabelSmooth(4, 0.1);
    for (int step = 0; step < 3; step++) {
      m.train(true);
      frozen.keepInEval();
      try (PointerScope s = new PointerScope()) {
        Tensor y = Tensors.longs(labels, Tensors.CPU);
        Tensor x = torch.randn(labels.length, channels, h, w).mul(Tensors.scalar(2)).add(Tensors.scalar(0.5));
        groups.zeroGrad();
        ce.forward(m.forward(x, y).logits(), y).backward();
        groups.step();
      }
    }
    int same = 0, moved = 0;
    for (var e : m.stateDict().entrySet()) {
      String name = e.getKey();
      boolean equal = torch.equal(e.getValue(), before.get(name));
      if (frozenPrefixes.stream().anyMatch(name::startsWith)) {
        assertTrue(equal, spec.backbone() + " N=" + n + ": frozen " + name + " changed");
        same++;
      } else if (movingPrefixes.stream().anyMatch(name::startsWith) && !name.endsWith("num_batches_tracked")) {
        assertFalse(equal, spec.backbone() + " N=" + n + ": " + name + " of a later stage did not train");
        moved++;
      }
    }
    assertTrue(same > 0 && moved > 0, same + " frozen, " + moved + " moving entries checked");
    for (Tensor t : before.values()) t.releaseReference();
  }

  @Test
  void smallCnnStemAndTwoStagesStayBitIdentical() {
    check(ModelSpec.defaults("small_cnn"), 1, 28, 28, 2,
        List.of("backbone.conv1.", "backbone.bn1.", "backbone.conv2.", "backbone.bn2.", "backbone.conv3.",
            "backbone.bn3."),
        List.of("backbone.conv4.", "backbone.bn4.", "neck.weight", "head."));
  }

  @Test
  void resnetStemAndLayer1StayBitIdentical() {
    check(ModelSpec.defaults("resnet18").withIbn(true), 3, 64, 32, 1,
        List.of("backbone.conv1.", "backbone.bn1.", "backbone.layer1."),
        List.of("backbone.layer2.", "backbone.layer3.", "backbone.layer4.", "neck.weight"));
  }

  @Test
  void efficientnetStemAndThreeStagesStayBitIdentical() {
    check(ModelSpec.defaults("efficientnet_b0"), 3, 64, 32, 3,
        List.of("backbone.features.0.", "backbone.features.1.", "backbone.features.2.", "backbone.features.3."),
        List.of("backbone.features.4.", "backbone.features.6.", "backbone.features.8.", "neck.weight"));
  }

  @Test
  void densenetStemAndTwoStagesStayBitIdentical() {
    check(ModelSpec.defaults("densenet121"), 3, 64, 32, 2,
        List.of("backbone.features.conv0.", "backbone.features.norm0.", "backbone.features.denseblock1.",
            "backbone.features.transition1.", "backbone.features.denseblock2.", "backbone.features.transition2."),
        List.of("backbone.features.denseblock3.", "backbone.features.transition3.", "backbone.features.norm5.",
            "neck.weight"));
  }

  @Test
  void stageCountsMatchTheConfigAndBadCountsAreRefused() {
    for (String backbone : List.of("small_cnn", "resnet18")) {
      ReidModel m = ReidModel.build(ModelSpec.defaults(backbone), backbone.equals("small_cnn") ? 1 : 3, 4);
      int stages = m.backbone().numStages();
      assertEquals(TrainConfig.backboneStages(backbone), stages, backbone);
      assertTrue(m.backbone().stemAndStages(0).isEmpty());
      assertEquals(m.backbone().stemAndStages(stages).size(), m.backbone().stemAndStages(stages - 1).size()
          + (backbone.equals("small_cnn") ? 2 : 1), "one more stage, one more (conv, bn) pair or layer");
      for (int bad : new int[] {-1, stages + 1}) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new FrozenStages(m, bad));
        assertTrue(e.getMessage().contains("MODEL.FREEZE_STAGES") && e.getMessage().contains("[0, " + stages + "]")
            && e.getMessage().contains("got " + bad), e.getMessage());
      }
    }
  }

  @Test
  void zeroFreezesNothing() {
    ReidModel m = ReidModel.build(ModelSpec.defaults("small_cnn"), 1, 4);
    FrozenStages f = new FrozenStages(m, 0);
    assertFalse(f.any());
    assertTrue(m.namedParams().stream().allMatch(p -> p.tensor().requires_grad()));
  }
}
