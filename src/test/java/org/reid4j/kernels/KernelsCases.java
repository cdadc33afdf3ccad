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

/**
 * Cases of the native boundary, and the rule every backend is held to on them; shared by
 * {@link KernelsPropertyTest} (cases from seeded {@link Random}s) and {@code KernelsFuzzTest} (cases
 * from the fuzzer's input).
 *
 * <p>A case is any shape (no rows, d = 1, k beyond the row count), any values (small integers full
 * of exact ties, gaussians, magnitudes up to ~1e18 whose squared norms may overflow float32, NaN,
 * infinities, -0, subnormals), any metric and any parameters, given to one {@link Kernels} method.
 * The plain-Java kernels are the reference: every other backend must throw an
 * IllegalArgumentException with the same message where Java does, and otherwise give the same
 * answer: exactly where float arithmetic is exact (integer features, Euclidean metrics), else within
 * the tolerance of {@link KernelsContractTest}, with equal distances ordered by index. Any other
 * exception fails the case; a native crash takes the JVM with it.
 *
 * <p>The choices of a case (shape, kind of values, flaws, parameters) come from a {@link Draw};
 * matrix contents and labels from {@code new Random(seed)} with a drawn seed. Every case is a record
 * whose {@code toString()} names all its fields, so a printed case rebuilds exactly.
 */
final class KernelsCases {
  private KernelsCases() {}

  static final Kernels JAVA = Kernels.create(Backend.JAVA);

  /**
   * The backends compared with Java: CUDA alone on the CUDA emulator (whose library replaces the
   * native one); else the native CPU code, part of every normal build (its absence throws here),
   * and CUDA where it runs; none where the native library was not built (-Dnative.skip=true).
   */
  static List<Kernels> others() {
    if (Boolean.getBoolean("reid4j.cuda.emulated")) return List.of(Kernels.create(Backend.CUDA));
    if (Boolean.getBoolean("native.skip")) return List.of();
    List<Kernels> out = new ArrayList<>(List.of(Kernels.create(Backend.CPU)));
    if (Kernels.unavailableReason(Backend.CUDA) == null) out.add(Kernels.create(Backend.CUDA));
    return out;
  }

  // ----------------------------------------------------------------------------- the choices

  /**
   * Where the choices of a case come from. The fuzzer's input gives the lowest value of every range
   * once it has run out, so each choice lists its usual outcome first.
   */
  interface Draw {
    /** An int in [min, max], both included. */
    int between(int min, int max);

    long anyLong();

    default <T> T pick(T[] values) {
      return values[between(0, values.length - 1)];
    }

    default int pick(int... values) {
      return values[between(0, values.length - 1)];
    }

    default float pick(float... values) {
      return values[between(0, values.length - 1)];
    }

    /** i with probability weights[i] / sum(weights). */
    default int weighted(int... weights) {
      int x = between(0, Arrays.stream(weights).sum() - 1), i = 0;
      while (x >= weights[i]) x -= weights[i++];
      return i;
    }

    static Draw from(Random r) {
      return new Draw() {
        @Override
        public int between(int min, int max) {
          return (int) r.nextLong(min, (long) max + 1);
        }

        @Override
        public long anyLong() {
          return r.nextLong();
        }
      };
    }
  }

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

  /** 0 to 40 rows, the edges more often than their share. */
  static int rows(Draw d) {
    return d.weighted(7, 1) == 0 ? d.between(0, 40) : d.pick(0, 1, 40);
  }

  static int width(Draw d) {
    return d.weighted(7, 1) == 0 ? d.between(1, 70) : d.pick(1, 2, 70);
  }

  /** How many special values a case gets: mostly none. */
  static int specialCount(Draw d) {
    return d.weighted(16, 2, 1, 1);
  }

  /** k from 0 to n, sometimes from -2 to n + 3 or just outside [0, n]. */
  static int k(Draw d, int n) {
    return switch (d.weighted(10, 1, 1)) {
      case 0 -> d.between(0, n);
      case 1 -> d.between(-2, n + 3);
      default -> d.pick(-2, -1, n + 1, n + 3);
    };
  }

  /** Re-ranking's k1 or k2: 1 to 90, sometimes 0, negative, the ends of the int range or any int. */
  static int rerankK(Draw d) {
    return switch (d.weighted(24, 1, 1)) {
      case 0 -> d.between(1, 90);
      case 1 -> d.pick(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE - 1, Integer.MAX_VALUE);
      default -> d.between(Integer.MIN_VALUE, Integer.MAX_VALUE);
    };
  }

