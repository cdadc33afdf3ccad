package org.reid4j.kernels;

/**
 * The person and camera ids of both sides of an evaluation (pid -1: junk), checked against the
 * sizes of the matrices they label.
 */
public record QueryLabels(int[] queryPids, int[] queryCamids, int[] galleryPids, int[] galleryCamids) {
  public QueryLabels {
    if (queryPids == null || queryCamids == null || galleryPids == null || galleryCamids == null)
      throw new IllegalArgumentException("evaluate: null pids or camids");
    if (queryPids.length != queryCamids.length)
      throw new IllegalArgumentException("evaluate: " + queryPids.length + " query pids but " + queryCamids.length
          + " query camids");
    if (galleryPids.length != galleryCamids.length)
      throw new IllegalArgumentException("evaluate: " + galleryPids.length + " gallery pids but "
          + galleryCamids.length + " gallery camids");
  }

  /** Throws unless these label nq query rows and ng gallery rows, and the gallery is not empty. */
  public void requireShape(int nq, int ng) {
    if (queryPids.length != nq)
      throw new IllegalArgumentException("evaluate: " + nq + " query rows but " + queryPids.length + " query pids");
    if (galleryPids.length != ng)
      throw new IllegalArgumentException("evaluate: " + ng + " gallery rows but " + galleryPids.length
          + " gallery pids");
    if (ng == 0) throw new IllegalArgumentException("evaluate: the gallery is empty: nothing to rank");
  }
}
