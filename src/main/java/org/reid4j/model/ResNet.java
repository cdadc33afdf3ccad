package org.reid4j.model;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * ResNet-18/34 (BasicBlock) and ResNet-50/101 (Bottleneck, stride on the 3x3 conv as torchvision
 * v1.5) with torchvision's parameter names: conv1, bn1, layer1..layer4 of blocks "0", "1", ...,
 * each with conv1/bn1/conv2/bn2[/conv3/bn3] and, where the shape changes, downsample.0 (1x1 conv)
 * and downsample.1 (BN). No classifier ({@code fc}) — the ReID head replaces it.
 *
 * <p>{@code lastStride} is the stride of layer4's first block and its downsample: 1 (the BoT trick,
 * output stride 16, a 16x8 map at 256x128) or 2 (ImageNet's, output stride 32). With {@code ibn}, the
 * first norm of every block in layers 1-3 is IBN-a's half InstanceNorm / half BatchNorm
 * (bn1.IN.weight, bn1.IN.bias, bn1.BN.*), as in IBN-Net's resnet*_ibn_a; the stem and layer4 keep BN.
 *
 * <p>Cost at 256x128, last stride 1: ResNet-50 ~ 6 GFLOP forward per image, 23.5 M parameters.
 */
public final class ResNet extends Backbone {
  private final Conv2d conv1;
  private final BatchNorm2dImpl bn1;
  private final List<Block> blocks = new ArrayList<>();
  /**
   * The layerN containers. A module made in Java calls back into Java for its virtual functions
   * (train(), to(), ...), so its Java object must stay reachable as long as the C++ parent holds it:
   * an unreferenced container is collected and the next model.train() fails with a
   * NullPointerException inside libtorch.
   */
  private final List<Module> layerModules = new ArrayList<>();
  private final int outChannels;
  private final int lastStride;

  private ResNet(String arch, int inChannels, boolean bottleneck, int[] layers, int lastStride, boolean ibn) {
    super(arch);
    if (lastStride != 1 && lastStride != 2)
      throw new IllegalArgumentException("last stride must be 1 or 2, got " + lastStride);
    if (inChannels < 1) throw new IllegalArgumentException("input channels must be positive, got " + inChannels);
    this.lastStride = lastStride;
    conv1 = register_module("conv1", new Conv2d(inChannels, 64, 7, 2, 3));
    bn1 = register_module("bn1", Norms.bn2d(64));
    int expansion = bottleneck ? 4 : 1;
    int inplanes = 64;
    int[] planes = {64, 128, 256, 512};
    int[] strides = {1, 2, 2, lastStride};
    for (int l = 0; l < 4; l++) {
      Module layer = register_module("layer" + (l + 1), new Module("Sequential"));
      layerModules.add(layer);
      boolean blockIbn = ibn && l < 3;
      for (int b = 0; b < layers[l]; b++) {
        int stride = b == 0 ? strides[l] : 1;
        Block block = bottleneck
            ? new Bottleneck(inplanes, planes[l], stride, blockIbn)
            : new BasicBlock(inplanes, planes[l], stride, blockIbn);
        layer.register_module(Integer.toString(b), block);
        blocks.add(block);
        inplanes = planes[l] * expansion;
      }
    }
    outChannels = inplanes;
  }

  /** arch: resnet18 | resnet34 | resnet50 | resnet101. */
  public static ResNet create(String arch, int inChannels, int lastStride, boolean ibn) {
    return switch (arch) {
      case "resnet18" -> new ResNet(arch, inChannels, false, new int[] {2, 2, 2, 2}, lastStride, ibn);
      case "resnet34" -> new ResNet(arch, inChannels, false, new int[] {3, 4, 6, 3}, lastStride, ibn);
      case "resnet50" -> new ResNet(arch, inChannels, true, new int[] {3, 4, 6, 3}, lastStride, ibn);
      case "resnet101" -> new ResNet(arch, inChannels, true, new int[] {3, 4, 23, 3}, lastStride, ibn);
      default -> throw new IllegalArgumentException("unknown ResNet '" + arch
          + "': expected resnet18, resnet34, resnet50 or resnet101");
    };
  }

  @Override
  public Tensor forward(Tensor x) {
    x = bn1.forward(conv1.forward(x)).relu_();
    x = torch.max_pool2d(x, new long[] {3, 3}, new long[] {2, 2}, new long[] {1, 1}, new long[] {1, 1}, false);
    for (Block b : blocks) x = b.forward(x);
    return x;
  }

  @Override
  public int outChannels() {
    return outChannels;
  }

  @Override
  public int numStages() {
    return 4;
  }

  /** conv1 and bn1 (the stem; its max-pool has no state), then layer1..layerN. */
  @Override
  public List<Module> stemAndStages(int n) {
    checkStages(n);
    List<Module> out = new ArrayList<>();
    if (n == 0) return out;
    out.add(conv1);
    out.add(bn1);
    out.addAll(layerModules.subList(0, n));
    return out;
  }

  @Override
  public int outputStride() {
    return 16 * lastStride;
  }

  /** A residual block. */
  abstract static class Block extends Module {
    protected Conv2d downsampleConv;
    private Module downsample; // kept reachable: see ResNet#layerModules
    protected BatchNorm2dImpl downsampleBn;

    Block(String name) {
      super(name);
    }

    /** Registers downsample.0 / downsample.1 when the identity path changes shape. */
    protected void maybeDownsample(int inplanes, int outplanes, int stride) {
      if (stride == 1 && inplanes == outplanes) return;
      Module ds = downsample = register_module("downsample", new Module("Sequential"));
      downsampleConv = ds.register_module("0", new Conv2d(inplanes, outplanes, 1, stride, 0));
      downsampleBn = ds.register_module("1", Norms.bn2d(outplanes));
    }

    protected Tensor identity(Tensor x) {
      if (downsampleConv == null) return x;
      return downsampleBn.forward(downsampleConv.forward(x));
    }

    abstract Tensor forward(Tensor x);
  }

  /** torchvision's BasicBlock: 3x3 (stride) - norm - relu - 3x3 - BN, plus identity, relu. */
  static final class BasicBlock extends Block {
    private final Conv2d conv1;
    private final Module bn1;
    private final Conv2d conv2;
    private final BatchNorm2dImpl bn2;

    BasicBlock(int inplanes, int planes, int stride, boolean ibn) {
      super("BasicBlock");
      conv1 = register_module("conv1", new Conv2d(inplanes, planes, 3, stride, 1));
      bn1 = register_module("bn1", Norms.norm2d(planes, ibn));
      conv2 = register_module("conv2", new Conv2d(planes, planes, 3, 1, 1));
      bn2 = register_module("bn2", Norms.bn2d(planes));
      maybeDownsample(inplanes, planes, stride);
    }

    @Override
    Tensor forward(Tensor x) {
      Tensor out = Norms.forward(bn1, conv1.forward(x)).relu_();
      out = bn2.forward(conv2.forward(out));
      return out.add_(identity(x)).relu_();
    }
  }

  /** torchvision's Bottleneck (v1.5): 1x1 - norm - relu - 3x3 (stride) - BN - relu - 1x1 (x4) - BN. */
  static final class Bottleneck extends Block {
    private final Conv2d conv1;
    private final Module bn1;
    private final Conv2d conv2;
    private final BatchNorm2dImpl bn2;
    private final Conv2d conv3;
    private final BatchNorm2dImpl bn3;

    Bottleneck(int inplanes, int planes, int stride, boolean ibn) {
      super("Bottleneck");
      conv1 = register_module("conv1", new Conv2d(inplanes, planes, 1, 1, 0));
      bn1 = register_module("bn1", Norms.norm2d(planes, ibn));
      conv2 = register_module("conv2", new Conv2d(planes, planes, 3, stride, 1));
      bn2 = register_module("bn2", Norms.bn2d(planes));
      conv3 = register_module("conv3", new Conv2d(planes, planes * 4L, 1, 1, 0));
      bn3 = register_module("bn3", Norms.bn2d(planes * 4L));
      maybeDownsample(inplanes, planes * 4, stride);
    }

    @Override
    Tensor forward(Tensor x) {
      Tensor out = Norms.forward(bn1, conv1.forward(x)).relu_();
      out = bn2.forward(conv2.forward(out)).relu_();
      out = bn3.forward(conv3.forward(out));
      return out.add_(identity(x)).relu_();
    }
  }
}
