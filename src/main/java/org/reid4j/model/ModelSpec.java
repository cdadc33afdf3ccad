package org.reid4j.model;

import java.util.Locale;

/**
 * What {@link ReidModel#build} composes: the MODEL group of the training config, field for field
 * (see TrainConfig.Model), so the model package can be built and tested on its own.
 *
 * @param backbone one of {@link #BACKBONES}
 * @param lastStride 1 (BoT) or 2: the stride of the last down-sampling stage (ResNet layer4's first
 *     block, EfficientNet features.6's first block, DenseNet transition3's pool)
 * @param ibn IBN-a norms in ResNet layers 1-3 (ResNets only; refused for EfficientNet and DenseNet)
 * @param pretrainPath a torchvision/timm style state dict to load into the backbone ("" = none)
 * @param pooling avg | max | gem
 * @param gemP GeM's initial p (learnable)
 * @param neck bnneck | none
 * @param neckFeat before | after: the feature {@link ReidModel#embed} returns
 * @param head linear | arcface | cosface | curricularface
 * @param headScale s of the margin heads
 * @param headMargin m of the margin heads (radians for arcface/curricularface, cosine for cosface)
 * @param dropout dropout probability before the head (0 = none)
 * @param embedDim small_cnn: its output width (0 -> 128); the others: 0 = backbone width, else a
 *     bias-free linear reduction to this width after pooling
 */
public record ModelSpec(String backbone, int lastStride, boolean ibn, String pretrainPath, String pooling,
    double gemP, String neck, String neckFeat, String head, double headScale, double headMargin,
    double dropout, int embedDim) {

  /** The backbones {@link Backbone#create} builds (MODEL.BACKBONE's choices). */
  public static final java.util.List<String> BACKBONES = java.util.List.of("small_cnn", "resnet18", "resnet34",
      "resnet50", "resnet101", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
      "efficientnet_b4", "densenet121", "densenet169");

  public ModelSpec {
    backbone = lower(backbone, "backbone");
    pooling = lower(pooling, "pooling");
    neck = lower(neck, "neck");
    neckFeat = lower(neckFeat, "neckFeat");
    head = lower(head, "head");
    if (pretrainPath == null) pretrainPath = "";
    require(backbone, "backbone", BACKBONES.toArray(String[]::new));
    require(pooling, "pooling", "avg", "max", "gem");
    require(neck, "neck", "bnneck", "none");
    require(neckFeat, "neckFeat", "before", "after");
    require(head, "head", "linear", "arcface", "cosface", "curricularface");
    if (lastStride != 1 && lastStride != 2)
      throw new IllegalArgumentException("model lastStride must be 1 or 2, got " + lastStride);
    if (ibn && !ibnAllowed(backbone))
      throw new IllegalArgumentException(ibnRefusal(backbone));
    if (!(dropout >= 0 && dropout < 1))
      throw new IllegalArgumentException("model dropout must be in [0, 1), got " + dropout);
    if (embedDim < 0) throw new IllegalArgumentException("model embedDim must be >= 0, got " + embedDim);
    if (!(gemP > 0)) throw new IllegalArgumentException("model gemP must be positive, got " + gemP);
    if (!(headScale > 0)) throw new IllegalArgumentException("model headScale must be positive, got " + headScale);
  }

  /** The spec of a training config's MODEL group (device is the trainer's concern and not kept here). */
  public static ModelSpec from(org.reid4j.config.TrainConfig.Model m) {
    return new ModelSpec(m.backbone(), m.lastStride(), m.ibn(), m.pretrainPath(), m.pooling(), m.gemP(), m.neck(),
        m.neckFeat(), m.head(), m.headScale(), m.headMargin(), m.dropout(), m.embedDim());
  }

  /** BoT's choices (last stride 1, avg pooling, BNNeck, feature after the neck, linear head) on a backbone. */
  public static ModelSpec defaults(String backbone) {
    return new ModelSpec(backbone, 1, false, "", "avg", 3.0, "bnneck", "after", "linear", 30.0, 0.5, 0.0, 0);
  }

  public ModelSpec withLastStride(int s) {
    return new ModelSpec(backbone, s, ibn, pretrainPath, pooling, gemP, neck, neckFeat, head, headScale,
        headMargin, dropout, embedDim);
  }

  public ModelSpec withIbn(boolean v) {
    return new ModelSpec(backbone, lastStride, v, pretrainPath, pooling, gemP, neck, neckFeat, head, headScale,
        headMargin, dropout, embedDim);
  }

  public ModelSpec withPooling(String p) {
    return new ModelSpec(backbone, lastStride, ibn, pretrainPath, p, gemP, neck, neckFeat, head, headScale,
        headMargin, dropout, embedDim);
  }

  public ModelSpec withNeck(String n, String feat) {
    return new ModelSpec(backbone, lastStride, ibn, pretrainPath, pooling, gemP, n, feat, head, headScale,
        headMargin, dropout, embedDim);
  }

  public ModelSpec withHead(String h, double scale, double margin) {
    return new ModelSpec(backbone, lastStride, ibn, pretrainPath, pooling, gemP, neck, neckFeat, h, scale,
        margin, dropout, embedDim);
  }

  public ModelSpec withDropout(double d) {
    return new ModelSpec(backbone, lastStride, ibn, pretrainPath, pooling, gemP, neck, neckFeat, head, headScale,
        headMargin, d, embedDim);
  }

  public ModelSpec withEmbedDim(int e) {
    return new ModelSpec(backbone, lastStride, ibn, pretrainPath, pooling, gemP, neck, neckFeat, head, headScale,
        headMargin, dropout, e);
  }

  public ModelSpec withPretrainPath(String p) {
    return new ModelSpec(backbone, lastStride, ibn, p, pooling, gemP, neck, neckFeat, head, headScale,
        headMargin, dropout, embedDim);
  }

  /**
   * Whether MODEL.IBN may be true for a backbone: IBN-a is a ResNet variant, and EfficientNet/DenseNet
   * have none (small_cnn ignores the key, as it always has).
   */
  private static boolean ibnAllowed(String backbone) {
    return !backbone.startsWith("efficientnet_") && !backbone.startsWith("densenet");
  }

  /** Why MODEL.IBN is refused for a backbone. */
  private static String ibnRefusal(String backbone) {
    return "MODEL.IBN (IBN-a norms) is for the ResNet backbones only; " + backbone + " has no IBN-a variant:"
        + " set MODEL.IBN to false";
  }

  private static String lower(String v, String what) {
    if (v == null) throw new IllegalArgumentException("model " + what + " is missing");
    return v.trim().toLowerCase(Locale.ROOT);
  }

  private static void require(String v, String what, String... allowed) {
    for (String a : allowed) if (a.equals(v)) return;
    throw new IllegalArgumentException("model " + what + " '" + v + "' is not one of " + String.join(", ", allowed));
  }
}
