package org.reid4j.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;

/**
 * Face-style verification of a labelled feature set: "are these two crops the same person?"
 * answered by thresholding one distance, and how well that works (ROC, AUC, EER, TPR at fixed FPRs,
 * the threshold for a target FPR). {@link org.reid4j.serve.VerificationThreshold} keeps the chosen
 * threshold beside a model.
 *
 * <p><b>Pairs.</b> Rows with a negative pid (junk, -1) are dropped. Among the rest, every unordered
 * pair i &lt; j with equal pids is a <i>genuine</i> pair and every pair with different pids an
 * <i>impostor</i> pair. Options: {@code crossCameraOnly} drops every pair whose two rows share a
 * camera (the realistic ReID case; needs camids); {@code zeroIsDistractor} (Market-1501/Duke test
 * sets, where pid 0 marks distractor detections rather than one person) makes pid-0 rows
 * impostors of everyone and drops pid-0/pid-0 pairs. All genuine pairs are used. When there are more
 * impostor pairs than {@code maxImpostors} (default 2,000,000), a uniform sample of exactly that many
 * distinct impostor pairs is drawn with a seeded {@link SplittableRandom}: pairs of eligible rows are
 * drawn uniformly, non-impostors and repeats are rejected, until the sample is full; so the sample,
 * and every number derived from it, depends only on the data and the seed. FPRs below
 * {@code 1 / impostorPairs} cannot be measured.
 *
 * <p><b>Distances</b> go through the given {@link Kernels} backend with the configured metric, on
 * L2-normalised features by default: genuine pairs per identity (a {@code pairwise} of the identity's
 * rows with themselves, in row blocks), all impostors as row blocks of the upper triangle, sampled
 * impostors as one {@code pairwise} of each anchor row against its sampled partners.
 *
 * <p><b>ROC and ties.</b> "Same person" means {@code distance <= threshold}. The distinct pair
 * distances, ascending, are the thresholds; point k holds the FPR and TPR of accepting every pair at
 * most that distance, and point 0 (threshold -infinity) accepts nothing. A genuine and an impostor
 * pair at the same distance are accepted together, so a tie moves the curve diagonally and the
 * trapezoid AUC counts it as one half (AUC equals the Mann-Whitney probability that a random genuine
 * pair is closer than a random impostor pair, ties counting 1/2). The threshold for a target FPR is
 * the largest ROC threshold whose FPR is at most the target (any value up to the next larger distance
 * would behave the same on these pairs; the observed one is reported); when even the smallest distance
 * exceeds the target FPR it is -infinity (accept nothing).
 *
 * <p>Cost: O(n d) to normalise; distances O((G + I) d) for G genuine and I impostor pairs when
 * sampled (O(n^2 d) when all impostors are used, which only happens while n^2 / 2 is about
 * maxImpostors or below); one sort of each side, O((G + I) log(G + I)); memory 4 bytes per pair plus
 * 24 bytes per distinct distance for the ROC (about 100 MB at the default cap). Measured on 2 cores,
 * n = 13,000 rows of d = 2048 (104k genuine pairs, 2M sampled impostors): 24 s on the Java backend,
 * 15 s on the native CPU backend, about a third of it spent gathering each anchor's partner rows.
 */
public final class Verification {
  /** Default cap on impostor pairs before sampling. */
  public static final long DEFAULT_MAX_IMPOSTORS = 2_000_000L;

  /** Default FPRs at which the TPR and the threshold are reported. */
  public static final List<Double> DEFAULT_TARGET_FPRS = List.of(1e-4, 1e-3, 1e-2, 1e-1);

  /** Result entries per kernel call at most (64 MB of floats) when enumerating the upper triangle. */
  private static final long BLOCK_VALUES = 16L << 20;

  private Verification() {}

