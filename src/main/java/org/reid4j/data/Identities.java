package org.reid4j.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The training images grouped by identity for the P x K samplers: the identities with at least two
 * images (ascending pid) and the indices of each one's images (ascending). Identities with a single
 * image are left out and counted: a batch-hard triplet needs a positive, which such an identity can
 * only give as the same image twice.
 */
final class Identities {
  /** Fewer images than this and an identity is left out of P x K sampling. */
  static final int MIN_IMAGES = 2;

  final int[] ids; // distinct pids with >= MIN_IMAGES images, ascending
  final int[][] members; // indices of each identity's images, ascending
  final int leftOut; // identities with fewer than MIN_IMAGES images

  private Identities(int[] ids, int[][] members, int leftOut) {
    this.ids = ids;
    this.members = members;
    this.leftOut = leftOut;
  }

  /** trainPids[i] is the identity of image i; needs P, K >= 1 and at least P identities with 2 images. */
  static Identities of(int[] trainPids, int p, int k) {
    if (p < 1 || k < 1) throw new IllegalArgumentException("P and K must be >= 1, got P=" + p + ", K=" + k);
    Map<Integer, List<Integer>> byPid = new LinkedHashMap<>();
    int[] order = IntStream.range(0, trainPids.length).boxed()
        .sorted((a, b) -> Integer.compare(trainPids[a], trainPids[b])).mapToInt(Integer::intValue).toArray();
    for (int i : order) byPid.computeIfAbsent(trainPids[i], x -> new ArrayList<>()).add(i);
    List<Integer> kept = new ArrayList<>();
    List<int[]> members = new ArrayList<>();
    int leftOut = 0;
    for (var e : byPid.entrySet()) {
      if (e.getValue().size() < MIN_IMAGES) {
        leftOut++;
        continue;
      }
      kept.add(e.getKey());
      members.add(e.getValue().stream().mapToInt(Integer::intValue).sorted().toArray());
    }
    if (kept.size() < p)
      throw new IllegalArgumentException("P = " + p + " identities per batch, but the training set has only "
          + kept.size() + (kept.size() == 1 ? " identity" : " identities") + " with at least " + MIN_IMAGES + " images" + (leftOut > 0 ? " (" + leftOut
          + " with fewer left out)" : "") + " (lower DATALOADER.P)");
    return new Identities(kept.stream().mapToInt(Integer::intValue).toArray(), members.toArray(int[][]::new), leftOut);
  }

  int size() {
    return ids.length;
  }

  /** The chunks of K that pk cuts from identity i each epoch: n / K, or 1 when it has fewer than K images. */
  int chunks(int i, int k) {
    return Math.max(1, members[i].length / k);
  }
}
