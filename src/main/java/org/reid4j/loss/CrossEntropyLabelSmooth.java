package org.reid4j.loss;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.model.Tensors;

/**
 * Cross-entropy with label smoothing (Szegedy et al. 2016; BoT's ID loss): the target distribution
 * is (1 - epsilon) * onehot(y) + epsilon / C, and the loss is the batch mean of
 * -sum_j target_j * log_softmax(logits)_j. epsilon 0 is plain cross-entropy.
 */
public final class CrossEntropyLabelSmooth {
  private final int numClasses;
  private final double epsilon;

  public CrossEntropyLabelSmooth(int numClasses, double epsilon) {
    if (numClasses < 1) throw new IllegalArgumentException("numClasses must be positive, got " + numClasses);
    if (!(epsilon >= 0 && epsilon < 1))
      throw new IllegalArgumentException("label smoothing epsilon must be in [0, 1), got " + epsilon);
    this.numClasses = numClasses;
    this.epsilon = epsilon;
  }

  public double epsilon() {
    return epsilon;
  }

  /** logits [N, C], targets int64 [N] with values in [0, C) -> scalar loss. */
  public Tensor forward(Tensor logits, Tensor targets) {
    if (logits.dim() != 2 || logits.size(1) != numClasses)
      throw new IllegalArgumentException("logits must be [N, " + numClasses + "], got "
          + Tensors.shapeString(logits));
    if (targets.dim() != 1 || targets.size(0) != logits.size(0))
      throw new IllegalArgumentException("targets must be [" + logits.size(0) + "], got "
          + Tensors.shapeString(targets));
    Tensor logProbs = torch.log_softmax(logits, 1);
    Tensor oneHot = torch.one_hot(targets.to(torch.ScalarType.Long), numClasses).to(logProbs.scalar_type());
    Tensor target = oneHot.mul(Tensors.scalar(1 - epsilon)).add(Tensors.scalar(epsilon / numClasses));
    return target.mul(logProbs).neg().mean(0).sum();
  }
}
