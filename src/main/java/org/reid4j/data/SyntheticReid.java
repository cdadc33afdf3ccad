package org.reid4j.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.kernels.FloatMatrix;

/**
 * A synthetic ReID case for demos, tests and benchmarks: identities seen by several cameras.
 * feature = identity centre + camera bias + per-image noise (Gaussian), so that the same-camera
 * rule and re-ranking have something real to do. Queries: one image per identity and query camera;
 * gallery: the identity's images from the other cameras (plus, optionally, some from the query
 * camera, which the protocol must exclude), distractors (pid 0) and junk (pid -1).
 */
public final class SyntheticReid {
  private SyntheticReid() {}

  /**
   * @param identities number of identities (pids 1..identities)
   * @param cameras cameras (camids 1..cameras), >= 2
   * @param galleryPerCamera gallery images per identity and camera
   * @param dim feature dimension
   * @param distractors extra gallery rows of pid 0
   * @param junk extra gallery rows of pid -1
   * @param noise per-image noise scale relative to the unit-variance identity centres
   * @param cameraBias scale of each camera's bias vector
   * @param queryLimit how many queries at most (0: identities x ceil(cameras / 2))
   * @param galleryLimit how many identity gallery rows at most, before distractors and junk (0: all)
   */
  public record Spec(int identities, int cameras, int galleryPerCamera, int dim, int distractors, int junk,
      float noise, float cameraBias, int queryLimit, int galleryLimit, long seed) {
    public Spec {
      if (identities < 1) throw new IllegalArgumentException("identities must be >= 1, got " + identities);
      if (cameras < 2) throw new IllegalArgumentException("cameras must be >= 2, got " + cameras);
      if (galleryPerCamera < 1) throw new IllegalArgumentException("galleryPerCamera must be >= 1");
      if (dim < 1) throw new IllegalArgumentException("dim must be >= 1, got " + dim);
      if (distractors < 0 || junk < 0) throw new IllegalArgumentException("distractors and junk must be >= 0");
      if (!(noise >= 0) || !(cameraBias >= 0)) throw new IllegalArgumentException("noise and cameraBias must be >= 0");
      // at most one query per identity and camera, plus the gallery: checked before anything is allocated
      long rows = (long) identities * cameras * (galleryPerCamera + 1L) + distractors + junk;
      long values = rows * dim;
      if (values > Integer.MAX_VALUE - 8L)
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "the case would hold up to %,d rows "
            + "x d = %d = %,d values, more than one Java array holds (2^31): use fewer identities, cameras or "
            + "images (--ids, --cams, --per-cam) or a smaller --dim", rows, dim, values));
      long bytes = values * 4L * 2; // features, plus one working copy
      long free = Runtime.getRuntime().maxMemory() - (Runtime.getRuntime().totalMemory()
          - Runtime.getRuntime().freeMemory());
      if (bytes > free)
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "the case needs about %,d MiB and "
            + "the JVM has about %,d MiB free: ask for less, or give Java more memory (REID4J_JAVA_OPTS=-Xmx...)",
            bytes >> 20, free >> 20));
    }

    /** A small default: 100 identities, 4 cameras, 2 gallery images each, d = 128. */
    public static Spec small(long seed) {
      return new Spec(100, 4, 2, 128, 200, 50, 1.5f, 0.3f, 0, 0, seed);
    }

    /**
     * The Market-1501 test shape: 3,368 queries and 15,913 gallery rows at d = 2048 (750
     * identities; the gallery holds 2,793 distractors and 3,819 junk rows like Market's).
     */
    public static Spec market(long seed) {
      return new Spec(750, 6, 3, 2048, 2793, 3819, 3.2f, 0.3f, 3368, 15913 - 2793 - 3819, seed);
    }
  }

  /** The generated query and gallery sets. */
  public record Case(LabelledFeatures query, LabelledFeatures gallery) {}

  /**
   * Generates the case. Queries: one image per identity in camera 1, then camera 2, ... until
   * the query limit; gallery: galleryPerCamera images per identity and camera (all cameras, so
   * some share the query's camera and must be excluded) up to the gallery limit, then the
   * distractors and junk.
   */
  public static Case build(Spec s) {
    SplittableRandom rnd = new SplittableRandom(s.seed());
    int d = s.dim();
    float[][] centres = new float[s.identities()][d];
    for (float[] c : centres) fill(rnd, c, 1f);
    float[][] bias = new float[s.cameras() + 1][d];
    for (float[] b : bias) fill(rnd, b, s.cameraBias());

    int wantQueries = s.queryLimit() > 0 ? s.queryLimit() : s.identities() * ((s.cameras() + 1) / 2);
    int wantGallery = s.galleryLimit() > 0 ? s.galleryLimit() : s.identities() * s.cameras() * s.galleryPerCamera();
    List<float[]> qf = new ArrayList<>(), gf = new ArrayList<>();
    List<int[]> ql = new ArrayList<>(), gl = new ArrayList<>();
    for (int c = 1; c <= s.cameras() && qf.size() < wantQueries; c++)
      for (int p = 0; p < s.identities() && qf.size() < wantQueries; p++) {
        qf.add(sample(rnd, centres[p], bias[c], s.noise()));
        ql.add(new int[] {p + 1, c});
      }
    outer:
    for (int k = 0; k < s.galleryPerCamera(); k++)
      for (int c = 1; c <= s.cameras(); c++)
        for (int p = 0; p < s.identities(); p++) {
          if (gf.size() >= wantGallery) break outer;
          gf.add(sample(rnd, centres[p], bias[c], s.noise()));
          gl.add(new int[] {p + 1, c});
        }
    for (int i = 0; i < s.distractors() + s.junk(); i++) {
      float[] f = new float[d];
      fill(rnd, f, 1f);
      int cam = 1 + rnd.nextInt(s.cameras());
      for (int k = 0; k < d; k++) f[k] += bias[cam][k];
      gf.add(f);
      gl.add(new int[] {i < s.distractors() ? 0 : -1, cam});
    }
    return new Case(pack("query", qf, ql), pack("gallery", gf, gl));
  }

  private static void fill(SplittableRandom rnd, float[] v, float scale) {
    for (int k = 0; k < v.length; k++) v[k] = (float) (gaussian(rnd) * scale);
  }

  private static double gaussian(SplittableRandom rnd) {
    double u = 1.0 - rnd.nextDouble(), v = rnd.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  private static float[] sample(SplittableRandom rnd, float[] centre, float[] bias, float noise) {
    float[] f = new float[centre.length];
    for (int k = 0; k < f.length; k++) f[k] = centre[k] + bias[k] + (float) (gaussian(rnd) * noise);
    return f;
  }

  private static LabelledFeatures pack(String name, List<float[]> feats, List<int[]> labels) {
    int n = feats.size(), d = n == 0 ? 1 : feats.get(0).length;
    FloatMatrix m = FloatMatrix.zeros(n, d);
    int[] pids = new int[n], cams = new int[n];
    for (int i = 0; i < n; i++) {
      System.arraycopy(feats.get(i), 0, m.data(), i * d, d);
      pids[i] = labels.get(i)[0];
      cams[i] = labels.get(i)[1];
    }
    return new LabelledFeatures(name, m, pids, cams);
  }
}
