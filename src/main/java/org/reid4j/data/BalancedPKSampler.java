package org.reid4j.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code pk_balanced}: P x K batches in which every identity is drawn equally often, whatever its
 * image count: class-balanced sampling (q = 0 in Kang et al., ICLR 2020, "Decoupling Representation
 * and Classifier for Long-Tailed Recognition", whose instance-balanced q = 1 is roughly what
 * {@link PKSampler} does): the re-balanced second stage of two-stage long-tail training (SOLVER.STAGES),
 * a trick of the third-place entry of the Huawei DIGIX 2020 image-retrieval contest.
 * Relative to {@code pk} the frequent identities are under-sampled and the rare ones repeated.
 *
 * <p>The rule, for N identities with at least two images (the others are left out, as in pk), P
 * and K:
 *
 * <ul>
 *   <li>Epoch length: {@code B = ceil(sum_i c_i / P)} batches, where {@code c_i = max(1, n_i / K)} is
 *       the number of K-chunks pk cuts from identity i, so an epoch has as many batches as pk's
 *       (before pk's drop-last) and EPOCHS, the schedule and the eval/checkpoint periods mean the
 *       same under both samplers.
 *   <li>Identities: the epoch's B * P identity slots are dealt from a sequence of random
 *       permutations of the N identities, P consecutive slots a batch. Where a batch straddles two
 *       permutations, the next permutation's first identities not already in the batch are moved to
 *       its front (a reordering, so it stays a permutation). Hence the P identities of a batch are
 *       distinct, and every identity appears {@code floor(B * P / N)} or {@code ceil(B * P / N)}
 *       times per epoch.
 *   <li>Images: each identity keeps a shuffled list of its images and gives the next K of it per
 *       draw, reshuffling when fewer than K are left (so its images are used evenly); an identity
 *       with fewer than K images gives K drawn with replacement, as in pk.
 * </ul>
 *
 * <p>Deterministic for (seed, epoch). Memory: the index lists, O(n); an epoch costs O(B * P * K + N).
 */
public final class BalancedPKSampler implements IdentitySampler {
  private static final long SALT = 0x6A09E667F3BCC909L; // a stream of its own, not pk's for the same seed
  private final int p, k;
  private final long seed;
  private final Identities g;
  private final int batches;

  /** trainPids[i] is the identity of image i; needs at least p identities with two images or more. */
  public BalancedPKSampler(int[] trainPids, int p, int k, long seed) {
    this.g = Identities.of(trainPids, p, k);
    this.p = p;
    this.k = k;
    this.seed = seed;
    long chunks = 0;
    for (int i = 0; i < g.size(); i++) chunks += g.chunks(i, k);
    this.batches = (int) ((chunks + p - 1) / p);
  }

  @Override
  public int numIdentities() {
    return g.size();
  }

  @Override
  public int leftOut() {
    return g.leftOut;
  }

  @Override
  public int batchSize() {
    return p * k;
  }

  /** B, the batches of every epoch. */
  public int batchesPerEpoch() {
    return batches;
  }

  @Override
  public List<int[]> epoch(int epochIndex) {
    SplittableRandom rnd = new SplittableRandom(PKSampler.mix(seed ^ SALT, epochIndex));
    int n = g.size();
    int[] perm = new int[n];
    int pos = n; // the permutation is used up: deal a new one
    boolean[] inBatch = new boolean[n];
    int[][] stream = new int[n][]; // per identity: its images shuffled, consumed K at a time
    int[] cursor = new int[n];
    List<int[]> out = new ArrayList<>(batches);
    int[] pick = new int[p];
    for (int b = 0; b < batches; b++) {
      for (int filled = 0; filled < p; filled++) {
        if (pos == n) {
          for (int i = 0; i < n; i++) perm[i] = i;
          PKSampler.shuffle(perm, 0, n, rnd);
          frontNotIn(perm, inBatch, p - filled);
          pos = 0;
        }
        int id = perm[pos++];
        pick[filled] = id;
        inBatch[id] = true;
      }
      int[] batch = new int[p * k];
      for (int j = 0; j < p; j++) {
        draw(pick[j], stream, cursor, rnd, batch, j * k);
        inBatch[pick[j]] = false;
      }
      out.add(batch);
    }
    return out;
  }

  /**
   * Moves the first {@code need} elements of perm that are not in the batch to its front, keeping
   * the order of the others. There are enough: at most P - need are in the batch, and N >= P.
   */
  static void frontNotIn(int[] perm, boolean[] inBatch, int need) {
    int[] front = new int[need];
    int f = 0, rest = 0;
    int[] others = new int[perm.length];
    for (int id : perm) {
      if (f < need && !inBatch[id]) front[f++] = id;
      else others[rest++] = id;
    }
    System.arraycopy(front, 0, perm, 0, f);
    System.arraycopy(others, 0, perm, f, rest);
  }

  /** K images of identity id into batch[at..at+K). */
  private void draw(int id, int[][] stream, int[] cursor, SplittableRandom rnd, int[] batch, int at) {
    int[] m = g.members[id];
    if (m.length < k) {
      for (int q = 0; q < k; q++) batch[at + q] = m[rnd.nextInt(m.length)];
      return;
    }
    if (stream[id] == null || cursor[id] + k > m.length) {
      if (stream[id] == null) stream[id] = m.clone();
      PKSampler.shuffle(stream[id], 0, m.length, rnd);
      cursor[id] = 0;
    }
    System.arraycopy(stream[id], cursor[id], batch, at, k);
    cursor[id] += k;
  }
}
