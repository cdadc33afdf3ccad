package org.reid4j.report;

import java.awt.Color;
import java.awt.Dimension;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.reid4j.data.FloatImage;
import org.reid4j.data.ImageSource;
import org.reid4j.kernels.FloatMatrix;

/**
 * Ranked retrieval results as a picture: one row per query, the query image (blue border) then its
 * top-K gallery images by ascending (distance, gallery index), each framed green when its pid equals
 * the query's and red otherwise, with "#rank distance" and "pid P cam C" captions. The gallery is
 * filtered exactly as {@link org.reid4j.eval.ReidEvaluator} filters it: entries with the query's pid
 * AND camera are removed, and junk (pid -1) entries are removed. A query with fewer than K valid
 * entries leaves the remaining cells grey.
 *
 * <p>Which queries: {@link #render} takes {@code numQueries} evenly spaced among the queries whose
 * pid is not -1 (junk queries, which the evaluator ignores): with V such queries in index order and
 * n = min(numQueries, V), the k-th row (k = 0..n-1) shows valid query number floor(k V / n), so the
 * first valid query is always shown and all of them when numQueries >= V. {@link #renderQueries}
 * takes an explicit list instead (for example the worst queries).
 *
 * <p>Size, for R rows and top-K (K >= 1), each cell being the {@link #TILE_WIDTH} x
 * {@link #TILE_HEIGHT} tile inside a {@link #BORDER}-pixel frame with a {@link #CAPTION_HEIGHT}
 * caption band below:
 * <pre>
 *   width  = 2 MARGIN + (K + 1) CELL_WIDTH + QUERY_GAP + (K - 1) SPACING       (K = 10: 856)
 *   height = 2 MARGIN + R (CELL_HEIGHT + CAPTION_HEIGHT) + (R - 1) ROW_SPACING  (R = 1: 180, + 172 per row)
 * </pre>
 * with CELL_WIDTH = TILE_WIDTH + 2 BORDER = 72 and CELL_HEIGHT = TILE_HEIGHT + 2 BORDER = 136
 * ({@link #size}). Images keep their aspect ratio inside the tile (bilinear scaling, centred).
 *
 * <p>Cost: one pass over each shown query's distance row (O(ng K)) and (K + 1) R image loads.
 */
public final class RankedList {
  public static final int TILE_WIDTH = 64;
  public static final int TILE_HEIGHT = 128;
  public static final int BORDER = 4;
  public static final int CAPTION_HEIGHT = 28;
  public static final int SPACING = 4;
  public static final int QUERY_GAP = 12;
  public static final int ROW_SPACING = 8;
  public static final int MARGIN = 8;
  public static final int CELL_WIDTH = TILE_WIDTH + 2 * BORDER;
  public static final int CELL_HEIGHT = TILE_HEIGHT + 2 * BORDER;

  /** Frame of a gallery image of the query's identity. */
  public static final Color MATCH = new Color(0, 170, 0);
  /** Frame of a gallery image of another identity. */
  public static final Color MISMATCH = new Color(220, 30, 30);
  /** Frame of the query image. */
  public static final Color QUERY = new Color(40, 90, 220);
  /** Fill of a cell with no gallery entry (fewer than K valid ones). */
  public static final Color EMPTY = new Color(225, 225, 225);
  public static final Color BACKGROUND = Color.WHITE;
  private static final Color TILE_BACKGROUND = new Color(240, 240, 240);
  private static final Color TEXT = new Color(40, 40, 40);

  private RankedList() {}

  /** The picture's pixel size for {@code rows} queries and top-{@code topK} (see the class comment). */
  public static Dimension size(int rows, int topK) {
    if (rows < 1 || topK < 1) throw new IllegalArgumentException("rows and topK must be >= 1, got " + rows + ", " + topK);
    int w = 2 * MARGIN + (topK + 1) * CELL_WIDTH + QUERY_GAP + (topK - 1) * SPACING;
    int h = 2 * MARGIN + rows * (CELL_HEIGHT + CAPTION_HEIGHT) + (rows - 1) * ROW_SPACING;
    return new Dimension(w, h);
  }

  /** Left edge of cell {@code col} (0 = the query, 1..K = ranks). */
  public static int cellX(int col) {
    return col == 0 ? MARGIN : MARGIN + CELL_WIDTH + QUERY_GAP + (col - 1) * (CELL_WIDTH + SPACING);
  }

