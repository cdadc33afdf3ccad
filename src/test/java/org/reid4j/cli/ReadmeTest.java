package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.serve.VerificationThreshold;
import org.reid4j.train.TrainerTest;

/**
 * The README cannot drift from the code: every Java block in README.md is compiled as it stands
 * (against the test class path) and run; every {@code ./reid4j} command line is run in-process on
 * small data (paths moved into a temporary folder, Fashion-MNIST replaced by a small fixture in its
 * format), or skipped for a stated reason that this test names.
 */
class ReadmeTest {
  @TempDir static Path tmp;
  static Path fm, runs;

  static final Path README = Path.of("README.md");

  @BeforeAll
  static void fixtures() throws IOException {
    fm = tmp.resolve("fashion-mnist");
    Files.createDirectories(fm);
    TrainerTest.writeFixture(fm, 10, 40, 110, 3);
    runs = tmp.resolve("runs");
  }

  /** The quick-start checkpoint, trained once on the fixture (one short epoch). */
  static synchronized Path checkpoint() {
    Path best = runs.resolve("quickstart/checkpoints/best.pt");
    if (!Files.exists(best)) {
      EvalCommandTest.Run r = EvalCommandTest.cli("train", "--data", fm.toString(), "--output",
          runs.resolve("quickstart").toString(), "--set", "SOLVER.MAX_EPOCHS=1", "--set", "SOLVER.MAX_MINUTES=0");
      assertEquals(0, r.code(), r.out() + r.err());
    }
    return best;
  }

  static List<String> blocks(String text, String lang) {
    List<String> l = new ArrayList<>();
    Matcher m = Pattern.compile("(?ms)^```" + lang + "\\n(.*?)^```").matcher(text);
    while (m.find()) l.add(m.group(1));
    return l;
  }

  // ---- Java examples -----------------------------------------------------------------------------

