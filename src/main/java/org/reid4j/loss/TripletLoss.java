package org.reid4j.loss;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.HardMining;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.model.Tensors;

/**
 * Batch-hard triplet loss (Hermans et al. 2017) as BoT uses it, on Euclidean distances. For every
 * anchor the farthest same-label sample (hardest positive) and the nearest other-label sample
 * (hardest negative) are mined without gradient; then only those pairs' distances are recomputed
 * differentiably from explicit differences (sqrt(max(sum((a - p)^2), 1e-12))), which costs O(N D)
 * instead of the O(N^2 D) of a differentiable distance matrix.
 *
 * <p>Where the mining runs: features on the CPU go to the retrieval core's {@link Kernels#batchHard}
 * (a host copy of a CPU tensor is free); features on a GPU are mined where they are, by
 * {@link #mineOnDevice} (tensor operations, no host round trip and no synchronisation), which picks
 * the same triplets: ties go to the smaller index in both.
 *
 * <p>Loss: the mean over anchors of relu(d_ap - d_an + margin) (MarginRankingLoss with y = 1), or of
 * softplus(d_ap - d_an) with {@code softMargin} (SoftMarginLoss). Anchors that have no positive or no
 * negative in the batch are left out of the mean; if no anchor qualifies the loss is 0 (still attached
 * to the graph).
 */
public final class TripletLoss {
  /**
   * The loss and the fraction of the batch's anchors whose triplet is active (contributes a
   * gradient), both 0-dim float tensors on the features' device: read them with one host copy per
   * step, not one each.
   */
  public record Result(Tensor loss, Tensor activeFraction) {
    /** The active fraction as a number (a host copy: synchronises with the device). */
    public double fractionActive() {
      return activeFraction.cpu().item_double();
    }
  }

  /**
   * Mined indices, int64 [N] on the features' device: the hardest positive and negative of every
   * anchor, and whether the anchor has both (where it does not, its indices are arbitrary).
   */
  public record Mined(Tensor posIdx, Tensor negIdx, Tensor valid) {}

  private final double margin;
  private final boolean softMargin;
  private final Kernels miner;

  /** miner: a CPU-side kernels instance for CPU features (JAVA or CPU backend); null means plain Java. */
  public TripletLoss(double margin, boolean softMargin, Kernels miner) {
    if (!softMargin && !(margin >= 0))
      throw new IllegalArgumentException("triplet margin must be >= 0, got " + margin);
    this.margin = margin;
    this.softMargin = softMargin;
    this.miner = miner != null ? miner : Kernels.create(Backend.JAVA);
  }

  public double margin() {
    return margin;
  }

  public boolean softMargin() {
    return softMargin;
  }

  /** feats [N, D] float32, labels [N] -> loss and the fraction of active anchors. */
  public Result forward(Tensor feats, int[] labels) {
    return forward(feats, Tensors.longs(labels, feats.device()));
  }

  /** feats [N, D] float32, labels int64 [N] on the features' device -> loss and active fraction. */
  public Result forward(Tensor feats, Tensor labels) {
    if (feats.dim() != 2 || labels.dim() != 1 || feats.size(0) != labels.size(0))
      throw new IllegalArgumentException("feats must be [N, D] and labels [N], got " + Tensors.shapeString(feats)
          + " and " + Tensors.shapeString(labels));
    if (feats.size(0) == 0) throw new IllegalArgumentException("an empty batch has no triplets");
    if (!feats.device().equals(labels.device()))
      throw new IllegalArgumentException("feats are on " + feats.device().str().getString() + " but labels on "
          + labels.device().str().getString());
    Mined m = feats.device().is_cpu() ? mineOnHost(feats, labels) : mineOnDevice(feats, labels);
    return loss(feats, m);
  }

  /** The loss of mined triplets (differentiable in feats). */
  Result loss(Tensor feats, Mined m) {
    return loss(feats, feats.index_select(0, m.posIdx()), feats.index_select(0, m.negIdx()), m.valid());
  }

  /**
   * The loss of given triplets: row i of {@code anchors} with row i of {@code positives} and of
   * {@code negatives} ([N, D] each, on one device), counted where {@code valid} (bool [N]) holds.
   * Differentiable in whichever of the three carry gradients (the cross-batch memory's rows do not).
   */
  public Result loss(Tensor anchors, Tensor positives, Tensor negatives, Tensor valid) {
    long n = anchors.size(0);
    Tensor dAp = distance(anchors, positives);
    Tensor dAn = distance(anchors, negatives);
    Tensor diff = dAp.sub(dAn);
    Tensor perAnchor = softMargin
        ? torch.softplus(diff, Tensors.scalar(1), Tensors.scalar(20))
        : diff.add(Tensors.scalar(margin)).relu();
    Tensor validF = valid.to(perAnchor.scalar_type());
    // Mean over the valid anchors; with none, 0 / 1 = 0, still attached to the graph.
    Tensor loss = perAnchor.mul(validF).sum().div(validF.sum().clamp_min(Tensors.scalar(1)));
    // Active: a positive hinge (margin) / a violated ordering d_ap >= d_an (soft margin, whose gradient
    // never vanishes exactly).
    Tensor active;
    try (NoGradGuard g = new NoGradGuard()) {
      Tensor d = diff.detach();
      Tensor on = softMargin ? d.ge(Tensors.scalar(0)) : d.add(Tensors.scalar(margin)).gt(Tensors.scalar(0));
      active = on.logical_and(valid).to(torch.ScalarType.Float).sum().div(Tensors.scalar(Math.max(1, n)));
    }
    return new Result(loss, active);
  }

