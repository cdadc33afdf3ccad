package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * State-dict names and counts match torchvision's ResNets, so their weights load by name.
 *
 * <p>The counts, from torchvision's architecture definition: every conv is bias-free (1 entry), every
 * BatchNorm2d has 5 (weight, bias, running_mean, running_var, num_batches_tracked), fc has 2.
 * ResNet-18: convs 1 (stem) + 2 x 8 blocks + 3 downsamples = 20, BNs 20 -> 20 + 100 + fc 2 = 122.
 * ResNet-50: convs 1 + 3 x 16 blocks + 4 downsamples (layer1's too: 64 -> 256 channels) = 53, BNs 53
 * -> 53 + 265 + 2 = 320. Our backbones have no fc: 120 and 318 entries.
 */
class StateDictNamesTest {

  /** torchvision's key order for a ResNet without fc, written out from the architecture. */
  static List<String> torchvisionKeys(int[] layers, boolean bottleneck) {
    List<String> keys = new ArrayList<>();
    keys.add("conv1.weight");
    bn(keys, "bn1");
    int convs = bottleneck ? 3 : 2;
    for (int l = 0; l < 4; l++) {
      for (int b = 0; b < layers[l]; b++) {
        String p = "layer" + (l + 1) + "." + b + ".";
        for (int c = 1; c <= convs; c++) {
          keys.add(p + "conv" + c + ".weight");
          bn(keys, p + "bn" + c);
        }
        if (b == 0 && (l > 0 || bottleneck)) {
          keys.add(p + "downsample.0.weight");
          bn(keys, p + "downsample.1");
        }
      }
    }
    return keys;
  }

  private static void bn(List<String> keys, String p) {
    for (String s : new String[] {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
      keys.add(p + "." + s);
  }

  /** Backbone state-dict names, in PyTorch's state_dict order (per module: parameters, then buffers). */
  private static List<String> backboneKeys(ReidModel m) {
    List<String> out = new ArrayList<>();
    for (String k : m.stateDict().keySet()) if (k.startsWith("backbone.")) out.add(k.substring(9));
    return out;
  }

  @Test
  void resnet18MatchesTorchvision() {
    ReidModel m = ReidModel.build(ModelSpec.defaults("resnet18"), 3, 10);
    List<String> got = backboneKeys(m);
    assertEquals(120, got.size(), "torchvision resnet18 has 122 entries incl. fc.weight/fc.bias");
    List<String> want = torchvisionKeys(new int[] {2, 2, 2, 2}, false);
    assertEquals(120, want.size());
    assertEquals(new java.util.TreeSet<>(want), new java.util.TreeSet<>(got));
    Map<String, Tensor> sd = m.stateDict();
    assertArrayEquals(new long[] {64, 3, 7, 7}, sd.get("backbone.conv1.weight").shape());
    assertArrayEquals(new long[] {128, 64, 1, 1}, sd.get("backbone.layer2.0.downsample.0.weight").shape());
    assertArrayEquals(new long[] {128, 64, 3, 3}, sd.get("backbone.layer2.0.conv1.weight").shape());
    assertArrayEquals(new long[] {512}, sd.get("backbone.layer4.1.bn2.running_var").shape());
    assertTrue(!sd.containsKey("backbone.layer1.0.downsample.0.weight"), "resnet18 layer1 has no downsample");
  }

  @Test
  void resnet50MatchesTorchvision() {
    ReidModel m = ReidModel.build(ModelSpec.defaults("resnet50"), 3, 10);
    List<String> got = backboneKeys(m);
    assertEquals(318, got.size(), "torchvision resnet50 has 320 entries incl. fc.weight/fc.bias");
    List<String> want = torchvisionKeys(new int[] {3, 4, 6, 3}, true);
    assertEquals(318, want.size());
    assertEquals(new java.util.TreeSet<>(want), new java.util.TreeSet<>(got));
    long nbt = got.stream().filter(k -> k.endsWith("num_batches_tracked")).count();
    assertEquals(53, nbt);
    Map<String, Tensor> sd = m.stateDict();
    assertArrayEquals(new long[] {256, 64, 1, 1}, sd.get("backbone.layer1.0.downsample.0.weight").shape());
    assertArrayEquals(new long[] {1024, 256, 1, 1}, sd.get("backbone.layer3.5.conv3.weight").shape());
    assertArrayEquals(new long[] {512, 512, 3, 3}, sd.get("backbone.layer4.2.conv2.weight").shape());
    assertArrayEquals(new long[] {2048}, sd.get("backbone.layer4.2.bn3.running_mean").shape());
    // the rest of the model
    assertArrayEquals(new long[] {10, 2048}, sd.get("head.weight").shape());
    for (String k : new String[] {"neck.weight", "neck.bias", "neck.running_mean", "neck.running_var",
        "neck.num_batches_tracked"}) assertTrue(sd.containsKey(k), k);
    assertEquals(318 + 5 + 1, sd.size());
  }

  @Test
  void ibnANamesFollowIbnNet() {
    ReidModel m = ReidModel.build(ModelSpec.defaults("resnet50").withIbn(true), 3, 10);
    Map<String, Tensor> sd = m.stateDict();
    // layer1..3: bn1 split 50/50 into IN (affine, no running stats) and BN
    assertArrayEquals(new long[] {32}, sd.get("backbone.layer1.0.bn1.IN.weight").shape());
    assertArrayEquals(new long[] {32}, sd.get("backbone.layer1.0.bn1.IN.bias").shape());
    assertArrayEquals(new long[] {32}, sd.get("backbone.layer1.0.bn1.BN.running_mean").shape());
    assertArrayEquals(new long[] {128}, sd.get("backbone.layer3.5.bn1.IN.weight").shape());
    assertTrue(!sd.containsKey("backbone.layer1.0.bn1.IN.running_mean"));
    assertTrue(!sd.containsKey("backbone.layer1.0.bn1.weight"));
    // layer4 and the stem keep plain BN
    assertTrue(sd.containsKey("backbone.layer4.0.bn1.weight"));
    assertTrue(sd.containsKey("backbone.bn1.weight"));
    // 13 blocks in layers 1-3 each gain IN.weight + IN.bias
    long backbone = sd.keySet().stream().filter(k -> k.startsWith("backbone.")).count();
    assertEquals(318 + 13 * 2, backbone);
  }

  @Test
  void optionalEntries() {
    ReidModel gem = ReidModel.build(ModelSpec.defaults("small_cnn").withPooling("gem").withNeck("none", "before")
        .withHead("curricularface", 30, 0.5), 1, 4);
    Map<String, Tensor> sd = gem.stateDict();
    assertArrayEquals(new long[] {1}, sd.get("pool.p").shape());
    assertArrayEquals(new long[] {1}, sd.get("head.t").shape());
    assertTrue(sd.keySet().stream().noneMatch(k -> k.startsWith("neck.")), sd.keySet().toString());
    assertEquals(Arrays.asList("conv1.weight", "bn1.weight"),
        backboneKeys(gem).subList(0, 2));
  }
}
