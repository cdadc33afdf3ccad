package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PKSamplerTest {
  /**
   * Random pid lists: odd counts, identities with fewer than K images, single-image identities (left
   * out), P not dividing the identity count.
   */
  @Test
  void batchesArePByKAndCoverEveryIdentity() {
    for (long seed = 0; seed < 200; seed++) {
      SplittableRandom r = new SplittableRandom(seed);
      int all = 1 + r.nextInt(40), k = 1 + r.nextInt(6);
      int n = 0, ids = 0;
      int[] counts = new int[all];
      for (int i = 0; i < all; i++) {
        counts[i] = r.nextInt(5) == 0 && i > 0 ? 1 : 2 + r.nextInt(14);
        n += counts[i];
        if (counts[i] >= 2) ids++;
      }
      int p = 1 + r.nextInt(Math.min(ids, 8));
      int[] pids = new int[n];
      int at = 0;
      for (int i = 0; i < all; i++) for (int j = 0; j < counts[i]; j++) pids[at++] = 1000 + 3 * i; // not 0..C-1
      for (int i = n - 1; i > 0; i--) { // shuffle the file order
        int j = r.nextInt(i + 1), t = pids[i];
        pids[i] = pids[j];
        pids[j] = t;
      }
      String ctx = "seed " + seed + ": ids " + ids + ", P " + p + ", K " + k;
      PKSampler s = new PKSampler(pids, p, k, seed);
      assertEquals(ids, s.numIdentities(), ctx);
      assertEquals(all - ids, s.leftOut(), ctx);
      for (int epoch = 0; epoch < 3; epoch++) {
        List<int[]> batches = s.epoch(epoch);
        Set<Integer> seen = new HashSet<>();
        Map<Integer, Integer> uses = new HashMap<>();
        long chunksExpected = 0;
        for (int c : counts) if (c >= 2) chunksExpected += Math.max(1, c / k);
        assertTrue(batches.size() >= 1 && batches.size() <= chunksExpected / p + 1, ctx + ": " + batches.size());
        for (int bi = 0; bi < batches.size(); bi++) {
          int[] b = batches.get(bi);
          assertEquals(p * k, b.length, ctx);
          Set<Integer> inBatch = new HashSet<>();
          for (int j = 0; j < p; j++) {
            int pid = pids[b[j * k]];
            assertTrue(inBatch.add(pid), ctx + ": identity twice in a batch");
            assertTrue(counts[(pid - 1000) / 3] >= 2, ctx + ": a single-image identity was drawn");
            for (int q = 0; q < k; q++) assertEquals(pid, pids[b[j * k + q]], ctx + ": K images of one identity");
            seen.add(pid);
          }
          if (bi < batches.size() - 1) for (int idx : b) uses.merge(idx, 1, Integer::sum);
        }
        assertEquals(ids, seen.size(), ctx + ": every identity each epoch");
        // Outside the last batch, an image is used at most once unless its identity has fewer than K images.
        for (var e : uses.entrySet()) {
          int pidCount = 0;
          for (int x : pids) if (x == pids[e.getKey()]) pidCount++;
          if (pidCount >= k) assertEquals(1, e.getValue(), ctx + ": image " + e.getKey());
        }
      }
      assertArrayEqualsList(s.epoch(1), new PKSampler(pids, p, k, seed).epoch(1), ctx);
      if (n > p * k) assertFalse(equal(s.epoch(1), s.epoch(2)), ctx + ": epochs differ");
    }
  }

  @Test
  void usesAllImagesWhenCountsDivide() {
    int[] pids = new int[10 * 16 * 3]; // 10 ids of 48 images, P 10 x K 16: 3 full batches
    for (int i = 0; i < pids.length; i++) pids[i] = i % 10;
    List<int[]> e = new PKSampler(pids, 10, 16, 7).epoch(0);
    assertEquals(3, e.size());
    Set<Integer> all = new HashSet<>();
    for (int[] b : e) for (int i : b) all.add(i);
    assertEquals(pids.length, all.size());
  }

  @Test
  void remainderIdentitiesAreToppedUpNotDropped() {
    int[] pids = new int[17 * 4]; // 17 identities of exactly K = 4 images, P = 16
    for (int i = 0; i < pids.length; i++) pids[i] = i / 4;
    List<int[]> e = new PKSampler(pids, 16, 4, 3).epoch(0);
    assertEquals(2, e.size(), "16 in the first batch, the 17th topped up with 15 others");
  }

  @Test
  void tooFewIdentities() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new PKSampler(new int[] {0, 0, 1, 1, 2}, 3, 2, 0));
    assertTrue(e.getMessage().contains("only 2 identities with at least 2 images (1 with fewer left out)"),
        e.getMessage());
    assertTrue(e.getMessage().contains("DATALOADER.P"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new PKSampler(new int[] {0, 1}, 0, 2, 0));
  }

  /**
   * Leaving out the single-image identities is the only change to pk: with them in the data, the
   * batches are those of the same data without them (indices mapped), image for image.
   */
  @Test
  void singleImageIdentitiesAreTheOnlyChange() {
    SplittableRandom r = new SplittableRandom(42);
    List<Integer> withSingles = new java.util.ArrayList<>(), without = new java.util.ArrayList<>();
    List<Integer> map = new java.util.ArrayList<>(); // index in `without` -> index in `withSingles`
    for (int id = 0; id < 30; id++) {
      int c = id % 4 == 0 ? 1 : 2 + r.nextInt(9);
      for (int j = 0; j < c; j++) {
        if (c >= 2) {
          map.add(withSingles.size());
          without.add(id);
        }
        withSingles.add(id);
      }
    }
    int[] a = withSingles.stream().mapToInt(Integer::intValue).toArray();
    int[] b = without.stream().mapToInt(Integer::intValue).toArray();
    PKSampler sa = new PKSampler(a, 4, 3, 9), sb = new PKSampler(b, 4, 3, 9);
    assertEquals(8, sa.leftOut());
    assertEquals(0, sb.leftOut());
    assertEquals(sb.numIdentities(), sa.numIdentities());
    for (int epoch = 0; epoch < 3; epoch++) {
      List<int[]> ea = sa.epoch(epoch), eb = sb.epoch(epoch);
      assertEquals(eb.size(), ea.size());
      for (int i = 0; i < ea.size(); i++) {
        int[] mapped = java.util.Arrays.stream(eb.get(i)).map(map::get).toArray();
        assertArrayEquals(mapped, ea.get(i), "epoch " + epoch + " batch " + i);
      }
    }
  }

  private static boolean equal(List<int[]> a, List<int[]> b) {
    if (a.size() != b.size()) return false;
    for (int i = 0; i < a.size(); i++) if (!java.util.Arrays.equals(a.get(i), b.get(i))) return false;
    return true;
  }

  private static void assertArrayEqualsList(List<int[]> a, List<int[]> b, String ctx) {
    assertTrue(equal(a, b), ctx + ": deterministic for (seed, epoch)");
  }
}
