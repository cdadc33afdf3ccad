package org.reid4j.model;

import org.bytedeco.pytorch.Tensor;

/**
 * CosFace / AM-Softmax (Wang et al. 2018): logits s * (cos(theta_j) - m [j == label]).
 */
public final class CosFaceHead extends Head {
  private final double s;
  private final double m;

  public CosFaceHead(int inFeatures, int numClasses, double scale, double margin) {
    super("CosFace", inFeatures, numClasses);
    this.s = scale;
    this.m = margin;
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
    Tensor target = cos.gather(1, idx).sub(Tensors.scalar(m));
    return cos.scatter(1, idx, target).mul(Tensors.scalar(s));
  }

  @Override
  public boolean needsLabels() {
    return true;
  }
}
