package org.reid4j.serve;

import java.io.IOException;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;
import org.reid4j.data.Batch;
import org.reid4j.data.DataLoader;
import org.reid4j.data.Denoise;
import org.reid4j.data.FloatImage;
import org.reid4j.data.ImageSource;
import org.reid4j.data.Transform;
import org.reid4j.data.Transforms;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.report.ProgressLine;

/**
 * Batched feature extraction over an {@link ImageSource} with the test-time preprocessing of the
 * {@link Embedder} (resize to its input size, normalise with its pixel mean / std, as
 * {@link Transforms#test}), plus the usual ReID test-time options:
 * <ul>
 *   <li>denoising: a 3 x 3 median or Gaussian filter ({@link Denoise}) on the decoded image, before
 *       anything else;
 *   <li>rotation TTA: the image is rotated by each of the given multiples of 90 degrees
 *       ({@link Transforms#rotate90}) before resizing, so a non-square image turned by 90 or 270
 *       degrees is resized back to the network's input size (its content squeezed); rotation 0 is the
 *       image as it is;
 *   <li>flip TTA: each view's horizontal mirror is embedded too;
 *   <li>multi-scale: for each scale s the image is resized to round(s * h) x round(s * w) and the
 *       network runs at that size (CNNs ending in global pooling accept any size);
 *   <li>the feature is the mean over every rotation x scale x flip view. (Some contest solutions, e.g.
 *       the DIGIX 2020 runner-up, summed the rotated views' features instead; the sum is the mean times
 *       the number of views, so the two agree after L2 normalisation and the mean keeps the feature's
 *       scale, and distance thresholds, independent of the number of views.)
 *   <li>L2 normalisation of the averaged feature (optional).
 * </ul>
 * Images are decoded and resized by {@link DataLoader} worker threads while the network runs. An
 * image that fails to load (missing, corrupt, empty file) is skipped with one warning on stderr;
 * {@link Result#kept()} lists the source indices of the returned rows, in source order, and
 * {@link Result#skipped()} the others. An image whose channel count differs from the embedder's is
 * an error, not a skip.
 *
 * <p>Cost: (number of rotations) x (number of scales) x (2 with flip) forward passes per image;
 * memory: the feature matrix plus a few decoded batches. A progress line with rate and ETA goes to {@link Options#progress()}
 * every {@link Options#progressSeconds()} seconds.
 */
public final class Extractor {
  private Extractor() {}

