package org.reid4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.openjdk.jmh.annotations.*;
import org.reid4j.data.Batch;
import org.reid4j.data.FloatImage;

/**
 * What handing one training batch (64 images of 3 x 256 x 128, BoT's batch) to the trainer's native
 * input buffer costs the thread that drives the device: joined into one Java array first and then
 * copied (how the loader and the trainer did it), or each image copied straight into the buffer
 * ({@link Batch#copyImagesTo}, several threads). Time per batch; both variants in the same run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class BatchCopyBenchmark {
  static final int N = 64, C = 3, H = 256, W = 128, PER = C * H * W;
  FloatImage[] images;
  FloatPointer buffer;
  int[] labels;

  @Setup(Level.Trial)
  public void setup() {
    Loader.load(org.bytedeco.javacpp.presets.javacpp.class);
    SplittableRandom r = new SplittableRandom(1);
    images = new FloatImage[N];
    for (int i = 0; i < N; i++) {
      float[] d = new float[PER];
      for (int k = 0; k < PER; k++) d[k] = (float) r.nextDouble();
      images[i] = new FloatImage(C, H, W, d);
    }
    buffer = new FloatPointer((long) N * PER);
    labels = new int[N];
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    buffer.close();
  }

  /** Before: a new NCHW array filled image by image, then copied into the native buffer. */
  @Benchmark
  public float joinThenCopy() {
    float[] joined = new float[N * PER];
    for (int i = 0; i < N; i++) System.arraycopy(images[i].data(), 0, joined, i * PER, PER);
    buffer.position(0).put(joined, 0, joined.length);
    return buffer.get(PER);
  }

  /** Now: each image straight into the buffer. */
  @Benchmark
  public float copyEachImage() {
    Batch b = Batch.of(images, C, H, W, labels, labels, labels);
    b.copyImagesTo(new FloatPointer(buffer).position(0).limit((long) N * PER).asBuffer());
    return buffer.get(PER);
  }
}
