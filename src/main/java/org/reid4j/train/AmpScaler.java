package org.reid4j.train;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Mixed precision for CUDA: float16 autocast around the forward pass and dynamic loss scaling.
 * libtorch's C++ API has no GradScaler, so this is a small one with PyTorch's defaults: scale the
 * loss by S (initially 2^16), unscale the gradients on the device, skip the optimiser step and halve
 * S when any gradient is not finite, double S after 2,000 steps without one.
 *
 * <p>The non-finite check runs on the device ({@link #unscale} returns a 0-dim tensor, 1 when some
 * gradient overflowed); the trainer reads it together with the step's losses, in the one host copy of
 * the step. Autocast's weight cache is switched off: libtorch only clears it when asked, which the
 * bindings cannot, and a stale float16 copy of a weight would survive the optimiser step.
 */
final class AmpScaler {
  private static final int GROWTH_INTERVAL = 2000;
  private double scale = 65536.0;
  private int goodSteps;
  private long skipped;

  /** Closes autocast on close. */
  interface Autocast extends AutoCloseable {
    @Override
    void close();
  }

  Autocast autocast() {
    torch.set_autocast_cache_enabled(false);
    torch.set_autocast_dtype(torch.DeviceType.CUDA, torch.ScalarType.Half);
    torch.set_autocast_enabled(torch.DeviceType.CUDA, true);
    return () -> torch.set_autocast_enabled(torch.DeviceType.CUDA, false);
  }

  double scale() {
    return scale;
  }

  /** Steps skipped so far because a gradient was not finite. */
  long skippedSteps() {
    return skipped;
  }

  Tensor scale(Tensor loss) {
    return loss.mul(new Scalar(scale));
  }

  /**
   * Divides every gradient by S in place and returns a 0-dim float tensor on the gradients' device:
   * 1 when some gradient holds a NaN or an infinity (then do not step), else 0. No synchronisation.
   */
  Tensor unscale(Optimizer... optimizers) {
    Scalar inv = new Scalar(1.0 / scale);
    List<Tensor> grads = new ArrayList<>();
    for (Optimizer opt : optimizers) {
      if (opt == null) continue;
      for (long g = 0; g < opt.param_groups().size(); g++) {
        TensorVector params = opt.param_groups().get(g).params();
        for (long i = 0; i < params.size(); i++) {
          Tensor grad = params.get(i).grad();
          if (grad.defined()) grads.add(grad);
        }
      }
    }
    if (grads.isEmpty()) throw new IllegalStateException("no gradients to unscale: was backward() called?");
    TensorVector flat = new TensorVector();
    for (Tensor grad : grads) {
      grad.mul_(inv);
      flat.push_back(grad.reshape(-1).to(torch.ScalarType.Float));
    }
    // One check over all gradients at once.
    return torch.isfinite(torch.cat(flat)).all().logical_not().to(torch.ScalarType.Float);
  }

  /** After the step's host copy: whether the step was taken (no overflow) updates S. */
  void update(boolean stepped) {
    if (!stepped) {
      scale = Math.max(1.0, scale / 2);
      goodSteps = 0;
      skipped++;
    } else if (++goodSteps % GROWTH_INTERVAL == 0) {
      scale *= 2;
    }
  }
}
