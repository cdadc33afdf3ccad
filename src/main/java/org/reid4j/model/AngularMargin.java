package org.reid4j.model;

import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The additive angular margin that ArcFace and CurricularFace apply to the target cosine: cos(theta + m)
 * while theta + m stays below pi (cos(theta) > th = cos(pi - m)), beyond it the monotone fallback
 * cos(theta) - mm with mm = sin(pi - m) * m.
 */
final class AngularMargin {
  final double m;
  private final double cosM;
  private final double sinM;
  private final double th;
  private final double mm;

  AngularMargin(double margin) {
    this.m = margin;
    this.cosM = Math.cos(margin);
    this.sinM = Math.sin(margin);
    this.th = Math.cos(Math.PI - margin);
    this.mm = Math.sin(Math.PI - margin) * margin;
  }

  /** cos(theta + m) from cos(theta), elementwise. */
  Tensor cosPlusMargin(Tensor target) {
    Tensor sine = target.mul(target).neg().add(Tensors.scalar(1.0))
        .clamp(new ScalarOptional(Tensors.scalar(0)), new ScalarOptional(Tensors.scalar(1)))
        .sqrt();
    return target.mul(Tensors.scalar(cosM)).sub(sine.mul(Tensors.scalar(sinM)));
  }

  /** The target logit (before the scale): cos(theta + m), or the fallback past th. */
  Tensor targetLogit(Tensor target, Tensor cosPlusMargin) {
    return torch.where(target.gt(Tensors.scalar(th)), cosPlusMargin, target.sub(Tensors.scalar(mm)));
  }
}
