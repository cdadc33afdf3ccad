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

  /**
   * These parameters for {@code n} items (queries + gallery): k1 and k2 above n mean "all n", as in
   * the reference implementation's slicing of an argsort, so they are clamped to n (which also keeps
   * every buffer sized by k1 within what the data needs).
   */
  public RerankParams clampedTo(long n) {
    int cap = (int) Math.max(1, Math.min(Integer.MAX_VALUE, n));
    return k1 <= cap && k2 <= cap ? this : new RerankParams(Math.min(k1, cap), Math.min(k2, cap), lambda);
  }

  public RerankParams {
    if (k1 < 1) throw new IllegalArgumentException("re-ranking k1 must be >= 1, got " + k1);
    if (k2 < 1) throw new IllegalArgumentException("re-ranking k2 must be >= 1, got " + k2);
    if (!(lambda >= 0f && lambda <= 1f))
      throw new IllegalArgumentException("re-ranking lambda must be in [0, 1], got " + lambda);
  }
}
