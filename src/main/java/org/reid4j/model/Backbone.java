package org.reid4j.model;

import java.util.List;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A convolutional feature extractor: images [N, C, H, W] -> feature maps [N, outChannels, h, w].
 * Parameter names follow torchvision where the architecture exists there, so its state dicts map
 * one to one (without the classifier: {@code fc.*} of a ResNet, {@code classifier.*} of an
 * EfficientNet or DenseNet).
 */
public abstract class Backbone extends Module {
  protected Backbone(String name) {
    super(name);
  }

  /** images [N, C, H, W] -> feature map [N, outChannels(), h, w]. */
  public abstract Tensor forward(Tensor images);

  /** Channels of the output feature map. */
  public abstract int outChannels();

  /** Total down-sampling factor from input to output (e.g. 16 for a ResNet with last stride 1). */
  public abstract int outputStride();

  /**
   * The stages after the stem that partial freezing counts (MODEL.FREEZE_STAGES): 4 for a ResNet
   * (layer1..layer4), 3 for small_cnn (conv2..conv4 with their BN; conv1/bn1 is its stem), 7 for an
   * EfficientNet (features.1..7), 4 for a DenseNet (denseblock1..4 with their transitions).
   */
  public abstract int numStages();

  /**
   * The modules of the stem and the first {@code n} stages, input side first; empty for n = 0 (the
   * stem is frozen with stage 1). {@code n} must be in [0, {@link #numStages()}].
   */
  public abstract List<Module> stemAndStages(int n);

  /** Refuses an n outside [0, numStages()], naming the config key. */
  protected final void checkStages(int n) {
    if (n < 0 || n > numStages())
      throw new IllegalArgumentException("MODEL.FREEZE_STAGES must be in [0, " + numStages() + "] for this backbone "
          + "(the stem plus up to " + numStages() + " stages), got " + n);
  }

  /** Builds the backbone a spec names. */
  public static Backbone create(ModelSpec spec, int inChannels) {
    return switch (spec.backbone()) {
      case "small_cnn" -> new SmallCnn(inChannels, spec.embedDim() > 0 ? spec.embedDim() : 128, spec.lastStride());
      case "resnet18", "resnet34", "resnet50", "resnet101" ->
          ResNet.create(spec.backbone(), inChannels, spec.lastStride(), spec.ibn());
      case "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4" ->
          EfficientNet.create(spec.backbone(), inChannels, spec.lastStride());
      case "densenet121", "densenet169" -> DenseNet.create(spec.backbone(), inChannels, spec.lastStride());
      default -> throw new IllegalArgumentException("unknown backbone '" + spec.backbone() + "': expected one of "
          + String.join(", ", ModelSpec.BACKBONES));
    };
  }
}
