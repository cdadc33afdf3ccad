package org.reid4j.gallery;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;

/**
 * What one search sees: the segments and the delta rows as of change number {@code seq}. A row
 * is visible when it is in the list (below the view's count for the delta) and was not deleted
 * by a change at or before {@code seq}. Taking a snapshot is one volatile read; nothing in it
 * changes afterwards as far as its reader can tell. {@code graph} is the neighbour graph of the
 * same state, or null while the gallery has none.
 */
record Snapshot(long seq, List<Segment> segments, Delta.View delta, NeighbourGraph graph) {
  /** The {@code dead} value of a live row. */
  static final long LIVE = Long.MAX_VALUE;

  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);

  static long deadAt(long[] dead, int r) {
    return (long) SLOT.getAcquire(dead, r);
  }

  static void kill(long[] dead, int r, long seq) {
    SLOT.setRelease(dead, r, seq);
  }

  boolean visible(long[] dead, int r) {
    return deadAt(dead, r) > seq;
  }
}
