package org.reid4j.spark;

import java.io.Serializable;
import java.util.Arrays;

/**
 * The nearest neighbours found so far for the rows of one block: for each row, up to {@code length}
 * (index, distance) pairs in ascending (distance, index) order, unused slots holding index -1 and
 * distance +Inf; and the largest distance seen from the row. Merging two partials of the same rows
 * (found against different column blocks) keeps the {@code length} smallest by (distance, index) and the
 * larger maximum, so merging in any order gives the lists of an exact sort of the whole row.
 */
public final class PartialLists implements Serializable {
  private static final long serialVersionUID = 1L;

  final int start, rows, length;
  final int[] idx;
  final float[] dist;
  final float[] max;

  PartialLists(int start, int rows, int length, int[] idx, float[] dist, float[] max) {
    if (idx.length != (long) rows * length || dist.length != idx.length || max.length != rows)
      throw new IllegalArgumentException("partial lists of " + rows + " x " + length + " hold " + idx.length + ", "
          + dist.length + " and " + max.length + " values");
    this.start = start;
    this.rows = rows;
    this.length = length;
    this.idx = idx;
    this.dist = dist;
    this.max = max;
  }

  /** Empty lists (every slot unused, maxima -Inf) for rows start .. start + rows - 1. */
  static PartialLists empty(int start, int rows, int length) {
    int[] idx = new int[rows * length];
    float[] dist = new float[rows * length], max = new float[rows];
    Arrays.fill(idx, -1);
    Arrays.fill(dist, Float.POSITIVE_INFINITY);
    Arrays.fill(max, Float.NEGATIVE_INFINITY);
    return new PartialLists(start, rows, length, idx, dist, max);
  }

  /** Whether (da, ia) comes before (db, ib): smaller distance, then smaller index; unused slots last. */
  static boolean before(float da, int ia, float db, int ib) {
    if (ib < 0) return ia >= 0;
    if (ia < 0) return false;
    return da < db || da == db && ia < ib;
  }

  /** The merge of two partials of the same rows (neither is changed). */
  static PartialLists merge(PartialLists a, PartialLists b) {
    if (a.start != b.start || a.rows != b.rows || a.length != b.length)
      throw new IllegalArgumentException("cannot merge partial lists of rows " + a.start + "+" + a.rows + " (length "
          + a.length + ") and " + b.start + "+" + b.rows + " (length " + b.length + ")");
    int len = a.length;
    int[] idx = new int[a.idx.length];
    float[] dist = new float[a.dist.length], max = new float[a.rows];
    for (int r = 0; r < a.rows; r++) {
      int base = r * len, i = base, j = base;
      for (int p = base; p < base + len; p++) {
        if (before(a.dist[i], a.idx[i], b.dist[j], b.idx[j])) {
          idx[p] = a.idx[i];
          dist[p] = a.dist[i++];
        } else {
          idx[p] = b.idx[j];
          dist[p] = b.dist[j++];
        }
      }
      max[r] = Math.max(a.max[r], b.max[r]);
    }
    return new PartialLists(a.start, a.rows, len, idx, dist, max);
  }

  public int start() {
    return start;
  }

  public int rows() {
    return rows;
  }

  public int length() {
    return length;
  }
}