  /**
   * What to compute.
   *
   * @param metric the distance; with {@code normalize} COSINE reads as 1 - cosine similarity
   * @param normalize L2-normalise the features before the distance
   * @param maxImpostors impostor pairs kept at most (a seeded uniform sample beyond), >= 1
   * @param seed the sampling seed
   * @param crossCameraOnly drop pairs whose rows share a camera (needs camids)
   * @param zeroIsDistractor pid 0 marks distractors (Market-1501 test sets): impostors only, 0/0 pairs dropped
   * @param targetFprs the FPRs reported in {@link Result#operatingPoints()}, each in [0, 1]
   */
  public record Options(Metric metric, boolean normalize, long maxImpostors, long seed, boolean crossCameraOnly,
      boolean zeroIsDistractor, List<Double> targetFprs) {
    public Options {
      if (metric == null) throw new IllegalArgumentException("metric is null");
      if (maxImpostors < 1) throw new IllegalArgumentException("maxImpostors must be >= 1, got " + maxImpostors);
      if (targetFprs == null) throw new IllegalArgumentException("targetFprs is null");
      for (Double f : targetFprs)
        if (f == null || !(f >= 0 && f <= 1))
          throw new IllegalArgumentException("target FPRs must lie in [0, 1], got " + f);
      targetFprs = List.copyOf(targetFprs);
    }

    /** Cosine on L2-normalised features, 2,000,000 impostors at most, seed 0, all cameras, FPRs 1e-4..1e-1. */
    public static Options defaults() {
      return new Options(Metric.COSINE, true, DEFAULT_MAX_IMPOSTORS, 0L, false, false, DEFAULT_TARGET_FPRS);
    }

    public Options withMetric(Metric m) {
      return new Options(m, normalize, maxImpostors, seed, crossCameraOnly, zeroIsDistractor, targetFprs);
    }

    public Options withNormalize(boolean n) {
      return new Options(metric, n, maxImpostors, seed, crossCameraOnly, zeroIsDistractor, targetFprs);
    }

    public Options withMaxImpostors(long max) {
      return new Options(metric, normalize, max, seed, crossCameraOnly, zeroIsDistractor, targetFprs);
    }

    public Options withSeed(long s) {
      return new Options(metric, normalize, maxImpostors, s, crossCameraOnly, zeroIsDistractor, targetFprs);
    }

    public Options withCrossCameraOnly(boolean c) {
      return new Options(metric, normalize, maxImpostors, seed, c, zeroIsDistractor, targetFprs);
    }

    public Options withZeroIsDistractor(boolean z) {
      return new Options(metric, normalize, maxImpostors, seed, crossCameraOnly, z, targetFprs);
    }

    public Options withTargetFprs(List<Double> fprs) {
      return new Options(metric, normalize, maxImpostors, seed, crossCameraOnly, zeroIsDistractor, fprs);
    }
  }

  /**
   * The pair distances (each side in enumeration order: genuine by ascending pid, then row order;
   * impostors by (i, j)).
   *
   * @param impostorPairsTotal impostor pairs in the set before sampling
   */
  public record Pairs(float[] genuine, float[] impostor, long impostorPairsTotal) {
    public boolean impostorsSampled() {
      return impostorPairsTotal > impostor.length;
    }
  }

  /**
   * One point of interest: the threshold for {@code targetFpr} and the rates it gives on these pairs.
   * {@code threshold} is -infinity (accept nothing, both rates 0) when no pair distance reaches the target.
   */
  public record OperatingPoint(double targetFpr, double threshold, double fpr, double tpr) {
    /** False when no finite threshold meets the target FPR. */
    public boolean reachable() {
      return threshold != Double.NEGATIVE_INFINITY;
    }
  }

  /**
   * Everything {@link #evaluate} measured.
   *
   * @param dim feature dimension (0 when built from distances)
   * @param eer equal error rate: where FPR = 1 - TPR, interpolated linearly along the ROC
   */
  public record Result(Metric metric, boolean normalize, int dim, long genuinePairs, long impostorPairs,
      long impostorPairsTotal, Roc roc, double auc, double eer, List<OperatingPoint> operatingPoints) {
    public boolean impostorsSampled() {
      return impostorPairsTotal > impostorPairs;
    }

    /** The operating point for any target FPR (not only the configured ones). */
    public OperatingPoint atFpr(double targetFpr) {
      return roc.atFpr(targetFpr);
    }

    /** A few lines for a terminal. */
    public String summary() {
      StringBuilder s = new StringBuilder();
      s.append(String.format(Locale.ROOT, "pairs: %,d genuine, %,d impostor", genuinePairs, impostorPairs));
      if (impostorsSampled()) s.append(String.format(Locale.ROOT, " (uniform sample of %,d)", impostorPairsTotal));
      s.append(String.format(Locale.ROOT, "%nmetric %s%s: AUC %.6f, EER %.4f%%", metric.name().toLowerCase(Locale.ROOT),
          normalize ? " (L2-normalised)" : "", auc, 100 * eer));
      for (OperatingPoint p : operatingPoints) {
        s.append(String.format(Locale.ROOT, "%nFPR <= %-8s TPR %.4f at threshold %s (FPR %.3g)", fmt(p.targetFpr()),
            p.tpr(), p.reachable() ? String.format(Locale.ROOT, "%.6g", p.threshold()) : "none", p.fpr()));
      }
      return s.toString();
    }

    private static String fmt(double v) {
      return String.format(Locale.ROOT, "%.0e", v).replace("e-0", "e-");
    }
  }