  /** Top edge of row {@code row}'s cells. */
  public static int cellY(int row) {
    return MARGIN + row * (CELL_HEIGHT + CAPTION_HEIGHT + ROW_SPACING);
  }

  /** The queries {@link #render} shows: numQueries evenly spaced among those with pid != -1. */
  public static int[] chooseQueries(int[] qPids, int numQueries) {
    if (numQueries < 1) throw new IllegalArgumentException("numQueries must be >= 1, got " + numQueries);
    int[] valid = java.util.stream.IntStream.range(0, qPids.length).filter(i -> qPids[i] != -1).toArray();
    if (valid.length == 0) throw new IllegalArgumentException("ranked list: no query with a pid other than -1");
    int n = Math.min(numQueries, valid.length);
    int[] out = new int[n];
    for (int k = 0; k < n; k++) out[k] = valid[(int) ((long) k * valid.length / n)];
    return out;
  }

  /**
   * The top-k valid gallery indices of query row q, ascending by (distance, index), after the
   * protocol's exclusions; fewer than k when fewer are valid. NaN distances are an error.
   */
  public static int[] topK(FloatMatrix dist, int q, int qPid, int qCamid, int[] gPids, int[] gCamids, int k) {
    int ng = dist.cols();
    float[] d = dist.data();
    int off = q * ng;
    int[] idx = new int[k];
    float[] val = new float[k];
    int n = 0;
    for (int j = 0; j < ng; j++) {
      float v = d[off + j];
      if (v != v) throw new IllegalArgumentException("ranked list: distance is NaN at query row " + q + ", gallery column " + j);
      if (gPids[j] == -1 || (gPids[j] == qPid && gCamids[j] == qCamid)) continue;
      if (n == k && !(v < val[k - 1])) continue; // j is larger than every kept index: ties keep the earlier
      int p = n < k ? n++ : k - 1;
      while (p > 0 && val[p - 1] > v) {
        val[p] = val[p - 1];
        idx[p] = idx[p - 1];
        p--;
      }
      val[p] = v;
      idx[p] = j;
    }
    return Arrays.copyOf(idx, n);
  }

  /**
   * Renders numQueries evenly spaced queries (see the class comment) with their top-K to outPng.
   * Returns the query indices shown, one per row.
   *
   * @param dist query-versus-gallery distances [nq, ng], rows in query order
   */
  public static int[] render(ImageSource query, ImageSource gallery, FloatMatrix dist, int[] qPids, int[] qCamids,
      int[] gPids, int[] gCamids, int numQueries, int topK, Path outPng) throws IOException {
    check(query, gallery, dist, qPids, qCamids, gPids, gCamids);
    int[] rows = chooseQueries(qPids, numQueries);
    renderQueries(query, gallery, dist, qPids, qCamids, gPids, gCamids, rows, topK, outPng);
    return rows;
  }

  /** As {@link #render}, for the given query indices (one row each, in order). */
  public static void renderQueries(ImageSource query, ImageSource gallery, FloatMatrix dist, int[] qPids,
      int[] qCamids, int[] gPids, int[] gCamids, int[] queryIndices, int topK, Path outPng) throws IOException {
    Png.write(draw(query, gallery, dist, qPids, qCamids, gPids, gCamids, queryIndices, topK), outPng);
  }

  /** The picture of {@link #renderQueries}, of {@link #size}(queryIndices.length, topK). */
  public static BufferedImage draw(ImageSource query, ImageSource gallery, FloatMatrix dist, int[] qPids,
      int[] qCamids, int[] gPids, int[] gCamids, int[] queryIndices, int topK) throws IOException {
    check(query, gallery, dist, qPids, qCamids, gPids, gCamids);
    if (queryIndices == null || queryIndices.length == 0)
      throw new IllegalArgumentException("ranked list: no queries to show");
    for (int q : queryIndices)
      if (q < 0 || q >= dist.rows())
        throw new IllegalArgumentException("ranked list: query index " + q + " outside [0, " + dist.rows() + ")");
    Dimension size = size(queryIndices.length, topK);
    Png.headless();
    BufferedImage img = new BufferedImage(size.width, size.height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(BACKGROUND);
      g.fillRect(0, 0, size.width, size.height);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
      for (int r = 0; r < queryIndices.length; r++) {
        int q = queryIndices[r];
        int y = cellY(r);
        cell(g, cellX(0), y, QUERY, query.load(q));
        caption(g, cellX(0), y, "query " + q, "pid " + qPids[q] + " cam " + qCamids[q]);
        int[] top = topK(dist, q, qPids[q], qCamids[q], gPids, gCamids, topK);
        for (int k = 0; k < topK; k++) {
          int x = cellX(k + 1);
          if (k >= top.length) {
            g.setColor(EMPTY);
            g.fillRect(x, y, CELL_WIDTH, CELL_HEIGHT);
            continue;
          }
          int j = top[k];
          cell(g, x, y, gPids[j] == qPids[q] ? MATCH : MISMATCH, gallery.load(j));
          caption(g, x, y, String.format(Locale.ROOT, "#%d %.4g", k + 1, dist.get(q, j)),
              "pid " + gPids[j] + " cam " + gCamids[j]);
        }
      }
    } finally {
      g.dispose();
    }
    return img;
  }

