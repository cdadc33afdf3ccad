package org.reid4j.model;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * DenseNet-BC 121 and 169 (Huang et al. 2017) with torchvision's parameter names, so its ImageNet
 * state dicts load by name (without the classifier {@code classifier.*}): everything lives under
 * {@code features}:
 *
 * <ul>
 *   <li>the stem {@code conv0} (7x7, stride 2) - {@code norm0} - ReLU - 3x3 stride-2 max-pool;
 *   <li>{@code denseblock1} .. {@code denseblock4} of 6/12/24/16 (121) or 6/12/32/32 (169) layers
 *       {@code denselayerL}: BN {@code norm1} - ReLU - 1x1 {@code conv1} to 4 x 32 channels - BN
 *       {@code norm2} - ReLU - 3x3 {@code conv2} to the growth rate 32, its output concatenated to
 *       its input;
 *   <li>{@code transition1} .. {@code transition3} after blocks 1-3: BN {@code norm} - ReLU - 1x1
 *       {@code conv} halving the channels - 2x2 stride-2 average pool;
 *   <li>{@code norm5}, then ReLU (torchvision applies it in forward, after the features).
 * </ul>
 *
 * 64 stem channels; output widths 1024 (121) and 1664 (169). BatchNorm is PyTorch's default (eps
 * 1e-5, momentum 0.1); convs are bias-free.
 *
 * <p>Output stride 32 on ImageNet. With {@code lastStride} 1, transition3 keeps its norm, ReLU and
 * conv but leaves out its average pool (it has no parameters, so the weights are unchanged): output
 * stride 16 and denseblock4 runs at twice the resolution, as ReID's last stride 1 does for a ResNet's
 * layer4.
 *
 * <p>For MODEL.FREEZE_STAGES the stem is conv0/norm0 and stage i is denseblock i with transition i
 * (stage 4: denseblock4 with norm5), so freezing all 4 freezes the whole backbone.
 */
public final class DenseNet extends Backbone {
  private static final int GROWTH = 32;
  private static final int BN_SIZE = 4;
  private static final int INIT_FEATURES = 64;

  private final Module features;
  private final Conv2d conv0;
  private final BatchNorm2dImpl norm0;
  private final List<DenseBlock> blocks = new ArrayList<>();
  /** transition1..3; the last one pools only when lastStride is 2. */
  private final List<Transition> transitions = new ArrayList<>();
  private final BatchNorm2dImpl norm5;
  private final int outChannels;
  private final int lastStride;

  private DenseNet(String arch, int inChannels, int[] blockConfig, int lastStride) {
    super(arch);
    if (lastStride != 1 && lastStride != 2)
      throw new IllegalArgumentException("last stride must be 1 or 2, got " + lastStride);
    if (inChannels < 1) throw new IllegalArgumentException("input channels must be positive, got " + inChannels);
    this.lastStride = lastStride;
    features = register_module("features", new Module("Sequential"));
    conv0 = features.register_module("conv0", new Conv2d(inChannels, INIT_FEATURES, 7, 2, 3));
    norm0 = features.register_module("norm0", Norms.bn2d(INIT_FEATURES));
    int channels = INIT_FEATURES;
    for (int i = 0; i < blockConfig.length; i++) {
      blocks.add(features.register_module("denseblock" + (i + 1), new DenseBlock(blockConfig[i], channels)));
      channels += blockConfig[i] * GROWTH;
      if (i < blockConfig.length - 1) {
        boolean pool = i < blockConfig.length - 2 || lastStride == 2;
        transitions.add(features.register_module("transition" + (i + 1), new Transition(channels, channels / 2,
            pool)));
        channels /= 2;
      }
    }
    norm5 = features.register_module("norm5", Norms.bn2d(channels));
    outChannels = channels;
  }

