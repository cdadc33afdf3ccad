package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.KernelsCases.Case;
import org.reid4j.kernels.KernelsCases.Draw;
import org.reid4j.kernels.KernelsCases.Method;

/**
 * Property tests of the native boundary: for each {@link Kernels} method, many cases drawn by
 * {@link KernelsCases} (odd shapes, extreme and special values, flawed widths and labels, parameters
 * out of range), on each of which every other backend refuses with Java's message or answers as
 * Java does (the rule in {@link KernelsCases}).
 *
 * <p>Case i of a method is drawn from {@code new Random(BASE_SEED + i)}, so every run draws the same
 * cases; a failure names the seed and the case, and {@code -Dreid4j.kernels.case-seed=SEED} runs that
 * case alone. 2000 cases per method in the default run, which compares every native backend that
 * loads; 500 in the CUDA-emulator run, which compares CUDA alone. Both answers and refusals must be
 * frequent among the drawn cases (at least 30% and 5%), or the cases stop testing what they are for.
 * The same cases, drawn from the fuzzer's input, are fuzzed by {@code KernelsFuzzTest}.
 */
class KernelsPropertyTest {
  static final long BASE_SEED = 20240611L;
  static final int CASES = Boolean.getBoolean("reid4j.cuda.emulated") ? 500 : 2000;
  static final String CASE_SEED = "reid4j.kernels.case-seed";

  /** Without the native library (-Dnative.skip=true) there is nothing to compare Java with. */
  @BeforeAll
  static void needsNativeKernels() {
    Assumptions.assumeFalse(Boolean.getBoolean("native.skip"), "native library not built (-Dnative.skip=true)");
  }

  @Test
  void pairwise() {
    run(Method.PAIRWISE);
  }

  @Test
  void topk() {
    run(Method.TOPK);
  }

  @Test
  void pairwiseTopk() {
    run(Method.PAIRWISE_TOPK);
  }

  @Test
  void batchHard() {
    run(Method.BATCH_HARD);
  }

  @Test
  void batchHardMemory() {
    run(Method.BATCH_HARD_MEMORY);
  }

  @Test
  void rerank() {
    run(Method.RERANK);
  }

  @Test
  void neighbourLists() {
    run(Method.NEIGHBOUR_LISTS);
  }

  static void run(Method method) {
    List<Kernels> others = KernelsCases.others();
    Long only = Long.getLong(CASE_SEED);
    long first = only != null ? only : BASE_SEED;
    int n = only != null ? 1 : CASES, answered = 0;
    for (int i = 0; i < n; i++) {
      long seed = first + i;
      Case c = method.draw(Draw.from(new Random(seed)));
      try {
        if (c.check(others)) answered++;
      } catch (AssertionError | RuntimeException e) {
        String what = String.valueOf(e.getMessage());
        if (!what.contains(c.toString())) what = c + ": " + e; // thrown by java itself
        throw new AssertionError("case seed " + seed + " (-D" + CASE_SEED + "=" + seed + " runs it alone): " + what, e);
      }
    }
    if (only != null) return;
    int refused = n - answered;
    System.out.println(method + ": " + n + " cases, java answered " + answered + ", refused " + refused);
    assertTrue(answered * 100 >= 30 * n, method + ": java answered only " + answered + " of " + n + " cases");
    assertTrue(refused * 100 >= 5 * n, method + ": java refused only " + refused + " of " + n + " cases");
  }
}