  /**
   * Extraction settings.
   *
   * @param batchSize images per forward pass
   * @param workers decoding threads (0 = on the calling thread)
   * @param flip average with the horizontally mirrored image
   * @param scales input scales relative to the embedder's input size (each > 0), averaged
   * @param rotations counter-clockwise rotations in degrees, distinct, each 0, 90, 180 or 270, averaged
   * @param denoise the filter applied to each decoded image first
   * @param normalize L2-normalise each final feature
   * @param rescalePad keep the aspect ratio (pad, then resize) as INPUT.RESCALE_PAD does
   * @param progress where progress lines go (null = silent)
   * @param progressSeconds minimum seconds between progress lines
   */
  public record Options(int batchSize, int workers, boolean flip, double[] scales, int[] rotations, Denoise denoise,
      boolean normalize, boolean rescalePad, PrintStream progress, double progressSeconds) {
    public Options {
      if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
      if (workers < 0) throw new IllegalArgumentException("workers must be >= 0, got " + workers);
      if (scales == null || scales.length == 0) throw new IllegalArgumentException("give at least one scale");
      for (double s : scales)
        if (!(s > 0 && s <= 8)) throw new IllegalArgumentException("scales must be in (0, 8], got " + s);
      scales = scales.clone();
      if (rotations == null || rotations.length == 0) throw new IllegalArgumentException("give at least one rotation");
      rotations = rotations.clone();
      for (int i = 0; i < rotations.length; i++) {
        if (rotations[i] % 90 != 0 || rotations[i] < 0 || rotations[i] >= 360)
          throw new IllegalArgumentException("rotations must be 0, 90, 180 or 270 degrees, got " + rotations[i]);
        for (int j = 0; j < i; j++)
          if (rotations[j] == rotations[i]) throw new IllegalArgumentException("rotation " + rotations[i] + " given twice");
      }
      if (denoise == null) throw new IllegalArgumentException("denoise is null (use Denoise.NONE)");
    }

    /** Batch 64, 2 workers, no flip, scale 1.0, no rotation, no denoising, no normalisation, plain resize, silent. */
    public static Options defaults() {
      return new Options(64, 2, false, new double[] {1.0}, new int[] {0}, Denoise.NONE, false, false, null, 10);
    }

    @Override
    public double[] scales() {
      return scales.clone();
    }

    @Override
    public int[] rotations() {
      return rotations.clone();
    }

    public Options withBatchSize(int b) {
      return new Options(b, workers, flip, scales, rotations, denoise, normalize, rescalePad, progress, progressSeconds);
    }

    public Options withWorkers(int w) {
      return new Options(batchSize, w, flip, scales, rotations, denoise, normalize, rescalePad, progress, progressSeconds);
    }

    public Options withFlip(boolean f) {
      return new Options(batchSize, workers, f, scales, rotations, denoise, normalize, rescalePad, progress, progressSeconds);
    }

    public Options withScales(double... s) {
      return new Options(batchSize, workers, flip, s, rotations, denoise, normalize, rescalePad, progress, progressSeconds);
    }

    /** Counter-clockwise rotations in degrees (0, 90, 180, 270). */
    public Options withRotations(int... degrees) {
      return new Options(batchSize, workers, flip, scales, degrees, denoise, normalize, rescalePad, progress,
          progressSeconds);
    }

    public Options withDenoise(Denoise d) {
      return new Options(batchSize, workers, flip, scales, rotations, d, normalize, rescalePad, progress,
          progressSeconds);
    }

    public Options withNormalize(boolean n) {
      return new Options(batchSize, workers, flip, scales, rotations, denoise, n, rescalePad, progress, progressSeconds);
    }

    public Options withRescalePad(boolean r) {
      return new Options(batchSize, workers, flip, scales, rotations, denoise, normalize, r, progress, progressSeconds);
    }

    public Options withProgress(PrintStream out, double seconds) {
      return new Options(batchSize, workers, flip, scales, rotations, denoise, normalize, rescalePad, out, seconds);
    }
  }

  /**
   * What an extraction produced.
   *
   * @param features [kept.length, dim] in source order of the kept images
   * @param kept source indices of the rows of features
   * @param skipped source indices of images that could not be loaded
   * @param seconds wall time of the extraction
   */
  public record Result(FloatMatrix features, int[] kept, int[] skipped, double seconds) {
    /** Kept images per second. */
    public double imagesPerSecond() {
      return seconds > 0 ? kept.length / seconds : 0;
    }
  }

