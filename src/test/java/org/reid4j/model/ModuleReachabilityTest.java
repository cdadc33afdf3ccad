package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import org.junit.jupiter.api.Test;

/**
 * Modules made in Java call back into Java for libtorch's virtual functions, so every one that a
 * C++ parent holds must stay reachable from Java. A ResNet's layerN and downsample containers once
 * were not: after a garbage collection, model.train() failed inside libtorch with a
 * NullPointerException (seen as a crash at the second epoch of a run).
 */
class ModuleReachabilityTest {
  @Test
  void trainAndEvalAfterGarbageCollection() throws InterruptedException {
    for (String backbone : new String[] {"resnet18", "resnet50", "small_cnn"}) {
      ModelSpec spec = ModelSpec.from(org.reid4j.config.TrainConfig.defaults()
          .with(java.util.List.of("MODEL.BACKBONE=" + backbone)).model());
      ReidModel m = ReidModel.build(spec, 3, 5);
      for (int i = 0; i < 3; i++) {
        byte[][] garbage = new byte[64][];
        for (int k = 0; k < garbage.length; k++) garbage[k] = new byte[1 << 20];
        System.gc();
        Thread.sleep(20);
      }
      assertDoesNotThrow(() -> {
        m.eval();
        m.train(true);
        m.to(Tensors.CPU, false);
      }, backbone);
      m.close();
    }
  }
}
