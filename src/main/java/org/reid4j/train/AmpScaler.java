package org.reid4j.train;

import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.kernels.NativeApi;
import org.reid4j.model.Tensors;

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
   * Dense float32 CUDA gradients go through one multi-tensor kernel ({@code r4j_cuda_unscale_grads})
   * where reid4j's library has its CUDA kernels (and {@code REID4J_ADAM_KERNELS} is not 0); otherwise a multiplication per gradient and one
   * finiteness check over all of them.
   */
  Tensor unscale(List<Tensor> grads) {
    if (grads.isEmpty()) throw new IllegalStateException("no gradients to unscale: was backward() called?");
    if (MultiTensorAdam.kernelsTake(grads, false)) {
      Tensor found = Tensors.zeros(grads.get(0).device());
      long[] ptrs = new long[grads.size()], numel = new long[grads.size()];
      for (int i = 0; i < ptrs.length; i++) {
        ptrs[i] = Tensors.address(grads.get(i));
        numel[i] = grads.get(i).numel();
      }
      int rc = NativeApi.r4j_cuda_unscale_grads(ptrs.length, ptrs, numel, (float) (1.0 / scale),
          Tensors.address(found), Devices.currentStream(grads.get(0).device()));
      if (rc != NativeApi.R4J_OK)
        throw new IllegalStateException("unscaling the gradients on the device failed: " + NativeApi.r4j_last_error().getString());
      return found;
    }
    Scalar inv = new Scalar(1.0 / scale);
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
