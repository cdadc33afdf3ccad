package org.reid4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.reid4j.config.ConfigException;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.CsvDataset;
import org.reid4j.data.ImageDecoder;
import org.reid4j.io.Idx;
import org.reid4j.io.Npy;
import org.reid4j.serve.VerificationThreshold;
import org.reid4j.train.Checkpoints;

/**
 * Coverage-guided fuzzing of every file and text parser reid4j reads user input with. The contract
 * under test: a parser returns, or throws the documented checked error (IOException, or
 * IllegalArgumentException for a config or an argument) with a message; anything else (a
 * NullPointerException, an index out of bounds, a NegativeArraySizeException, an OutOfMemoryError
 * from a size read out of the input, a hang) is a finding.
 *
 * <p>{@code mvn test} replays the seed corpus of each target (src/test/fuzz/org/reid4j/fuzz/
 * ParserFuzzTestsInputs/TARGET/) and every finding kept there; {@code scripts/fuzz.sh TARGET
 * SECONDS} fuzzes one target ({@code JAZZER_FUZZ=1}).
 */
class ParserFuzzTests {
  private static final Path DIR;

  static {
    try {
      DIR = Files.createTempDirectory("reid4j-fuzz");
      DIR.toFile().deleteOnExit();
    } catch (IOException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** The input as a file of that name in a private temporary folder (the parsers read files). */
  private static Path file(String name, byte[] bytes) throws IOException {
    Path f = DIR.resolve(name);
    Files.write(f, bytes);
    return f;
  }

  @FuzzTest(maxDuration = "10s")
  void npy(byte[] input) throws IOException {
    Path f = file("x.npy", input);
    try {
      var a = Npy.read(f);
      if (a.size() < 0) throw new AssertionError("negative size");
    } catch (IOException expected) {
      // a clear refusal
    }
  }

  @FuzzTest(maxDuration = "10s")
  void idx(byte[] input) throws IOException {
    Path f = file("x-idx3-ubyte", input);
    try {
      Idx.ByteTensor t = Idx.read(f);
      long n = 1;
      for (int d : t.shape()) n *= d;
      if (n != t.data().length) throw new AssertionError("shape " + java.util.Arrays.toString(t.shape())
          + " but " + t.data().length + " values");
    } catch (IOException expected) {
      // a clear refusal
    }
  }

  @FuzzTest(maxDuration = "10s")
  void yamlConfig(byte[] input) {
    String text = new String(input, StandardCharsets.UTF_8);
    try {
      TrainConfig c = TrainConfig.fromYamlString(text);
      TrainConfig.fromYamlString(c.toYaml()); // what it writes it reads back
    } catch (ConfigException expected) {
      // a clear refusal
    }
  }

  @FuzzTest(maxDuration = "10s")
  void configOverride(byte[] input) {
    String text = new String(input, StandardCharsets.UTF_8);
    try {
      TrainConfig.load(null, List.of(text));
    } catch (ConfigException expected) {
      // a clear refusal
    }
  }

  @FuzzTest(maxDuration = "10s")
  void checkpointMeta(byte[] input) {
    try {
      Checkpoints.Meta m = Checkpoints.parseMeta(input, DIR.resolve("fuzz.pt"));
      if (m.config() == null) throw new AssertionError("accepted metadata without a config");
    } catch (IOException expected) {
      // a clear refusal
    }
  }

  @FuzzTest(maxDuration = "10s")
  void csvList(byte[] input) throws IOException {
    Path f = file("list.csv", input);
    for (boolean train : new boolean[] {true, false}) {
      try {
        var src = CsvDataset.read("fuzz", f, 3, train);
        if (src.size() < 1) throw new AssertionError("an empty list was accepted");
      } catch (IOException expected) {
        // a clear refusal
      }
    }
  }

  @FuzzTest(maxDuration = "10s")
  void image(byte[] input) throws IOException {
    Path f = file("x.png", input);
    try {
      var img = ImageDecoder.decode(f, 3);
      if (img.channels() != 3) throw new AssertionError("channels " + img.channels());
    } catch (IOException expected) {
      // a clear refusal
    }
  }

  @FuzzTest(maxDuration = "10s")
  void thresholdJson(byte[] input) {
    try {
      VerificationThreshold.fromJson(new String(input, StandardCharsets.UTF_8), "fuzz");
    } catch (IOException expected) {
      // a clear refusal
    }
  }
}
