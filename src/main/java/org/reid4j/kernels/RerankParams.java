package org.reid4j.kernels;

/**
 * Parameters of k-reciprocal re-ranking (Zhong et al., CVPR 2017). Defaults k1 = 20, k2 = 6,
 * lambda = 0.3, the values of the paper and of the BoT baseline.
 *
 * @param k1 size of the k-reciprocal neighbourhood (>= 1)
 * @param k2 local query expansion: V is averaged over the k2 nearest (>= 1; 1 disables it)
 * @param lambda weight of the original distance in the final one, in [0, 1]
 */
public record RerankParams(int k1, int k2, float lambda) {
  public static final RerankParams DEFAULT = new RerankParams(20, 6, 0.3f);

  public RerankParams {
    if (k1 < 1) throw new IllegalArgumentException("re-ranking k1 must be >= 1, got " + k1);
    if (k2 < 1) throw new IllegalArgumentException("re-ranking k2 must be >= 1, got " + k2);
    if (!(lambda >= 0f && lambda <= 1f))
      throw new IllegalArgumentException("re-ranking lambda must be in [0, 1], got " + lambda);
  }
}
