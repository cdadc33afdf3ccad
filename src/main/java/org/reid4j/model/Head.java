package org.reid4j.model;

import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A classifier over identities with one weight matrix, entry "weight" [numClasses, inFeatures],
 * initialised normal(0, 0.001) as BoT's classifier. Subclasses: the bias-free linear layer and the
 * margin heads ({@link ArcFaceHead}, {@link CosFaceHead}, {@link CurricularFaceHead}), whose logits are
 * s * cos(feature, class weight) with a margin on the target class when labels are given.
 */
public abstract class Head extends Module {
  protected final Tensor weight;
  protected final int numClasses;
  protected final int inFeatures;

  protected Head(String name, int inFeatures, int numClasses) {
    super(name);
    if (numClasses < 1 || inFeatures < 1)
      throw new IllegalArgumentException("head needs positive sizes, got " + numClasses + " classes x "
          + inFeatures + " features");
    this.numClasses = numClasses;
    this.inFeatures = inFeatures;
    this.weight = Tensors.own(register_parameter("weight", Tensors.empty(Tensors.CPU, numClasses, inFeatures)));
    try (NoGradGuard g = new NoGradGuard()) {
      weight.normal_(0.0, 0.001, new GeneratorOptional());
    }
  }

  public Tensor weight() {
    return weight;
  }

  public int numClasses() {
    return numClasses;
  }

  /**
   * feat [N, inFeatures], labels int64 [N] or null -> logits [N, numClasses]. Margin heads apply their
   * margin exactly when labels are given; without labels they return the plain scaled cosines.
   */
  public abstract Tensor forward(Tensor feat, Tensor labelsOrNull);

  /** Whether the head needs labels in training (the margin heads). */
  public abstract boolean needsLabels();

  /** Builds a head by name: linear | arcface | cosface | curricularface. */
  public static Head create(String kind, int inFeatures, int numClasses, double scale, double margin) {
    return switch (kind) {
      case "linear" -> new LinearHead(inFeatures, numClasses);
      case "arcface" -> new ArcFaceHead(inFeatures, numClasses, scale, margin);
      case "cosface" -> new CosFaceHead(inFeatures, numClasses, scale, margin);
      case "curricularface" -> new CurricularFaceHead(inFeatures, numClasses, scale, margin);
      default -> throw new IllegalArgumentException("unknown head '" + kind
          + "': expected linear, arcface, cosface or curricularface");
    };
  }

  /** cos(feat_i, w_j) [N, C]: both L2-normalised, clamped to [-1, 1]. */
  protected Tensor cosine(Tensor feat) {
    Tensor f = torch.normalize(feat);
    Tensor w = torch.normalize(weight);
    return torch.linear(f, w).clamp(new org.bytedeco.pytorch.ScalarOptional(Tensors.scalar(-1)),
        new org.bytedeco.pytorch.ScalarOptional(Tensors.scalar(1)));
  }

  /** labels [N] -> [N, 1] int64 for gather/scatter, checking the range. */
  protected Tensor column(Tensor labels, long n) {
    if (labels.dim() != 1 || labels.size(0) != n)
      throw new IllegalArgumentException("labels must be [" + n + "], got " + Tensors.shapeString(labels));
    return labels.to(torch.ScalarType.Long).view(n, 1);
  }

  /** The bias-free linear classifier: logits = feat W^T. */
  public static final class LinearHead extends Head {
    public LinearHead(int inFeatures, int numClasses) {
      super("Linear", inFeatures, numClasses);
    }

    @Override
    public Tensor forward(Tensor feat, Tensor labelsOrNull) {
      return torch.linear(feat, weight);
    }

    @Override
    public boolean needsLabels() {
      return false;
    }
  }
}
