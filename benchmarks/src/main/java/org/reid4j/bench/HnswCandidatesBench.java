package org.reid4j.bench;

import java.nio.file.Path;
import java.util.Random;
import org.reid4j.eval.Features;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.eval.rerank.HnswNeighbours;
import org.reid4j.eval.rerank.KReciprocal;
import org.reid4j.io.FeatureDir;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.TopK;

/**
 * One-shot measurement (not JMH) of HNSW neighbour lists for re-ranking: graph build and search
 * time, the graph's size, and recall@k1 of the lists against the exact k1 nearest on a random
 * sample of items (exact lists from the native pairwise top-k over all N items). Features are
 * L2-normalised, the metric is Euclidean (what {@code eval --normalize --metric euclidean} and the
 * default sqeuclidean rank alike). Run by {@code benchmarks/hnsw-candidates.sh}.
 *
 * <p>usage: {@code dir DIR M EF [K1 SAMPLE]} (a feature folder, queries and gallery together) or
 * {@code synth N D M EF [K1 SAMPLE SEED]} (N unit vectors of dimension D in clusters of 10 around
 * Gaussian centres, noise 0.7 per coordinate relative to the centre's); {@code npy N D FILE [SEED]} writes
 * those items as a float32 .npy file (the Spark graph's 1M case reads it). EF may be {@code BUILD:SEARCH}
 * (the graph built with one beam, searched with another). {@code sample N D M EF:S1,S2,... [K1 SAMPLE SEED]}
 * builds the synth items' graph once and searches only the sampled items, once per search beam (recall against
 * the beam, and the time per item, without searching all N). Besides recall@k1 it prints the recall by exact
 * rank (1-5, 6-10, ...), the recall within 1% of the exact k1-th distance (ann-benchmarks' epsilon recall)
 * and how much farther than the exact k1-th the lists' last entries are.
 */
