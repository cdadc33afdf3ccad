package org.reid4j.spark;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Merging partial neighbour lists found against separate column blocks, in any order, gives the lists
 * of a plain sort of each whole row by (distance, index): fresh random rows with many ties, column
 * blocks of odd sizes, lists longer than a block, one-column rows.
 */
class PartialListsTest {
  @Test
  void mergingInAnyOrderGivesTheSortedRows() {
    Random r = new Random(System.nanoTime());
    for (int round = 0; round < 300; round++) {
      int rows = 1 + r.nextInt(5), n = 1 + r.nextInt(40), len = 1 + r.nextInt(n);
      float[][] d = new float[rows][n];
      for (float[] row : d) for (int j = 0; j < n; j++) row[j] = r.nextInt(4) == 0 ? r.nextInt(3) : r.nextFloat();
      // column blocks of random sizes, each turned into a partial as a task would
      List<PartialLists> parts = new ArrayList<>();
      for (int c0 = 0; c0 < n; ) {
        int c1 = Math.min(n, c0 + 1 + r.nextInt(9));
        parts.add(partial(d, 7, c0, c1, len));
        c0 = c1;
      }
      Collections.shuffle(parts, r);
      PartialLists merged = parts.get(0);
      for (int p = 1; p < parts.size(); p++)
        merged = r.nextBoolean() ? PartialLists.merge(merged, parts.get(p)) : PartialLists.merge(parts.get(p), merged);
      for (int i = 0; i < rows; i++) {
        float[] row = d[i];
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(j -> row[j]).thenComparingInt(j -> j));
        float max = Float.NEGATIVE_INFINITY;
        for (float v : row) max = Math.max(max, v);
        assertEquals(max, merged.max[i], "row " + i + " max, round " + round);
        for (int p = 0; p < len; p++) {
          assertEquals(order[p].intValue(), merged.idx[i * len + p], "row " + i + " slot " + p + ", round " + round);
          assertEquals(row[order[p]], merged.dist[i * len + p], 0f);
        }
      }
    }
  }

  /** The partial of rows start.. over columns c0..c1 - 1: sorted, padded with unused slots. */
  private static PartialLists partial(float[][] d, int start, int c0, int c1, int len) {
    PartialLists p = PartialLists.empty(start, d.length, len);
    for (int i = 0; i < d.length; i++) {
      float[] row = d[i];
      Integer[] cols = IntStream.range(c0, c1).boxed().toArray(Integer[]::new);
      Arrays.sort(cols, Comparator.<Integer>comparingDouble(j -> row[j]).thenComparingInt(j -> j));
      float max = Float.NEGATIVE_INFINITY;
      for (int j = c0; j < c1; j++) max = Math.max(max, row[j]);
      p.max[i] = max;
      for (int s = 0; s < Math.min(len, cols.length); s++) {
        p.idx[i * len + s] = cols[s];
        p.dist[i * len + s] = row[cols[s]];
      }
    }
    return p;
  }

  @Test
  void partialsOfDifferentRowsDoNotMerge() {
    PartialLists a = PartialLists.empty(0, 3, 2), b = PartialLists.empty(3, 3, 2), c = PartialLists.empty(0, 3, 4);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> PartialLists.merge(a, b)).getMessage()
        .contains("rows 0+3 (length 2) and 3+3 (length 2)"));
    assertThrows(IllegalArgumentException.class, () -> PartialLists.merge(a, c));
  }
}
