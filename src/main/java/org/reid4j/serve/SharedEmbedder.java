package org.reid4j.serve;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntConsumer;
import org.reid4j.data.FloatImage;

/**
 * An {@link Embedder} that any number of threads may call: each image is prepared on the calling
 * thread ({@link Extractor.Pipeline#prepare}: resize, normalise, every scale), then queued; a
 * {@link MicroBatcher} runs the queued images through the network together, on its one thread, so
 * the embedder itself is only ever used by one thread and concurrent callers share forward passes.
 * {@link #close} stops the batcher and closes the embedder.
 */
public final class SharedEmbedder implements AutoCloseable {
  private final Embedder embedder;
  private final Extractor.Pipeline pipeline;
  private final MicroBatcher<float[], float[]> batcher;

  /**
   * @param options the test-time options of {@link Extractor} (flip, scales, normalisation)
   * @param maxBatch, maxWaitMicros, capacity as {@link MicroBatcher}'s
   * @param batchObserver told each forward pass's image count (metrics); may be null
   */
  public SharedEmbedder(Embedder embedder, Extractor.Options options, int maxBatch, long maxWaitMicros, int capacity,
      IntConsumer batchObserver) {
    this.embedder = embedder;
    this.pipeline = new Extractor.Pipeline(embedder, options);
    this.batcher = new MicroBatcher<>("embed", maxBatch, maxWaitMicros, capacity, this::run, batchObserver);
  }

  /** The wrapped embedder (use it only through this object). */
  public Embedder embedder() {
    return embedder;
  }

  /** Images waiting for a forward pass. */
  public int queued() {
    return batcher.queued();
  }

  /**
   * Queues a decoded image; the future completes with its feature ({@link Embedder#dim()} values).
   *
   * @throws IllegalArgumentException when the image's channel count is not the embedder's
   * @throws MicroBatcher.QueueFullException when {@code capacity} images are waiting already
   */
  public CompletableFuture<float[]> submit(FloatImage image) {
    return batcher.submit(pipeline.prepare(image));
  }

  private List<float[]> run(List<float[]> prepared) {
    int n = prepared.size(), per = pipeline.preparedLength(), d = embedder.dim();
    float[] x = new float[n * per];
    for (int i = 0; i < n; i++) System.arraycopy(prepared.get(i), 0, x, i * per, per);
    float[] f = pipeline.embed(x, n);
    List<float[]> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) out.add(Arrays.copyOfRange(f, i * d, (i + 1) * d));
    return out;
  }

  /** Answers the queued images (waiting up to {@code timeoutMillis}), then closes the embedder. */
  public void close(long timeoutMillis) {
    batcher.close(timeoutMillis);
    embedder.close();
  }

  @Override
  public void close() {
    close(10_000);
  }
}