public final class HnswCandidatesBench {
  public static void main(String[] a) throws Exception {
    if (a[0].equals("npy")) { // npy N D FILE [SEED]: the synth items as one float32 .npy file (for other tools)
      int n = Integer.parseInt(a[1]), d = Integer.parseInt(a[2]);
      org.reid4j.io.Npy.writeFloat32(Path.of(a[3]), clustered(n, d, a.length > 4 ? Long.parseLong(a[4]) : 1));
      return;
    }
    long t0 = System.nanoTime();
    FloatMatrix q, g;
    int at;
    if (a[0].equals("dir")) {
      q = Features.l2Normalize(FeatureDir.readQuery(Path.of(a[1])).features());
      g = Features.l2Normalize(FeatureDir.readGallery(Path.of(a[1])).features());
      at = 2;
    } else {
      int n = Integer.parseInt(a[1]), d = Integer.parseInt(a[2]);
      long seed = a.length > 7 ? Long.parseLong(a[7]) : 1;
      q = FloatMatrix.zeros(0, d);
      g = clustered(n, d, seed);
      at = 3;
    }
    int m = Integer.parseInt(a[at]);
    boolean sampleOnly = a[0].equals("sample");
    String[] efs = a[at + 1].split(":"); // EF or EF:EF_SEARCH (sample: EF:S1,S2,...)
    int ef = Integer.parseInt(efs[0]);
    int[] searchEfs = efs.length > 1 ? java.util.Arrays.stream(efs[1].split(",")).mapToInt(Integer::parseInt).toArray()
        : new int[] {ef};
    int k1 = a.length > at + 2 ? Integer.parseInt(a[at + 2]) : 20;
    int sample = a.length > at + 3 ? Integer.parseInt(a[at + 3]) : 1000;
    int nq = q.rows(), n = nq + g.rows(), d = g.cols(), len = k1 + 1;
    System.out.printf("items %,d x %d (queries %,d), m %d, ef %d, search ef %s, k1 %d; prepared in %,d ms; java %s%n",
        n, d, nq, m, ef, java.util.Arrays.toString(searchEfs), k1, (System.nanoTime() - t0) / 1_000_000,
        Runtime.version());

    // the sample: 1,000 random items, their exact k1 + 2 nearest from the native kernels
    Random r = new Random(7);
    sample = Math.min(sample, n);
    int[] items = r.ints(0, n).distinct().limit(sample).toArray();
    float[] rows = new float[sample * d];
    for (int s = 0; s < sample; s++) {
      int i = items[s];
      System.arraycopy(i < nq ? q.data() : g.data(), (i < nq ? i : i - nq) * d, rows, s * d, d);
    }
    FloatMatrix all = nq == 0 ? g : concat(q, g);
    long t1 = System.nanoTime();
    Kernels kernels = Kernels.create(Backend.AUTO);
    TopK exact = kernels.pairwiseTopk(new FloatMatrix(sample, d, rows), all, Metric.EUCLIDEAN, Math.min(n, k1 + 2));
    System.out.printf("exact top-k of the sample: %,d ms on %s%n", (System.nanoTime() - t1) / 1_000_000,
        kernels.describe());

    int[] sIdx = new int[sample * len];
    float[] sDist = new float[sample * len];
    if (!sampleOnly) {
      HnswNeighbours.Lists l = HnswNeighbours.of(q, g, Metric.EUCLIDEAN, len, Candidates.hnsw(m, ef, searchEfs[0]),
          System.out::println);
      System.out.printf("graph build %,d ms, search + re-score %,d ms, graph %.1f MB, rows recomputed exactly %d%n",
          l.buildMs(), l.searchMs(), l.graphBytes() / 1e6, l.exactRows());
      for (int s = 0; s < sample; s++) {
        System.arraycopy(l.idx(), items[s] * len, sIdx, s * len, len);
        System.arraycopy(l.dist(), items[s] * len, sDist, s * len, len);
      }
      report(items, sIdx, sDist, exact, k1);
    } else {
      // one graph, the sample's items searched with each beam and re-scored as HnswNeighbours does (best 2L + self)
      java.util.List<float[]> list = new java.util.ArrayList<>(n);
      for (int i = 0; i < n; i++) list.add(i < nq ? q.row(i) : g.row(i - nq));
      long tb = System.nanoTime();
      HnswNeighbours.Index index = HnswNeighbours.Index.build(list, Metric.EUCLIDEAN, Candidates.hnsw(m, ef),
          System.out::println);
      System.out.printf("graph build %,d ms, graph %.1f MB%n", (System.nanoTime() - tb) / 1_000_000,
          index.bytes() / 1e6);
      KReciprocal.ItemDistance dist = KReciprocal.ItemDistance.of(q, g, Metric.EUCLIDEAN);
      for (int beam : searchEfs) {
        long ts = System.nanoTime();
        java.util.stream.IntStream.range(0, sample).parallel().forEach(s -> {
          int i = items[s];
          int[] near = index.nearest(i, Math.max(beam, len), 2 * len);
          long[] keys = new long[near.length + 1];
          int size = 0;
          boolean self = false;
          for (int c : near) {
            self |= c == i;
            keys[size++] = ((long) Float.floatToIntBits(dist.between(i, c)) << 32) | c;
          }
          if (!self) keys[size++] = ((long) Float.floatToIntBits(dist.between(i, i)) << 32) | i;
          keys = java.util.Arrays.copyOf(keys, size);
          java.util.Arrays.sort(keys);
          for (int t = 0; t < len; t++) {
            sIdx[s * len + t] = (int) keys[t];
            sDist[s * len + t] = Float.intBitsToFloat((int) (keys[t] >>> 32));
          }
        });
        double msPerItem = (System.nanoTime() - ts) / 1e6 / sample;
        System.out.printf("search ef %d: %.2f ms per item on %d threads (all %,d items: about %.0f s)%n", beam,
            msPerItem, Runtime.getRuntime().availableProcessors(), n, msPerItem * n / 1000);
        report(items, sIdx, sDist, exact, k1);
      }
    }
    Runtime rt = Runtime.getRuntime();
    System.out.printf("heap in use at the end %.2f GB%n", (rt.totalMemory() - rt.freeMemory()) / 1e9);
  }

