package org.reid4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.NativeMatrix;
import org.reid4j.kernels.RerankParams;

/** The native-memory evaluation path gives the heap path's scores on every available backend. */
class RetrievalEvalNativeTest {
  static LabelledFeatures side(Random r, String name, int n, int d, int ids, int cams) {
    float[] v = new float[n * d];
    int[] pids = new int[n], camids = new int[n];
    for (int i = 0; i < n; i++) {
      pids[i] = r.nextInt(100) < 6 ? -1 : r.nextInt(ids);
      camids[i] = r.nextInt(cams);
      for (int k = 0; k < d; k++) v[i * d + k] = (float) (r.nextGaussian() + (pids[i] % 7 == k % 7 ? 2 : 0));
    }
    return new LabelledFeatures(name, new FloatMatrix(n, d, v), pids, camids);
  }

  static List<Kernels> backends() {
    List<Kernels> l = new ArrayList<>();
    for (Backend b : Backend.values())
      if (b != Backend.AUTO && Kernels.unavailableReason(b) == null) l.add(Kernels.create(b));
    return l;
  }

  @Test
  void nativePathScoresEqualTheHeapPath() {
    Random r = new Random(77);
    LabelledFeatures q = side(r, "query", 41, 19, 12, 4), g = side(r, "gallery", 233, 19, 12, 4);
    for (Kernels k : backends()) {
      for (Metric m : Metric.values()) {
        for (boolean normalize : new boolean[] {false, true}) {
          for (RerankParams rp : new RerankParams[] {null, new RerankParams(9, 3, 0.3f)}) {
            RetrievalEval.Options o = new RetrievalEval.Options(m, normalize, rp);
            String ctx = k.describe() + " " + m + " normalize " + normalize + " rerank " + rp;
            EvalResult want = RetrievalEval.run(k, q, g, o).result();
            for (boolean keep : new boolean[] {false, true}) {
              try (NativeMatrix nq = NativeMatrix.of(q.features()); NativeMatrix ng = NativeMatrix.of(g.features())) {
                RetrievalEval.Report got = RetrievalEval.runNative(k,
                    new RetrievalEval.NativeFeatures("query", nq, q.pids(), q.camids()),
                    new RetrievalEval.NativeFeatures("gallery", ng, g.pids(), g.camids()), o, s -> {}, keep);
                // CUDA re-ranking differs by float rounding from call to call (float atomics), which may
                // swap near-tied items: its scores are checked query by query in KernelsContractTest
                if (k.backend() == Backend.CUDA && rp != null) continue;
                double tol = 0;
                EvalResult res = got.result();
                assertEquals(want.mAP(), res.mAP(), tol, ctx);
                assertEquals(want.mINP(), res.mINP(), tol, ctx);
                assertArrayEquals(want.cmc(), res.cmc(), tol, ctx);
                assertEquals(want.queriesEvaluated(), res.queriesEvaluated(), ctx);
                assertEquals(want.queriesSkipped(), res.queriesSkipped(), ctx);
                assertEquals(keep, got.distance() != null, ctx + ": the matrix is kept only when asked for");
                if (keep)
                  assertArrayEquals(RetrievalEval.run(k, q, g, o).distance().data(), got.distance().data(),
                      (float) tol, ctx);
              }
            }
          }
        }
      }
    }
  }

  @Test
  void nativePathRefusesWhatTheHeapPathRefuses() {
    Random r = new Random(78);
    LabelledFeatures q = side(r, "query", 5, 4, 3, 2), g = side(r, "gallery", 9, 4, 3, 2);
    q.features().set(3, 2, Float.POSITIVE_INFINITY);
    Kernels k = Kernels.create(Backend.JAVA);
    RetrievalEval.Options o = new RetrievalEval.Options(Metric.EUCLIDEAN, true, null);
    String want = assertThrows(IllegalArgumentException.class, () -> RetrievalEval.run(k, q, g, o)).getMessage();
    try (NativeMatrix nq = NativeMatrix.of(q.features()); NativeMatrix ng = NativeMatrix.of(g.features())) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RetrievalEval.runNative(k,
          new RetrievalEval.NativeFeatures("query", nq, q.pids(), q.camids()),
          new RetrievalEval.NativeFeatures("gallery", ng, g.pids(), g.camids()), o, s -> {}, false));
      assertEquals(want, e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> RetrievalEval.runNative(k,
          new RetrievalEval.NativeFeatures("query", nq, q.pids(), q.camids()),
          new RetrievalEval.NativeFeatures("gallery", ng, g.pids(), g.camids()), o.withDba(2), s -> {}, false));
      assertThrows(IllegalArgumentException.class, () -> new RetrievalEval.NativeFeatures("query", nq, new int[4],
          q.camids()));
    }
  }
}
