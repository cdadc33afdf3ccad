package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Torchvision-named safetensors weights load into the backbone by name; fc.* is skipped. */
class PretrainedTest {
  @TempDir Path dir;

  /** Writes a safetensors file of the given backbone's state (torchvision names) plus a ResNet fc layer. */
  static void writeSafetensors(Path file, Map<String, Tensor> backboneState, boolean f16) throws Exception {
    writeSafetensors(file, backboneState, f16, Map.of("fc.weight", Tensors.zeros(Tensors.CPU, 1000, 512),
        "fc.bias", Tensors.zeros(Tensors.CPU, 1000)));
  }

  /** Writes a safetensors file of the given backbone's state followed by {@code extra} entries (a classifier). */
  static void writeSafetensors(Path file, Map<String, Tensor> backboneState, boolean f16, Map<String, Tensor> extra)
      throws Exception {
    StringBuilder json = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    Map<String, Tensor> all = new java.util.LinkedHashMap<>(backboneState);
    all.putAll(new java.util.TreeMap<>(extra));
    for (Map.Entry<String, Tensor> e : all.entrySet()) {
      Tensor t = e.getValue();
      boolean isLong = t.scalar_type() == org.bytedeco.pytorch.global.torch.ScalarType.Long;
      long begin = data.size();
      if (isLong) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(t.item_long());
        data.write(b.array());
      } else {
        float[] v = Tensors.toFloats(t);
        ByteBuffer b = ByteBuffer.allocate(v.length * (f16 ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
          if (f16) b.putShort(toHalf(f));
          else b.putFloat(f);
        }
        data.write(b.array());
      }
      String dtype = isLong ? "I64" : f16 ? "F16" : "F32";
      json.append(",\"").append(e.getKey()).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":")
          .append(java.util.Arrays.toString(t.shape()).replace(" ", "")).append(",\"data_offsets\":[")
          .append(begin).append(',').append(data.size()).append("]}");
    }
    json.append('}');
    byte[] h = json.toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(len.array());
    out.write(h);
    out.write(data.toByteArray());
    Files.write(file, out.toByteArray());
  }

  /** float -> binary16, round-to-nearest for normal values (test data are moderate). */
  static short toHalf(float f) {
    int bits = Float.floatToIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = ((bits >>> 23) & 0xff) - 127 + 15;
    int mant = bits & 0x7fffff;
    if (exp <= 0) return (short) sign; // flush tiny values to zero
    if (exp >= 31) return (short) (sign | 0x7c00);
    int h = sign | (exp << 10) | (mant >>> 13);
    if ((mant & 0x1000) != 0) h++;
    return (short) h;
  }

  static Map<String, Tensor> backboneState(ReidModel m) {
    Map<String, Tensor> out = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, Tensor> e : m.stateDict().entrySet())
      if (e.getKey().startsWith("backbone.")) out.put(e.getKey().substring(9), e.getValue());
    return out;
  }

  @Test
  void loadsTorchvisionNamesAndSkipsFc() throws Exception {
    ReidModel src = ReidModel.build(ModelSpec.defaults("resnet18"), 3, 10);
    Path f = dir.resolve("resnet18.safetensors");
    writeSafetensors(f, backboneState(src), false);
    ReidModel dst = ReidModel.build(ModelSpec.defaults("resnet18").withPretrainPath(f.toString()), 3, 751);
    for (String k : new String[] {"backbone.conv1.weight", "backbone.layer3.0.downsample.0.weight",
        "backbone.layer4.1.bn2.weight"})
      assertArrayEquals(Tensors.toFloats(src.stateDict().get(k)), Tensors.toFloats(dst.stateDict().get(k)), 0f, k);
    assertEquals(120, Pretrained.load(dst.backbone(), f));
  }

  @Test
  void halfPrecisionIsConverted() throws Exception {
    ReidModel src = ReidModel.build(ModelSpec.defaults("small_cnn"), 1, 3);
    Path f = dir.resolve("small.safetensors");
    writeSafetensors(f, backboneState(src), true);
    ReidModel dst = ReidModel.build(ModelSpec.defaults("small_cnn"), 1, 3);
    Pretrained.load(dst.backbone(), f);
    assertArrayEquals(Tensors.toFloats(src.stateDict().get("backbone.conv2.weight")),
        Tensors.toFloats(dst.stateDict().get("backbone.conv2.weight")), 2e-3f);
  }

  @Test
  void mismatchesAreNamed() throws Exception {
    ReidModel rgb = ReidModel.build(ModelSpec.defaults("resnet18"), 3, 10);
    Path f = dir.resolve("rgb.safetensors");
    writeSafetensors(f, backboneState(rgb), false);
    ReidModel grey = ReidModel.build(ModelSpec.defaults("resnet18"), 1, 10);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Pretrained.load(grey.backbone(), f));
    assertTrue(e.getMessage().contains("conv1.weight") && e.getMessage().contains("[64, 3, 7, 7]")
        && e.getMessage().contains("[64, 1, 7, 7]"), e.getMessage());
    ReidModel r34 = ReidModel.build(ModelSpec.defaults("resnet34"), 3, 10);
    IllegalArgumentException m = assertThrows(IllegalArgumentException.class,
        () -> Pretrained.load(r34.backbone(), f));
    assertTrue(m.getMessage().contains("missing"), m.getMessage());
    assertThrows(java.io.UncheckedIOException.class, () -> ReidModel.build(
        ModelSpec.defaults("resnet18").withPretrainPath(dir.resolve("none.safetensors").toString()), 3, 10));
    // a relative path that is not there says where it was looked for
    java.io.UncheckedIOException rel = assertThrows(java.io.UncheckedIOException.class, () -> ReidModel.build(
        ModelSpec.defaults("resnet18").withPretrainPath("w/none.safetensors"), 3, 10));
    assertTrue(rel.getMessage().contains(Path.of("w/none.safetensors").toAbsolutePath().toString())
        && rel.getMessage().contains("working directory"), rel.getMessage());
  }

  @Test
  void halfConversion() {
    assertEquals(1.0f, Pretrained.halfToFloat((short) 0x3c00), 0);
    assertEquals(-2.0f, Pretrained.halfToFloat((short) 0xc000), 0);
    assertEquals(65504f, Pretrained.halfToFloat((short) 0x7bff), 0);
    assertEquals(0x1p-24f, Pretrained.halfToFloat((short) 0x0001), 0);
  }
}
