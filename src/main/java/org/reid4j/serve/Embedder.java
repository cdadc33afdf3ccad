package org.reid4j.serve;

import org.reid4j.data.Batch;
import org.reid4j.kernels.FloatMatrix;

/**
 * A network that turns preprocessed images into one feature vector each: the inference half of a
 * model, whatever engine runs it ({@link ModelEmbedder} for reid4j's own {@link org.reid4j.model.ReidModel},
 * {@link TorchScriptEmbedder} for a TorchScript file trained elsewhere). The embedder also says how
 * its images must be prepared ({@link #inputSize}, {@link #pixelMean}, {@link #pixelStd});
 * {@link Extractor} does that preparation and the batching.
 *
 * <p>Not thread-safe: call {@link #embed} from one thread at a time. {@link #close} frees the native
 * model where the embedder owns it.
 */
public interface Embedder extends AutoCloseable {

  /** Feature width D of {@link #embed}'s rows. */
  int dim();

  /** Image channels the network takes (1 grey, 3 RGB). */
  int channels();

  /** The {height, width} images are resized to at scale 1.0 (a new array). */
  int[] inputSize();

  /** Per-channel mean subtracted from [0, 1] pixels (a new array, {@link #channels()} values). */
  double[] pixelMean();

  /** Per-channel standard deviation the centred pixels are divided by (a new array). */
  double[] pixelStd();

  /**
   * Features [n, dim()] of n images already resized and normalised, packed as one NCHW float array
   * ({@code images.length == n * channels() * h * w}). h, w are usually {@link #inputSize()}; networks
   * that end in global pooling accept other sizes too (multi-scale extraction relies on that).
   *
   * @throws IllegalArgumentException for a wrong array length or channel count, or when the network
   *     rejects the input (the message names the model and the input shape)
   */
  FloatMatrix embed(float[] images, int n, int h, int w);

  /** {@link #embed(float[], int, int, int)} of a loader batch; its channel count must be {@link #channels()}. */
  default FloatMatrix embed(Batch batch) {
    if (batch.channels() != channels())
      throw new IllegalArgumentException("the batch has " + batch.channels() + "-channel images but " + this
          + " takes " + channels() + " channels");
    return embed(batch.images(), batch.size(), batch.height(), batch.width());
  }

  /** Frees what the embedder owns; the default owns nothing. */
  @Override
  default void close() {}

  /** Checks embed()'s arguments against the embedder; shared by the implementations. */
  static void checkInput(Embedder e, float[] images, int n, int h, int w) {
    if (n < 0 || h < 1 || w < 1)
      throw new IllegalArgumentException("bad batch shape [" + n + ", " + e.channels() + ", " + h + ", " + w + "]");
    long want = (long) n * e.channels() * h * w;
    if (images.length != want) {
      long perImage = (long) h * w * n;
      String hint = perImage > 0 && images.length % perImage == 0
          ? " (that is " + images.length / perImage + "-channel images; " + e + " takes " + e.channels() + " channels)"
          : "";
      throw new IllegalArgumentException("a batch of " + n + " x " + e.channels() + " x " + h + " x " + w + " needs "
          + want + " values, got " + images.length + hint);
    }
  }
}
