package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.reid4j.cli.EvalCommandTest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.cli.EvalCommandTest.Run;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;

/** The eval command on the CUDA backend; its own class so that the cuda-emulator execution can select it. */
class CudaEvalCommandTest {
  @TempDir Path tmp;

  /**
   * eval on the CUDA backend, plain and re-ranked, gives the CPU backend's numbers and says which
   * backend ran; it scores the matrix on the device (no host evaluation step). Skips without a device; the cuda-emulator test execution runs it on the emulator.
   */
  @Test
  void evalOnCudaMatchesTheCpuBackend() throws Exception {
    assumeCuda();
    Path dir = tmp.resolve("case");
    Run synth = cli("synth", "--out", dir.toString(), "--ids", "40", "--cams", "3", "--dim", "24", "--distractors", "30",
        "--junk", "10", "--noise", "1.2", "--seed", "4");
    assertEquals(0, synth.code(), synth.err());
    for (String[] extra : new String[][] {{"--metric", "euclidean"}, {"--normalize", "--rerank", "--k1", "9", "--k2", "3"}}) {
      JsonNode[] res = new JsonNode[2];
      String[] backends = {"cuda", "cpu"};
      for (int b = 0; b < 2; ++b) {
        Path json = tmp.resolve("cuda-vs-cpu-" + backends[b] + "-" + extra.length + ".json");
        String[] args = new String[5 + extra.length];
        System.arraycopy(new String[] {"eval", "--dir", dir.toString(), "--backend", backends[b]}, 0, args, 0, 5);
        System.arraycopy(extra, 0, args, 5, extra.length);
        Run r = cli(concat(args, "--json", json.toString()));
        assertEquals(0, r.code(), r.err());
        res[b] = new ObjectMapper().readTree(json.toFile());
      }
      assertTrue(res[0].get("backend").asText().startsWith("cuda"), res[0].toString());
      assertTrue(res[1].get("backend").asText().startsWith("cpu"), res[1].toString());
      for (String key : new String[] {"rank1", "rank5", "rank10", "mAP", "mINP"})
        assertEquals(res[1].get(key).asDouble(), res[0].get(key).asDouble(), 1e-6, key + " with " + String.join(" ", extra));
      assertEquals(res[1].get("queries_evaluated").asInt(), res[0].get("queries_evaluated").asInt());
      // scored on the device: the matrix did not come back, so there is no separate host evaluation
      String fused = extra.length > 2 ? "rerank+evaluate" : "distance+evaluate";
      assertTrue(res[0].get("timings_ms").has(fused) && !res[0].get("timings_ms").has("evaluate"),
          res[0].get("timings_ms").toString());
      assertTrue(res[1].get("timings_ms").has("evaluate"), res[1].get("timings_ms").toString());
    }
  }

  /**
   * --precision tf32x3 (the tensor-core distance pass with split operands) scores as FP32 does on a
   * small case, says so in the JSON and the backend line; tf32 runs too.
   */
  @Test
  void evalOnCudaAtTensorCorePrecisions() throws Exception {
    assumeCuda();
    Path dir = tmp.resolve("case");
    Run synth = cli("synth", "--out", dir.toString(), "--ids", "30", "--cams", "3", "--dim", "40", "--distractors", "20",
        "--noise", "1.0", "--seed", "6");
    assertEquals(0, synth.code(), synth.err());
    JsonNode[] res = new JsonNode[3];
    String[] precisions = {"fp32", "tf32x3", "tf32"};
    for (int i = 0; i < 3; i++) {
      Path json = tmp.resolve("precision-" + precisions[i] + ".json");
      Run r = cli("eval", "--dir", dir.toString(), "--backend", "cuda", "--normalize", "--rerank", "--precision",
          precisions[i], "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      res[i] = new ObjectMapper().readTree(json.toFile());
      assertEquals(precisions[i], res[i].get("precision").asText());
      assertEquals(i > 0, res[i].get("backend").asText().contains(precisions[i] + " distances"),
          res[i].get("backend").asText());
    }
    for (String key : new String[] {"rank1", "mAP", "mINP"})
      assertEquals(res[0].get(key).asDouble(), res[1].get(key).asDouble(), 1e-6, key + " tf32x3 vs fp32");
    assertTrue(Math.abs(res[0].get("mAP").asDouble() - res[2].get("mAP").asDouble()) < 0.05, res[2].toString());
  }

  /** Skips without a CUDA backend, except in the cuda-emulator execution, where its absence is a failure. */
  private static void assumeCuda() {
    String why = Kernels.unavailableReason(Backend.CUDA);
    if (Boolean.getBoolean("reid4j.cuda.emulated")) assertNull(why, "the emulated CUDA device is missing");
    Assumptions.assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
  }

  private static String[] concat(String[] a, String... b) {
    String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }
}
