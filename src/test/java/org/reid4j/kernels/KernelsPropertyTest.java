package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.reid4j.kernels.KernelsContractTest.TOL;
import static org.reid4j.kernels.KernelsContractTest.assertDistancesMatch;
import static org.reid4j.kernels.KernelsContractTest.close;
import static org.reid4j.kernels.KernelsContractTest.scale;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;
import net.jqwik.api.statistics.Statistics;

/**
 * Property tests of the native boundary: any shape (no rows, d = 1, k beyond the row count), any
 * values (small integers full of exact ties, gaussians, magnitudes up to ~1e18 whose squared norms
 * may overflow float32, NaN, infinities, -0, subnormals), any metric and any parameters, given to
 * every {@link Kernels} method. The plain-Java kernels are the reference: every other backend must
 * throw an IllegalArgumentException with the same message where Java does, and otherwise give the
 * same answer: exactly where float arithmetic is exact (integer features, Euclidean metrics), else
 * within the tolerance of {@link KernelsContractTest}, with equal distances ordered by index. Any
 * other exception fails the property; a native crash takes the test JVM with it.
 *
 * <p>Tries per property: {@code jqwik.tries.default} in pom.xml (fewer in the CUDA-emulator run,
 * which compares CUDA alone; the default run compares every native backend that loads). Seeds are
 * fixed, so every run draws the same cases, and a failure prints its shrunk case and seed. Matrix
 * contents come from {@code new Random(seed)} with a drawn seed: jqwik shrinks the shape and the
 * kind of values, and the printed case rebuilds exactly.
 */
@AddLifecycleHook(KernelsPropertyTest.NeedsNativeKernels.class)
class KernelsPropertyTest {
  static final String SEED = "20240611";
  static final Kernels JAVA = Kernels.create(Backend.JAVA);

  /** The backends compared with Java, made on first use (never where the hook below skips). */
  static final class Others {
    static final List<Kernels> LIST = make();

    static List<Kernels> make() {
      if (Boolean.getBoolean("reid4j.cuda.emulated")) return List.of(Kernels.create(Backend.CUDA));
      List<Kernels> out = new ArrayList<>(List.of(Kernels.create(Backend.CPU))); // part of every normal build
      if (Kernels.unavailableReason(Backend.CUDA) == null) out.add(Kernels.create(Backend.CUDA));
      return out;
    }
  }

  /** Without the native library (-Dnative.skip=true) there is nothing to compare Java with. */
  public static class NeedsNativeKernels implements SkipExecutionHook {
    @Override
    public SkipResult shouldBeSkipped(LifecycleContext context) {
      return Boolean.getBoolean("native.skip") ? SkipResult.skip("native library not built (-Dnative.skip=true)")
          : SkipResult.doNotSkip();
    }
  }

  // ----------------------------------------------------------------------------- what is drawn

  enum Values {
    /** In [-2, 2]: exact in float, rows full of ties. */
    SMALL_INTEGERS(true),
    GAUSSIAN(false),
    /** In [-3, 3] times one 2^e per case, e in [36, 60]: still exact; the largest squared norms are refused. */
    HUGE_INTEGERS(true),
    /** Gaussians times 10^e, e in [0, 18] per row: norms from 1 to ~1e19, the largest refused. */
    HUGE_GAUSSIAN(false);

    final boolean exact;

    Values(boolean exact) {
      this.exact = exact;
    }
  }

