package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** pk_balanced against its documented rule, and beside pk on long-tailed data. */
class BalancedPKSamplerTest {

  /** pids of image counts[g] for identity c * 10 + g, `copies` times over, in file order. */
  static int[] longTail(int[] counts, int copies) {
    List<Integer> l = new ArrayList<>();
    for (int c = 0; c < copies; c++)
      for (int g = 0; g < counts.length; g++) for (int j = 0; j < counts[g]; j++) l.add(c * 10 + g);
    return l.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Draws of each pid in the epoch's batches (pid -> count), after checking the P x K shape. */
  static int[] draws(List<int[]> batches, int[] pids, int p, int k, int maxPid, String ctx) {
    int[] d = new int[maxPid + 1];
    for (int[] b : batches) {
      assertEquals(p * k, b.length, ctx);
      Set<Integer> inBatch = new HashSet<>();
      for (int j = 0; j < p; j++) {
        int pid = pids[b[j * k]];
        assertTrue(inBatch.add(pid), ctx + ": identity " + pid + " twice in a batch");
        for (int q = 0; q < k; q++) assertEquals(pid, pids[b[j * k + q]], ctx + ": K images of one identity");
        d[pid]++;
      }
    }
    return d;
  }

  /**
   * Counts 200, 50, 10, 3, 1 (eight identities of each), P 4 x K 4, 60 epochs. pk draws an identity
   * c = max(1, n / K) times an epoch (50, 12, 2, 1), less at most what the epoch's drop-last lost;
   * pk_balanced draws every identity floor or ceil(B P / N) times an epoch, so over E epochs each one's
   * share of the draws is 1 / N within 1 / (B P) (E B P draws, each identity within E of E B P / N).
   * The single-image identities are never drawn, and both samplers count them.
   */
  @Test
  void longTailedFrequenciesFollowTheRules() {
    int[] counts = {200, 50, 10, 3, 1};
    int copies = 8, p = 4, k = 4, epochs = 60;
    int[] pids = longTail(counts, copies);
    int maxPid = (copies - 1) * 10 + counts.length - 1;
    int[] c = new int[maxPid + 1]; // pk's chunks per identity; 0 for the left-out ones
    long sumC = 0;
    int cMax = 0, usable = 0;
    for (int cp = 0; cp < copies; cp++)
      for (int g = 0; g < counts.length; g++)
        if (counts[g] >= 2) {
          c[cp * 10 + g] = Math.max(1, counts[g] / k);
          sumC += c[cp * 10 + g];
          cMax = Math.max(cMax, c[cp * 10 + g]);
          usable++;
        }

    IdentitySampler pk = IdentitySampler.create("pk", pids, p, k, 17);
    assertEquals(copies, pk.leftOut());
    assertEquals(usable, pk.numIdentities());
    long[] pkTotal = new long[maxPid + 1];
    for (int e = 0; e < epochs; e++) {
      int[] d = draws(pk.epoch(e), pids, p, k, maxPid, "pk epoch " + e);
      long t = Arrays.stream(d).sum();
      long lost = sumC + p - t; // the most any identity can have lost to this epoch's drop-last
      assertTrue(lost <= (long) (p - 1) * cMax + p, "pk epoch " + e + " drops at most P - 1 identities' chunks");
      for (int id = 0; id <= maxPid; id++) {
        if (c[id] == 0) {
          assertEquals(0, d[id], "pk drew the single-image identity " + id);
          continue;
        }
        assertTrue(d[id] <= c[id] + 1 && d[id] >= c[id] - lost, "pk epoch " + e + " identity " + id + ": " + d[id]
            + " draws, chunks " + c[id] + ", lost at most " + lost);
        pkTotal[id] += d[id];
      }
    }

    BalancedPKSampler bal = new BalancedPKSampler(pids, p, k, 17);
    int b = bal.batchesPerEpoch();
    assertEquals((sumC + p - 1) / p, b, "B = ceil(sum of pk's chunks / P)");
    assertEquals(copies, bal.leftOut());
    assertEquals(usable, bal.numIdentities());
    long[] balTotal = new long[maxPid + 1];
    int lo = b * p / usable, hi = (b * p + usable - 1) / usable;
    for (int e = 0; e < epochs; e++) {
      List<int[]> batches = bal.epoch(e);
      assertEquals(b, batches.size());
      int[] d = draws(batches, pids, p, k, maxPid, "pk_balanced epoch " + e);
      for (int id = 0; id <= maxPid; id++) {
        if (c[id] == 0) {
          assertEquals(0, d[id], "pk_balanced drew the single-image identity " + id);
          continue;
        }
        assertTrue(d[id] >= lo && d[id] <= hi, "pk_balanced epoch " + e + " identity " + id + ": " + d[id]
            + " draws, expected " + lo + " or " + hi);
        balTotal[id] += d[id];
      }
    }
    double all = (double) epochs * b * p;
    for (int id = 0; id <= maxPid; id++)
      if (c[id] > 0)
        assertEquals(1.0 / usable, balTotal[id] / all, 1.0 / (b * p), "share of identity " + id);

    // Side by side: the head identity (200 images) against a tail one (3 images). pk keeps their
    // ratio near 50 : 1, pk_balanced makes it 1 : 1.
    double pkRatio = pkTotal[0] / (double) pkTotal[3], balRatio = balTotal[0] / (double) balTotal[3];
    assertTrue(pkRatio > 40 && pkRatio <= 51, "pk head:tail " + pkRatio);
    assertEquals(1.0, balRatio, 1.0 / lo, "pk_balanced head:tail");
  }

  /** Random pid lists (singletons, identities below K, P not dividing N): the rule holds every epoch. */
  @Test
  void randomDataFollowTheRule() {
    for (long seed = 0; seed < 150; seed++) {
      SplittableRandom r = new SplittableRandom(seed);
      int all = 1 + r.nextInt(40), k = 1 + r.nextInt(6);
      int[] counts = new int[all];
      List<Integer> l = new ArrayList<>();
      int usable = 0;
      long sumC = 0;
      for (int i = 0; i < all; i++) {
        counts[i] = r.nextInt(4) == 0 && i > 0 ? 1 : 2 + r.nextInt(30);
        for (int j = 0; j < counts[i]; j++) l.add(i);
        if (counts[i] >= 2) {
          usable++;
          sumC += Math.max(1, counts[i] / k);
        }
      }
      java.util.Collections.shuffle(l, new java.util.Random(seed));
      int[] pids = l.stream().mapToInt(Integer::intValue).toArray();
      int p = 1 + r.nextInt(Math.min(usable, 8));
      String ctx = "seed " + seed + ": " + usable + " identities, P " + p + ", K " + k;
      BalancedPKSampler s = new BalancedPKSampler(pids, p, k, seed);
      assertEquals(all - usable, s.leftOut(), ctx);
      int b = s.batchesPerEpoch();
      assertEquals((sumC + p - 1) / p, b, ctx);
      int lo = b * p / usable, hi = (b * p + usable - 1) / usable;
      for (int e = 0; e < 3; e++) {
        List<int[]> batches = s.epoch(e);
        assertEquals(b, batches.size(), ctx);
        int[] d = draws(batches, pids, p, k, all - 1, ctx);
        for (int id = 0; id < all; id++) {
          if (counts[id] < 2) assertEquals(0, d[id], ctx + ": single-image identity " + id);
          else assertTrue(d[id] >= lo && d[id] <= hi, ctx + ": identity " + id + " drawn " + d[id] + " times");
        }
        for (int[] batch : batches)
          for (int j = 0; j < p; j++) {
            int[] draw = Arrays.copyOfRange(batch, j * k, j * k + k);
            if (counts[pids[draw[0]]] >= k)
              assertEquals(k, Arrays.stream(draw).distinct().count(), ctx + ": K different images when there are K");
          }
      }
      assertTrue(equal(s.epoch(1), new BalancedPKSampler(pids, p, k, seed).epoch(1)), ctx + ": deterministic");
    }
  }

  /** An identity drawn many times uses its images evenly: every image before any twice, cycle by cycle. */
  @Test
  void imagesOfAFrequentlyDrawnIdentityAreUsedEvenly() {
    int[] pids = longTail(new int[] {8, 8, 400}, 1); // identities 0 and 1 drawn ~34 times an epoch, 8 images each
    BalancedPKSampler s = new BalancedPKSampler(pids, 2, 4, 3);
    int[] uses = new int[pids.length];
    for (int[] batch : s.epoch(0)) for (int i : batch) uses[i]++;
    for (int id = 0; id < 2; id++) {
      int min = Integer.MAX_VALUE, max = 0;
      for (int i = 0; i < pids.length; i++)
        if (pids[i] == id) {
          min = Math.min(min, uses[i]);
          max = Math.max(max, uses[i]);
        }
      assertTrue(max - min <= 1, "identity " + id + ": uses between " + min + " and " + max);
    }
  }

  @Test
  void factoryNamesBothSamplers() {
    int[] pids = longTail(new int[] {5, 5, 5}, 1);
    assertInstanceOf(PKSampler.class, IdentitySampler.create("pk", pids, 2, 2, 1));
    assertInstanceOf(BalancedPKSampler.class, IdentitySampler.create("pk_balanced", pids, 2, 2, 1));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> IdentitySampler.create("balanced", pids, 2, 2, 1));
    assertTrue(e.getMessage().contains("pk or pk_balanced"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> new BalancedPKSampler(new int[] {0, 0, 1, 2}, 2, 2, 1));
    assertTrue(e.getMessage().contains("only 1 identity with at least 2 images (2 with fewer left out)"),
        e.getMessage());
  }

  private static boolean equal(List<int[]> a, List<int[]> b) {
    if (a.size() != b.size()) return false;
    for (int i = 0; i < a.size(); i++) if (!Arrays.equals(a.get(i), b.get(i))) return false;
    return true;
  }
}
