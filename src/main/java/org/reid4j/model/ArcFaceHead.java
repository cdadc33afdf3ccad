package org.reid4j.model;

import org.bytedeco.pytorch.Tensor;

/**
 * ArcFace (additive angular margin, Deng et al. 2019), the standard (not "easy margin") form: the
 * target logit becomes s * cos(theta + m) where theta + m stays below pi, i.e. where cos(theta) > th =
 * cos(pi - m); beyond it the monotone fallback s * (cos(theta) - mm) with mm = sin(pi - m) * m.
 * Other classes: s * cos(theta). Cost: one [N, C] cosine matrix.
 */
public final class ArcFaceHead extends Head {
  private final double s;
  private final AngularMargin margin;

  public ArcFaceHead(int inFeatures, int numClasses, double scale, double margin) {
    super("ArcFace", inFeatures, numClasses);
    this.s = scale;
    this.margin = new AngularMargin(margin);
  }

  public double scale() {
    return s;
  }

  public double margin() {
    return margin.m;
  }

  @Override
  public Tensor forward(Tensor feat, Tensor labelsOrNull) {
    Tensor cos = cosine(feat);
    if (labelsOrNull == null) return cos.mul(Tensors.scalar(s));
    Tensor idx = column(labelsOrNull, feat.size(0));
    Tensor target = cos.gather(1, idx);
    Tensor phi = margin.targetLogit(target, margin.cosPlusMargin(target));
    return cos.scatter(1, idx, phi).mul(Tensors.scalar(s));
  }

  @Override
  public boolean needsLabels() {
    return true;
  }
}
