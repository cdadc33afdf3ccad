package org.reid4j.model;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * EfficientNet-B0..B4 (Tan & Le 2019) with torchvision's parameter names, so its ImageNet state dicts
 * load by name (without the classifier {@code classifier.*}):
 *
 * <ul>
 *   <li>{@code features.0}: the stem, 3x3 stride-2 conv ({@code features.0.0}) - BN ({@code .1}) - SiLU;
 *   <li>{@code features.1} .. {@code features.7}: the seven MBConv stages of the paper's Table 1, blocks
 *       {@code features.S.B}; each block is {@code block.0} 1x1 expansion conv-BN-SiLU (absent when
 *       the expansion ratio is 1), then the depthwise kxk conv-BN-SiLU, the squeeze-excitation
 *       ({@code fc1}, {@code fc2}: 1x1 convs with bias, SiLU between, sigmoid gate; squeeze width
 *       max(1, block input / 4)) and the 1x1 projection conv-BN, numbered on from there;
 *   <li>{@code features.8}: the 1x1 head conv-BN-SiLU to 4 x the last stage's width.
 * </ul>
 *
 * <p>B1..B4 scale B0's widths by 1.0/1.1/1.2/1.4 (rounded to a multiple of 8, never more than 10%
 * down) and its depths by 1.1/1.2/1.4/1.8 (rounded up), as torchvision does; output widths 1280,
 * 1280, 1408, 1536, 1792. BatchNorm is PyTorch's default (eps 1e-5, momentum 0.1), torchvision's choice
 * for B0..B4. A block whose input and output shapes agree adds its input back, its residual branch
 * dropped per sample in training with probability 0.2 x (block index / blocks) (stochastic depth,
 * "row" mode, survivors scaled by 1 / (1 - p)); identity in evaluation.
 *
 * <p>Strides: stem 2, stages 1, 2, 2, 2, 1, 2, 1, so output stride 32 on ImageNet. {@code lastStride}
 * sets the stride of {@code features.6}'s first block (the last down-sampling stage), as ReID's last
 * stride 1 does for layer4 of a ResNet: output stride 16 with last stride 1 (a 16x8 map at 256x128).
 * The parameter shapes do not depend on it.
 *
 * <p>For MODEL.FREEZE_STAGES the stem is {@code features.0} and the stages are {@code features.1} ..
 * {@code features.7}; the head conv {@code features.8} belongs to stage 7, so freezing all 7 stages
 * freezes the whole backbone, as freezing all 4 of a ResNet does.
 */
public final class EfficientNet extends Backbone {
  /**
   * B0's stages (paper, Table 1; torchvision's MBConv settings): expansion ratio, kernel, stride,
   * input width, output width, blocks.
   */
  private static final int[][] B0_STAGES = {
      {1, 3, 1, 32, 16, 1},
      {6, 3, 2, 16, 24, 2},
      {6, 5, 2, 24, 40, 2},
      {6, 3, 2, 40, 80, 3},
      {6, 5, 1, 80, 112, 3},
      {6, 5, 2, 112, 192, 4},
      {6, 3, 1, 192, 320, 1}};
  /** The stage whose stride lastStride replaces: index 5, entry features.6. */
  private static final int LAST_DOWNSAMPLING_STAGE = 5;
  private static final double STOCHASTIC_DEPTH = 0.2;
  private static final long[] HW = {2, 3};

  private final ConvBnAct stem;
  private final ConvBnAct head;
  private final List<MBConv> blocks = new ArrayList<>();
  /** features.1 .. features.7. Kept reachable from Java: see ResNet#layerModules. */
  private final List<Module> stages = new ArrayList<>();
  private final Module features;
  private final int[] depths = new int[B0_STAGES.length];
  private final int outChannels;
  private final int lastStride;

  private EfficientNet(String arch, int inChannels, double widthMult, double depthMult, int lastStride) {
    super(arch);
    if (lastStride != 1 && lastStride != 2)
      throw new IllegalArgumentException("last stride must be 1 or 2, got " + lastStride);
    if (inChannels < 1) throw new IllegalArgumentException("input channels must be positive, got " + inChannels);
    this.lastStride = lastStride;
    features = register_module("features", new Module("Sequential"));
    int stemWidth = roundWidth(B0_STAGES[0][3] * widthMult);
    stem = features.register_module("0", new ConvBnAct(inChannels, stemWidth, 3, 2, 1, true));
    int total = 0;
    for (int[] s : B0_STAGES) total += roundDepth(s[5], depthMult);
    int index = 0;
    int in = stemWidth;
    for (int si = 0; si < B0_STAGES.length; si++) {
      int[] s = B0_STAGES[si];
      int out = roundWidth(s[4] * widthMult);
      int stageStride = si == LAST_DOWNSAMPLING_STAGE ? lastStride : s[2];
      Module stage = features.register_module(Integer.toString(si + 1), new Module("Sequential"));
      stages.add(stage);
      depths[si] = roundDepth(s[5], depthMult);
      for (int b = 0; b < depths[si]; b++) {
        MBConv block = new MBConv(in, out, s[0], s[1], b == 0 ? stageStride : 1,
            STOCHASTIC_DEPTH * index / total);
        stage.register_module(Integer.toString(b), block);
        blocks.add(block);
        in = out;
        index++;
      }
    }
    outChannels = 4 * in;
    head = features.register_module(Integer.toString(B0_STAGES.length + 1), new ConvBnAct(in, outChannels, 1, 1, 1,
        true));
  }

