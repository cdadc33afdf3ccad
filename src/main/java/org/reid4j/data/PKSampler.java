package org.reid4j.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Batches of P identities x K images each (BoT's RandomIdentitySampler), the batches triplet loss
 * with hard mining needs. One epoch: each identity's images are shuffled and cut into chunks of K
 * (the last {@code n mod K} images of an identity sit out this epoch; an identity with fewer than K
 * images gets one chunk drawn with replacement); then batches repeatedly take P identities that still
 * have chunks, preferring identities not yet seen this epoch, and one chunk of each. When fewer than P
 * identities have chunks left, their remaining chunks are dropped (BoT's drop-last) — except that an
 * identity not yet seen this epoch is never dropped: the last batch then takes those identities and
 * fills up to P with others, drawing a fresh random chunk for each. So every identity appears every
 * epoch, every batch has exactly P * K indices and all images are used about once per epoch. An
 * identity with n images thus appears about {@code c = max(1, n / K)} times per epoch, in proportion
 * to its image count: at most c + 1 times (its chunks, plus a fresh one in the last batch), and fewer
 * only through the drop-last, which leaves out at most P - 1 identities' remaining chunks an epoch
 * ({@link BalancedPKSampler} draws every identity equally often instead).
 *
 * <p>Identities with a single image are left out ({@link #leftOut}): a batch-hard triplet needs a
 * positive. Otherwise this is the sampler it always was: an identity with 2..K-1 images still gets
 * one chunk drawn with replacement, and on data without single-image identities the batches are
 * exactly those of earlier versions.
 *
 * <p>Deterministic for (seed, epoch); batch k of an epoch lists identity after identity, K indices
 * each. Memory: the index lists, O(n); an epoch costs O(n) time.
 */
public final class PKSampler implements IdentitySampler {
  private final int p, k;
  private final long seed;
  private final int[] ids; // distinct pids with at least two images, ascending
  private final int[][] members; // indices of each identity, ascending
  private final int leftOut;

  /** trainPids[i] is the identity of image i; needs at least p identities with two images or more. */
  public PKSampler(int[] trainPids, int p, int k, long seed) {
    Identities g = Identities.of(trainPids, p, k);
    this.p = p;
    this.k = k;
    this.seed = seed;
    this.ids = g.ids;
    this.members = g.members;
    this.leftOut = g.leftOut;
  }

  @Override
  public int numIdentities() {
    return ids.length;
  }

  @Override
  public int leftOut() {
    return leftOut;
  }

  @Override
  public int batchSize() {
    return p * k;
  }

  /** The batches of epoch e (each P * K training indices). */
  @Override
  public List<int[]> epoch(int epochIndex) {
    SplittableRandom rnd = new SplittableRandom(mix(seed, epochIndex));
    int n = ids.length;
    List<List<int[]>> chunks = new ArrayList<>(n);
    for (int[] m : members) chunks.add(chunksOf(m, rnd));
    boolean[] seen = new boolean[n];
    int unseen = n;
    int[] avail = new int[n]; // identities (positions in ids) with chunks left, in [0, nAvail)
    for (int i = 0; i < n; i++) avail[i] = i;
    int nAvail = n;
    int[] next = new int[n]; // next chunk of each identity
    List<int[]> batches = new ArrayList<>();
    while (nAvail >= p) {
      int[] pick = choose(avail, nAvail, seen, unseen, rnd);
      int[] batch = new int[p * k];
      for (int j = 0; j < p; j++) {
        int id = pick[j];
        System.arraycopy(chunks.get(id).get(next[id]++), 0, batch, j * k, k);
        if (!seen[id]) {
          seen[id] = true;
          unseen--;
        }
      }
      batches.add(batch);
      nAvail = 0; // compact the identities that still have chunks, keeping ascending order
      for (int id = 0; id < n; id++) if (next[id] < chunks.get(id).size()) avail[nAvail++] = id;
    }
    if (unseen > 0) batches.add(lastBatch(seen, unseen, rnd));
    return batches;
  }

  /** P identities from avail[0..nAvail): unseen ones first (random order), then random seen ones. */
  private int[] choose(int[] avail, int nAvail, boolean[] seen, int unseen, SplittableRandom rnd) {
    int[] pool = Arrays.copyOf(avail, nAvail);
    // Partition: unseen first, then shuffle each part.
    int u = 0;
    for (int i = 0; i < nAvail; i++) {
      if (!seen[pool[i]]) {
        int t = pool[u];
        pool[u++] = pool[i];
        pool[i] = t;
      }
    }
    shuffle(pool, 0, u, rnd);
    shuffle(pool, u, nAvail, rnd);
    return Arrays.copyOf(pool, p);
  }

  /** All identities not yet seen, topped up to P with random seen ones, each with a fresh chunk. */
  private int[] lastBatch(boolean[] seen, int unseen, SplittableRandom rnd) {
    int n = ids.length;
    int[] pool = new int[n];
    int u = 0, s = n;
    for (int id = 0; id < n; id++) {
      if (!seen[id]) pool[u++] = id;
      else pool[--s] = id;
    }
    shuffle(pool, 0, u, rnd);
    shuffle(pool, u, n, rnd);
    int[] batch = new int[p * k];
    for (int j = 0; j < p; j++) {
      int[] m = members[pool[j]];
      int[] chunk = chunksOf(m, rnd).get(0);
      System.arraycopy(chunk, 0, batch, j * k, k);
    }
    return batch;
  }

  /** The identity's images shuffled and cut into chunks of K; fewer than K images: one chunk with replacement. */
  private List<int[]> chunksOf(int[] m, SplittableRandom rnd) {
    List<int[]> out = new ArrayList<>();
    if (m.length < k) {
      int[] c = new int[k];
      for (int i = 0; i < k; i++) c[i] = m[rnd.nextInt(m.length)];
      out.add(c);
      return out;
    }
    int[] sh = m.clone();
    shuffle(sh, 0, sh.length, rnd);
    for (int i = 0; i + k <= sh.length; i += k) out.add(Arrays.copyOfRange(sh, i, i + k));
    return out;
  }

  static void shuffle(int[] a, int from, int to, SplittableRandom rnd) {
    for (int i = to - 1; i > from; i--) {
      int j = from + rnd.nextInt(i - from + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** A well-mixed 64-bit seed from (seed, a): distinct epochs give unrelated streams. */
  static long mix(long seed, long a) {
    long z = seed + 0x9E3779B97F4A7C15L * (a + 1);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