  /** In [0, 1] (multiples of 2^-24, both ends included), sometimes just outside, NaN, -0 or infinite. */
  static float lambda(Draw d) {
    return d.weighted(12, 1) == 0 ? d.between(0, 1 << 24) / (float) (1 << 24)
        : d.pick(-0.1f, 1.1f, Float.NaN, -0f, 1f, Float.POSITIVE_INFINITY);
  }

  // ----------------------------------------------------------------------------- the contents

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
    static Features draw(Draw d) {
      return new Features(d.pick(Values.values()), rows(d), rows(d), width(d), Shape.values()[d.weighted(18, 1, 1)],
          specialCount(d), d.anyLong());
    }

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

  /** Labels: few classes (ties, singletons) with extreme values, sometimes one too few or many, or null. */
  record Labelling(int classes, int lengthError, boolean isNull, long seed) {
    static final int[] PALETTE = {0, 1, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 7};

    static Labelling draw(Draw d) {
      return new Labelling(d.between(1, 40), new int[] {0, -1, 1}[d.weighted(18, 1, 1)], d.weighted(30, 1) == 1,
          d.anyLong());
    }

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

  // ----------------------------------------------------------------------------- the cases

  /** The Kernels methods, each with how its cases are drawn. */
  enum Method {
    PAIRWISE {
      @Override
      Case draw(Draw d) {
        return new PairwiseCase(Features.draw(d), d.pick(Metric.values()));
      }
    },
    TOPK {
      @Override
      Case draw(Draw d) {
        Values v = d.pick(Values.values());
        int rows = rows(d), cols = rows(d);
        return new TopkCase(v, rows, cols, specialCount(d), d.anyLong(), k(d, cols));
      }
    },
    PAIRWISE_TOPK {
      @Override
      Case draw(Draw d) {
        Features f = Features.draw(d);
        return new PairwiseTopkCase(f, d.pick(Metric.values()), k(d, f.ng()));
      }
    },
    BATCH_HARD {
      @Override
      Case draw(Draw d) {
        return new BatchHardCase(Features.draw(d), Labelling.draw(d), d.pick(Metric.values()));
      }
    },
    BATCH_HARD_MEMORY {
      @Override
      Case draw(Draw d) {
        return new BatchHardMemoryCase(Features.draw(d), Labelling.draw(d), Labelling.draw(d),
            d.pick(Metric.values()));
      }
    },
    RERANK {
      @Override
      Case draw(Draw d) {
        return new RerankCase(Features.draw(d), d.pick(Metric.values()), rerankK(d), rerankK(d), lambda(d));
      }
    },
    NEIGHBOUR_LISTS {
      @Override
      Case draw(Draw d) {
        Features f = Features.draw(d);
        return new NeighbourListsCase(f, d.pick(Metric.values()), k(d, f.nq() + f.ng()));
      }
    };

    abstract Case draw(Draw d);
  }

  /** One call of one Kernels method. */
  interface Case {
    /**
     * Calls Java and every backend of {@code others} and holds them to the rule of the class
     * comment (an AssertionError where one breaks it); true if Java answered, false if it refused.
     */
    boolean check(List<Kernels> others);
  }

  record PairwiseCase(Features f, Metric metric) implements Case {
    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix[] qg = f.build();
      return agree(this, others, k -> k.pairwise(qg[0], qg[1], metric), (java, got, ctx) -> {
        if (!f.exact(metric)) {
          assertDistancesMatch(ReferenceKernels.toDouble(java), got, metric, ctx);
          return;
        }
        assertEquals(List.of(java.rows(), java.cols()), List.of(got.rows(), got.cols()), ctx + " shape");
        assertArrayEquals(java.data(), got.data(), 0f, ctx + ": not the same floats");
      });
    }
  }