  @Test
  void javaExamplesCompileAndRun() throws Exception {
    List<String> sources = blocks(Files.readString(README), "java");
    assertFalse(sources.isEmpty(), "README.md has Java examples");
    Path src = tmp.resolve("examples/src"), classes = tmp.resolve("examples/classes");
    Files.createDirectories(src);
    Files.createDirectories(classes);
    List<Path> files = new ArrayList<>();
    for (String s : sources) {
      Matcher m = Pattern.compile("public class (\\w+)").matcher(s);
      assertTrue(m.find(), "each README Java block is a whole file with a public class:\n" + s);
      Path f = src.resolve(m.group(1) + ".java");
      Files.writeString(f, s);
      files.add(f);
    }
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertNotNull(javac, "the tests need a JDK (javax.tools)");
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    try (StandardJavaFileManager fileManager = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
      boolean ok = javac.getTask(null, fileManager, diagnostics, List.of("-classpath", cp, "-d", classes.toString(),
          "-Xlint:none"), null, fileManager.getJavaFileObjectsFromPaths(files)).call();
      assertTrue(ok, "README Java examples do not compile:\n" + diagnostics.getDiagnostics());
    }

    Map<String, String[]> args = exampleArguments();
    try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
      for (Path f : files) {
        String name = f.getFileName().toString().replace(".java", "");
        String[] a = args.get(name);
        assertNotNull(a, "README example " + name + " is new: say in ReadmeTest.exampleArguments how to run it");
        Method main = loader.loadClass(name).getMethod("main", String[].class);
        String out = captureOut(() -> main.invoke(null, (Object) a));
        assertFalse(out.isBlank(), name + " printed nothing");
        switch (name) {
          case "Search" -> assertTrue(out.contains("R1 ") && out.contains("mAP "), out);
          case "Embed" -> assertTrue(out.contains("same person"), out);
          case "Shop" -> assertTrue(out.contains("1. sku-1 at 0.000") && out.contains("2. sku-3 at 2.000")
              && out.contains("3 items"), out);
          default -> {}
        }
      }
    }
  }

  /** How the test runs each README example (its main's arguments). */
  static Map<String, String[]> exampleArguments() throws Exception {
    Map<String, String[]> m = new LinkedHashMap<>();
    Path market = tmp.resolve("example-market");
    EvalCommandTest.Run r = EvalCommandTest.cli("synth", "--out", market.toString(), "--preset", "small");
    assertEquals(0, r.code(), r.err());
    m.put("Search", new String[] {market.toString()});
    Path ck = checkpoint();
    VerificationThreshold.of("cosine", true, 0.5).save(ck.resolveSibling(VerificationThreshold.FILE_NAME));
    Path crops = tmp.resolve("crops");
    writeCrops(crops, 3);
    m.put("Embed", new String[] {ck.toString(), crops.toString()});
    m.put("Shop", new String[] {tmp.resolve("shop-gallery").toString()});
    return m;
  }

  static void writeCrops(Path dir, int n) throws IOException {
    Files.createDirectories(dir);
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
    for (int i = 0; i < n; i++) {
      BufferedImage im = new BufferedImage(32, 32, BufferedImage.TYPE_BYTE_GRAY);
      for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) im.getRaster().setSample(x, y, 0, rnd.nextInt(256));
      ImageIO.write(im, "png", dir.resolve("crop_" + i + ".png").toFile());
    }
  }

  interface Body {
    void run() throws Exception;
  }

  static String captureOut(Body body) throws Exception {
    PrintStream old = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      body.run();
    } finally {
      System.setOut(old);
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  // ---- command lines -----------------------------------------------------------------------------

  /** README commands this test does not run, and why (each must still match a README line). */
  static final Map<String, String> SKIPPED = Map.of(
      "configs/bot_r50_market.yml", "ResNet-50 training on Market-1501: hours, and the data set is not here",
      "--device cuda", "needs a GPU (CudaTrainingTest covers it where there is one)",
      "ablate", "seven or eleven training runs (AblationTest and ContestAblationTest run shortened ones)",
      "--torchscript", "needs a TorchScript file (TorchScriptEmbedderTest covers extraction from one)",
      "loadtest", "needs a running reid4j serve (LoadtestCommandTest runs loadtest against a fake server)",
      "serve", "runs until stopped (ServeHttpTest and ServeProcessTest run servers and stop them)",
      "--world-size", "one rank of a group whose other ranks run elsewhere (DataParallelTrainingTest runs groups)");

  @Test
  void everyReidCommandRunsOnSmallData() throws Exception {
    List<List<String>> commands = new ArrayList<>();
    for (String block : blocks(Files.readString(README), "bash"))
      for (String line : joinContinuations(block))
        if (line.strip().startsWith("./reid4j")) commands.add(words(stripComment(line)));
    assertTrue(commands.size() >= 10, "README commands found: " + commands.size());
    Map<String, Integer> skippedSeen = new LinkedHashMap<>();
    List<String> failures = new ArrayList<>();
    for (List<String> c : commands) {
      String text = String.join(" ", c);
      String skip = SKIPPED.keySet().stream().filter(text::contains).findFirst().orElse(null);
      if (skip != null) {
        skippedSeen.merge(skip, 1, Integer::sum);
        continue;
      }
      List<String> a = adapt(c.subList(1, c.size()));
      EvalCommandTest.Run r = EvalCommandTest.cli(a.toArray(String[]::new));
      if (r.code() != 0) failures.add(text + "\n  ran as: " + a + "\n  exit " + r.code() + ": " + r.err().strip());
    }
    assertTrue(failures.isEmpty(), "README commands that fail:\n" + String.join("\n", failures));
    for (String k : SKIPPED.keySet())
      assertTrue(skippedSeen.containsKey(k), "SKIPPED names '" + k + "' but no README command has it: drop it");
  }

  /**
   * A README command's arguments made small and local: /tmp/X and runs/X move into the temporary
   * folder, fashion-mnist is the fixture, the market preset becomes the small one, the short
   * feature-file names are the synth case's, and training runs one short epoch.
   */
  List<String> adapt(List<String> args) {
    List<String> out = new ArrayList<>();
    Map<String, String> shortNames = Map.of("q.npy", "query_feats.npy", "qp.npy", "query_pids.npy", "qc.npy",
        "query_camids.npy", "g.npy", "gallery_feats.npy", "gp.npy", "gallery_pids.npy", "gc.npy", "gallery_camids.npy");
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      String prev = i > 0 ? args.get(i - 1) : "";
      if (a.startsWith("/tmp/")) a = tmp.resolve(a.substring(5)).toString();
      else if (a.startsWith("runs/")) a = runs.resolve(a.substring(5)).toString();
      else if (shortNames.containsKey(a)) a = tmp.resolve("market").resolve(shortNames.get(a)).toString();
      else if (a.equals("crops/") || a.equals("crops")) a = tmp.resolve("crops").toString();
      else if (prev.equals("--data") && a.equals("fashion-mnist")) a = "fashion-mnist:" + fm;
      else if (prev.equals("--preset") && a.equals("market")) a = "small";
      out.add(a);
    }
    if (!out.isEmpty() && out.get(0).equals("train")) {
      if (!out.contains("--data")) out.addAll(List.of("--data", fm.toString()));
      if (!out.contains("--output")) out.addAll(List.of("--output", runs.resolve("quickstart").toString()));
      out.addAll(List.of("--set", "SOLVER.MAX_EPOCHS=1", "--set", "SOLVER.MAX_MINUTES=0"));
      if (!out.contains("--resume")) out.add("--overwrite"); // the checkpoint of checkpoint() may be there already
    }
    if (!out.isEmpty() && !out.get(0).equals("train") && String.join(" ", out).contains(runs.toString())) checkpoint();
    if (out.contains(tmp.resolve("crops").toString())) {
      try {
        writeCrops(tmp.resolve("crops"), 3);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    return out;
  }

  static List<String> joinContinuations(String block) {
    List<String> lines = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    for (String l : block.split("\n")) {
      String s = stripComment(l);
      if (s.stripTrailing().endsWith("\\")) {
        cur.append(s.stripTrailing(), 0, s.stripTrailing().length() - 1).append(' ');
      } else {
        cur.append(l);
        lines.add(cur.toString());
        cur.setLength(0);
      }
    }
    if (cur.length() > 0) lines.add(cur.toString());
    return lines;
  }

  /** The line without a trailing "# comment" (a # outside quotes that starts a word). */
  static String stripComment(String line) {
    boolean single = false, dbl = false;
    for (int i = 0; i < line.length(); i++) {
      char ch = line.charAt(i);
      if (ch == '\'' && !dbl) single = !single;
      else if (ch == '"' && !single) dbl = !dbl;
      else if (ch == '#' && !single && !dbl && (i == 0 || Character.isWhitespace(line.charAt(i - 1))))
        return line.substring(0, i);
    }
    return line;
  }

  /** Shell words: whitespace-separated, single and double quotes removed. */
  static List<String> words(String line) {
    List<String> w = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean single = false, dbl = false, any = false;
    for (char ch : line.strip().toCharArray()) {
      if (ch == '\'' && !dbl) {
        single = !single;
        any = true;
      } else if (ch == '"' && !single) {
        dbl = !dbl;
        any = true;
      } else if (Character.isWhitespace(ch) && !single && !dbl) {
        if (any || cur.length() > 0) w.add(cur.toString());
        cur.setLength(0);
        any = false;
      } else {
        cur.append(ch);
      }
    }
    if (any || cur.length() > 0) w.add(cur.toString());
    return w;
  }
}
