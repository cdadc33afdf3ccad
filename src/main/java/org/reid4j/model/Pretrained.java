package org.reid4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

/**
 * Loads ImageNet-pretrained backbone weights by name from a {@code .safetensors} file (the format
 * timm and the Hugging Face hub publish torchvision/timm ResNets in; convert a torchvision .pth with
 * {@code safetensors.torch.save_file(torch.load(p), out)}). Names are torchvision's (an optional
 * "backbone." prefix is accepted); the ImageNet classifier entries ({@link #CLASSIFIER_PREFIXES}:
 * {@code fc.*} of a ResNet, {@code classifier.*} of an EfficientNet or DenseNet) are skipped, and the
 * older DenseNet names that torchvision's published DenseNet files still carry
 * ({@code denselayerL.norm.1.weight} for {@code denselayerL.norm1.weight}, likewise conv.1, norm.2,
 * conv.2) are read as the current ones, as torchvision's own loader renames them. Strict otherwise:
 * a backbone entry missing from the file (num_batches_tracked excepted), an unknown entry, a shape
 * mismatch (e.g. 1-channel input vs. RGB weights) or an unsupported dtype throws
 * IllegalArgumentException naming it, before anything is copied. dtypes F32, F16, BF16, F64, I64.
 * Memory: the file is read whole (ResNet-50: ~100 MB).
 */
public final class Pretrained {
  /** One mapper for every header (thread-safe once configured; building one per file cost milliseconds). */
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Entry-name prefixes of torchvision's ImageNet classifiers, which no backbone holds: skipped on reading. */
  public static final List<String> CLASSIFIER_PREFIXES = List.of("fc.", "classifier.");

  /** A torchvision DenseNet file's older layer names: {@code ...denselayer3.norm.1.weight}. */
  private static final Pattern OLD_DENSE_LAYER =
      Pattern.compile("^(.*\\.denselayer\\d+\\.(?:norm|conv))\\.([12])\\.(weight|bias|running_mean|running_var)$");

  private Pretrained() {}

