package org.reid4j.kernels;

/**
 * Batch-hard triplet mining result, one entry per anchor: the hardest positive (farthest same-label
 * entry) and hardest negative (nearest other-label entry), index and distance. An anchor with no
 * candidate has index -1 and distance NaN.
 */
public record HardMining(int[] posIdx, float[] posDist, int[] negIdx, float[] negDist) {
  public HardMining {
    int n = posIdx.length;
    if (posDist.length != n || negIdx.length != n || negDist.length != n)
      throw new IllegalArgumentException("HardMining arrays differ in length");
  }

  public int size() {
    return posIdx.length;
  }
}
