package org.reid4j.model;

import org.bytedeco.pytorch.BatchNorm1dImpl;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.BatchNormOptions;
import org.bytedeco.pytorch.InstanceNorm2dImpl;
import org.bytedeco.pytorch.InstanceNormOptions;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * Normalisation layers with PyTorch defaults (eps 1e-5, momentum 0.1, affine, running statistics):
 * state-dict entries weight, bias, running_mean, running_var, num_batches_tracked. libtorch
 * initialises weight to 1 and bias to 0, the reference's BN init.
 */
final class Norms {
  private Norms() {}

  static BatchNorm2dImpl bn2d(long channels) {
    return new BatchNorm2dImpl(new BatchNormOptions(channels));
  }

  static BatchNorm1dImpl bn1d(long channels) {
    return new BatchNorm1dImpl(new BatchNormOptions(channels));
  }

  /** A 2-D norm: plain BatchNorm2d, or IBN-a's half-instance/half-batch norm when {@code ibn}. */
  static Module norm2d(long channels, boolean ibn) {
    return ibn ? new Ibn(channels) : bn2d(channels);
  }

  static Tensor forward(Module norm, Tensor x) {
    if (norm instanceof Ibn i) return i.forward(x);
    if (norm instanceof BatchNorm2dImpl b) return b.forward(x);
    throw new IllegalStateException("not a 2-D norm: " + norm.getClass().getName());
  }

  /**
   * IBN-Net's "a" norm: the first {@code half = channels / 2} channels go through an affine
   * InstanceNorm2d (no running statistics; entries IN.weight, IN.bias), the rest through a
   * BatchNorm2d (entries BN.*), and the halves are concatenated again.
   */
  static final class Ibn extends Module {
    private final long half;
    private final long rest;
    private final InstanceNorm2dImpl in;
    private final BatchNorm2dImpl bn;

    Ibn(long channels) {
      super("IBN");
      this.half = channels / 2;
      this.rest = channels - half;
      InstanceNormOptions o = new InstanceNormOptions(half);
      o.affine().put(true);
      o.track_running_stats().put(false);
      this.in = register_module("IN", new InstanceNorm2dImpl(o));
      this.bn = register_module("BN", bn2d(rest));
    }

    Tensor forward(Tensor x) {
      Tensor a = in.forward(x.narrow(1, 0, half).contiguous());
      Tensor b = bn.forward(x.narrow(1, half, rest).contiguous());
      return org.bytedeco.pytorch.global.torch.cat(new org.bytedeco.pytorch.TensorVector(a, b), 1);
    }
  }
}
