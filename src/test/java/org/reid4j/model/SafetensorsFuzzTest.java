package org.reid4j.model;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Fuzzes the safetensors reader behind MODEL.PRETRAIN_PATH: it returns tensors whose sizes match their
 * shapes, or throws IOException / IllegalArgumentException naming the file; nothing else. Seeds in
 * src/test/fuzz/org/reid4j/model/SafetensorsFuzzTestInputs/safetensors/.
 */
class SafetensorsFuzzTest {
  private static final Path FILE;

  static {
    try {
      // A memory-backed folder where there is one: each input is written to a file and mapped.
      Path shm = Path.of("/dev/shm");
      Path dir = Files.isDirectory(shm) && Files.isWritable(shm)
          ? Files.createTempDirectory(shm, "reid4j-fuzz") : Files.createTempDirectory("reid4j-fuzz");
      dir.toFile().deleteOnExit();
      FILE = dir.resolve("w.safetensors");
    } catch (IOException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  @FuzzTest(maxDuration = "10s")
  void safetensors(byte[] input) throws IOException {
    Files.write(FILE, input);
    Map<String, float[]> floats = new HashMap<>();
    Map<String, long[]> longs = new HashMap<>(), shapes = new HashMap<>();
    try {
      Pretrained.read(FILE, floats, longs, shapes);
    } catch (IOException | IllegalArgumentException expected) {
      return;
    }
    for (var e : floats.entrySet()) {
      long n = 1;
      for (long d : shapes.get(e.getKey())) n *= d;
      if (n != e.getValue().length) throw new AssertionError(e.getKey() + ": shape and data disagree");
    }
  }
}