  private static void cell(Graphics2D g, int x, int y, Color frame, FloatImage image) {
    g.setColor(frame);
    g.fillRect(x, y, CELL_WIDTH, CELL_HEIGHT);
    int tx = x + BORDER, ty = y + BORDER;
    g.setColor(TILE_BACKGROUND);
    g.fillRect(tx, ty, TILE_WIDTH, TILE_HEIGHT);
    BufferedImage src = toRgb(image);
    double scale = Math.min(TILE_WIDTH / (double) src.getWidth(), TILE_HEIGHT / (double) src.getHeight());
    int w = Math.max(1, (int) Math.round(src.getWidth() * scale));
    int h = Math.max(1, (int) Math.round(src.getHeight() * scale));
    g.drawImage(src, tx + (TILE_WIDTH - w) / 2, ty + (TILE_HEIGHT - h) / 2, w, h, null);
  }

  private static void caption(Graphics2D g, int x, int y, String line1, String line2) {
    g.setColor(TEXT);
    FontMetrics fm = g.getFontMetrics();
    int base = y + CELL_HEIGHT + 2 + fm.getAscent();
    g.drawString(fit(fm, line1), x + 1, base);
    g.drawString(fit(fm, line2), x + 1, base + fm.getHeight());
  }

  /** Cuts text to the cell width. */
  private static String fit(FontMetrics fm, String s) {
    while (s.length() > 1 && fm.stringWidth(s) > CELL_WIDTH - 2) s = s.substring(0, s.length() - 1);
    return s;
  }

  /**
   * A [0, 1] planar image as 8-bit RGB: one channel as grey, three as RGB, others use their first
   * channel (two) or first three (four or more). Values are clamped to [0, 1].
   */
  static BufferedImage toRgb(FloatImage im) {
    int w = im.width(), h = im.height(), plane = im.planeSize();
    float[] d = im.data();
    boolean rgb = im.channels() >= 3;
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    int[] px = new int[w * h];
    for (int p = 0; p < plane; p++) {
      int r = byteOf(d[p]);
      int gr = rgb ? byteOf(d[plane + p]) : r;
      int b = rgb ? byteOf(d[2 * plane + p]) : r;
      px[p] = (r << 16) | (gr << 8) | b;
    }
    out.setRGB(0, 0, w, h, px, 0, w);
    return out;
  }

  private static int byteOf(float v) {
    if (!(v > 0)) return 0; // also NaN
    if (v >= 1) return 255;
    return Math.round(v * 255f);
  }

  private static void check(ImageSource query, ImageSource gallery, FloatMatrix dist, int[] qPids, int[] qCamids,
      int[] gPids, int[] gCamids) {
    if (query == null || gallery == null || dist == null || qPids == null || qCamids == null || gPids == null
        || gCamids == null)
      throw new IllegalArgumentException("ranked list: null argument");
    int nq = dist.rows(), ng = dist.cols();
    if (qPids.length != nq || qCamids.length != nq || query.size() != nq)
      throw new IllegalArgumentException("ranked list: distance matrix has " + nq + " query rows but " + qPids.length
          + " query pids, " + qCamids.length + " query camids and " + query.size() + " query images");
    if (gPids.length != ng || gCamids.length != ng || gallery.size() != ng)
      throw new IllegalArgumentException("ranked list: distance matrix has " + ng + " gallery columns but "
          + gPids.length + " gallery pids, " + gCamids.length + " gallery camids and " + gallery.size()
          + " gallery images");
    if (ng == 0) throw new IllegalArgumentException("ranked list: the gallery is empty");
  }
}
