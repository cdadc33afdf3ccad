package org.reid4j.gallery;

import java.util.Arrays;

/**
 * The rows added since the last checkpoint, on the heap, append-only. Only the writer (under the
 * gallery's lock) appends; it grows by copying into larger arrays, so a {@link View} taken earlier
 * keeps arrays that never change below its count. Replaced and removed rows are marked in
 * {@code dead} like a segment's.
 */
final class Delta {
  final int dimension;
  float[] features;
  RowMeta[] metas;
  long[] dead;
  int count;

  Delta(int dimension) {
    this.dimension = dimension;
    features = new float[16 * dimension];
    metas = new RowMeta[16];
    dead = new long[16];
  }

  /** An immutable view of the first {@code count} rows. */
  record View(float[] features, RowMeta[] metas, long[] dead, int count) {}

  int append(RowMeta meta, float[] feature) {
    if (count == metas.length) {
      int cap = metas.length * 2;
      features = Arrays.copyOf(features, cap * dimension);
      metas = Arrays.copyOf(metas, cap);
      dead = Arrays.copyOf(dead, cap);
    }
    System.arraycopy(feature, 0, features, count * dimension, dimension);
    metas[count] = meta;
    dead[count] = Snapshot.LIVE;
    return count++;
  }

  View view() {
    return new View(features, metas, dead, count);
  }
}
