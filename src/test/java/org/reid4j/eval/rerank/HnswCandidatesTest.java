package org.reid4j.eval.rerank;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.eval.EvalResult;
import org.reid4j.eval.ReidEvaluator;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/**
 * Re-ranking with neighbour lists from Lucene's HNSW graph against the exact pass: identical when
 * the searches are exhaustive (ef &gt;= N), close on clustered data with a normal beam, on fresh
 * random inputs of awkward shapes.
 */
class HnswCandidatesTest {
  private static FloatMatrix gaussian(Random r, int rows, int d) {
    float[] a = new float[rows * d];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    return new FloatMatrix(rows, d, a);
  }

  /** Rows of small integers, with some rows repeated: many exact ties and zero distances. */
  private static FloatMatrix ties(Random r, int rows, int d) {
    float[] a = new float[rows * d];
    for (int i = 0; i < rows; i++) {
      if (i > 0 && r.nextInt(3) == 0) System.arraycopy(a, r.nextInt(i) * d, a, i * d, d);
      else for (int k = 0; k < d; k++) a[i * d + k] = r.nextInt(3) - 1;
    }
    return new FloatMatrix(rows, d, a);
  }

  private static FloatMatrix unitRows(FloatMatrix m) {
    float[] a = m.data().clone();
    int d = m.cols();
    for (int i = 0; i < m.rows(); i++) {
      double s = 0;
      for (int k = 0; k < d; k++) s += a[i * d + k] * a[i * d + k];
      for (int k = 0; k < d; k++) a[i * d + k] /= (float) Math.sqrt(s);
    }
    return new FloatMatrix(m.rows(), d, a);
  }

  @Test
  void exhaustiveSearchesGiveExactlyTheExactResult() {
    Random r = new Random(System.nanoTime());
    int[][] shapes = {{1, 1, 3}, {1, 2, 1}, {3, 5, 4}, {7, 33, 8}, {2, 61, 5}, {19, 40, 16}};
    RerankParams[] params = {RerankParams.DEFAULT, new RerankParams(5, 2, 0.3f), new RerankParams(3, 1, 0f),
        new RerankParams(1, 7, 1f)};
    for (int[] s : shapes) {
      for (Metric metric : Metric.values()) {
        for (boolean tie : new boolean[] {false, true}) {
          FloatMatrix q = tie ? ties(r, s[0], s[2]) : gaussian(r, s[0], s[2]);
          FloatMatrix g = tie ? ties(r, s[1], s[2]) : gaussian(r, s[1], s[2]);
          if (tie && metric == Metric.COSINE) continue; // a zero row: cosine's 1, fine, but covered below
          RerankParams p = params[r.nextInt(params.length)];
          String what = Arrays.toString(s) + " " + metric + " ties " + tie + " " + p;
          FloatMatrix exact = KReciprocal.rerank(q, g, metric, p);
          int n = s[0] + s[1];
          FloatMatrix approx = KReciprocal.rerank(q, g, metric, p, Candidates.hnsw(1 + r.nextInt(16), n + r.nextInt(3)),
              null);
          assertArrayEquals(exact.data(), approx.data(), 0f, what);
        }
      }
    }
  }

  @Test
  void exhaustiveListsAndMaximaAreTheExactOnes() {
    Random r = new Random(System.nanoTime());
    FloatMatrix q = ties(r, 9, 6), g = ties(r, 50, 6);
    int n = 59, len = 21;
    HnswNeighbours.Lists l = HnswNeighbours.of(q, g, Metric.EUCLIDEAN, len, Candidates.hnsw(8, n));
    assertEquals(0, l.exactRows(), "every row from the graph, none recomputed");
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(q, g, Metric.EUCLIDEAN);
    for (int i = 0; i < n; i++) {
      int[] order = exactOrder(d, n, i);
      float max = 0f;
      int arg = 0;
      for (int j = 0; j < n; j++)
        if (d.between(i, j) > max) {
          max = d.between(i, j);
          arg = j;
        }
      assertEquals(max, l.largest()[i], 0f, "row maximum of item " + i);
      assertEquals(arg, l.farthest()[i], "farthest item of item " + i + " (the smallest index among equals)");
      for (int t = 0; t < len; t++) {
        assertEquals(order[t], l.idx()[i * len + t], "item " + i + " rank " + t);
        assertEquals(d.between(i, order[t]), l.dist()[i * len + t], 0f);
      }
    }
  }

