package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/**
 * libtorch's oneDNN convolution backward divides by the CPU's cache sizes; on virtual machines that
 * report none it kills the JVM with SIGFPE on the first ResNet-50 step. The trainer turns oneDNN off
 * there ({@link Devices#guardCpuTraining}).
 */
class CpuConvolutionGuardTest {
  @Test
  void decision() {
    assertNull(Devices.oneDnnRefusal("resnet50", null, true), "cache sizes known: keep oneDNN");
    assertTrue(Devices.oneDnnRefusal("resnet50", null, false).contains("no cache sizes"));
    assertNull(Devices.oneDnnRefusal("small_cnn", null, false), "the quick start's CNN never reaches that code");
    assertNull(Devices.oneDnnRefusal("resnet50", "on", false), "forced on");
    assertEquals("REID4J_ONEDNN=off", Devices.oneDnnRefusal("small_cnn", " OFF ", true), "forced off");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Devices.oneDnnRefusal("resnet50", "maybe", true));
    assertTrue(e.getMessage().contains("REID4J_ONEDNN") && e.getMessage().contains("maybe"), e.getMessage());
  }

  /**
   * One ResNet-50 training step (strided 1x1 downsampling convolutions, BoT's last stride 1) on the
   * CPU after the guard: on a machine where oneDNN would crash, without the guard this kills the
   * test JVM, which fails the run.
   */
  @Test
  void resnet50StepSurvivesOnThisCpu() {
    boolean before = torch.globalContext().userEnabledMkldnn();
    Devices.guardCpuTraining("resnet50");
    torch.manual_seed(1);
    try (ReidModel m = ReidModel.build(ModelSpec.defaults("resnet50"), 3, 4);
        PointerScope s = new PointerScope()) {
      m.train(true);
      int[] labels = {0, 0, 1, 1, 2, 2, 3, 3};
      Tensor y = Tensors.longs(labels, Tensors.CPU);
      Tensor x = Tensors.randn(Tensors.CPU, labels.length, 3, 64, 32);
      Tensor loss = torch.cross_entropy(m.forward(x, y).logits(), y);
      loss.backward();
      float g = m.namedParams().get(0).tensor().grad().abs().sum().item_float();
      assertTrue(Float.isFinite(g) && g > 0, "stem gradient " + g);
    } finally {
      torch.globalContext().setUserEnabledMkldnn(before); // a process-wide switch: the other tests keep oneDNN
    }
  }
}
