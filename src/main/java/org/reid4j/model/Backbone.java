package org.reid4j.model;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A convolutional feature extractor: images [N, C, H, W] -> feature maps [N, outChannels, h, w].
 * Parameter names follow torchvision where the architecture exists there, so its state dicts map
 * one to one (without the classifier {@code fc.*}).
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

  /** Builds the backbone a spec names. */
  public static Backbone create(ModelSpec spec, int inChannels) {
    return switch (spec.backbone()) {
      case "small_cnn" -> new SmallCnn(inChannels, spec.embedDim() > 0 ? spec.embedDim() : 128, spec.lastStride());
      case "resnet18", "resnet34", "resnet50", "resnet101" ->
          ResNet.create(spec.backbone(), inChannels, spec.lastStride(), spec.ibn());
      default -> throw new IllegalArgumentException("unknown backbone '" + spec.backbone()
          + "': expected small_cnn, resnet18, resnet34, resnet50 or resnet101");
    };
  }
}