  /** Verification of {@code set} (its camids are used when {@code crossCameraOnly}). */
  public static Result evaluate(Kernels kernels, LabelledFeatures set, Options options) {
    return evaluate(kernels, set.features(), set.pids(), set.camids(), options);
  }

  /**
   * Verification of features [n, d] with pids [n] and camids [n] (camids may be null unless
   * {@code crossCameraOnly}). Throws IllegalArgumentException for an empty set, non-finite features,
   * mismatched lengths, or a set without genuine or without impostor pairs.
   */
  public static Result evaluate(Kernels kernels, FloatMatrix features, int[] pids, int[] camids, Options options) {
    Pairs p = pairDistances(kernels, features, pids, camids, options);
    Roc roc = Roc.of(p.genuine(), p.impostor());
    List<OperatingPoint> ops = new ArrayList<>();
    for (double f : options.targetFprs()) ops.add(roc.atFpr(f));
    return new Result(options.metric(), options.normalize(), features.cols(), p.genuine().length, p.impostor().length,
        p.impostorPairsTotal(), roc, roc.auc(), roc.eer(), Collections.unmodifiableList(ops));
  }

  /** The same measures from distances computed elsewhere (dim 0, impostors not sampled). */
  public static Result fromDistances(float[] genuine, float[] impostor, Metric metric, boolean normalize,
      List<Double> targetFprs) {
    Roc roc = Roc.of(genuine, impostor);
    List<OperatingPoint> ops = new ArrayList<>();
    for (double f : targetFprs) ops.add(roc.atFpr(f));
    return new Result(metric, normalize, 0, genuine.length, impostor.length, impostor.length, roc, roc.auc(),
        roc.eer(), Collections.unmodifiableList(ops));
  }

