package org.reid4j.model;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * CurricularFace (Huang et al. 2020): the target logit is ArcFace's cos(theta + m) (with the same
 * th/mm fallback); a non-target cosine c that exceeds the sample's cos(theta_y + m) — a hard negative —
 * becomes c * (t + c), where t is an adaptive estimate of the mean target cosine: before each training
 * forward with labels, t <- 0.01 * mean(cos(theta_y)) + 0.99 * t, with no gradient through t. Entry
 * "t" (buffer, shape [1], initially 0). All logits are multiplied by s.
 */
public final class CurricularFaceHead extends Head {
  /** Momentum of t's running estimate. */
  public static final double T_MOMENTUM = 0.01;

  private final double s;
  private final AngularMargin margin;
  private final Tensor t;

  public CurricularFaceHead(int inFeatures, int numClasses, double scale, double margin) {
    super("CurricularFace", inFeatures, numClasses);
    this.s = scale;
    this.margin = new AngularMargin(margin);
    this.t = Tensors.own(register_buffer("t", Tensors.zeros(Tensors.CPU, 1)));
  }

  /** The current adaptive t (a host copy). */
  public double t() {
    return t.cpu().item_double();
  }

  @Override
  public Tensor forward(Tensor feat, Tensor labelsOrNull) {
    Tensor cos = cosine(feat);
    if (labelsOrNull == null) return cos.mul(Tensors.scalar(s));
    Tensor idx = column(labelsOrNull, feat.size(0));
    Tensor target = cos.gather(1, idx);
    Tensor cosThetaM = margin.cosPlusMargin(target);
    Tensor finalTarget = margin.targetLogit(target, cosThetaM);
    if (is_training()) {
      try (NoGradGuard g = new NoGradGuard()) {
        Tensor next = target.detach().mean().mul(Tensors.scalar(T_MOMENTUM))
            .add(t.mul(Tensors.scalar(1 - T_MOMENTUM)));
        t.copy_(next.view(1));
      }
    }
    Tensor tNow = t.detach();
    Tensor hard = cos.gt(cosThetaM.detach());
    Tensor adjusted = torch.where(hard, cos.mul(cos.add(tNow)), cos);
    return adjusted.scatter(1, idx, finalTarget).mul(Tensors.scalar(s));
  }

  @Override
  public boolean needsLabels() {
    return true;
  }
}
