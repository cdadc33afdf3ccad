package org.reid4j.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * ArcFace (additive angular margin, Deng et al. 2019), the standard (not "easy margin") form: the
 * target logit becomes s * cos(theta + m) where theta + m stays below pi, i.e. where cos(theta) > th =
 * cos(pi - m); beyond it the monotone fallback s * (cos(theta) - mm) with mm = sin(pi - m) * m.
 * Other classes: s * cos(theta). Cost: one [N, C] cosine matrix.
 */
public final class ArcFaceHead extends Head {
  private final double s;
  private final double m;
  private final double cosM;
  private final double sinM;
  private final double th;
  private final double mm;

  public ArcFaceHead(int inFeatures, int numClasses, double scale, double margin) {
    super("ArcFace", inFeatures, numClasses);
    this.s = scale;
    this.m = margin;
    this.cosM = Math.cos(margin);
    this.sinM = Math.sin(margin);
    this.th = Math.cos(Math.PI - margin);
    this.mm = Math.sin(Math.PI - margin) * margin;
  }

  public double scale() {
    return s;
  }

  public double margin() {
    return m;
  }

  @Override
  public Tensor forward(Tensor feat, Tensor labelsOrNull) {
    Tensor cos = cosine(feat);
    if (labelsOrNull == null) return cos.mul(Tensors.scalar(s));
    Tensor idx = column(labelsOrNull, feat.size(0));
    Tensor target = cos.gather(1, idx);
    Tensor phi = targetLogit(target, cosM, sinM, th, mm);
    return cos.scatter(1, idx, phi).mul(Tensors.scalar(s));
  }

  /** cos(theta + m) where cos(theta) > th, else cos(theta) - mm; shared with CurricularFace. */
  static Tensor targetLogit(Tensor target, double cosM, double sinM, double th, double mm) {
    Tensor sine = Tensors.full(1.0, 1).sub(target.mul(target))
        .clamp(new org.bytedeco.pytorch.ScalarOptional(Tensors.scalar(0)),
            new org.bytedeco.pytorch.ScalarOptional(Tensors.scalar(1)))
        .sqrt();
    Tensor phi = target.mul(Tensors.scalar(cosM)).sub(sine.mul(Tensors.scalar(sinM)));
    return torch.where(target.gt(Tensors.scalar(th)), phi, target.sub(Tensors.scalar(mm)));
  }

  @Override
  public boolean needsLabels() {
    return true;
  }
}