  /** A distance matrix [rows, cols] of the given values, specials sprinkled in. */
  record TopkCase(Values values, int rows, int cols, int specials, long seed, int k) implements Case {
    FloatMatrix dist() {
      Random r = new Random(seed);
      FloatMatrix m = matrix(values, r, rows, cols);
      sprinkle(r, specials, m);
      return m;
    }

    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix dist = dist();
      return agree(this, others, b -> b.topk(dist, k), KernelsCases::assertSameTopk);
    }
  }

  record PairwiseTopkCase(Features f, Metric metric, int k) implements Case {
    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix[] qg = f.build();
      return agree(this, others, b -> b.pairwiseTopk(qg[0], qg[1], metric, k), (java, got, ctx) -> {
        if (f.exact(metric)) assertSameTopk(java, got, ctx);
        else assertNearTopk(java, got, qg[1], referenceDistances(qg[0], qg[1], metric), metric, ctx);
      });
    }
  }

  /** Every item's k nearest among the queries and gallery of {@code f} together, and its row maximum. */
  record NeighbourListsCase(Features f, Metric metric, int k) implements Case {
    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix[] qg = f.build();
      return agree(this, others, b -> b.neighbourLists(qg[0], qg[1], metric, k, null), (java, got, ctx) -> {
        if (f.exact(metric)) {
          assertSameTopk(java.nearest(), got.nearest(), ctx);
          assertArrayEquals(java.rowMax(), got.rowMax(), 0f, ctx + " row maxima");
          return;
        }
        FloatMatrix all = NeighbourBlocks.rows(qg[0], qg[1], 0, qg[0].rows() + qg[1].rows());
        double[][] d = referenceDistances(all, all, metric);
        assertNearTopk(java.nearest(), got.nearest(), all, d, metric, ctx);
        double s = scale(d);
        for (int i = 0; i < d.length; i++) {
          double max = Arrays.stream(d[i]).max().orElseThrow();
          assertTrue(close(max, got.rowMax()[i], s, metric), ctx + " row maximum of item " + i + ": " + got.rowMax()[i]
              + ", reference " + max);
        }
      });
    }
  }

  /** The queries of {@code f} as the batch. */
  record BatchHardCase(Features f, Labelling l, Metric metric) implements Case {
    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix x = f.build()[0];
      int[] labels = l.labels(x.rows());
      return agree(this, others, b -> b.batchHard(x, labels, metric), (java, got, ctx) -> {
        if (f.exact(metric)) assertSameMining(java, got, ctx);
        else assertNearMining(java, got, x, referenceDistances(x, x, metric), labels, labels, true, metric,
            ctx);
      });
    }
  }

  /** The queries of {@code f} as anchors, its gallery as the memory. */
  record BatchHardMemoryCase(Features f, Labelling anchorLabels, Labelling memoryLabels, Metric metric)
      implements Case {
    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix[] am = f.build();
      int[] al = anchorLabels.labels(am[0].rows()), ml = memoryLabels.labels(am[1].rows());
      return agree(this, others, b -> b.batchHardMemory(am[0], al, am[1], ml, metric), (java, got, ctx) -> {
        if (f.exact(metric)) assertSameMining(java, got, ctx);
        else assertNearMining(java, got, am[1], referenceDistances(am[0], am[1], metric), al, ml, false,
            metric, ctx);
      });
    }
  }

  record RerankCase(Features f, Metric metric, int k1, int k2, float lambda) implements Case {
    @Override
    public boolean check(List<Kernels> others) {
      FloatMatrix[] qg = f.build();
      return agree(this, others, b -> b.rerank(qg[0], qg[1], metric, new RerankParams(k1, k2, lambda)),
          (java, got, ctx) -> {
            assertEquals(List.of(java.rows(), java.cols()), List.of(got.rows(), got.cols()), ctx + " shape");
            RerankItems items = f.stableOrder() ? RerankItems.of(qg[0], qg[1], metric) : null;
            boolean stable = f.stableOrder() && (items == null || !items.fragile(metric, k1, k2));
            for (int i = 0; i < java.data().length; i++) {
              float v = got.data()[i];
              String at = ctx + " at " + i + ": java " + java.data()[i] + ", got " + v;
              // Re-ranking depends on the order of distances: where rounding decides the order, only its range is sure.
              if (stable ? !(Math.abs(v - java.data()[i]) <= TOL) : !(v >= -TOL && v <= 1 + TOL)) fail(at);
            }
          });
    }
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
   * alike; any exception but an IllegalArgumentException propagates. True if Java answered.
   */
  static <T> boolean agree(Case c, List<Kernels> others, Function<Kernels, T> run, SameAnswer<T> same) {
    Outcome<T> java = Outcome.of(JAVA, run);
    for (Kernels other : others) {
      String ctx = "[" + other.backend().id() + ": " + c + "]";
      Outcome<T> got = Outcome.of(other, run);
      if (java.refusal() != null) {
        if (got.refusal() == null) fail(ctx + " answered; java refused: " + java.refusal().getMessage());
        assertEquals(java.refusal().getMessage(), got.refusal().getMessage(), ctx + " refused with another message");
      } else {
        if (got.refusal() != null) throw new AssertionError(ctx + " refused what java answered", got.refusal());
        same.check(java.result(), got.result(), ctx);
      }
    }
    return java.refusal() == null;
  }

  /**
   * The items of one re-ranking case (queries first) as re-ranking sees them: their reference
   * distances and their largest squared norm, the scale of the rounding in the kernels' sums.
   */
  record RerankItems(int n, double[][] d, double maxNorm) {
    /** Null when there is nothing to re-rank (an empty side) or the widths differ (refused anyway). */
    static RerankItems of(FloatMatrix q, FloatMatrix g, Metric metric) {
      int n = q.rows() + g.rows();
      if (q.rows() == 0 || g.rows() == 0 || q.cols() != g.cols()) return null;
      FloatMatrix all = FloatMatrix.zeros(n, q.cols());
      System.arraycopy(q.data(), 0, all.data(), 0, q.data().length);
      System.arraycopy(g.data(), 0, all.data(), q.data().length, g.data().length);
      double maxNorm = 0;
      for (float x : Distances.squaredNorms(all)) maxNorm = Math.max(maxNorm, x);
      return new RerankItems(n, referenceDistances(all, all, metric), maxNorm);
    }

    /** Whether rounding, which differs between backends, may decide re-ranking's order (see below). */
    boolean fragile(Metric metric, int k1, int k2) {
      return noiseLevelColumn(metric) || tieAtListCut(metric, k1, k2);
    }

    /**
     * True when some item's distances to all items are within float rounding of 0 (near-duplicates
     * only, e.g. two almost parallel vectors under cosine). Re-ranking divides each item's distances
     * by their maximum; a maximum made of rounding noise makes that ratio anything from 0 to 1, and
     * backends that round differently legitimately disagree (found by fuzzing kernelsBoundary: one
     * query and one gallery row, cosine, java 0.0 against cpu 0.99998).
     */
    boolean noiseLevelColumn(Metric metric) {
      double noise = switch (metric) {
        case COSINE -> 1e-5;
        case SQEUCLIDEAN -> 1e-5 * 2 * maxNorm;
        case EUCLIDEAN -> Math.sqrt(1e-5 * 2 * maxNorm);
      };
      for (int c = 0; c < n; c++) {
        double max = 0;
        for (int k = 0; k < n; k++) max = Math.max(max, d[k][c]);
        if (max < noise) return true;
      }
      return false;
    }

    /**
     * Whether some item has two others whose distances from it lie within the backends' rounding of
     * each other on either side of a cut that re-ranking makes in its sorted list (after k1 + 1,
     * round(k1 / 2) + 1 and k2 items): which of the two is inside the cut is then decided by rounding,
     * which differs between backends. Fuzzing found one in Gaussian data (19 x 20 rows, d 47, k1 11: an
     * item's 12th and 13th distances equal on the CPU and one float step apart in Java).
     */
    boolean tieAtListCut(Metric metric, int k1, int k2) {
      // a few float steps of the terms the kernels add up: squared norms for the Euclidean metrics
      double tol = metric == Metric.COSINE ? 1e-6 : 1e-6 * 2 * maxNorm;
      int[] cuts = {k1 + 1, (int) Math.rint(k1 / 2.0) + 1, k2};
      for (int i = 0; i < n; i++) {
        double[] row = d[i].clone();
        if (metric == Metric.EUCLIDEAN) for (int j = 0; j < n; j++) row[j] *= row[j]; // compare as squares
        java.util.Arrays.sort(row);
        for (int cut : cuts)
          if (cut >= 1 && cut < n && row[cut] - row[cut - 1] <= tol) return true;
      }
      return false;
    }
  }

  /**
   * The double-precision distances of {@link ReferenceKernels}, except that cosine takes a row for a
   * zero vector where its squared norm is 0 in float (a row of zeros and subnormals, such as
   * MIN_VALUE alone): every backend decides "1 for a zero vector" in float.
   */
  static double[][] referenceDistances(FloatMatrix a, FloatMatrix b, Metric metric) {
    double[][] d = ReferenceKernels.distances(a, b, metric);
    if (metric != Metric.COSINE) return d;
    float[] na = Distances.squaredNorms(a), nb = Distances.squaredNorms(b);
    for (int i = 0; i < d.length; i++) {
      for (int j = 0; j < nb.length; j++) if (na[i] == 0f || nb[j] == 0f) d[i][j] = 1;
    }
    return d;
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
        String at = ctx + " at (" + r + ", " + j + "): index " + idx + " value " + v + ", java has " + ref + " value "
            + java.value(r, j);
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
        String at = ctx + " anchor " + i + (pos ? " positive " : " negative ") + idx + " at " + dist + ", java has "
            + ref + " at " + refDist;
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
