package org.reid4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * CUDA training needs every tensor on the device of the tensors it meets. This test keeps that true
 * by construction: outside {@link Tensors} no product code may call libtorch's tensor factories (they
 * default to the CPU), and every read of a tensor's memory from Java (data pointers, buffers,
 * indexers, item) must say {@code .cpu()} on the same line, so that a host copy is always visible
 * where it happens. A line may opt out with a {@code // host:} comment that says why the tensor is
 * known to be on the CPU.
 */
class DeviceDisciplineTest {
  static final Path MAIN = Path.of("src/main/java");
  static final Pattern FACTORY = Pattern.compile("\\bTensor\\.create\\(|\\btorch\\.(empty|zeros|ones|full|randn|rand|"
      + "randint|randperm|arange|eye|linspace|logspace|tensor|from_blob|empty_strided|normal|scalar_tensor|"
      + "zeros_like|ones_like|full_like|empty_like|rand_like|randn_like)\\(");
  static final Pattern HOST_READ = Pattern.compile("\\.(data_ptr\\w*|createBuffer|createIndexer|item\\w*)\\(");

  @Test
  void tensorsAreCreatedOnlyByTheDeviceAwareFactories() throws IOException {
    List<String> bad = scan(FACTORY, false);
    assertTrue(bad.isEmpty(), "tensor factories called outside org.reid4j.model.Tensors (pass a device through "
        + "Tensors instead):\n" + String.join("\n", bad));
  }

  @Test
  void hostReadsAreExplicit() throws IOException {
    List<String> bad = scan(HOST_READ, true);
    assertTrue(bad.isEmpty(), "tensor memory read from Java without .cpu() on the same line (or a '// host:' "
        + "note):\n" + String.join("\n", bad));
  }

  @Test
  void theScanFindsWhatItLooksFor() {
    // The patterns themselves, so that a typo cannot make the two tests above pass vacuously.
    assertTrue(FACTORY.matcher("Tensor t = torch.zeros(3, 4);").find());
    assertTrue(FACTORY.matcher("x = Tensor.create(l, l.length);").find());
    assertTrue(FACTORY.matcher("torch.from_blob(buf, 1, 2)").find());
    assertEquals(false, FACTORY.matcher("Tensors.zeros(device, 3)").find());
    assertEquals(false, FACTORY.matcher("torch.zeros_like_not_a_call").find());
    assertTrue(HOST_READ.matcher("t.data_ptr_float().get(a)").find());
    assertTrue(HOST_READ.matcher("double v = loss.item_double();").find());
    assertTrue(HOST_READ.matcher("FloatBuffer b = c.createBuffer();").find());
  }

  /** Lines of product code (outside Tensors.java) that match p, as "file:line: text". */
  static List<String> scan(Pattern p, boolean cpuOrHostNoteAllowed) throws IOException {
    assertTrue(Files.isDirectory(MAIN), "run from the repository root: " + MAIN.toAbsolutePath());
    List<String> bad = new ArrayList<>();
    int files = 0;
    try (Stream<Path> s = Files.walk(MAIN)) {
      for (Path f : (Iterable<Path>) s.filter(x -> x.toString().endsWith(".java"))::iterator) {
        files++;
        if (f.endsWith(Path.of("org/reid4j/model/Tensors.java"))) continue;
        List<String> lines = Files.readAllLines(f);
        // Only code that uses libtorch can hold a tensor (elsewhere .item() is an ordinary accessor).
        if (lines.stream().noneMatch(l -> l.contains("org.bytedeco.pytorch"))) continue;
        for (int i = 0; i < lines.size(); i++) {
          String line = lines.get(i);
          String code = stripComment(line);
          if (!p.matcher(code).find()) continue;
          if (cpuOrHostNoteAllowed && (code.contains(".cpu()") || line.contains("// host:"))) continue;
          bad.add(MAIN.relativize(f) + ":" + (i + 1) + ": " + line.trim());
        }
      }
    }
    assertTrue(files > 50, "scanned only " + files + " files");
    return bad;
  }

  private static String stripComment(String line) {
    String t = line.trim();
    if (t.startsWith("*") || t.startsWith("/*") || t.startsWith("//")) return "";
    int c = line.indexOf("// ");
    return c < 0 ? line : line.substring(0, c);
  }
}