  /** The genuine and impostor pair distances (see the class comment for which pairs). */
  public static Pairs pairDistances(Kernels kernels, FloatMatrix features, int[] pids, int[] camids,
      Options options) {
    if (kernels == null || features == null || pids == null || options == null)
      throw new IllegalArgumentException("verification: null argument");
    int n = features.rows();
    if (n == 0) throw new IllegalArgumentException("verification: the feature set is empty");
    Checks.requireDim(features, "verification features");
    if (pids.length != n)
      throw new IllegalArgumentException("verification: " + n + " feature rows but " + pids.length + " pids");
    if (camids != null && camids.length != n)
      throw new IllegalArgumentException("verification: " + n + " feature rows but " + camids.length + " camids");
    if (options.crossCameraOnly() && camids == null)
      throw new IllegalArgumentException("verification: crossCameraOnly needs camids");
    Checks.requireFinite(features, "verification features");
    FloatMatrix x = options.normalize() ? Features.l2Normalize(features) : features;

    PairRule rule = new PairRule(pids, options.crossCameraOnly() ? camids : null, options.zeroIsDistractor());
    int[] eligible = IntStream.range(0, n).filter(i -> pids[i] >= 0).toArray();
    long[] totals = rule.count(eligible);
    long genuineTotal = totals[0], impostorTotal = totals[1];
    if (genuineTotal == 0)
      throw new IllegalArgumentException("verification: no genuine pairs: no identity has two usable rows"
          + " (rows with pid < 0 are dropped" + (options.crossCameraOnly() ? ", same-camera pairs are dropped" : "")
          + (options.zeroIsDistractor() ? ", pid 0 is a distractor" : "") + ")");
    if (impostorTotal == 0)
      throw new IllegalArgumentException("verification: no impostor pairs: all usable rows have the same identity");
    if (genuineTotal > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("verification: " + genuineTotal + " genuine pairs do not fit in one array");

    float[] genuine = genuineDistances(kernels, x, eligible, rule, options.metric(), (int) genuineTotal);
    long cap = Math.min(options.maxImpostors(), Integer.MAX_VALUE - 8); // one Java array
    float[] impostor = impostorTotal <= cap
        ? allImpostorDistances(kernels, x, eligible, rule, options.metric(), (int) impostorTotal)
        : sampledImpostorDistances(kernels, x, eligible, rule, options.metric(), (int) cap, options.seed());
    return new Pairs(genuine, impostor, impostorTotal);
  }

  /** Which pairs count, and as what. */
  private record PairRule(int[] pids, int[] camids, boolean zeroIsDistractor) {
    /** 1 genuine, -1 impostor, 0 not used (i != j, both eligible). */
    int kind(int i, int j) {
      if (camids != null && camids[i] == camids[j]) return 0;
      if (pids[i] != pids[j]) return -1;
      return zeroIsDistractor && pids[i] == 0 ? 0 : 1;
    }

    /** {genuine pairs, impostor pairs} among the eligible rows, from label counts in O(n). */
    long[] count(int[] eligible) {
      long ne = eligible.length;
      long all = ne * (ne - 1) / 2;
      Map<Integer, Long> byPid = new HashMap<>(), byCam = new HashMap<>();
      Map<Long, Long> byPidCam = new HashMap<>();
      for (int i : eligible) {
        byPid.merge(pids[i], 1L, Long::sum);
        if (camids != null) {
          byCam.merge(camids[i], 1L, Long::sum);
          byPidCam.merge(((long) pids[i] << 32) | (camids[i] & 0xffffffffL), 1L, Long::sum);
        }
      }
      long samePid = 0, sameCam = 0, samePidCam = 0;
      for (long c : byPid.values()) samePid += c * (c - 1) / 2;
      for (long c : byCam.values()) sameCam += c * (c - 1) / 2;
      for (long c : byPidCam.values()) samePidCam += c * (c - 1) / 2;
      long genuine = samePid - samePidCam; // equal pid, different camera (or any camera without camids)
      long impostor = all - sameCam - genuine; // usable pairs minus genuine
      if (zeroIsDistractor) {
        long zeros = byPid.getOrDefault(0, 0L), zeroSameCam = 0;
        if (camids != null)
          for (Map.Entry<Long, Long> e : byPidCam.entrySet())
            if ((int) (e.getKey() >> 32) == 0) zeroSameCam += e.getValue() * (e.getValue() - 1) / 2;
        genuine -= zeros * (zeros - 1) / 2 - zeroSameCam;
      }
      return new long[] {genuine, impostor};
    }
  }

  /** Per identity (ascending pid), upper-triangle distances of its rows, kept where kind == genuine. */
  private static float[] genuineDistances(Kernels kernels, FloatMatrix x, int[] eligible, PairRule rule,
      Metric metric, int total) {
    TreeMap<Integer, List<Integer>> groups = new TreeMap<>();
    for (int i : eligible) groups.computeIfAbsent(rule.pids()[i], k -> new ArrayList<>()).add(i);
    float[] out = new float[total];
    int at = 0;
    for (List<Integer> g : groups.values()) {
      if (g.size() < 2) continue;
      int[] rows = g.stream().mapToInt(Integer::intValue).toArray();
      at = upperTriangle(kernels, x, rows, metric, rule, 1, out, at);
    }
    if (at != total) throw new IllegalStateException("genuine pair count " + at + " != expected " + total);
    return out;
  }

  private static float[] allImpostorDistances(Kernels kernels, FloatMatrix x, int[] eligible, PairRule rule,
      Metric metric, int total) {
    float[] out = new float[total];
    int at = upperTriangle(kernels, x, eligible, metric, rule, -1, out, 0);
    if (at != total) throw new IllegalStateException("impostor pair count " + at + " != expected " + total);
    return out;
  }

  /**
   * Distances of the pairs (rows[a], rows[b]), a &lt; b, whose kind is {@code want}, appended to out
   * from {@code at} in (a, b) order, in row blocks of at most {@link #BLOCK_VALUES} results. Returns
   * the new end.
   */
  private static int upperTriangle(Kernels kernels, FloatMatrix x, int[] rows, Metric metric, PairRule rule, int want,
      float[] out, int at) {
    int m = rows.length;
    FloatMatrix all = gather(x, rows, 0, m);
    int block = (int) Math.max(1, Math.min(m, BLOCK_VALUES / Math.max(m, 1)));
    for (int r0 = 0; r0 < m; r0 += block) {
      int r1 = Math.min(m, r0 + block);
      FloatMatrix a = all.rowRange(r0, r1), b = all.rowRange(r0, m);
      FloatMatrix d = kernels.pairwise(a, b, metric);
      int cols = d.cols();
      float[] v = d.data();
      for (int i = r0; i < r1; i++) {
        for (int j = i + 1; j < m; j++) {
          if (rule.kind(rows[i], rows[j]) == want) out[at++] = v[(i - r0) * cols + (j - r0)];
        }
      }
    }
    return at;
  }

  /**
   * Exactly {@code count} distinct impostor pairs drawn uniformly (see the class comment), their
   * distances in ascending (i, j) order.
   */
  private static float[] sampledImpostorDistances(Kernels kernels, FloatMatrix x, int[] eligible, PairRule rule,
      Metric metric, int count, long seed) {
    long[] keys = samplePairs(eligible, rule, count, seed);
    // Anchors: runs of equal i in the sorted keys; one pairwise call (1 x run length) per anchor.
    int[] starts = runStarts(keys);
    float[] out = new float[count];
    IntStream.range(0, starts.length - 1).parallel().forEach(r -> {
      int s = starts[r], e = starts[r + 1];
      int i = (int) (keys[s] >>> 32);
      int[] partners = new int[e - s];
      for (int k = s; k < e; k++) partners[k - s] = (int) keys[k];
      FloatMatrix d = kernels.pairwise(x.rowRange(i, i + 1), gather(x, partners, 0, partners.length), metric);
      System.arraycopy(d.data(), 0, out, s, e - s);
    });
    return out;
  }

  /** Sorted keys (i << 32 | j), i &lt; j, of {@code count} distinct impostor pairs. */
  private static long[] samplePairs(int[] eligible, PairRule rule, int count, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int ne = eligible.length;
    long[] have = new long[0];
    while (have.length < count) {
      // Draw exactly as many as are missing, so that no accepted pair is ever discarded again:
      // the kept set is the first `count` distinct impostor pairs of an iid uniform sequence.
      int need = count - have.length;
      long[] fresh = new long[need];
      for (int k = 0; k < need; ) {
        int a = eligible[rnd.nextInt(ne)], b = eligible[rnd.nextInt(ne)];
        if (a == b || rule.kind(a, b) != -1) continue;
        int i = Math.min(a, b), j = Math.max(a, b);
        fresh[k++] = ((long) i << 32) | j;
      }
      Arrays.sort(fresh);
      have = mergeDistinct(have, fresh);
    }
    return have;
  }

  /** Sorted union without duplicates of two sorted arrays (a has no duplicates). */
  private static long[] mergeDistinct(long[] a, long[] b) {
    long[] out = new long[a.length + b.length];
    int i = 0, j = 0, n = 0;
    while (i < a.length || j < b.length) {
      long v = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i++] : b[j++];
      if (n == 0 || out[n - 1] != v) out[n++] = v;
    }
    return Arrays.copyOf(out, n);
  }

