package org.reid4j.serve;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Tensor;
import org.reid4j.config.TrainConfig;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.train.Checkpoints;

/**
 * Loads a trained {@link ReidModel} for inference from either kind of file reid4j writes:
 * <ul>
 *   <li>a training checkpoint ({@code reid4j train}'s {@code best.pt} / {@code last.pt}, see
 *       {@link Checkpoints}): the model is rebuilt from the config stored in it and its class count;
 *   <li>a bare state dict ({@link ReidModel#save}): it carries no config, so the caller supplies one
 *       (MODEL and INPUT groups as at training time); the class count is read from {@code head.weight}.
 * </ul>
 * The optimiser and centre-loss state of a checkpoint are not read. MODEL.PRETRAIN_PATH is ignored
 * (every weight comes from the file). The file is read once; cost: its size in memory while loading.
 */
public final class ModelLoader {
  private ModelLoader() {}

  /**
   * A loaded model (eval mode, on the device it was loaded for) and the config that describes it.
   *
   * @param metaOrNull the checkpoint's metadata; null for a bare state dict
   */
  public record Loaded(ReidModel model, TrainConfig config, Checkpoints.Meta metaOrNull, Path file) {
    /** "checkpoint runs/x/best.pt (epoch 12)" or "model file m.pt". */
    public String describe() {
      return metaOrNull == null ? "model file " + file : "checkpoint " + file + " (epoch " + metaOrNull.epoch() + ")";
    }
  }

  /**
   * Loads {@code file}.
   *
   * @param configOrNull the config to build the model from; for a checkpoint it replaces the stored one
   *     (the architecture must still match the weights); required for a bare state dict
   * @param overrides {@code KEY=VALUE} config overrides applied last (may be empty)
   * @throws NoSuchFileException when the file does not exist
   * @throws IOException when it is not a libtorch archive, or a checkpoint of another format
   * @throws IllegalArgumentException when the weights do not fit the configured model (names both shapes)
   */
  public static Loaded load(Path file, TrainConfig configOrNull, List<String> overrides) throws IOException {
    return load(file, configOrNull, overrides, org.reid4j.model.Tensors.CPU);
  }

  /**
   * Loads {@code file} as {@link #load(Path, TrainConfig, List)} does, then moves the model to
   * {@code device} (see {@link org.reid4j.train.Devices#choose}); the file may come from any device.
   */
  public static Loaded load(Path file, TrainConfig configOrNull, List<String> overrides,
      org.bytedeco.pytorch.Device device) throws IOException {
    if (!Files.isRegularFile(file))
      throw new NoSuchFileException(file.toString(), null, Files.isDirectory(file)
          ? "is a folder, not a checkpoint file (reid4j train writes OUTPUT_DIR/checkpoints/best.pt)"
          : "no such checkpoint file");
    Checkpoints.requireReadable(file);
    InputArchive root = new InputArchive();
    try {
      root.load_from(file.toString(), new org.bytedeco.pytorch.DeviceOptional(org.reid4j.model.Tensors.CPU));
    } catch (RuntimeException e) {
      throw new IOException(file + " is not a reid4j checkpoint or model file (not a libtorch archive: "
          + ModelEmbedder.firstLine(e) + ")", e);
    }
    Checkpoints.Meta meta = Checkpoints.metaOrNull(root, file);
    TrainConfig cfg = configOrNull;
    InputArchive weights = root;
    int numClasses;
    if (meta != null) {
      if (cfg == null) cfg = TrainConfig.fromYamlString(meta.config());
      numClasses = meta.numClasses();
      weights = new InputArchive();
      if (!root.try_read("model", weights))
        throw new IOException("checkpoint " + file + " has no 'model' entry");
    } else {
      if (cfg == null)
        throw new IllegalArgumentException(file + " holds bare model weights without a stored config (written by "
            + "ReidModel.save, not by reid4j train): give the config it was trained with (--config FILE)");
      Tensor head = new Tensor();
      if (!root.try_read("head.weight", head))
        throw new IOException(file + " is neither a reid4j checkpoint (no 'meta' entry) nor a reid4j model file "
            + "(no 'head.weight' entry); a TorchScript file is served with --torchscript instead");
      numClasses = (int) head.size(0);
    }
    if (overrides != null && !overrides.isEmpty()) cfg = cfg.with(overrides);
    ModelSpec spec = ModelSpec.from(cfg.model()).withPretrainPath("");
    ReidModel model = ReidModel.build(spec, cfg.input().channels(), numClasses);
    try {
      model.readFrom(weights, file.toString());
    } catch (RuntimeException e) {
      model.close();
      if (e instanceof IllegalArgumentException) throw e;
      throw new IOException("could not read the weights in " + file + ": " + ModelEmbedder.firstLine(e), e);
    }
    try {
      Checkpoints.verifyWeights(model, root, file);
    } catch (IOException e) {
      model.close();
      throw e;
    }
    if (!device.is_cpu()) model.to(device, false);
    model.eval();
    return new Loaded(model, cfg, meta, file);
  }

  /** An owned {@link ModelEmbedder} over the loaded model; input settings from its config's INPUT group. */
  public static ModelEmbedder embedder(Loaded m, ModelEmbedder.Feature featureOrNull) {
    TrainConfig.Input in = m.config().input();
    return new ModelEmbedder(m.model(), in.sizeTest(), in.pixelMean(), in.pixelStd(), featureOrNull, true,
        m.describe());
  }
}
