package org.reid4j.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The options that choose a model and say how an image becomes a feature: {@code extract} and {@code serve}
 * share them as a picocli mixin, and {@code eval} / {@code calibrate} fill in the few they expose. The
 * values are checked, and the model loaded, by {@link ExtractCommand#prepare()}.
 */
public final class ModelOptions {
  @Option(names = "--checkpoint", paramLabel = "FILE", description = "A reid4j checkpoint or model file.")
  Path checkpoint;

  @Option(names = "--config", paramLabel = "FILE",
      description = "Training config for the model (needed for a bare model file; replaces a checkpoint's stored config).")
  Path config;

  @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Config override, e.g. --set INPUT.SIZE_TEST=[288,144].")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--torchscript", paramLabel = "FILE", description = "A TorchScript model returning [N, D] features.")
  Path torchscript;

  @Option(names = "--input-size", paramLabel = "H,W",
      description = "Input height and width (TorchScript: required; checkpoint: overrides INPUT.SIZE_TEST).")
  String inputSizeText;

  @Option(names = "--channels", paramLabel = "C", description = "TorchScript input channels (default: the number of --mean values, else 3).")
  Integer channels;

  @Option(names = "--mean", paramLabel = "M,..",
      description = "Per-channel pixel mean on [0, 1] pixels (TorchScript default: ImageNet's for 3 channels, 0.5 for 1).")
  String meanText;

  @Option(names = "--std", paramLabel = "S,..",
      description = "Per-channel pixel std (TorchScript default: ImageNet's for 3 channels, 0.5 for 1).")
  String stdText;

  @Option(names = "--feat", paramLabel = "WHERE",
      description = "Checkpoint models: the feature before or after the BNNeck (default: MODEL.NECK_FEAT).")
  String feat;

  @Option(names = "--device", paramLabel = "D", defaultValue = "auto",
      description = "Where a --checkpoint model runs: auto (CUDA when libtorch sees a GPU), cpu or cuda (default ${DEFAULT-VALUE}).")
  String device = "auto"; // also the value when a command fills these in without picocli

  @Option(names = "--flip", description = "Average with the horizontally flipped image's feature.")
  boolean flip;

  @Option(names = "--scales", paramLabel = "S,..", defaultValue = "1.0",
      description = "Input scales to average, e.g. 1.0,1.1: testing at 1.1x the training size is a known retrieval "
          + "trick (default ${DEFAULT-VALUE}).")
  String scalesText = "1.0";

  @Option(names = "--rotate", paramLabel = "DEG,..", defaultValue = "0",
      description = "Rotation TTA: embed the image turned counter-clockwise by each angle (multiples of 90, e.g. "
          + "0,90,180,270; 0 is the image as it is), each resized back to the input size; the features of every rotation, scale and flip are "
          + "averaged (summing, as some contest teams did, differs by a constant factor that --normalize removes) "
          + "(default ${DEFAULT-VALUE}: no rotation).")
  String rotateText = "0";

  @Option(names = "--denoise", paramLabel = "FILTER", defaultValue = "none",
      description = "Filter each decoded image before resizing: median (3x3) or gaussian (3x3, sigma 0.8); edges are "
          + "clamped (default ${DEFAULT-VALUE}).")
  String denoiseText = "none";

  @Option(names = "--normalize", description = "L2-normalise the features.")
  boolean normalize;
}
