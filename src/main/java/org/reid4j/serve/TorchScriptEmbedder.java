package org.reid4j.serve;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.kernels.FloatMatrix;

/**
 * An {@link Embedder} over a TorchScript file ({@code torch.jit.script(model).save(path)} or
 * {@code torch.jit.trace(...)}), so a model trained in PyTorch (fast-reid, torchreid, ...) can be
 * served by reid4j. The module is loaded onto the CPU (whatever device it was saved from) and put in
 * eval mode; {@code forward} gets one float32 tensor [N, C, H, W] (normalised as {@link #pixelMean} /
 * {@link #pixelStd} say) and must return the features as a tensor [N, D]. Also accepted: a tuple or list whose first element is that
 * tensor (models that return (features, logits)), and trailing singleton dimensions ([N, D, 1, 1],
 * the output of a pooled backbone), which are dropped. Other dtypes are converted to float32.
 *
 * <p>Loading runs one probe forward on a zero batch [1, C, H, W], so a wrong channel count, an
 * unusable output or a broken module is reported at load time with the file's name, and {@link #dim}
 * is known. Each {@link #embed} runs in a {@link PointerScope} under a {@link NoGradGuard}. Whether
 * sizes other than {@link #inputSize} work (multi-scale extraction) depends on the module: networks
 * ending in global pooling accept them, ones with a fixed flatten do not (the error then names the shape).
 */
public final class TorchScriptEmbedder implements Embedder {
  private final Path file;
  private final JitModule module;
  private final int channels;
  private final int[] inputSize;
  private final double[] mean;
  private final double[] std;
  private final int dim;
  private final InputBuffer input = new InputBuffer();
  private boolean closed;

  /**
   * Loads and probes the module.
   *
   * @param channels image channels the module takes (1 or 3)
   * @param inputSize {height, width} the images are resized to
   * @param mean per-channel pixel mean ({@code channels} values, on [0, 1] pixels)
   * @param std per-channel pixel standard deviation
   * @throws NoSuchFileException when the file does not exist
   * @throws IOException when it is not a TorchScript archive, has no forward method, or the probe forward
   *     fails or returns something other than [N, D] features (the message names the file)
   */
  public TorchScriptEmbedder(Path file, int channels, int[] inputSize, double[] mean, double[] std) throws IOException {
    if (channels < 1) throw new IllegalArgumentException("channels must be positive, got " + channels);
    if (inputSize.length != 2 || inputSize[0] < 1 || inputSize[1] < 1)
      throw new IllegalArgumentException("input size must be {height, width} > 0, got " + Arrays.toString(inputSize));
    if (mean.length != channels || std.length != channels)
      throw new IllegalArgumentException("a " + channels + "-channel model needs " + channels + " pixel means and "
          + "standard deviations, got " + mean.length + " and " + std.length);
    for (double s : std) if (!(s > 0)) throw new IllegalArgumentException("pixel std must be > 0, got " + Arrays.toString(std));
    if (!Files.isRegularFile(file))
      throw new NoSuchFileException(file.toString(), null, Files.isDirectory(file)
          ? "is a folder, not a TorchScript file" : "no such TorchScript file");
    this.file = file;
    this.channels = channels;
    this.inputSize = inputSize.clone();
    this.mean = mean.clone();
    this.std = std.clone();
    JitModule m;
    try {
      // map_location cpu: a module saved from a GPU still loads on a machine without one
      m = torch.load(file.toString(), new DeviceOptional(new Device("cpu")), false);
    } catch (RuntimeException e) {
      throw new IOException(file + " is not a TorchScript archive (expected the output of torch.jit.save / "
          + "ScriptModule.save): " + ModelEmbedder.firstLine(e), e);
    }
    if (!m.find_method("forward").has_value()) {
      m.close();
      throw new IOException(file + " is a libtorch archive without a forward method: not a TorchScript model "
          + "(a reid4j checkpoint or model file is served with --checkpoint instead)");
    }
    m.eval();
    this.module = m;
    int d;
    try {
      d = probe();
    } catch (IllegalArgumentException e) {
      m.close();
      throw new IOException(e.getMessage(), e);
    }
    this.dim = d;
  }

  private int probe() {
    int h = inputSize[0], w = inputSize[1];
    FloatMatrix f = run(new float[channels * h * w], 1, h, w, true);
    return f.cols();
  }

  public Path file() {
    return file;
  }

  @Override
  public int dim() {
    return dim;
  }

  @Override
  public int channels() {
    return channels;
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
    if (n == 0) return new FloatMatrix(0, dim, new float[0]);
    FloatMatrix f = run(images, n, h, w, false);
    if (f.cols() != dim)
      throw new IllegalArgumentException("TorchScript model " + file + " returned " + f.cols() + "-d features for a "
          + h + "x" + w + " input but " + dim + "-d at " + inputSize[0] + "x" + inputSize[1]);
    return f;
  }

  private FloatMatrix run(float[] images, int n, int h, int w, boolean probing) {
    input.put(images);
    String shape = "[" + n + ", " + channels + ", " + h + ", " + w + "]";
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      IValueVector in = new IValueVector();
      in.push_back(new IValue(input.tensor(n, channels, h, w)));
      IValue out;
      try {
        out = module.forward(in);
      } catch (RuntimeException e) {
        String hint = probing ? " (is the channel count " + channels + " and the input size " + inputSize[0] + "x"
            + inputSize[1] + " what the model takes?)" : "";
        throw new IllegalArgumentException("TorchScript model " + file + " failed on a " + shape + " input" + hint
            + ": " + ModelEmbedder.firstLine(e), e);
      }
      Tensor t = features(out);
      long[] s = t.shape();
      int rank = s.length;
      while (rank > 2 && s[rank - 1] == 1) rank--;
      if (rank != 2 || s[0] != n)
        throw new IllegalArgumentException("TorchScript model " + file + " returned a tensor of shape "
            + Arrays.toString(s) + " for a " + shape + " input; expected features [" + n + ", D]");
      return InputBuffer.toMatrix(t.reshape(n, s[1]), n, Math.toIntExact(s[1]));
    }
  }

  /** The feature tensor of forward's result: the tensor itself or the first element of a tuple/list. */
  private Tensor features(IValue out) {
    if (out.isTensor()) return out.toTensor();
    if (out.isTuple()) {
      var el = out.toTupleRef().elements();
      if (el.size() > 0 && el.get(0).isTensor()) return el.get(0).toTensor();
    } else if (out.isTensorList()) {
      var l = out.toTensorList();
      if (l.size() > 0) return l.get(0);
    } else if (out.isList()) {
      var l = out.toList();
      if (l.size() > 0 && l.get(0).isTensor()) return l.get(0).toTensor();
    }
    throw new IllegalArgumentException("TorchScript model " + file + " returned a " + out.tagKind().getString()
        + "; expected a feature tensor [N, D] (or a tuple/list whose first element is one)");
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    input.close();
    module.close();
  }

  @Override
  public String toString() {
    return "TorchScript model " + file + " (" + channels + " channels, " + inputSize[0] + "x" + inputSize[1]
        + (dim > 0 ? ", " + dim + "-d" : "") + ")";
  }
}
