package org.reid4j.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Dimension;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.data.FloatImage;
import org.reid4j.data.ImageSource;
import org.reid4j.kernels.FloatMatrix;

class RankedListTest {
  @TempDir Path dir;

  /** Solid-colour images: image i is grey level (i + 1) / (n + 1) (or a given RGB), h x w, c channels. */
  record Solid(int[] pids, int[] camids, int channels, int height, int width, float[] rgb) implements ImageSource {
    public int size() {
      return pids.length;
    }

    public int pid(int i) {
      return pids[i];
    }

    public int camid(int i) {
      return camids[i];
    }

    public FloatImage load(int i) {
      FloatImage im = FloatImage.zeros(channels, height, width);
      for (int c = 0; c < channels; c++) {
        float v = rgb != null ? rgb[c] : (i + 1f) / (pids.length + 1f);
        java.util.Arrays.fill(im.data(), c * height * width, (c + 1) * height * width, v);
      }
      return im;
    }

    public String describe(int i) {
      return "solid #" + i;
    }

    public int numClasses() {
      return (int) java.util.Arrays.stream(pids).distinct().count();
    }
  }

  static Color at(BufferedImage img, int x, int y) {
    return new Color(img.getRGB(x, y));
  }

  @Test
  void sizeFormula() {
    assertEquals(new Dimension(856, 180), RankedList.size(1, 10));
    assertEquals(new Dimension(856, 180 + 4 * 172), RankedList.size(5, 10));
    // width = 2*8 + (K+1)*72 + 12 + (K-1)*4
    assertEquals(16 + 2 * 72 + 12, RankedList.size(1, 1).width);
    assertThrows(IllegalArgumentException.class, () -> RankedList.size(1, 0));
  }

  @Test
  void marksMatchesGreenAndOthersRedAfterTheProtocolExclusions() throws IOException {
    // Query 0: pid 1, camera 0. Gallery (pid, cam, distance):
    //   0: (1, 1, 0.30) match
    //   1: (2, 1, 0.10) non-match
    //   2: (1, 0, 0.00) same pid and camera: removed
    //   3: (-1, 1, 0.05) junk: removed
    //   4: (3, 0, 0.20) non-match
    //   5: (1, 2, 0.40) match
    // Ranked: 1 (red), 4 (red), 0 (green), 5 (green); top-5 leaves the 5th cell empty.
    // Query 1: pid 3, camera 1: ranked by distance 4 (green, pid 3 cam 0), 1, 0, 2, 5 (red).
    int[] gPids = {1, 2, 1, -1, 3, 1}, gCams = {1, 1, 0, 1, 0, 2};
    int[] qPids = {1, 3}, qCams = {0, 1};
    FloatMatrix dist = new FloatMatrix(2, 6, new float[] {0.30f, 0.10f, 0.00f, 0.05f, 0.20f, 0.40f, //
        0.5f, 0.2f, 0.6f, 0.0f, 0.1f, 0.9f});
    assertArrayEquals(new int[] {1, 4, 0, 5}, RankedList.topK(dist, 0, 1, 0, gPids, gCams, 5));
    assertArrayEquals(new int[] {4, 1}, RankedList.topK(dist, 1, 3, 1, gPids, gCams, 2));

    float[] rgb = {0.2f, 0.4f, 0.6f};
    Solid query = new Solid(qPids, qCams, 3, 64, 32, rgb);
    Solid gallery = new Solid(gPids, gCams, 1, 128, 64, null);
    Path png = dir.resolve("ranked.png");
    RankedList.renderQueries(query, gallery, dist, qPids, qCams, gPids, gCams, new int[] {0, 1}, 5, png);
    Dimension size = RankedList.size(2, 5);
    BufferedImage img = TrainingCurvesTest.readPng(png, size.width, size.height);

    Color[][] want = {
        {RankedList.MISMATCH, RankedList.MISMATCH, RankedList.MATCH, RankedList.MATCH, RankedList.EMPTY},
        {RankedList.MATCH, RankedList.MISMATCH, RankedList.MISMATCH, RankedList.MISMATCH, RankedList.MISMATCH}};
    for (int row = 0; row < 2; row++) {
      int y = RankedList.cellY(row);
      assertEquals(RankedList.QUERY, at(img, RankedList.cellX(0) + 1, y + 1), "query frame, row " + row);
      for (int k = 0; k < 5; k++) {
        int x = RankedList.cellX(k + 1);
        // Sample all four edges of the frame.
        String where = "row " + row + " rank " + (k + 1);
        assertEquals(want[row][k], at(img, x + 1, y + 1), where + " top-left");
        assertEquals(want[row][k], at(img, x + RankedList.CELL_WIDTH - 2, y + RankedList.CELL_HEIGHT / 2), where
            + " right");
        assertEquals(want[row][k], at(img, x + RankedList.CELL_WIDTH / 2, y + RankedList.CELL_HEIGHT - 2), where
            + " bottom");
      }
    }
    // The query tile shows the query image: solid (0.2, 0.4, 0.6) = (51, 102, 153) in the middle.
    Color mid = at(img, RankedList.cellX(0) + RankedList.CELL_WIDTH / 2, RankedList.cellY(0) + RankedList.CELL_HEIGHT / 2);
    assertEquals(new Color(51, 102, 153), mid);
    // Rank 1 of query 0 is gallery image 1: grey level 2/7 of 255 = 73.
    Color g1 = at(img, RankedList.cellX(1) + RankedList.CELL_WIDTH / 2, RankedList.cellY(0) + RankedList.CELL_HEIGHT / 2);
    assertEquals(new Color(73, 73, 73), g1);
    // The background between cells is white.
    assertEquals(Color.WHITE, at(img, 2, 2));
  }

