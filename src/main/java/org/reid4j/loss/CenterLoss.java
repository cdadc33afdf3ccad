package org.reid4j.loss;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.model.Tensors;

/**
 * Center loss (Wen et al. 2016) as in BoT: a learnable centre per class (entry "centers" [C, D],
 * initialised standard normal) and the loss sum_i clamp(|x_i - c_{y_i}|^2, 1e-12, 1e12) / N, the
 * batch mean of the squared distance to the sample's own centre. The distances come from explicit
 * differences of the N gathered centres (O(N D)); BoT's masked [N, C] distance matrix adds (C - 1) *
 * 1e-12 per row from clamping the masked zeros, which is left out here. The trainer gives the centres
 * their own SGD optimiser and scales their gradient by 1 / CENTER_WEIGHT, as BoT does.
 */
public final class CenterLoss extends Module {
  private final int numClasses;
  private final int featDim;
  private final Tensor centers;

  public CenterLoss(int numClasses, int featDim) {
    super("CenterLoss");
    if (numClasses < 1 || featDim < 1)
      throw new IllegalArgumentException("center loss needs positive sizes, got " + numClasses + " x " + featDim);
    this.numClasses = numClasses;
    this.featDim = featDim;
    this.centers = new Tensor(register_parameter("centers", Tensors.randn(Tensors.CPU, numClasses, featDim)));
  }

  public Tensor centers() {
    return centers;
  }

  /** feats [N, D], targets int64 [N] -> scalar loss. */
  public Tensor forward(Tensor feats, Tensor targets) {
    if (feats.dim() != 2 || feats.size(1) != featDim)
      throw new IllegalArgumentException("feats must be [N, " + featDim + "], got " + Tensors.shapeString(feats));
    if (targets.dim() != 1 || targets.size(0) != feats.size(0))
      throw new IllegalArgumentException("targets must be [" + feats.size(0) + "], got "
          + Tensors.shapeString(targets));
    Tensor c = centers.index_select(0, targets.to(torch.ScalarType.Long));
    Tensor diff = feats.sub(c);
    Tensor dist = diff.mul(diff).sum(1).clamp(new ScalarOptional(Tensors.scalar(1e-12)),
        new ScalarOptional(Tensors.scalar(1e12)));
    return dist.sum().div(Tensors.scalar(feats.size(0)));
  }

  public int numClasses() {
    return numClasses;
  }
}