  /** arch: efficientnet_b0 .. efficientnet_b4 (width and depth multipliers of the paper's compound scaling). */
  public static EfficientNet create(String arch, int inChannels, int lastStride) {
    return switch (arch) {
      case "efficientnet_b0" -> new EfficientNet(arch, inChannels, 1.0, 1.0, lastStride);
      case "efficientnet_b1" -> new EfficientNet(arch, inChannels, 1.0, 1.1, lastStride);
      case "efficientnet_b2" -> new EfficientNet(arch, inChannels, 1.1, 1.2, lastStride);
      case "efficientnet_b3" -> new EfficientNet(arch, inChannels, 1.2, 1.4, lastStride);
      case "efficientnet_b4" -> new EfficientNet(arch, inChannels, 1.4, 1.8, lastStride);
      default -> throw new IllegalArgumentException("unknown EfficientNet '" + arch
          + "': expected efficientnet_b0, efficientnet_b1, efficientnet_b2, efficientnet_b3 or efficientnet_b4");
    };
  }

  /**
   * A width scaled by the multiplier, rounded to the nearest multiple of 8 (at least 8) and raised by 8
   * where rounding lost more than 10%: the MobileNet/EfficientNet channel rule.
   */
  static int roundWidth(double v) {
    int r = Math.max(8, (int) (v + 4) / 8 * 8);
    return r < 0.9 * v ? r + 8 : r;
  }

  /** A depth scaled by the multiplier, rounded up. */
  static int roundDepth(int blocks, double depthMult) {
    return (int) Math.ceil(blocks * depthMult);
  }

  @Override
  public Tensor forward(Tensor x) {
    x = stem.forward(x);
    for (MBConv b : blocks) x = b.forward(x);
    return head.forward(x);
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
    return B0_STAGES.length;
  }

  /** features.0 (the stem), then features.1 .. features.n; features.8 (the head conv) with stage 7. */
  @Override
  public List<Module> stemAndStages(int n) {
    checkStages(n);
    List<Module> out = new ArrayList<>();
    if (n == 0) return out;
    out.add(stem);
    out.addAll(stages.subList(0, n));
    if (n == numStages()) out.add(head);
    return out;
  }

  /** Blocks per stage (features.1 .. features.7). */
  int[] stageDepths() {
    return depths.clone();
  }

  /**
   * torchvision's Conv2dNormActivation without a conv bias: entries {@code 0.weight} (the conv) and
   * {@code 1.*} (BN), then SiLU when {@code silu}.
   */
  static final class ConvBnAct extends Module {
    private final Conv2d conv;
    private final BatchNorm2dImpl bn;
    private final boolean silu;

    /** groups: 1 for a dense conv, the channel count for a depthwise one; padding keeps "same" size at stride 1. */
    ConvBnAct(long in, long out, int kernel, int stride, int groups, boolean silu) {
      super("ConvBnAct");
      conv = register_module("0", new Conv2d(in, out, kernel, stride, (kernel - 1) / 2, groups, false));
      bn = register_module("1", Norms.bn2d(out));
      this.silu = silu;
    }

    Tensor forward(Tensor x) {
      Tensor y = bn.forward(conv.forward(x));
      return silu ? torch.silu(y) : y;
    }
  }

  /** Squeeze-excitation: global average -> fc1 (1x1 conv, bias) -> SiLU -> fc2 -> sigmoid, times the input. */
  static final class SqueezeExcitation extends Module {
    private final Conv2d fc1;
    private final Conv2d fc2;

    SqueezeExcitation(long channels, long squeeze) {
      super("SqueezeExcitation");
      fc1 = register_module("fc1", new Conv2d(channels, squeeze, 1, 1, 0, 1, true));
      fc2 = register_module("fc2", new Conv2d(squeeze, channels, 1, 1, 0, 1, true));
    }

    Tensor forward(Tensor x) {
      Tensor s = x.mean(HW, true, new ScalarTypeOptional());
      return x.mul(fc2.forward(torch.silu(fc1.forward(s))).sigmoid());
    }
  }

  /** The inverted-residual block with squeeze-excitation (entries block.0 .. block.3, see the class comment). */
  static final class MBConv extends Module {
    private final Module block; // kept reachable: see ResNet#layerModules
    private final ConvBnAct expand; // null when the expansion ratio is 1
    private final ConvBnAct depthwise;
    private final SqueezeExcitation se;
    private final ConvBnAct project;
    private final boolean residual;
    private final double dropProb;

    MBConv(int in, int out, int expandRatio, int kernel, int stride, double dropProb) {
      super("MBConv");
      this.residual = stride == 1 && in == out;
      this.dropProb = dropProb;
      int expanded = roundWidth((double) in * expandRatio);
      block = register_module("block", new Module("Sequential"));
      int i = 0;
      expand = expanded == in ? null
          : block.register_module(Integer.toString(i++), new ConvBnAct(in, expanded, 1, 1, 1, true));
      depthwise = block.register_module(Integer.toString(i++),
          new ConvBnAct(expanded, expanded, kernel, stride, expanded, true));
      se = block.register_module(Integer.toString(i++), new SqueezeExcitation(expanded, Math.max(1, in / 4)));
      project = block.register_module(Integer.toString(i), new ConvBnAct(expanded, out, 1, 1, 1, false));
    }

    Tensor forward(Tensor x) {
      Tensor y = expand == null ? x : expand.forward(x);
      y = project.forward(se.forward(depthwise.forward(y)));
      if (!residual) return y;
      if (is_training() && dropProb > 0) {
        double keep = 1 - dropProb;
        Tensor mask = y.new_empty(y.size(0), 1, 1, 1).bernoulli_(keep, new GeneratorOptional())
            .div_(Tensors.scalar(keep));
        y = y.mul(mask);
      }
      return y.add_(x);
    }
  }
}
