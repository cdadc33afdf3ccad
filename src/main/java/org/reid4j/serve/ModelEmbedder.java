package org.reid4j.serve;

import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.reid4j.config.TrainConfig;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.model.ReidModel;

/**
 * An {@link Embedder} over a reid4j {@link ReidModel}: the pooled feature ({@link Feature#BEFORE}
 * the BNNeck, BoT's triplet feature) or the BNNeck's output ({@link Feature#AFTER}, BoT's default
 * test feature), computed in eval mode without autograd. Each {@link #embed} call runs inside its own
 * {@link PointerScope}, so the native tensors of a batch are freed when it returns; the pixels go
 * through one reusable native buffer. The batch runs on the device of the model's parameters (CPU or
 * CUDA): the pixels are copied there and the features copied back.
 *
 * <p>The constructor switches the model to eval mode (BatchNorm uses its running statistics). The
 * embedder owns the model only when built with {@code owned = true} (as {@link ModelLoader} does);
 * then {@link #close()} frees it.
 */
public final class ModelEmbedder implements Embedder {

  /** Which feature {@link #embed} returns. */
  public enum Feature {
    /** Global pooling (and reduction) output, before the BNNeck. */
    BEFORE,
    /** The BNNeck's output; needs MODEL.NECK bnneck. */
    AFTER;

    /** "before" | "after" (any case). */
    public static Feature parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "before" -> BEFORE;
        case "after" -> AFTER;
        default -> throw new IllegalArgumentException("feature '" + s + "' is not one of before, after (the BNNeck)");
      };
    }
  }

  private final ReidModel model;
  private final boolean owned;
  private final Feature feature;
  private final int[] inputSize;
  private final double[] mean;
  private final double[] std;
  private final String name;
  private final InputBuffer input = new InputBuffer();
  private final org.bytedeco.pytorch.Device device;
  private boolean closed;

  /**
   * @param inputSize {height, width} at scale 1.0 (INPUT.SIZE_TEST)
   * @param mean per-channel pixel means, one per model input channel (INPUT.PIXEL_MEAN)
   * @param std per-channel pixel standard deviations (INPUT.PIXEL_STD)
   * @param featureOrNull which feature to return; null = the model's MODEL.NECK_FEAT
   * @param owned whether {@link #close()} frees the model
   * @param name what to call the model in messages (e.g. "checkpoint runs/x/best.pt")
   * @throws IllegalArgumentException on inconsistent sizes, or AFTER for a model without a BNNeck
   */
  public ModelEmbedder(ReidModel model, int[] inputSize, double[] mean, double[] std, Feature featureOrNull,
      boolean owned, String name) {
    if (inputSize.length != 2 || inputSize[0] < 1 || inputSize[1] < 1)
      throw new IllegalArgumentException("input size must be {height, width} > 0, got " + java.util.Arrays.toString(inputSize));
    if (mean.length != model.inChannels() || std.length != model.inChannels())
      throw new IllegalArgumentException("the model takes " + model.inChannels() + "-channel images but "
          + mean.length + " pixel means and " + std.length + " standard deviations were given");
    Feature f = featureOrNull != null ? featureOrNull : Feature.parse(model.spec().neckFeat());
    if (featureOrNull == null && model.neck() == null) f = Feature.BEFORE; // ReidModel.embed's rule
    if (f == Feature.AFTER && model.neck() == null)
      throw new IllegalArgumentException("the feature after the BNNeck was asked for, but " + name
          + " has no neck (MODEL.NECK none): use the feature before it");
    this.model = model;
    this.owned = owned;
    this.feature = f;
    this.inputSize = inputSize.clone();
    this.mean = mean.clone();
    this.std = std.clone();
    this.name = name;
    this.device = model.head().weight().device();
    model.eval();
  }

  /** An embedder over a model built from cfg: input size, mean and std from cfg's INPUT group; not owned. */
  public static ModelEmbedder of(ReidModel model, TrainConfig cfg, Feature featureOrNull) {
    TrainConfig.Input in = cfg.input();
    return new ModelEmbedder(model, in.sizeTest(), in.pixelMean(), in.pixelStd(), featureOrNull, false,
        "model " + model.spec().backbone());
  }

  public ReidModel model() {
    return model;
  }

  public Feature feature() {
    return feature;
  }

  @Override
  public int dim() {
    return model.featureDim();
  }

  @Override
  public int channels() {
    return model.inChannels();
  }

  @Override
  public int[] inputSize() {
    return inputSize.clone();
  }

  @Override
  public double[] pixelMean() {
    return mean.clone();
  }

  @Override
  public double[] pixelStd() {
    return std.clone();
  }

  @Override
  public FloatMatrix embed(float[] images, int n, int h, int w) {
    if (closed) throw new IllegalStateException(this + " is closed");
    Embedder.checkInput(this, images, n, h, w);
    int d = dim();
    if (n == 0) return new FloatMatrix(0, d, new float[0]);
    input.put(images);
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      Tensor x = input.tensor(n, channels(), h, w);
      if (!device.is_cpu()) x = x.to(device, x.scalar_type(), false, false, new org.bytedeco.pytorch.MemoryFormatOptional());
      Tensor f = model.features(x);
      if (feature == Feature.AFTER) f = model.neck().forward(f);
      return InputBuffer.toMatrix(f, n, d); // copied out before the scope frees the tensor
    } catch (IllegalArgumentException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(this + " failed on a [" + n + ", " + channels() + ", " + h + ", " + w
          + "] batch: " + firstLine(e), e);
    }
  }

  /** Frees the native buffer, and the model when owned. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    input.close();
    if (owned) model.close();
  }

  @Override
  public String toString() {
    return name + ": " + model.spec().backbone() + ", " + channels() + (channels() == 1 ? " channel, " : " channels, ")
        + dim() + "-d feature " + feature.name().toLowerCase(Locale.ROOT) + " the neck";
  }

  static String firstLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }
}
