package org.reid4j.train;

import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Mixed precision for CUDA: autocast around the forward pass and dynamic loss scaling (libtorch's
 * C++ API has no GradScaler, so this is a minimal one: scale the loss by S, unscale the gradients,
 * skip the step and halve S when any gradient is not finite, double S after 2,000 good steps).
 *
 * <p>UNTESTED: this machine has no GPU and the CPU natives; the trainer only creates this on CUDA.
 */
final class AmpScaler {
  private static final int GROWTH_INTERVAL = 2000;
  private double scale = 65536.0;
  private int goodSteps;

  /** Closes autocast on close. */
  interface Autocast extends AutoCloseable {
    @Override
    void close();
  }

  Autocast autocast() {
    torch.set_autocast_enabled(torch.DeviceType.CUDA, true);
    return () -> torch.set_autocast_enabled(torch.DeviceType.CUDA, false);
  }

  Tensor scale(Tensor loss) {
    return loss.mul(new Scalar(scale));
  }

  /** Divides every gradient by S; false when one is NaN or infinite (then do not step). */
  boolean unscale(Optimizer... optimizers) {
    boolean finite = true;
    Scalar inv = new Scalar(1.0 / scale);
    for (Optimizer opt : optimizers) {
      if (opt == null) continue;
      for (long g = 0; g < opt.param_groups().size(); g++) {
        TensorVector params = opt.param_groups().get(g).params();
        for (long i = 0; i < params.size(); i++) {
          Tensor grad = params.get(i).grad();
          if (!grad.defined()) continue;
          grad.mul_(inv);
          if (finite && !torch.isfinite(grad).all().item_bool()) finite = false;
        }
      }
    }
    return finite;
  }

  void update(boolean stepped) {
    if (!stepped) {
      scale = Math.max(1.0, scale / 2);
      goodSteps = 0;
    } else if (++goodSteps % GROWTH_INTERVAL == 0) {
      scale *= 2;
    }
  }
}