  /** Mining of CPU features by the retrieval core's kernels. */
  Mined mineOnHost(Tensor feats, Tensor labels) {
    int n = (int) feats.size(0);
    int d = (int) feats.size(1);
    long[] l = new long[n];
    labels.cpu().to(torch.ScalarType.Long).contiguous().data_ptr_long().get(l);
    int[] lab = new int[n];
    for (int i = 0; i < n; i++) lab[i] = Math.toIntExact(l[i]);
    HardMining mining = miner.batchHard(new FloatMatrix(n, d, Tensors.toFloats(feats)), lab, Metric.EUCLIDEAN);
    int[] pos = mining.posIdx().clone(), neg = mining.negIdx().clone(), valid = new int[n];
    for (int i = 0; i < n; i++) {
      valid[i] = pos[i] >= 0 && neg[i] >= 0 ? 1 : 0;
      if (pos[i] < 0) pos[i] = 0;
      if (neg[i] < 0) neg[i] = 0;
    }
    Device cpu = feats.device();
    return new Mined(Tensors.longs(pos, cpu), Tensors.longs(neg, cpu), Tensors.longs(valid, cpu).gt(Tensors.scalar(0)));
  }

  /**
   * Batch-hard mining with tensor operations on the features' own device: squared Euclidean distances
   * from explicit differences (row blocks bound the [rows, N, D] temporary to about 2^25 values), then
   * per anchor the arg-max over other same-label samples and the arg-min over other-label samples.
   * Ties go to the smaller index (libtorch's argmax/argmin return the first extreme), as in
   * {@link Kernels#batchHard}. No gradient, no host copy.
   */
  public static Mined mineOnDevice(Tensor feats, Tensor labels) {
    try (NoGradGuard g = new NoGradGuard()) {
      Tensor x = feats.detach().to(torch.ScalarType.Float);
      long n = x.size(0), dim = Math.max(1, x.size(1));
      long block = Math.max(1, Math.min(n, (1L << 25) / Math.max(1, n * dim)));
      Tensor dist;
      if (block >= n) {
        dist = squaredDistances(x, x);
      } else {
        org.bytedeco.pytorch.TensorVector parts = new org.bytedeco.pytorch.TensorVector();
        for (long r = 0; r < n; r += block) parts.push_back(squaredDistances(x.narrow(0, r, Math.min(block, n - r)), x));
        dist = torch.cat(parts, 0);
      }
      Tensor lab = labels.to(torch.ScalarType.Long);
      Tensor same = lab.unsqueeze(1).eq(lab.unsqueeze(0));
      Tensor idx = Tensors.arange(n, x.device());
      Tensor self = idx.unsqueeze(1).eq(idx.unsqueeze(0));
      return hardest(dist, same.logical_and(self.logical_not()), same.logical_not());
    }
  }

  /**
   * For each row of {@code dist} ([A, B]), the column of the largest distance where {@code pos} holds and of the
   * smallest where {@code neg} holds (bool [A, B] masks; ties go to the smaller index), and whether the row has both.
   */
  static Mined hardest(Tensor dist, Tensor pos, Tensor neg) {
    LongOptional dim1 = new LongOptional(1);
    Tensor posIdx = torch.where(pos, dist, new Scalar(Double.NEGATIVE_INFINITY)).argmax(dim1, false);
    Tensor negIdx = torch.where(neg, dist, new Scalar(Double.POSITIVE_INFINITY)).argmin(dim1, false);
    return new Mined(posIdx, negIdx, pos.any(1).logical_and(neg.any(1)));
  }

  /** sum((a_i - b_j)^2) for every row pair: [A, D] x [B, D] -> [A, B]. */
  private static Tensor squaredDistances(Tensor a, Tensor b) {
    Tensor diff = a.unsqueeze(1).sub(b.unsqueeze(0));
    return diff.mul(diff).sum(2);
  }

  /** Row-wise Euclidean distance of [K, D] pairs, sqrt clamped at 1e-12 as BoT's euclidean_dist. */
  static Tensor distance(Tensor x, Tensor y) {
    Tensor diff = x.sub(y);
    return diff.mul(diff).sum(1).clamp_min(Tensors.scalar(1e-12)).sqrt();
  }
}
