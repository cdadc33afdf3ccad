package org.reid4j.model;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * The CPU quick-start network for small grey images (Fashion-MNIST, 28x28x1): four conv3x3-BN-ReLU
 * stages of widths 32, 64 (stride 2), 128 (stride {@code lastStride}) and {@code outChannels}, so a
 * 28x28 input gives a 7x7 map with last stride 2 and 14x14 with last stride 1 (BoT's trick, at about
 * twice the compute). About 0.3 M parameters at 128 output channels; ~1,000 images/s forward+backward
 * on two cores. Entries conv1.weight, bn1.*, ..., conv4.weight, bn4.*. For partial freezing
 * (MODEL.FREEZE_STAGES) conv1/bn1 is the stem and conv2..conv4 with their BN are stages 1..3.
 */
public final class SmallCnn extends Backbone {
  private final List<Conv2d> convs = new ArrayList<>();
  private final List<BatchNorm2dImpl> bns = new ArrayList<>();
  private final int outChannels;
  private final int lastStride;

  public SmallCnn(int inChannels, int outChannels) {
    this(inChannels, outChannels, 2);
  }

  public SmallCnn(int inChannels, int outChannels, int lastStride) {
    super("SmallCnn");
    if (inChannels < 1 || outChannels < 1)
      throw new IllegalArgumentException("small_cnn needs positive channels, got in " + inChannels + ", out "
          + outChannels);
    if (lastStride != 1 && lastStride != 2)
      throw new IllegalArgumentException("small_cnn last stride must be 1 or 2, got " + lastStride);
    this.outChannels = outChannels;
    this.lastStride = lastStride;
    int[] widths = {32, 64, 128, outChannels};
    int[] strides = {1, 2, lastStride, 1};
    int in = inChannels;
    for (int i = 0; i < widths.length; i++) {
      convs.add(register_module("conv" + (i + 1), new Conv2d(in, widths[i], 3, strides[i], 1)));
      bns.add(register_module("bn" + (i + 1), Norms.bn2d(widths[i])));
      in = widths[i];
    }
  }

  @Override
  public Tensor forward(Tensor x) {
    for (int i = 0; i < convs.size(); i++) x = bns.get(i).forward(convs.get(i).forward(x)).relu_();
    return x;
  }

  @Override
  public int outChannels() {
    return outChannels;
  }

  @Override
  public int numStages() {
    return convs.size() - 1;
  }

  @Override
  public List<org.bytedeco.pytorch.Module> stemAndStages(int n) {
    checkStages(n);
    List<org.bytedeco.pytorch.Module> out = new ArrayList<>();
    for (int i = 0; i < (n == 0 ? 0 : n + 1); i++) {
      out.add(convs.get(i));
      out.add(bns.get(i));
    }
    return out;
  }

  @Override
  public int outputStride() {
    return 2 * lastStride;
  }
}
