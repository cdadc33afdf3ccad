package org.reid4j.train;

import java.util.List;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/**
 * MODEL.FREEZE_STAGES = N: the backbone's stem and first N stages ({@link
 * org.reid4j.model.Backbone#stemAndStages}) stay as they were built or loaded for the whole run.
 * Their parameters get {@code requires_grad = false} before the optimiser is built, so no gradient
 * reaches them and the optimiser does not hold them: no moments, no weight decay (Adam's coupled L2
 * term is added to a gradient, which they never have), hence bit-identical weights. Their BatchNorm
 * layers are kept in eval mode ({@link #keepInEval} after every {@code model.train(true)}), so the
 * running statistics do not move either and the frozen stages compute the same function in training
 * as in evaluation. N = 0 freezes nothing.
 *
 * <p>Independent of SOLVER.FREEZE_BACKBONE_EPOCHS, which freezes the rest of the backbone for the first
 * epochs with trainable BN statistics; stages frozen here are never unfrozen by it.
 */
final class FrozenStages {
  private final List<Module> modules;
  private final int tensors;

  /** Freezes the stem and the first n stages of the model's backbone (n validated by the backbone). */
  FrozenStages(ReidModel model, int n) {
    this.modules = model.backbone().stemAndStages(n);
    int count = 0;
    for (Module m : modules)
      for (Tensor t : Tensors.namedParameters(m).values()) {
        t.requires_grad_(false);
        count++;
      }
    this.tensors = count;
  }

  /** Puts the frozen modules back into eval mode; call after every {@code model.train(true)}. */
  void keepInEval() {
    for (Module m : modules) m.train(false);
  }

  boolean any() {
    return !modules.isEmpty();
  }

  /** Parameter tensors frozen. */
  int tensors() {
    return tensors;
  }
}
