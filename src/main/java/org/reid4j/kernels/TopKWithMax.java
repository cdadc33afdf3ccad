package org.reid4j.kernels;

/**
 * {@link Kernels#pairwiseTopkWithMax}'s answer: each query row's k nearest gallery rows, and its
 * largest distance to any gallery row (-infinity when the gallery is empty).
 */
public record TopKWithMax(TopK nearest, float[] rowMax) {
  public TopKWithMax {
    if (nearest == null || rowMax == null || rowMax.length != nearest.rows())
      throw new IllegalArgumentException("row maxima must have one value per row of the top-k");
  }
}
