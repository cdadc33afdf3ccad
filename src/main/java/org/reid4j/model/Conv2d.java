package org.reid4j.model;

import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A bias-free square 2-D convolution with one parameter, {@code weight} [out, in, k, k] (torchvision's
 * name), evaluated through the functional {@code conv2d}. Written as its own module rather than
 * {@code Conv2dImpl} so stride and padding are plain Java arrays (no LongPointer option pitfalls).
 * Initialised Kaiming-normal with fan_out and ReLU gain: std = sqrt(2 / (out * k * k)).
 */
public final class Conv2d extends Module {
  private final Tensor weight;
  private final long[] stride;
  private final long[] padding;
  private static final long[] DILATION = {1, 1};

  public Conv2d(long in, long out, int kernel, int stride, int padding) {
    super("Conv2d");
    this.weight = Tensors.own(register_parameter("weight", Tensors.empty(Tensors.CPU, out, in, kernel, kernel)));
    this.stride = new long[] {stride, stride};
    this.padding = new long[] {padding, padding};
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
    return torch.conv2d(x, weight, Tensors.none(), stride, padding, DILATION, 1);
  }
}
