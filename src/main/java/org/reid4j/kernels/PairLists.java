package org.reid4j.kernels;

/**
 * {@link Kernels#pairLists}'s answer: the rows of a against the rows of b ({@code aToB}: each row of a,
 * its min(k, rows of b) nearest rows of b and its largest distance to b) and the rows of b against
 * those of a ({@code bToA}).
 */
public record PairLists(TopKWithMax aToB, TopKWithMax bToA) {
  public PairLists {
    if (aToB == null || bToA == null) throw new IllegalArgumentException("both sides of the pair are needed");
  }
}