  /** The list API with the caller's distance: the same lists; rows that cannot be items are refused by index. */
  @Test
  void listsOfRowsWithTheCallersDistance() {
    Random r = new Random(System.nanoTime());
    FloatMatrix g = ties(r, 40, 5);
    java.util.List<float[]> rows = new java.util.ArrayList<>();
    for (int i = 0; i < 40; i++) rows.add(g.row(i));
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(FloatMatrix.zeros(0, 5), g, Metric.SQEUCLIDEAN);
    int[] calls = {0};
    HnswNeighbours.Lists viaRows = HnswNeighbours.of(rows, Metric.SQEUCLIDEAN, 7, Candidates.hnsw(4, 40), (i, j) -> {
      synchronized (calls) {
        calls[0]++;
      }
      return d.between(i, j);
    }, null);
    HnswNeighbours.Lists viaMatrix = HnswNeighbours.of(FloatMatrix.zeros(0, 5), g, Metric.SQEUCLIDEAN, 7,
        Candidates.hnsw(4, 40));
    assertArrayEquals(viaMatrix.idx(), viaRows.idx());
    assertArrayEquals(viaMatrix.dist(), viaRows.dist(), 0f);
    assertArrayEquals(viaMatrix.largest(), viaRows.largest(), 0f);
    assertArrayEquals(viaMatrix.farthest(), viaRows.farthest());
    assertTrue(calls[0] >= 40 * 7, "the caller's distance re-scores the candidates (" + calls[0] + " calls)");
    rows.set(13, new float[4]);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.of(rows, Metric.SQEUCLIDEAN, 7, Candidates.hnsw(4, 40), d, null));
    assertTrue(e.getMessage().contains("item 13"), e.getMessage());
    rows.set(13, null);
    assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.of(rows, Metric.SQEUCLIDEAN, 7, Candidates.hnsw(4, 40), d, null));
    assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.of(java.util.List.of(), Metric.SQEUCLIDEAN, 1, Candidates.hnsw(4, 40), d, null));
  }

  /** The graph kept as an index: an exhaustive beam finds each item's exact order; bad calls are refused. */
  @Test
  void theIndexSearchesAnyItemWithAnyBeam() {
    Random r = new Random(System.nanoTime());
    FloatMatrix g = gaussian(r, 57, 6);
    java.util.List<float[]> rows = new java.util.ArrayList<>();
    for (int i = 0; i < 57; i++) rows.add(g.row(i));
    HnswNeighbours.Index index = HnswNeighbours.Index.build(rows, Metric.SQEUCLIDEAN, Candidates.hnsw(6, 20), null);
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(FloatMatrix.zeros(0, 6), g, Metric.SQEUCLIDEAN);
    for (int i = 0; i < 57; i++) {
      int[] near = index.nearest(i, 57, 10);
      int[] order = exactOrder(d, 57, i);
      assertEquals(10, near.length);
      for (int t = 0; t < 10; t++) // Gaussian rows: no ties; the graph's score orders as the distance does
        assertEquals(d.between(i, order[t]), d.between(i, near[t]), 1e-5f, "item " + i + " rank " + t);
      assertEquals(i, near[0], "an item is its own nearest");
    }
    assertTrue(index.bytes() > 0);
    assertThrows(IllegalArgumentException.class, () -> index.nearest(57, 10, 5));
    assertThrows(IllegalArgumentException.class, () -> index.nearest(0, 0, 5));
    assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.Index.build(rows, Metric.SQEUCLIDEAN, Candidates.EXACT, null));
    assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.Index.build(java.util.List.of(), Metric.SQEUCLIDEAN, Candidates.hnsw(6, 20), null));
  }

  /** Item i's row ordered by (distance, index). */
  private static int[] exactOrder(KReciprocal.ItemDistance d, int n, int i) {
    Integer[] o = new Integer[n];
    for (int j = 0; j < n; j++) o[j] = j;
    Arrays.sort(o, (a, b) -> {
      int c = Float.compare(d.between(i, a), d.between(i, b));
      return c != 0 ? c : Integer.compare(a, b);
    });
    return Arrays.stream(o).mapToInt(Integer::intValue).toArray();
  }

  /** Clustered unit vectors: pid c for rows of cluster c; queries and gallery from the same clusters. */
  private record Case(FloatMatrix q, FloatMatrix g, int[] qp, int[] qc, int[] gp, int[] gc) {}

  private static Case clustered(Random r, int clusters, int perQ, int perG, int d, double noise) {
    float[][] centres = new float[clusters][d];
    for (float[] c : centres) for (int k = 0; k < d; k++) c[k] = (float) r.nextGaussian();
    int nq = clusters * perQ, ng = clusters * perG;
    float[] qa = new float[nq * d], ga = new float[ng * d];
    int[] qp = new int[nq], qc = new int[nq], gp = new int[ng], gc = new int[ng];
    for (int i = 0; i < nq; i++) {
      qp[i] = i % clusters;
      for (int k = 0; k < d; k++) qa[i * d + k] = centres[qp[i]][k] + (float) (noise * r.nextGaussian());
    }
    for (int i = 0; i < ng; i++) {
      gp[i] = i % clusters;
      gc[i] = 1;
      for (int k = 0; k < d; k++) ga[i * d + k] = centres[gp[i]][k] + (float) (noise * r.nextGaussian());
    }
    return new Case(unitRows(new FloatMatrix(nq, d, qa)), unitRows(new FloatMatrix(ng, d, ga)), qp, qc, gp, gc);
  }

  @Test
  void graphListsRecallTheExactNeighboursOnClusteredData() {
    Random r = new Random(System.nanoTime());
    Case c = clustered(r, 150, 2, 10, 32, 0.6);
    int n = c.q().rows() + c.g().rows(), k1 = 20, len = k1 + 1;
    HnswNeighbours.Lists l = HnswNeighbours.of(c.q(), c.g(), Metric.EUCLIDEAN, len, Candidates.hnsw(16, 64));
    KReciprocal.ItemDistance d = KReciprocal.ItemDistance.of(c.q(), c.g(), Metric.EUCLIDEAN);
    long found = 0;
    for (int i = 0; i < n; i++) {
      float[] row = new float[n];
      for (int j = 0; j < n; j++) row[j] = d.between(i, j);
      float[] sorted = row.clone();
      Arrays.sort(sorted);
      float kth = sorted[k1]; // the k1-th nearest other item (sorted[0] is the item itself)
      for (int t = 1; t <= k1; t++) if (l.dist()[i * len + t] <= kth) found++; // ties count as found
      float max = sorted[n - 1];
      assertTrue(l.largest()[i] <= max, "the row maximum is never overestimated");
      assertTrue(l.largest()[i] >= 0.9f * max, "item " + i + ": largest " + l.largest()[i] + " of " + max);
      for (int t = 0; t < len; t++) assertEquals(row[l.idx()[i * len + t]], l.dist()[i * len + t], 0f);
    }
    double recall = found / (double) ((long) n * k1);
    assertTrue(recall >= 0.95, "recall@k1 " + recall);
  }

  @Test
  void rerankingWithGraphListsKeepsTheExactMeanAveragePrecision() {
    Random r = new Random(System.nanoTime());
    Case c = clustered(r, 120, 2, 8, 24, 0.8);
    RerankParams p = RerankParams.DEFAULT;
    FloatMatrix exact = KReciprocal.rerank(c.q(), c.g(), Metric.EUCLIDEAN, p);
    FloatMatrix approx = KReciprocal.rerank(c.q(), c.g(), Metric.EUCLIDEAN, p, Candidates.hnsw(16, 100), null);
    EvalResult e = ReidEvaluator.evaluate(exact, c.qp(), c.qc(), c.gp(), c.gc());
    EvalResult a = ReidEvaluator.evaluate(approx, c.qp(), c.qc(), c.gp(), c.gc());
    assertEquals(e.mAP(), a.mAP(), 0.005, "mAP exact " + e.mAP() + ", hnsw " + a.mAP());
    assertEquals(e.rank1(), a.rank1(), 0.01);
  }

  @Test
  void badCandidatesAreRefusedWithTheirName() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Candidates.hnsw(0, 200)).getMessage()
        .contains("m must be in [1, 512], got 0"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Candidates.hnsw(16, 0)).getMessage()
        .contains("ef must be in"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Candidates.Kind.parse("ivf")).getMessage()
        .contains("expected exact or hnsw"));
    assertThrows(IllegalArgumentException.class, () -> new Candidates(Candidates.Kind.EXACT, 16, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> new Candidates(Candidates.Kind.EXACT, 0, 0, 5));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Candidates.hnsw(16, 100, 0)).getMessage()
        .contains("search ef must be in"));
    assertEquals("hnsw (m 16, ef 100, search ef 400)", Candidates.hnsw(16, 100, 400).describe());
    assertEquals("hnsw (m 16, ef 100)", Candidates.hnsw(16, 100).describe());
    FloatMatrix q = FloatMatrix.zeros(2, 3), g = FloatMatrix.zeros(3, 3);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> KReciprocal.rerank(q, g, Metric.EUCLIDEAN,
        RerankParams.DEFAULT, Candidates.hnsw(16, 10), FloatMatrix.zeros(3, 2))).getMessage().contains("raw distances"));
    assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.of(q, FloatMatrix.zeros(3, 4), Metric.EUCLIDEAN, 2, Candidates.hnsw(16, 10)));
    assertThrows(IllegalArgumentException.class,
        () -> HnswNeighbours.of(q, g, Metric.EUCLIDEAN, 6, Candidates.hnsw(16, 10)));
  }

  @Test
  void buildAndSearchReportProgressWithoutChangingTheLists() {
    Random r = new Random(System.nanoTime());
    Case c = clustered(r, 150, 20, 1, 8, 0.6); // 3,150 items: one thread, a fixed seed, reproducible lists
    int n = c.q().rows() + c.g().rows(), len = 11;
    java.util.List<String> lines = new java.util.ArrayList<>();
    HnswNeighbours.Lists quiet = HnswNeighbours.of(c.q(), c.g(), Metric.EUCLIDEAN, len, Candidates.hnsw(8, 32));
    HnswNeighbours.Lists told = HnswNeighbours.of(c.q(), c.g(), Metric.EUCLIDEAN, len, Candidates.hnsw(8, 32),
        lines::add, 0);
    assertArrayEquals(quiet.idx(), told.idx());
    assertArrayEquals(quiet.dist(), told.dist(), 0f);
    assertArrayEquals(quiet.largest(), told.largest(), 0f);

    checkProgress(lines, n);

    // 12,000 items: Lucene's concurrent builder (the lines count items inserted, not scorers asked for)
    Case big = clustered(r, 600, 19, 1, 4, 0.6);
    int nb = big.q().rows() + big.g().rows();
    assertTrue(nb >= HnswNeighbours.CONCURRENT_FROM);
    lines.clear();
    HnswNeighbours.of(big.q(), big.g(), Metric.EUCLIDEAN, len, Candidates.hnsw(4, 16), lines::add, 0);
    checkProgress(lines, nb);
  }

  /**
   * Progress lines: the graph's (its size, non-decreasing, at least one line) before the search's (one
   * line per {@link HnswNeighbours#PROGRESS_EVERY} items), every count below the total.
   */
  private static void checkProgress(java.util.List<String> lines, int n) {
    java.util.regex.Pattern p = java.util.regex.Pattern.compile(
        "hnsw (graph|search) ([0-9,]+)/" + String.format("%,d", n) + " items \\(\\d+%\\)  [0-9,]+ items/s  ETA .+");
    String phase = "graph";
    long last = 0;
    int graphLines = 0, searchLines = 0;
    for (String line : lines) {
      java.util.regex.Matcher m = p.matcher(line);
      assertTrue(m.matches(), "a progress line: " + line);
      long done = Long.parseLong(m.group(2).replace(",", ""));
      if (!m.group(1).equals(phase)) {
        assertEquals("graph", phase, "the graph is built before it is searched: " + lines);
        phase = "search";
        last = 0;
      }
      if (phase.equals("graph")) {
        assertTrue(done >= last && done < n, "the graph's size grows, below the total: " + line);
        graphLines++;
      } else {
        assertTrue(done > last && done < n && done % HnswNeighbours.PROGRESS_EVERY == 0, line);
        searchLines++;
      }
      last = done;
    }
    assertEquals(n / HnswNeighbours.PROGRESS_EVERY, searchLines, "one line per " + HnswNeighbours.PROGRESS_EVERY
        + " items searched: " + lines);
    assertTrue(graphLines >= 1, "the build's lines: " + lines);
  }
}