  @Test
  void choosesQueriesEvenlyAmongValidOnes() {
    int[] pids = {-1, 5, 6, -1, 7, 8, 9};
    assertArrayEquals(new int[] {1}, RankedList.chooseQueries(pids, 1));
    assertArrayEquals(new int[] {1, 4}, RankedList.chooseQueries(pids, 2)); // valid 1,2,4,5,6 at 0 and 5/2
    assertArrayEquals(new int[] {1, 2, 4, 5, 6}, RankedList.chooseQueries(pids, 10));
    assertThrows(IllegalArgumentException.class, () -> RankedList.chooseQueries(new int[] {-1}, 3));
    assertThrows(IllegalArgumentException.class, () -> RankedList.chooseQueries(pids, 0));
  }

  @Test
  void tiesRankByGalleryIndex() {
    FloatMatrix d = new FloatMatrix(1, 5, new float[] {0.5f, 0.1f, 0.5f, 0.1f, 0.5f});
    int[] g = {2, 2, 2, 2, 2}, c = {1, 1, 1, 1, 1};
    assertArrayEquals(new int[] {1, 3, 0}, RankedList.topK(d, 0, 1, 0, g, c, 3));
    assertArrayEquals(new int[] {1, 3, 0, 2, 4}, RankedList.topK(d, 0, 1, 0, g, c, 9));
  }

  @Test
  void renderReturnsTheChosenQueriesAndSizesThePicture() throws IOException {
    int nq = 7, ng = 30;
    int[] qPids = new int[nq], qCams = new int[nq], gPids = new int[ng], gCams = new int[ng];
    for (int i = 0; i < nq; i++) {
      qPids[i] = i == 2 ? -1 : i;
      qCams[i] = 0;
    }
    float[] d = new float[nq * ng];
    for (int j = 0; j < ng; j++) {
      gPids[j] = j % nq;
      gCams[j] = 1 + j % 3;
    }
    for (int k = 0; k < d.length; k++) d[k] = (k * 7919 % 101) / 100f;
    FloatMatrix dist = new FloatMatrix(nq, ng, d);
    Solid q = new Solid(qPids, qCams, 3, 256, 128, null), g = new Solid(gPids, gCams, 3, 256, 128, null);
    Path png = dir.resolve("sub").resolve("ranked.png");
    int[] rows = RankedList.render(q, g, dist, qPids, qCams, gPids, gCams, 3, 10, png);
    assertArrayEquals(new int[] {0, 3, 5}, rows); // valid 0,1,3,4,5,6 at 0, 2, 4
    BufferedImage img = TrainingCurvesTest.readPng(png, 856, 180 + 2 * 172);
    // Every shown cell is framed green or red, per the pids.
    for (int r = 0; r < rows.length; r++) {
      int[] top = RankedList.topK(dist, rows[r], qPids[rows[r]], qCams[rows[r]], gPids, gCams, 10);
      assertEquals(10, top.length);
      for (int k = 0; k < 10; k++) {
        Color want = gPids[top[k]] == qPids[rows[r]] ? RankedList.MATCH : RankedList.MISMATCH;
        assertEquals(want, at(img, RankedList.cellX(k + 1) + 1, RankedList.cellY(r) + 1), "row " + r + " rank " + k);
      }
    }
  }

  @Test
  void badInputs() {
    int[] p = {1, 2}, c = {0, 1};
    Solid s = new Solid(p, c, 3, 8, 4, null);
    Path png = dir.resolve("x.png");
    FloatMatrix d = new FloatMatrix(2, 2, new float[] {0, 1, 1, 0});
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RankedList.render(s, s, d, p, c, new int[] {1}, c, 1, 2, png));
    assertTrue(e.getMessage().contains("2 gallery columns but 1 gallery pids"), e.getMessage());
    FloatMatrix nan = new FloatMatrix(2, 2, new float[] {Float.NaN, 1, 1, 0});
    e = assertThrows(IllegalArgumentException.class, () -> RankedList.render(s, s, nan, p, c, p, c, 1, 2, png));
    assertTrue(e.getMessage().contains("NaN at query row 0, gallery column 0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> RankedList.renderQueries(s, s, d, p, c, p, c, new int[] {5}, 2, png));
    assertTrue(e.getMessage().contains("query index 5"), e.getMessage());
  }
}
