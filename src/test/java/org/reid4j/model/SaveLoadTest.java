package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SaveLoadTest {
  @TempDir Path dir;

  private static ReidModel trainedALittle(ModelSpec spec, int classes) {
    ReidModel m = ReidModel.build(spec, 1, classes);
    m.train(true);
    try (PointerScope s = new PointerScope()) {
      // moves BN running statistics and CurricularFace's t away from their initial values
      m.forward(torch.randn(8, 1, 28, 28), Tensors.longs(new int[] {0, 1, 2, 0, 1, 2, 0, 1}, Tensors.CPU));
    }
    m.eval();
    return m;
  }

  @Test
  void saveThenLoadGivesIdenticalOutputs() throws Exception {
    ModelSpec spec = ModelSpec.defaults("small_cnn").withPooling("gem").withHead("curricularface", 30, 0.5);
    ReidModel a = trainedALittle(spec, 3);
    Path f = dir.resolve("model.pt");
    a.save(f);
    ReidModel b = ReidModel.build(spec, 1, 3);
    b.eval();
    try (PointerScope s = new PointerScope()) {
      Tensor x = torch.randn(4, 1, 28, 28);
      float[] before = Tensors.toFloats(b.embed(x));
      ReidModel.load(b, f);
      float[] fa = Tensors.toFloats(a.embed(x));
      float[] fb = Tensors.toFloats(b.embed(x));
      assertArrayEquals(fa, fb, 0f);
      assertTrue(!java.util.Arrays.equals(before, fb), "loading must change the fresh model");
      float[] la = Tensors.toFloats(a.forward(x, null).logits());
      float[] lb = Tensors.toFloats(b.forward(x, null).logits());
      assertArrayEquals(la, lb, 0f);
    }
    assertEquals(a.stateDict().get("neck.num_batches_tracked").item_long(),
        b.stateDict().get("neck.num_batches_tracked").item_long());
    assertEquals(1L, b.stateDict().get("neck.num_batches_tracked").item_long());
  }

  @Test
  void wrongClassCountIsAClearErrorAndChangesNothing() throws Exception {
    ModelSpec spec = ModelSpec.defaults("small_cnn");
    ReidModel a = trainedALittle(spec, 3);
    Path f = dir.resolve("three.pt");
    a.save(f);
    ReidModel b = ReidModel.build(spec, 1, 5);
    float[] conv = Tensors.toFloats(b.stateDict().get("backbone.conv1.weight"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ReidModel.load(b, f));
    String msg = e.getMessage();
    assertTrue(msg.contains("head.weight"), msg);
    assertTrue(msg.contains("[3, 128]") && msg.contains("[5, 128]"), msg);
    assertTrue(msg.contains(f.toString()), msg);
    // shapes are checked before anything is copied
    assertArrayEquals(conv, Tensors.toFloats(b.stateDict().get("backbone.conv1.weight")), 0f);
  }

  @Test
  void differentArchitectureNamesTheMissingEntry() throws Exception {
    ReidModel a = trainedALittle(ModelSpec.defaults("small_cnn"), 3);
    Path f = dir.resolve("avg.pt");
    a.save(f);
    ReidModel b = ReidModel.build(ModelSpec.defaults("small_cnn").withPooling("gem"), 1, 3);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ReidModel.load(b, f));
    assertTrue(e.getMessage().contains("pool.p"), e.getMessage());
    assertThrows(java.io.IOException.class, () -> ReidModel.load(b, dir.resolve("missing.pt")));
  }
}