  private static int[] runStarts(long[] keys) {
    int[] starts = new int[keys.length + 1];
    int runs = 0;
    for (int k = 0; k < keys.length; k++)
      if (k == 0 || (keys[k] >>> 32) != (keys[k - 1] >>> 32)) starts[runs++] = k;
    starts[runs++] = keys.length;
    return Arrays.copyOf(starts, runs);
  }

  private static FloatMatrix gather(FloatMatrix x, int[] rows, int from, int to) {
    int d = x.cols();
    float[] out = new float[(to - from) * d];
    for (int k = from; k < to; k++) System.arraycopy(x.data(), rows[k] * d, out, (k - from) * d, d);
    return new FloatMatrix(to - from, d, out);
  }

  /**
   * A ROC curve over all distinct thresholds (see the class comment): point 0 accepts nothing
   * (threshold -infinity, FPR = TPR = 0); point k, k >= 1, accepts every pair whose distance is at
   * most the k-th smallest distinct distance; the last point has FPR = TPR = 1. Immutable.
   */
  public static final class Roc {
    private final double[] fpr, tpr, threshold;
    private final long genuine, impostor;

    private Roc(double[] fpr, double[] tpr, double[] threshold, long genuine, long impostor) {
      this.fpr = fpr;
      this.tpr = tpr;
      this.threshold = threshold;
      this.genuine = genuine;
      this.impostor = impostor;
    }

    /** The ROC of float distances (each threshold is a float value, widened exactly). */
    public static Roc of(float[] genuine, float[] impostor) {
      return of(toDouble(genuine), toDouble(impostor));
    }

