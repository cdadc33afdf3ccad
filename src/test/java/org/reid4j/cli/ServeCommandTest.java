package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.GalleryOptions;
import org.reid4j.kernels.Metric;

/** {@code reid4j serve}'s refusals: each one before anything listens or is written, with one clear line. */
class ServeCommandTest {
  @TempDir Path dir;

  static void refused(String fragment, String... args) {
    EvalCommandTest.Run r = EvalCommandTest.cli(args);
    assertEquals(2, r.code(), r.out() + r.err());
    assertTrue(r.err().contains(fragment), "'" + r.err().strip() + "' should say '" + fragment + "'");
    assertFalse(r.err().contains("\tat "), r.err());
  }

  @Test
  void badStartsAreRefusedWithAReason() throws Exception {
    Path empty = dir.resolve("empty");
    refused("holds no gallery; give --dim D", "serve", "--gallery", empty.toString(), "--port", "0");
    assertFalse(Files.exists(empty.resolve("MANIFEST.json")), "nothing was created");
    try (Gallery g = Gallery.open(dir.resolve("g"), GalleryOptions.of(4).metric(Metric.COSINE))) {
      // made with dimension 4, cosine
    }
    String g = dir.resolve("g").toString();
    refused("has dimension 4", "serve", "--gallery", g, "--dim", "8", "--port", "0");
    refused("was made with cosine", "serve", "--gallery", g, "--metric", "sqeuclidean", "--port", "0");
    refused("--api-key-for-reads needs --api-key-file", "serve", "--gallery", g, "--api-key-for-reads", "--port", "0");
    refused("--max-batch must be at least 1", "serve", "--gallery", g, "--max-batch", "0", "--port", "0");
    refused("--rerank: k1 must be at least 1", "serve", "--gallery", g, "--rerank", "0", "--port", "0");
    refused("--idle-timeout must be 2 to 86400 seconds, got 1", "serve", "--gallery", g, "--idle-timeout", "1",
        "--port", "0");
    Path shortKey = dir.resolve("key");
    Files.writeString(shortKey, "short\n");
    refused("at least 16 characters", "serve", "--gallery", g, "--api-key-file", shortKey.toString(), "--port", "0");
    refused("--api-key-file not found", "serve", "--gallery", g, "--api-key-file", dir.resolve("nokey").toString(),
        "--port", "0");
    refused("unknown backend", "serve", "--gallery", g, "--backend", "tpu", "--port", "0");
    refused("--candidates applies only with --rerank", "serve", "--gallery", g, "--candidates", "hnsw", "--port", "0");
    refused("--hnsw-m applies only with --rerank --candidates hnsw", "serve", "--gallery", g, "--rerank", "5",
        "--hnsw-m", "8", "--port", "0");
    refused("--candidates: unknown candidates 'ivf'", "serve", "--gallery", g, "--rerank", "5", "--candidates", "ivf",
        "--port", "0");
    refused("--hnsw-ef must be in [1, ", "serve", "--gallery", g, "--rerank", "5", "--candidates", "hnsw",
        "--hnsw-ef", "0", "--port", "0");
    refused("--packed-rows must be auto, on or off, got 'sometimes'", "serve", "--gallery", g, "--packed-rows=sometimes",
        "--port", "0");
  }

  /** --packed-rows: on and off as said; auto packs when the gallery's files take at most a quarter of the memory. */
  @Test
  void packedRowsAutoWeighsTheGalleryAgainstTheMemory() throws Exception {
    long gib = 1L << 30;
    assertTrue(ServeCommand.packedRows("auto", gib, 4 * gib));
    assertFalse(ServeCommand.packedRows("auto", gib + 1, 4 * gib));
    assertFalse(ServeCommand.packedRows("auto", 0, 0), "memory unknown: not packed");
    assertTrue(ServeCommand.packedRows("on", 100 * gib, gib));
    assertFalse(ServeCommand.packedRows("OFF", 0, 4 * gib));
    assertTrue(ServeCommand.packedRows(null, 10, 4 * gib));
    assertThrows(IllegalArgumentException.class, () -> ServeCommand.packedRows("yes", 0, gib));
    assertEquals(0, ServeCommand.filesBytes(dir.resolve("none")));
    Files.createDirectories(dir.resolve("f/sub"));
    Files.write(dir.resolve("f/a"), new byte[100]);
    Files.write(dir.resolve("f/sub/b"), new byte[23]);
    assertEquals(123, ServeCommand.filesBytes(dir.resolve("f")));
    assertTrue(ServeCommand.physicalMemory() > 0, "the JVM reports this machine's memory");
  }

  /** The model options are extract's (one mixin): the same checks, before the model loads or anything listens. */
  @Test
  void modelOptionsAreCheckedAsExtractChecksThem() throws Exception {
    String g = dir.resolve("g").toString(), ckpt = ExtractCommandTest.checkpoint(dir).toString();
    refused("--scales: each scale must be in (0, 8]", "serve", "--gallery", g, "--checkpoint", ckpt, "--scales", "0",
        "--port", "0");
    refused("--torchscript needs --input-size", "serve", "--gallery", g, "--torchscript", ckpt, "--port", "0");
    refused("give exactly one model", "serve", "--gallery", g, "--torchscript", ckpt, "--checkpoint", ckpt,
        "--port", "0");
    refused("--feat applies to --checkpoint models only", "serve", "--gallery", g, "--torchscript", ckpt,
        "--input-size", "8,8", "--feat", "before", "--port", "0");
    assertFalse(Files.exists(dir.resolve("g")), "no gallery was made");
  }
}