  /** arch: densenet121 | densenet169. */
  public static DenseNet create(String arch, int inChannels, int lastStride) {
    return switch (arch) {
      case "densenet121" -> new DenseNet(arch, inChannels, new int[] {6, 12, 24, 16}, lastStride);
      case "densenet169" -> new DenseNet(arch, inChannels, new int[] {6, 12, 32, 32}, lastStride);
      default -> throw new IllegalArgumentException("unknown DenseNet '" + arch + "': expected densenet121 or densenet169");
    };
  }

  @Override
  public Tensor forward(Tensor x) {
    x = norm0.forward(conv0.forward(x)).relu_();
    x = torch.max_pool2d(x, new long[] {3, 3}, new long[] {2, 2}, new long[] {1, 1}, new long[] {1, 1}, false);
    for (int i = 0; i < blocks.size(); i++) {
      x = blocks.get(i).forward(x);
      if (i < transitions.size()) x = transitions.get(i).forward(x);
    }
    return norm5.forward(x).relu_();
  }

  @Override
  public int outChannels() {
    return outChannels;
  }

  @Override
  public int outputStride() {
    return 16 * lastStride;
  }

  @Override
  public int numStages() {
    return blocks.size();
  }

  /** conv0 and norm0 (the stem), then denseblock i with transition i for i = 1..n (norm5 with stage 4). */
  @Override
  public List<Module> stemAndStages(int n) {
    checkStages(n);
    List<Module> out = new ArrayList<>();
    if (n == 0) return out;
    out.add(conv0);
    out.add(norm0);
    for (int i = 0; i < n; i++) {
      out.add(blocks.get(i));
      out.add(i < transitions.size() ? transitions.get(i) : norm5);
    }
    return out;
  }

  /** One dense block: denselayer1..L, each adding GROWTH channels to the running concatenation. */
  static final class DenseBlock extends Module {
    private final List<DenseLayer> layers = new ArrayList<>();

    DenseBlock(int numLayers, int inChannels) {
      super("DenseBlock");
      for (int l = 0; l < numLayers; l++)
        layers.add(register_module("denselayer" + (l + 1), new DenseLayer(inChannels + l * GROWTH)));
    }

    Tensor forward(Tensor x) {
      for (DenseLayer layer : layers) x = torch.cat(new TensorVector(x, layer.forward(x)), 1);
      return x;
    }
  }

  /** The bottleneck layer: norm1 - ReLU - conv1 (1x1, BN_SIZE x GROWTH) - norm2 - ReLU - conv2 (3x3, GROWTH). */
  static final class DenseLayer extends Module {
    private final BatchNorm2dImpl norm1;
    private final Conv2d conv1;
    private final BatchNorm2dImpl norm2;
    private final Conv2d conv2;

    DenseLayer(int in) {
      super("DenseLayer");
      norm1 = register_module("norm1", Norms.bn2d(in));
      conv1 = register_module("conv1", new Conv2d(in, BN_SIZE * GROWTH, 1, 1, 0));
      norm2 = register_module("norm2", Norms.bn2d(BN_SIZE * GROWTH));
      conv2 = register_module("conv2", new Conv2d(BN_SIZE * GROWTH, GROWTH, 3, 1, 1));
    }

    /** x [N, in, H, W] -> the new features [N, GROWTH, H, W]. */
    Tensor forward(Tensor x) {
      Tensor y = conv1.forward(norm1.forward(x).relu_());
      return conv2.forward(norm2.forward(y).relu_());
    }
  }

  /** norm - ReLU - conv (1x1) - 2x2 stride-2 average pool (left out when {@code pool} is false). */
  static final class Transition extends Module {
    private final BatchNorm2dImpl norm;
    private final Conv2d conv;
    private final boolean pool;

    Transition(int in, int out, boolean pool) {
      super("Transition");
      norm = register_module("norm", Norms.bn2d(in));
      conv = register_module("conv", new Conv2d(in, out, 1, 1, 0));
      this.pool = pool;
    }

    Tensor forward(Tensor x) {
      Tensor y = conv.forward(norm.forward(x).relu_());
      return pool ? torch.avg_pool2d(y, new long[] {2, 2}, new long[] {2, 2}, new long[] {0, 0}, false, true,
          new LongOptional()) : y;
    }
  }
}
