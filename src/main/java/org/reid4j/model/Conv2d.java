package org.reid4j.model;

import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * A square 2-D convolution with torchvision's entries {@code weight} [out, in / groups, k, k] and,
 * when asked for, {@code bias} [out], evaluated through the functional {@code conv2d}. Written as its
 * own module rather than {@code Conv2dImpl} so stride and padding are plain Java arrays (no
 * LongPointer option pitfalls). The weight is initialised Kaiming-normal with fan_out and ReLU gain,
 * std = sqrt(2 / (out * k * k)) (PyTorch's fan_out ignores groups), the bias to zero: the init
 * torchvision's ResNet and EfficientNet use.
 */
public final class Conv2d extends Module {
  private final Tensor weight;
  private final Tensor bias;
  private final long[] stride;
  private final long[] padding;
  private final long groups;
  private static final long[] DILATION = {1, 1};

  /** A bias-free, ungrouped convolution. */
  public Conv2d(long in, long out, int kernel, int stride, int padding) {
    this(in, out, kernel, stride, padding, 1, false);
  }

  /** groups must divide in and out (groups = in = out: depthwise); bias adds the {@code bias} entry. */
  public Conv2d(long in, long out, int kernel, int stride, int padding, int groups, boolean bias) {
    super("Conv2d");
    if (groups < 1 || in % groups != 0 || out % groups != 0)
      throw new IllegalArgumentException("conv groups " + groups + " must divide in " + in + " and out " + out);
    this.weight = Tensors.own(register_parameter("weight",
        Tensors.empty(Tensors.CPU, out, in / groups, kernel, kernel)));
    this.bias = bias ? Tensors.own(register_parameter("bias", Tensors.zeros(Tensors.CPU, out))) : null;
    this.stride = new long[] {stride, stride};
    this.padding = new long[] {padding, padding};
    this.groups = groups;
    try (NoGradGuard g = new NoGradGuard()) {
      weight.normal_(0.0, Math.sqrt(2.0 / (out * (double) kernel * kernel)), new GeneratorOptional());
    }
  }

  public Tensor weight() {
    return weight;
  }

  public int stride() {
    return (int) stride[0];
  }

  /** x [N, in, H, W] -> [N, out, H', W']. */
  public Tensor forward(Tensor x) {
    return torch.conv2d(x, weight, bias == null ? Tensors.none() : new TensorOptional(bias), stride, padding,
        DILATION, groups);
  }
}