  /**
   * Features of every loadable image of src.
   *
   * @throws IllegalArgumentException when an image's channel count differs from the embedder's, or the
   *     network rejects the input
   */
  public static Result extract(Embedder embedder, ImageSource src, Options o) {
    long t0 = System.nanoTime();
    Pipeline pipe = new Pipeline(embedder, o);
    int n = src.size(), d = embedder.dim();
    float[] feats = new float[Math.multiplyExact(n, d)];
    int[] keptAll = new int[n];
    int rows = 0;
    Progress progress = new Progress(o.progress(), o.progressSeconds(), n, t0);
    try (DataLoader loader = DataLoader.sequential(new CheckedSource(src, embedder.channels()), o.batchSize(),
        pipe.packed, o.workers())) {
      while (loader.hasNext()) {
        Batch b = loader.next();
        int bn = b.size();
        float[] sum = pipe.embed(b.images(), bn);
        System.arraycopy(sum, 0, feats, rows * d, sum.length);
        System.arraycopy(b.indices(), 0, keptAll, rows, bn);
        rows += bn;
        progress.update(b.indices()[bn - 1] + 1, rows);
      }
    }
    int[] kept = Arrays.copyOf(keptAll, rows);
    int[] skipped = new int[n - rows];
    for (int i = 0, k = 0, s = 0; i < n; i++) {
      if (k < rows && kept[k] == i) k++;
      else skipped[s++] = i;
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    progress.finish(rows, skipped.length, seconds);
    return new Result(new FloatMatrix(rows, d, rows == n ? feats : Arrays.copyOf(feats, rows * d)), kept, skipped,
        seconds);
  }

  /**
   * {@link #extract}'s two halves for images that arrive one at a time (a service): {@link #prepare}
   * turns a decoded image into the network's input for every view (denoised, then each rotation at
   * each scale; thread-safe, run where the image arrived), {@link #embed} runs the forward passes of a
   * batch of prepared images with the view and flip averaging and the normalisation of the options (on
   * the embedder's one thread).
   */
  public static final class Pipeline {
    private final Embedder embedder;
    private final Options options;
    private final int[][] sizes;
    private final int[] offsets;
    final Transform packed;

    public Pipeline(Embedder embedder, Options o) {
      this.embedder = embedder;
      this.options = o;
      int c = embedder.channels(), h0 = embedder.inputSize()[0], w0 = embedder.inputSize()[1];
      double[] scales = o.scales();
      int[][] scaled = new int[scales.length][];
      for (int s = 0; s < scales.length; s++)
        scaled[s] = new int[] {Math.max(1, (int) Math.round(scales[s] * h0)), Math.max(1, (int) Math.round(scales[s] * w0))};
      int views = o.rotations().length * scales.length; // view v: rotation v / scales.length, scale v % scales.length
      sizes = new int[views][];
      offsets = new int[views + 1];
      for (int v = 0; v < views; v++) {
        sizes[v] = scaled[v % scales.length];
        offsets[v + 1] = offsets[v] + c * sizes[v][0] * sizes[v][1];
      }
      packed = packedTransform(embedder, o, scaled, offsets[views]);
    }

    /** Values per prepared image (all views together). */
    public int preparedLength() {
      return offsets[sizes.length];
    }

    /**
     * The image denoised, rotated, resized and normalised for every view, as one array of
     * {@link #preparedLength()} values.
     *
     * @throws IllegalArgumentException when the image's channel count is not the embedder's
     */
    public float[] prepare(FloatImage img) {
      if (img.channels() != embedder.channels())
        throw new IllegalArgumentException("the image has " + img.channels() + " channels, the model takes "
            + embedder.channels());
      return packed.apply(img, null).data();
    }

    /** Features [n, dim] (row-major) of n prepared images packed one after another. */
    public float[] embed(float[] prepared, int n) {
      int c = embedder.channels(), d = embedder.dim(), total = offsets[sizes.length];
      if (prepared.length != (long) n * total)
        throw new IllegalArgumentException(n + " prepared images need " + (long) n * total + " values, got "
            + prepared.length);
      float[] sum = new float[n * d];
      for (int s = 0; s < sizes.length; s++) {
        int hs = sizes[s][0], ws = sizes[s][1], per = offsets[s + 1] - offsets[s];
        float[] x = new float[n * per];
        for (int i = 0; i < n; i++) System.arraycopy(prepared, i * total + offsets[s], x, i * per, per);
        add(sum, embedder.embed(x, n, hs, ws));
        if (options.flip()) add(sum, embedder.embed(mirror(x, n * c * hs, ws), n, hs, ws));
      }
      int passes = sizes.length * (options.flip() ? 2 : 1); // every rotation x scale view, and its flip
      if (passes > 1) for (int k = 0; k < sum.length; k++) sum[k] /= passes;
      if (options.normalize()) l2Normalize(sum, d);
      return sum;
    }
  }

  /**
   * Denoises, then for every rotation turns the image and resizes it to every scale's size (a turned
   * non-square image is resized back to the network's shape) and normalises, concatenating the results
   * into one 1 x 1 x total "image", so a single decode feeds all views and the loader batches them like
   * any image.
   */
  private static Transform packedTransform(Embedder e, Options o, int[][] scaled, int total) {
    Transform norm = Transforms.normalize(e.pixelMean(), e.pixelStd());
    Transform[] resize = new Transform[scaled.length];
    for (int s = 0; s < scaled.length; s++) {
      int h = scaled[s][0], w = scaled[s][1];
      resize[s] = (o.rescalePad() ? Transforms.rescalePad(h, w) : Transforms.resize(h, w)).then(norm);
    }
    int[] rotations = o.rotations();
    Transform[] turn = new Transform[rotations.length];
    for (int r = 0; r < rotations.length; r++) turn[r] = Transforms.rotate90(rotations[r] / 90);
    Transform denoise = o.denoise().transform();
    return (img, rnd) -> {
      FloatImage clean = denoise.apply(img, rnd);
      float[] out = new float[total];
      int at = 0;
      for (Transform t : turn) {
        FloatImage turned = t.apply(clean, rnd);
        for (Transform s : resize) {
          FloatImage r = s.apply(turned, rnd);
          System.arraycopy(r.data(), 0, out, at, r.data().length);
          at += r.data().length;
        }
      }
      return new FloatImage(1, 1, total, out);
    };
  }

  /** Every row of width w reversed (a horizontal flip of NCHW images with rows = N * C * H). */
  static float[] mirror(float[] x, int rows, int w) {
    float[] out = new float[x.length];
    for (int r = 0; r < rows; r++) {
      int base = r * w;
      for (int i = 0; i < w; i++) out[base + i] = x[base + w - 1 - i];
    }
    return out;
  }

  private static void add(float[] sum, FloatMatrix f) {
    float[] v = f.data();
    if (v.length != sum.length)
      throw new IllegalStateException("the embedder returned " + f + ", expected " + sum.length + " values");
    for (int k = 0; k < v.length; k++) sum[k] += v[k];
  }

  /** Divides each row of d values by its L2 norm (rows of zeros stay zero), as torch's F.normalize. */
  static void l2Normalize(float[] rows, int d) {
    for (int r = 0; r < rows.length / d; r++) {
      double ss = 0;
      for (int k = r * d; k < (r + 1) * d; k++) ss += (double) rows[k] * rows[k];
      float inv = (float) (1.0 / Math.max(Math.sqrt(ss), 1e-12));
      for (int k = r * d; k < (r + 1) * d; k++) rows[k] *= inv;
    }
  }

  /** The source, with each image's channel count checked against the network's. */
  private static final class CheckedSource implements ImageSource {
    private final ImageSource src;
    private final int channels;

    CheckedSource(ImageSource src, int channels) {
      this.src = src;
      this.channels = channels;
    }

    @Override
    public FloatImage load(int i) throws IOException {
      FloatImage img = src.load(i);
      if (img.channels() != channels)
        throw new IllegalArgumentException(src.describe(i) + ": a " + img.channels() + "-channel image, but the model "
            + "takes " + channels + "-channel images (check INPUT.CHANNELS / --channels against the model)");
      return img;
    }

    @Override
    public int size() {
      return src.size();
    }

    @Override
    public int pid(int i) {
      return src.pid(i);
    }

    @Override
    public int camid(int i) {
      return src.camid(i);
    }

    @Override
    public String describe(int i) {
      return src.describe(i);
    }

    @Override
    public int numClasses() {
      return src.numClasses();
    }
  }

  /** Progress lines: done/total, rate and ETA, at most one per interval. */
  /** Extraction's progress line (through {@link ProgressLine}) and its closing summary. */
  private static final class Progress {
    private final PrintStream out;
    private final ProgressLine line;

    Progress(PrintStream out, double seconds, int total, long t0) {
      this.out = out;
      this.line = new ProgressLine(out, seconds, total, t0, "extract", "images", "img", 1);
    }

    void update(int done, int kept) {
      line.update(done);
    }

    void finish(int kept, int skipped, double seconds) {
      if (out == null) return;
      out.printf(Locale.ROOT, "extracted %,d images in %s (%,.1f img/s)%s%n", kept, ProgressLine.duration(seconds),
          kept / Math.max(seconds, 1e-9), skipped > 0 ? ", skipped " + skipped + " unreadable" : "");
    }
  }

}
