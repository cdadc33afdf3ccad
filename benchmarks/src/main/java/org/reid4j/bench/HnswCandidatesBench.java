package org.reid4j.bench;

import java.nio.file.Path;
import java.util.Random;
import org.reid4j.eval.Features;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.eval.rerank.HnswNeighbours;
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
 * those items as a float32 .npy file (the Spark graph's 1M case reads it).
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
    int m = Integer.parseInt(a[at]), ef = Integer.parseInt(a[at + 1]);
    int k1 = a.length > at + 2 ? Integer.parseInt(a[at + 2]) : 20;
    int sample = a.length > at + 3 ? Integer.parseInt(a[at + 3]) : 1000;
    int nq = q.rows(), n = nq + g.rows(), d = g.cols();
    System.out.printf("items %,d x %d (queries %,d), m %d, ef %d, k1 %d; prepared in %,d ms; java %s%n", n, d, nq, m,
        ef, k1, (System.nanoTime() - t0) / 1_000_000, Runtime.version());

    HnswNeighbours.Lists l = HnswNeighbours.of(q, g, Metric.EUCLIDEAN, k1 + 1, Candidates.hnsw(m, ef),
        System.out::println);
    System.out.printf("graph build %,d ms, search + re-score %,d ms, graph %.1f MB, rows recomputed exactly %d%n",
        l.buildMs(), l.searchMs(), l.graphBytes() / 1e6, l.exactRows());

    // recall@k1 on a sample: the HNSW list's k1 nearest other items that are among the exact k1 nearest
    // (or tie with the k1-th, within float rounding of the two kernels)
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
    long exactMs = (System.nanoTime() - t1) / 1_000_000;
    long found = 0, wanted = 0;
    int len = k1 + 1;
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
      for (int t = 0; t < len && taken < ne; t++) {
        int c = l.idx()[i * len + t];
        if (c == i) continue;
        taken++;
        boolean hit = l.dist()[i * len + t] <= kth * (1 + 1e-5f);
        for (int e = 0; e < ne && !hit; e++) hit = ex[e] == c;
        if (hit) found++;
      }
      wanted += ne;
    }
    System.out.printf("recall@%d on %,d sampled items: %.4f (exact top-k of the sample: %,d ms on %s)%n", k1, sample,
        found / (double) wanted, exactMs, kernels.describe());
    Runtime rt = Runtime.getRuntime();
    System.out.printf("heap in use at the end %.2f GB%n", (rt.totalMemory() - rt.freeMemory()) / 1e9);
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