    /**
     * The ROC of genuine and impostor distances (neither empty, no NaN; infinities are allowed).
     * Sorts copies: O((G + I) log(G + I)).
     */
    public static Roc of(double[] genuine, double[] impostor) {
      if (genuine == null || impostor == null) throw new IllegalArgumentException("roc: null distances");
      if (genuine.length == 0) throw new IllegalArgumentException("roc: no genuine pairs");
      if (impostor.length == 0) throw new IllegalArgumentException("roc: no impostor pairs");
      double[] g = sortedCopy(genuine, "genuine"), m = sortedCopy(impostor, "impostor");
      int cap = g.length + m.length + 1;
      double[] f = new double[cap], t = new double[cap], th = new double[cap];
      th[0] = Double.NEGATIVE_INFINITY;
      int n = 1, i = 0, j = 0;
      while (i < g.length || j < m.length) {
        double v = j >= m.length || (i < g.length && g[i] <= m[j]) ? g[i] : m[j];
        while (i < g.length && g[i] == v) i++;
        while (j < m.length && m[j] == v) j++;
        f[n] = j / (double) m.length;
        t[n] = i / (double) g.length;
        th[n] = v;
        n++;
      }
      return new Roc(Arrays.copyOf(f, n), Arrays.copyOf(t, n), Arrays.copyOf(th, n), g.length, m.length);
    }

    private static double[] toDouble(float[] v) {
      if (v == null) throw new IllegalArgumentException("roc: null distances");
      double[] out = new double[v.length];
      for (int k = 0; k < v.length; k++) out[k] = v[k];
      return out;
    }

    private static double[] sortedCopy(double[] v, String what) {
      for (int k = 0; k < v.length; k++)
        if (Double.isNaN(v[k])) throw new IllegalArgumentException("roc: " + what + " distance " + k + " is NaN");
      double[] s = v.clone();
      for (int k = 0; k < s.length; k++) if (s[k] == 0.0) s[k] = 0.0; // -0.0 ties with 0.0
      Arrays.sort(s);
      return s;
    }

    /** Number of points (distinct distances + 1). */
    public int size() {
      return fpr.length;
    }

    public double fpr(int k) {
      return fpr[k];
    }

    public double tpr(int k) {
      return tpr[k];
    }

    /** Threshold of point k (-infinity for k = 0). */
    public double threshold(int k) {
      return threshold[k];
    }

    public long genuinePairs() {
      return genuine;
    }

    public long impostorPairs() {
      return impostor;
    }

    /** Trapezoid area under TPR(FPR). */
    public double auc() {
      double a = 0;
      for (int k = 1; k < fpr.length; k++) a += (fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1]) / 2;
      return a;
    }

    /** Equal error rate: FPR where FPR = 1 - TPR, linear between the two ROC points that bracket it. */
    public double eer() {
      for (int k = 1; k < fpr.length; k++) {
        double d1 = fpr[k] - (1 - tpr[k]);
        if (d1 >= 0) {
          double d0 = fpr[k - 1] - (1 - tpr[k - 1]); // < 0
          double s = -d0 / (d1 - d0);
          return fpr[k - 1] + s * (fpr[k] - fpr[k - 1]);
        }
      }
      return 1; // unreachable: the last point has FPR 1, TPR 1
    }

    /** The largest-threshold point whose FPR is at most {@code targetFpr} (point 0 if none). */
    public OperatingPoint atFpr(double targetFpr) {
      if (!(targetFpr >= 0 && targetFpr <= 1))
        throw new IllegalArgumentException("target FPR must lie in [0, 1], got " + targetFpr);
      // FPR is non-decreasing in k: binary search for the last k with fpr[k] <= target.
      int lo = 0, hi = fpr.length - 1;
      while (lo < hi) {
        int mid = (lo + hi + 1) >>> 1;
        if (fpr[mid] <= targetFpr) lo = mid;
        else hi = mid - 1;
      }
      return new OperatingPoint(targetFpr, threshold[lo], fpr[lo], tpr[lo]);
    }

    /**
     * At most {@code maxPoints} points for plotting, always keeping the first and the last (a uniform
     * stride over the point index), as {fpr[], tpr[], threshold[]}.
     */
    public double[][] downsample(int maxPoints) {
      if (maxPoints < 2) throw new IllegalArgumentException("maxPoints must be >= 2, got " + maxPoints);
      int n = fpr.length;
      if (n <= maxPoints) return new double[][] {fpr.clone(), tpr.clone(), threshold.clone()};
      double[][] out = new double[3][maxPoints];
      for (int k = 0; k < maxPoints; k++) {
        int src = (int) Math.round(k * (n - 1) / (double) (maxPoints - 1));
        out[0][k] = fpr[src];
        out[1][k] = tpr[src];
        out[2][k] = threshold[src];
      }
      return out;
    }
  }
}