  /**
   * recall@k1 of the sample's lists ([sample, k1 + 1], the item itself among them) against the exact
   * k1 nearest other items (an entry tying with the k1-th within float rounding of the two kernels
   * counts), by exact rank, within 1% of the k1-th distance, and how far the lists' last entries are.
   */
  private static void report(int[] items, int[] sIdx, float[] sDist, TopK exact, int k1) {
    int sample = items.length, len = k1 + 1;
    long found = 0, wanted = 0, epsFound = 0, gapCount = 0;
    long[] rankFound = new long[k1], rankWanted = new long[k1];
    double gapSum = 0;
    for (int s = 0; s < sample; s++) {
      int i = items[s];
      int[] ex = new int[k1];
      int ne = 0;
      float kth = 0f;
      for (int t = 0; t < exact.k() && ne < k1; t++) {
        if (exact.index(s, t) == i) continue;
        ex[ne++] = exact.index(s, t);
        kth = exact.value(s, t);
      }
      int taken = 0;
      java.util.Set<Integer> listed = new java.util.HashSet<>();
      float last = 0f;
      for (int t = 0; t < len && taken < ne; t++) {
        int c = sIdx[s * len + t];
        if (c == i) continue;
        taken++;
        listed.add(c);
        last = sDist[s * len + t];
        if (last <= kth * 1.01f) epsFound++;
        boolean hit = last <= kth * (1 + 1e-5f);
        for (int e = 0; e < ne && !hit; e++) hit = ex[e] == c;
        if (hit) found++;
      }
      wanted += ne;
      for (int e = 0; e < ne; e++) { // by exact rank: is the exact r-th nearest on the list?
        rankWanted[e]++;
        if (listed.contains(ex[e])) rankFound[e]++;
      }
      if (ne > 0 && last > kth) { // the list's last entry is farther than the exact k1-th: by how much (relative)
        gapSum += (last - kth) / kth;
        gapCount++;
      }
    }
    System.out.printf("recall@%d on %,d sampled items: %.4f%n", k1, sample, found / (double) wanted);
    StringBuilder byRank = new StringBuilder("recall by exact rank:");
    for (int r0 = 0; r0 < k1; r0 += 5) {
      long f = 0, w = 0;
      for (int t = r0; t < Math.min(k1, r0 + 5); t++) {
        f += rankFound[t];
        w += rankWanted[t];
      }
      byRank.append(String.format(" %d-%d %.4f", r0 + 1, Math.min(k1, r0 + 5), f / (double) Math.max(1, w)));
    }
    System.out.println(byRank);
    System.out.printf("recall@%d within 1%% (an entry counts if its distance is at most 1.01 times the exact %d-th,"
        + " ann-benchmarks' epsilon recall): %.4f%n", k1, k1, epsFound / (double) wanted);
    System.out.printf("lists whose last entry is farther than the exact %d-th: %,d of %,d, by %.3f%% on average"
        + " (relative distance)%n", k1, gapCount, sample, gapCount == 0 ? 0 : 100 * gapSum / gapCount);
  }

  private static FloatMatrix concat(FloatMatrix a, FloatMatrix b) {
    float[] x = new float[(a.rows() + b.rows()) * a.cols()];
    System.arraycopy(a.data(), 0, x, 0, a.data().length);
    System.arraycopy(b.data(), 0, x, a.data().length, b.data().length);
    return new FloatMatrix(a.rows() + b.rows(), a.cols(), x);
  }

  private static FloatMatrix clustered(int n, int d, long seed) {
    Random r = new Random(seed);
    int size = 10, clusters = (n + size - 1) / size;
    float[] x = new float[Math.multiplyExact(n, d)];
    float[] c = new float[d];
    for (int k = 0; k < clusters; k++) {
      for (int j = 0; j < d; j++) c[j] = (float) r.nextGaussian();
      for (int i = k * size; i < Math.min(n, (k + 1) * size); i++) {
        double s = 0;
        for (int j = 0; j < d; j++) {
          float v = c[j] + 0.7f * (float) r.nextGaussian();
          x[i * d + j] = v;
          s += v * v;
        }
        float inv = (float) (1 / Math.sqrt(s));
        for (int j = 0; j < d; j++) x[i * d + j] *= inv;
      }
    }
    return new FloatMatrix(n, d, x);
  }
}