  /** Loads {@code file} into {@code backbone}; returns how many entries were copied. */
  public static int load(Backbone backbone, Path file) throws IOException {
    Map<String, Tensor> state = Tensors.namedParameters(backbone);
    state.putAll(Tensors.namedBuffers(backbone));

    Map<String, float[]> floats = new LinkedHashMap<>();
    Map<String, long[]> longs = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    read(file, floats, longs, shapes);

    List<String> missing = new ArrayList<>();
    for (String name : state.keySet())
      if (!shapes.containsKey(name) && !name.endsWith("num_batches_tracked")) missing.add(name);
    if (!missing.isEmpty())
      throw new IllegalArgumentException(file + ": " + missing.size() + " backbone entries are missing, e.g. "
          + missing.subList(0, Math.min(5, missing.size())) + " (is it a " + backbone.name().getString()
          + " state dict with torchvision names?)");
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      Tensor t = state.get(e.getKey());
      if (t == null)
        throw new IllegalArgumentException(file + ": entry '" + e.getKey() + "' has no counterpart in the "
            + backbone.name().getString() + " backbone");
      long[] want = t.shape();
      if (!Arrays.equals(want, e.getValue()))
        throw new IllegalArgumentException(file + ": entry " + e.getKey() + " has shape "
            + Arrays.toString(e.getValue()) + " but the backbone expects " + Arrays.toString(want));
    }
    int copied = 0;
    try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (Map.Entry<String, long[]> e : shapes.entrySet()) {
        Tensor dst = state.get(e.getKey());
        Tensor src = floats.containsKey(e.getKey())
            ? Tensors.fromFloats(floats.get(e.getKey()), Tensors.CPU, e.getValue())
            : Tensors.hostLongs(longs.get(e.getKey()), e.getValue());
        dst.copy_(src);
        copied++;
      }
    }
    return copied;
  }

  /** IEEE 754 binary16 -> float (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f; // subnormal (or zero)
      return sign == 0 ? v : -v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /**
   * The backbone name of a file entry: without a "backbone." prefix, older DenseNet layer names
   * ({@code norm.1}) in their current form ({@code norm1}).
   */
  static String canonical(String name) {
    String n = name.startsWith("backbone.") ? name.substring("backbone.".length()) : name;
    Matcher m = OLD_DENSE_LAYER.matcher(n);
    return m.matches() ? m.group(1) + m.group(2) + "." + m.group(3) : n;
  }

  static boolean isClassifier(String name) {
    for (String p : CLASSIFIER_PREFIXES) if (name.startsWith(p)) return true;
    return false;
  }

  /** Reads every tensor of a safetensors file (package-visible for the fuzz tests); errors name the file and entry. */
  static void read(Path file, Map<String, float[]> floats, Map<String, long[]> longs,
      Map<String, long[]> shapes) throws IOException {
    if (!Files.isRegularFile(file))
      throw new IOException("no pretrained weights file " + file + (file.isAbsolute() ? ""
          : " (looked for " + file.toAbsolutePath() + ": a relative path is resolved against the working directory)"));
    if (!file.getFileName().toString().endsWith(".safetensors"))
      throw new IOException(file + ": pretrained weights must be a .safetensors file (convert a .pth with"
          + " safetensors.torch.save_file(torch.load(path), out))");
    ByteBuffer all;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) throw new IOException(file + ": too short for a safetensors file");
      all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
    }
    long headerLen = all.getLong(0);
    if (headerLen <= 0 || headerLen > all.capacity() - 8)
      throw new IOException(file + ": bad safetensors header length " + headerLen);
    byte[] hb = new byte[(int) headerLen];
    all.get(8, hb);
    JsonNode header;
    try {
      header = JSON.readTree(new String(hb, StandardCharsets.UTF_8));
    } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
      throw new IOException(file + ": the safetensors header is not JSON (" + ex.getOriginalMessage() + ")", ex);
    }
    if (header == null || !header.isObject())
      throw new IOException(file + ": the safetensors header is not a JSON object of tensor entries");
    long base = 8 + headerLen;
    for (Map.Entry<String, JsonNode> e : header.properties()) {
      if (e.getKey().equals("__metadata__")) continue;
      String name = canonical(e.getKey());
      if (isClassifier(name)) continue;
      JsonNode info = e.getValue();
      String where = file + ": entry " + e.getKey();
      if (!info.isObject() || !info.path("dtype").isTextual() || !info.path("shape").isArray()
          || !info.path("data_offsets").isArray() || info.path("data_offsets").size() != 2)
        throw new IOException(where + ": expected {\"dtype\": ..., \"shape\": [...], \"data_offsets\": [begin, end]}");
      String dtype = info.path("dtype").asText();
      JsonNode sh = info.path("shape");
      long[] shape = new long[sh.size()];
      long n = 1;
      for (int i = 0; i < shape.length; i++) {
        if (!sh.get(i).canConvertToLong() || sh.get(i).asLong() < 0)
          throw new IOException(where + ": shape " + sh + " is not a list of sizes >= 0");
        shape[i] = sh.get(i).asLong();
        n = shape[i] == 0 ? 0 : n > (Integer.MAX_VALUE - 8) / shape[i] ? Long.MAX_VALUE : n * shape[i];
      }
      if (n > Integer.MAX_VALUE - 8) throw new IOException(where + ": shape " + sh + " is too large");
      JsonNode off = info.path("data_offsets");
      if (!off.get(0).canConvertToLong() || !off.get(1).canConvertToLong() || off.get(0).asLong() < 0
          || off.get(1).asLong() < off.get(0).asLong())
        throw new IOException(where + ": data_offsets " + off + " are not 0 <= begin <= end");
      long begin = base + off.get(0).asLong();
      long end = base + off.get(1).asLong();
      int width = switch (dtype) {
        case "F32" -> 4;
        case "F16", "BF16" -> 2;
        case "F64", "I64" -> 8;
        default -> throw new IllegalArgumentException(file + ": entry " + e.getKey() + " has unsupported dtype "
            + dtype + " (F32, F16, BF16, F64, I64 are read)");
      };
      if (end - begin != n * width || end > all.capacity() || begin < base || end < begin)
        throw new IOException(file + ": entry " + e.getKey() + " has inconsistent data offsets");
      int at = (int) begin;
      shapes.put(name, shape);
      if (dtype.equals("I64")) {
        long[] v = new long[(int) n];
        for (int i = 0; i < n; i++) v[i] = all.getLong(at + 8 * i);
        longs.put(name, v);
        continue;
      }
      float[] v = new float[(int) n];
      for (int i = 0; i < n; i++) {
        v[i] = switch (dtype) {
          case "F32" -> all.getFloat(at + 4 * i);
          case "F64" -> (float) all.getDouble(at + 8 * i);
          case "BF16" -> Float.intBitsToFloat((all.getShort(at + 2 * i) & 0xffff) << 16);
          default -> halfToFloat(all.getShort(at + 2 * i));
        };
      }
      floats.put(name, v);
    }
  }
}
