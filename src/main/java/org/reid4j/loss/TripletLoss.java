package org.reid4j.loss;

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
 * (hardest negative) are mined by the retrieval core's {@link Kernels#batchHard} on a detached copy of
 * the features; then only those pairs' distances are recomputed differentiably in libtorch from
 * explicit differences (sqrt(max(sum((a - p)^2), 1e-12))), which costs O(N D) instead of the O(N^2 D)
 * of a differentiable distance matrix.
 *
 * <p>Loss: the mean over anchors of relu(d_ap - d_an + margin) (MarginRankingLoss with y = 1), or of
 * softplus(d_ap - d_an) with {@code softMargin} (SoftMarginLoss). Anchors that have no positive or no
 * negative in the batch are left out of the mean; if no anchor qualifies the loss is 0 (still attached
 * to the graph).
 */
public final class TripletLoss {
  /** The loss and the fraction of the batch's anchors whose triplet is active (contributes a gradient). */
  public record Result(Tensor loss, double fractionActive) {}

  private final double margin;
  private final boolean softMargin;
  private final Kernels miner;

  /** miner: a CPU-side kernels instance (JAVA or CPU backend); null means plain Java. */
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
    if (feats.dim() != 2 || feats.size(0) != labels.length)
      throw new IllegalArgumentException("feats must be [" + labels.length + ", D], got "
          + Tensors.shapeString(feats));
    int n = labels.length;
    int d = (int) feats.size(1);
    float[] data = Tensors.toFloats(feats);
    HardMining mining = miner.batchHard(new FloatMatrix(n, d, data), labels, Metric.EUCLIDEAN);
    int valid = 0;
    for (int i = 0; i < n; i++) if (mining.posIdx()[i] >= 0 && mining.negIdx()[i] >= 0) valid++;
    if (valid == 0) return new Result(feats.sum().mul(Tensors.scalar(0)), 0.0);
    int[] a = new int[valid];
    int[] p = new int[valid];
    int[] q = new int[valid];
    for (int i = 0, k = 0; i < n; i++) {
      if (mining.posIdx()[i] < 0 || mining.negIdx()[i] < 0) continue;
      a[k] = i;
      p[k] = mining.posIdx()[i];
      q[k] = mining.negIdx()[i];
      k++;
    }
    Tensor anchors = feats.index_select(0, Tensors.longs(a));
    Tensor dAp = distance(anchors, feats.index_select(0, Tensors.longs(p)));
    Tensor dAn = distance(anchors, feats.index_select(0, Tensors.longs(q)));
    Tensor diff = dAp.sub(dAn);
    Tensor perAnchor = softMargin
        ? torch.softplus(diff, Tensors.scalar(1), Tensors.scalar(20))
        : diff.add(Tensors.scalar(margin)).relu();
    Tensor loss = perAnchor.mean();
    // Active: a positive hinge (margin) / a violated ordering d_ap >= d_an (soft margin, whose gradient
    // never vanishes exactly).
    float[] dv = Tensors.toFloats(diff);
    int active = 0;
    for (float v : dv) if (softMargin ? v >= 0 : v + margin > 0) active++;
    return new Result(loss, active / (double) n);
  }

  /** Row-wise Euclidean distance of [K, D] pairs, sqrt clamped at 1e-12 as BoT's euclidean_dist. */
  static Tensor distance(Tensor x, Tensor y) {
    Tensor diff = x.sub(y);
    return diff.mul(diff).sum(1).clamp_min(Tensors.scalar(1e-12)).sqrt();
  }
}