  /** Put in at random places: refused in features (NaN, infinities, the huge ones), NaN alone refused by topk. */
  static final float[] SPECIALS = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE,
      Float.MAX_VALUE, -Float.MAX_VALUE};

  /** The rows of one case's matrices; about one row in four repeats an earlier one (exact ties). */
  static FloatMatrix matrix(Values values, Random r, int rows, int cols) {
    float pow2 = (float) Math.scalb(1.0, 36 + r.nextInt(25));
    float[] a = new float[rows * cols];
    for (int i = 0; i < rows; i++) {
      float pow10 = (float) Math.pow(10, r.nextInt(19));
      for (int c = 0; c < cols; c++) {
        a[i * cols + c] = switch (values) {
          case SMALL_INTEGERS -> r.nextInt(5) - 2;
          case GAUSSIAN -> (float) r.nextGaussian();
          case HUGE_INTEGERS -> (r.nextInt(7) - 3) * pow2;
          case HUGE_GAUSSIAN -> (float) r.nextGaussian() * pow10;
        };
      }
      if (i > 0 && r.nextInt(4) == 0) System.arraycopy(a, r.nextInt(i) * cols, a, i * cols, cols);
    }
    return new FloatMatrix(rows, cols, a);
  }

  static void sprinkle(Random r, int specials, FloatMatrix... ms) {
    for (int s = 0; s < specials; s++) {
      FloatMatrix m = ms[r.nextInt(ms.length)];
      if (m.data().length > 0) m.data()[r.nextInt(m.data().length)] = SPECIALS[r.nextInt(SPECIALS.length)];
    }
  }

  enum Shape { FINE, OTHER_WIDTH, NO_COLUMNS }

  /** Queries [nq, d] and gallery [ng, d] (or a flawed width); also anchors and memory. */
  record Features(Values values, int nq, int ng, int d, Shape shape, int specials, long seed) {
    FloatMatrix[] build() {
      Random r = new Random(seed);
      int dq = shape == Shape.NO_COLUMNS ? 0 : d, dg = shape == Shape.OTHER_WIDTH ? d + 1 : dq;
      FloatMatrix q = matrix(values, r, nq, dq), g = matrix(values, r, ng, dg);
      if (dq == dg && nq > 0 && ng > 0 && r.nextBoolean()) // a query that is also in the gallery
        System.arraycopy(q.data(), r.nextInt(nq) * dq, g.data(), r.nextInt(ng) * dq, dq);
      sprinkle(r, specials, q, g);
      return new FloatMatrix[] {q, g};
    }

    /** Whether every backend must compute the very same floats. */
    boolean exact(Metric metric) {
      return values.exact && specials == 0 && metric != Metric.COSINE;
    }

    /**
     * Whether the order of distances is the same on every backend. With norms from 1 to 1e18, the
     * distances from a huge row to all small ones agree to the last float bit or two, and rounding,
     * which differs between backends, decides their order.
     */
    boolean stableOrder() {
      return values != Values.HUGE_GAUSSIAN && specials == 0;
    }
  }

  record TopkCase(Values values, int rows, int cols, int specials, long seed, int k) {
    FloatMatrix dist() {
      Random r = new Random(seed);
      FloatMatrix m = matrix(values, r, rows, cols);
      sprinkle(r, specials, m);
      return m;
    }
  }

  /** Labels: few classes (ties, singletons) with extreme values, sometimes one too few or many, or null. */
  record Labelling(int classes, int lengthError, boolean isNull, long seed) {
    static final int[] PALETTE = {0, 1, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 7};

    int[] labels(int rows) {
      if (isNull) return null;
      Random r = new Random(seed);
      int[] l = new int[Math.max(0, rows + lengthError)];
      for (int i = 0; i < l.length; i++) {
        int c = r.nextInt(classes);
        l[i] = c < PALETTE.length ? PALETTE[c] : c;
      }
      return l;
    }
  }

  static Arbitrary<Integer> rows() {
    return Arbitraries.integers().between(0, 40);
  }

  /**
   * A choice whose only edge case is the usual value: jqwik mixes edge cases in often, and flaws
   * should come at their given frequency (the edge cases of shapes still come).
   */
  static <T> Arbitrary<T> usually(T usual, Arbitrary<T> choice) {
    return choice.edgeCases(c -> c.includeOnly(usual));
  }

  static Arbitrary<Integer> specials() {
    return usually(0, Arbitraries.frequency(Tuple.of(16, 0), Tuple.of(2, 1), Tuple.of(1, 2), Tuple.of(1, 3)));
  }

  @Provide
  Arbitrary<Features> features() {
    return Combinators.combine(Arbitraries.of(Values.class), rows(), rows(), Arbitraries.integers().between(1, 70),
        usually(Shape.FINE, Arbitraries.frequency(Tuple.of(18, Shape.FINE), Tuple.of(1, Shape.OTHER_WIDTH),
            Tuple.of(1, Shape.NO_COLUMNS))),
        specials(), Arbitraries.longs()).as(Features::new);
  }

  /** k from 0 to n, sometimes from -2 to n + 3. */
  static Arbitrary<Integer> k(int n) {
    return Arbitraries.frequencyOf(Tuple.of(5, Arbitraries.integers().between(0, n)),
        Tuple.of(1, Arbitraries.integers().between(-2, n + 3)));
  }

  @Provide
  Arbitrary<TopkCase> topkCases() {
    return Combinators.combine(Arbitraries.of(Values.class), rows(), rows(), specials(), Arbitraries.longs())
        .flatAs((v, rows, cols, sp, seed) -> k(cols).map(k -> new TopkCase(v, rows, cols, sp, seed, k)));
  }

  @Provide
  Arbitrary<Labelling> labellings() {
    return Combinators.combine(Arbitraries.integers().between(1, 40),
        usually(0, Arbitraries.frequency(Tuple.of(18, 0), Tuple.of(1, -1), Tuple.of(1, 1))),
        usually(false, Arbitraries.frequency(Tuple.of(30, false), Tuple.of(1, true))), Arbitraries.longs())
        .as(Labelling::new);
  }

  @Provide
  Arbitrary<Integer> rerankK() {
    return usually(1, Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.integers().between(1, 90)),
        Tuple.of(1, Arbitraries.of(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE - 1, Integer.MAX_VALUE))));
  }

  @Provide
  Arbitrary<Float> lambdas() {
    return usually(0f, Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.floats().between(0f, 1f)),
        Tuple.of(1, Arbitraries.of(-0.1f, 1.1f, Float.NaN, -0f, 1f, Float.POSITIVE_INFINITY))));
  }

  // ------------------------------------------------------------------------------- the properties

  @Property(seed = SEED)
  void pairwise(@ForAll("features") Features f, @ForAll Metric metric) {
    FloatMatrix[] qg = f.build();
    agree(f, "pairwise", k -> k.pairwise(qg[0], qg[1], metric), (java, got, ctx) -> {
      if (!f.exact(metric)) {
        assertDistancesMatch(ReferenceKernels.toDouble(java), got, metric, ctx);
        return;
      }
      assertEquals(List.of(java.rows(), java.cols()), List.of(got.rows(), got.cols()), ctx + " shape");
      assertArrayEquals(java.data(), got.data(), 0f, ctx + " " + metric + ": not the same floats");
    });
  }

  @Property(seed = SEED)
  void topk(@ForAll("topkCases") TopkCase c) {
    FloatMatrix dist = c.dist();
    agree(c, "topk", k -> k.topk(dist, c.k()), KernelsPropertyTest::assertSameTopk);
  }

  @Provide
  Arbitrary<Tuple.Tuple2<Features, Integer>> featuresAndK() {
    return features().flatMap(f -> k(f.ng()).map(k -> Tuple.of(f, k)));
  }

  @Property(seed = SEED)
  void pairwiseTopk(@ForAll("featuresAndK") Tuple.Tuple2<Features, Integer> fk, @ForAll Metric metric) {
    Features f = fk.get1();
    int k = fk.get2();
    FloatMatrix[] qg = f.build();
    agree(f, "pairwiseTopk k=" + k, b -> b.pairwiseTopk(qg[0], qg[1], metric, k), (java, got, ctx) -> {
      if (f.exact(metric)) assertSameTopk(java, got, ctx);
      else assertNearTopk(java, got, qg[1], ReferenceKernels.distances(qg[0], qg[1], metric), metric, ctx);
    });
  }

  @Property(seed = SEED)
  void batchHard(@ForAll("features") Features f, @ForAll("labellings") Labelling l, @ForAll Metric metric) {
    FloatMatrix x = f.build()[0];
    int[] labels = l.labels(x.rows());
    agree(f, "batchHard " + l, k -> k.batchHard(x, labels, metric), (java, got, ctx) -> {
      if (f.exact(metric)) assertSameMining(java, got, ctx);
      else assertNearMining(java, got, x, ReferenceKernels.distances(x, x, metric), labels, labels, true, metric, ctx);
    });
  }

  @Property(seed = SEED)
  void batchHardMemory(@ForAll("features") Features f, @ForAll("labellings") Labelling la,
      @ForAll("labellings") Labelling lm, @ForAll Metric metric) {
    FloatMatrix[] am = f.build();
    int[] al = la.labels(am[0].rows()), ml = lm.labels(am[1].rows());
    agree(f, "batchHardMemory " + la + " " + lm, k -> k.batchHardMemory(am[0], al, am[1], ml, metric),
        (java, got, ctx) -> {
          if (f.exact(metric)) assertSameMining(java, got, ctx);
          else assertNearMining(java, got, am[1], ReferenceKernels.distances(am[0], am[1], metric), al, ml, false,
              metric, ctx);
        });
  }

  @Property(seed = SEED)
  void rerank(@ForAll("features") Features f, @ForAll Metric metric, @ForAll("rerankK") int k1,
      @ForAll("rerankK") int k2, @ForAll("lambdas") float lambda) {
    FloatMatrix[] qg = f.build();
    agree(f, "rerank k1=" + k1 + " k2=" + k2 + " lambda=" + lambda,
        k -> k.rerank(qg[0], qg[1], metric, new RerankParams(k1, k2, lambda)), (java, got, ctx) -> {
          assertEquals(List.of(java.rows(), java.cols()), List.of(got.rows(), got.cols()), ctx + " shape");
          for (int i = 0; i < java.data().length; i++) {
            float v = got.data()[i];
            String at = ctx + " " + metric + " at " + i + ": java " + java.data()[i] + ", got " + v;
            // Re-ranking depends on the order of distances: where rounding decides the order, only its range is sure.
            if (f.stableOrder() ? !(Math.abs(v - java.data()[i]) <= TOL) : !(v >= -TOL && v <= 1 + TOL)) fail(at);
          }
        });
  }

  // ---------------------------------------------------------------------------------- the checks

  interface SameAnswer<T> {
    void check(T java, T got, String ctx);
  }

  record Outcome<T>(T result, IllegalArgumentException refusal) {
    static <T> Outcome<T> of(Kernels k, Function<Kernels, T> call) {
      try {
        return new Outcome<>(call.apply(k), null);
      } catch (IllegalArgumentException e) {
        return new Outcome<>(null, e);
      }
    }
  }

  /**
   * The call on Java and on every other backend: all refuse with the same message, or all answer
   * alike. Also counts answers and refusals, and fails the property if either is rare: the drawn
   * cases must exercise both.
   */
  static <T> void agree(Object drawn, String call, Function<Kernels, T> run, SameAnswer<T> same) {
    Outcome<T> java = Outcome.of(JAVA, run);
    // "answered", or the refusal's message up to its first number
    Statistics.label("java").collect(java.refusal() == null ? "answered"
        : java.refusal().getMessage().replaceAll(" ?-?[0-9(\\[].*", ""));
    Statistics.label("java").coverage(c -> {
      c.check("answered").percentage(p -> p >= 30);
      c.checkQuery(v -> !v.get(0).equals("answered")).percentage(p -> p >= 5);
    });
    for (Kernels other : Others.LIST) {
      String ctx = "[" + other.backend().id() + ": " + call + " of " + drawn + "]";
      Outcome<T> got = Outcome.of(other, run);
      if (java.refusal() != null) {
        if (got.refusal() == null) fail(ctx + " answered; java refused: " + java.refusal().getMessage());
        assertEquals(java.refusal().getMessage(), got.refusal().getMessage(), ctx + " refused with another message");
      } else {
        if (got.refusal() != null) throw new AssertionError(ctx + " refused what java answered", got.refusal());
        same.check(java.result(), got.result(), ctx);
      }
    }
  }

  static void assertSameTopk(TopK java, TopK got, String ctx) {
    assertEquals(List.of(java.rows(), java.k()), List.of(got.rows(), got.k()), ctx + " shape");
    assertArrayEquals(java.indices(), got.indices(), ctx + " indices");
    assertArrayEquals(java.values(), got.values(), 0f, ctx + " values");
  }

  static boolean sameRow(FloatMatrix m, int a, int b) {
    int d = m.cols();
    return Arrays.equals(m.data(), a * d, (a + 1) * d, m.data(), b * d, (b + 1) * d);
  }

  /**
   * Top-k from rounded distances: the values agree with Java's within the contract's tolerance and
   * are the distances (d, double precision) of the indices given, ascending by (value, index); an
   * index differs from Java's only for a near tie; a gallery row repeated at a smaller index comes
   * first.
   */
  static void assertNearTopk(TopK java, TopK got, FloatMatrix g, double[][] d, Metric m, String ctx) {
    assertEquals(List.of(java.rows(), java.k()), List.of(got.rows(), got.k()), ctx + " shape");
    double s = scale(d);
    for (int r = 0; r < got.rows(); r++) {
      int[] row = Arrays.copyOfRange(got.indices(), r * got.k(), (r + 1) * got.k());
      for (int j = 0; j < got.k(); j++) {
        int idx = row[j], ref = java.index(r, j);
        float v = got.value(r, j);
        String at = ctx + " " + m + " at (" + r + ", " + j + "): index " + idx + " value " + v + ", java has " + ref
            + " value " + java.value(r, j);
        assertTrue(idx >= 0 && idx < g.rows(), at + ": no gallery row");
        assertTrue(close(java.value(r, j), v, s, m) && close(d[r][idx], v, s, m), at + ": value off");
        if (j > 0) {
          assertTrue(got.value(r, j - 1) < v || (got.value(r, j - 1) == v && row[j - 1] < idx), at + ": order");
        }
        if (idx != ref) assertTrue(close(d[r][ref], (float) d[r][idx], 2 * s, m), at + ": not a near tie");
        for (int e = 0; e < idx; e++) {
          final int earlier = e;
          if (sameRow(g, e, idx))
            assertTrue(Arrays.stream(row, 0, j).anyMatch(x -> x == earlier), at + ": its copy " + e + " comes first");
        }
      }
    }
  }

  static void assertSameMining(HardMining java, HardMining got, String ctx) {
    assertArrayEquals(java.posIdx(), got.posIdx(), ctx + " positives");
    assertArrayEquals(java.negIdx(), got.negIdx(), ctx + " negatives");
    assertArrayEquals(java.posDist(), got.posDist(), 0f, ctx + " positive distances");
    assertArrayEquals(java.negDist(), got.negDist(), 0f, ctx + " negative distances");
  }

  /** Mining from rounded distances: per anchor, the checks of {@link #assertNearTopk} on one pick. */
  static void assertNearMining(HardMining java, HardMining got, FloatMatrix cand, double[][] d, int[] al, int[] cl,
      boolean excludeSelf, Metric m, String ctx) {
    assertEquals(java.size(), got.size(), ctx + " anchors");
    double s = scale(d);
    for (int i = 0; i < got.size(); i++) {
      for (boolean pos : new boolean[] {true, false}) {
        int ref = pos ? java.posIdx()[i] : java.negIdx()[i], idx = pos ? got.posIdx()[i] : got.negIdx()[i];
        float refDist = pos ? java.posDist()[i] : java.negDist()[i], dist = pos ? got.posDist()[i] : got.negDist()[i];
        String at = ctx + " " + m + " anchor " + i + (pos ? " positive " : " negative ") + idx + " at " + dist
            + ", java has " + ref + " at " + refDist;
        if (ref < 0) {
          assertTrue(idx == -1 && Float.isNaN(dist), at + ": expected none");
          continue;
        }
        assertTrue(idx >= 0 && idx < cl.length && (cl[idx] == al[i]) == pos && !(excludeSelf && idx == i),
            at + ": not a candidate");
        assertTrue(close(refDist, dist, s, m) && close(d[i][idx], dist, s, m), at + ": distance off");
        if (idx != ref) assertTrue(close(d[i][ref], (float) d[i][idx], 2 * s, m), at + ": not a near tie");
        for (int e = 0; e < idx; e++) {
          if (sameRow(cand, e, idx) && cl[e] == cl[idx] && !(excludeSelf && e == i))
            fail(at + ": its copy " + e + " has the smaller index");
        }
      }
    }
  }
}
