package org.reid4j.data;

import java.util.List;

/**
 * Where a training epoch's P x K batches come from (DATALOADER.SAMPLER, or a SOLVER.STAGES element's
 * SAMPLER): {@code pk} ({@link PKSampler}: identities in proportion to their images) or
 * {@code pk_balanced} ({@link BalancedPKSampler}: every identity equally often). Both leave out the
 * identities with fewer than two images ({@link #leftOut}), both list batch after batch of P
 * identities x K indices of one identity each, and both are deterministic for (seed, epoch).
 */
public interface IdentitySampler {
  /** The batches of epoch e (0-based), each {@link #batchSize} training indices. */
  List<int[]> epoch(int epochIndex);

  /** P * K. */
  int batchSize();

  /** The identities batches are drawn from (those with at least two images). */
  int numIdentities();

  /** The identities with fewer than two images, never drawn. */
  int leftOut();

  /** The sampler a config names: pk | pk_balanced. */
  static IdentitySampler create(String kind, int[] trainPids, int p, int k, long seed) {
    return switch (kind) {
      case "pk" -> new PKSampler(trainPids, p, k, seed);
      case "pk_balanced" -> new BalancedPKSampler(trainPids, p, k, seed);
      default -> throw new IllegalArgumentException("unknown sampler '" + kind + "': expected pk or pk_balanced "
          + "(DATALOADER.SAMPLER, SOLVER.STAGES)");
    };
  }
}
