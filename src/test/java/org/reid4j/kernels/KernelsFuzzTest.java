package org.reid4j.kernels;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.List;
import org.reid4j.kernels.KernelsCases.Case;
import org.reid4j.kernels.KernelsCases.Draw;
import org.reid4j.kernels.KernelsCases.Method;

/**
 * Fuzzes the kernels' native boundary: the fuzzer's input picks a {@link Kernels} method and draws
 * one case of it as {@link KernelsPropertyTest} does (shape, kind of values, flaws, parameters, and
 * the seed of the contents), and every available backend must refuse it with Java's exact message
 * or answer it as Java does (the rule in {@link KernelsCases}); any other exception is a finding.
 * The native CPU backend must load wherever the native library was built. Seeds, answered and
 * refused cases of every method, in src/test/fuzz/org/reid4j/kernels/KernelsFuzzTestInputs/kernelsBoundary/.
 */
class KernelsFuzzTest {
  private static final List<Kernels> OTHERS = KernelsCases.others();

  @FuzzTest(maxDuration = "10s")
  void kernelsBoundary(FuzzedDataProvider data) {
    caseOf(data).check(OTHERS);
  }

  /** The case the input describes; an input that runs out draws the lowest choice of each range. */
  static Case caseOf(FuzzedDataProvider data) {
    Draw d = new Draw() {
      @Override
      public int between(int min, int max) {
        return data.consumeInt(min, max);
      }

      @Override
      public long anyLong() {
        return data.consumeLong();
      }
    };
    return d.pick(Method.values()).draw(d);
  }
}
