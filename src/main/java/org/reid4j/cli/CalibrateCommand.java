package org.reid4j.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.Verification;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.serve.VerificationThreshold;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reid4j calibrate}: a same-identity distance threshold for a target false-positive rate. */
@Command(name = "calibrate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Calibrate a verification threshold (\"are these two crops the same person?\"): extract features "
        + "of a labelled split, build genuine and impostor pairs, compute the ROC and TPR at chosen FPRs, and store "
        + "the distance threshold for --fpr as threshold.json beside the checkpoint.",
        "Library use: VerificationThreshold.load(file).sameIdentity(featureA, featureB)."})
public final class CalibrateCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A reid4j checkpoint.")
  Path checkpoint;

  @Option(names = "--data", required = true, paramLabel = "NAME[:ROOT]",
      description = "Labelled data set: fashion-mnist, market1501, dukemtmc, msmt17 or csv:Q.csv,G.csv.")
  String data;

  @Option(names = "--split", defaultValue = "gallery", paramLabel = "SPLIT",
      description = "Which images give the pairs: gallery, query, or all (both) (default ${DEFAULT-VALUE}).")
  String split;

  @Option(names = "--fpr", paramLabel = "FPR", defaultValue = "1e-3", description = "Target false-positive rate (default ${DEFAULT-VALUE}).")
  double fpr;

  @Option(names = "--report-fprs", defaultValue = "1e-4,1e-3,1e-2,1e-1", paramLabel = "F,..",
      description = "FPRs to report TPR at (default ${DEFAULT-VALUE}).")
  String reportFprs;

  @Option(names = "--metric", paramLabel = "METRIC", defaultValue = "cosine",
      description = "cosine, sqeuclidean or euclidean (default ${DEFAULT-VALUE}).")
  String metric;

  @Option(names = "--no-normalize", description = "Do not L2-normalise the features (they are by default).")
  boolean noNormalize;

  @Option(names = "--max-impostors", paramLabel = "N", defaultValue = "2000000",
      description = "Sample at most this many impostor pairs (default ${DEFAULT-VALUE}).")
  long maxImpostors;

  @Option(names = "--flip", description = "Flip test-time augmentation during extraction.")
  boolean flip;

  @Option(names = "--out", paramLabel = "FILE", description = "Where to write the threshold (default: threshold.json beside the checkpoint).")
  Path out;

  @Option(names = "--backend", paramLabel = "BACKEND", defaultValue = "auto",
      description = "Kernels: auto, java, cpu or cuda (default ${DEFAULT-VALUE}).")
  String backend;

  @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
      description = "Where the model runs: auto, cpu or cuda (default ${DEFAULT-VALUE}).")
  String device = "auto";

  @Override
  public Integer call() throws Exception {
    Metric m = Metric.parse(metric);
    if (!(fpr > 0 && fpr < 1)) throw new IllegalArgumentException("--fpr must be in (0, 1), got " + fpr);
    if (!List.of("gallery", "query", "all").contains(split))
      throw new IllegalArgumentException("--split must be gallery, query or all, got '" + split + "'");
    List<Double> fprs = new ArrayList<>();
    for (String f : reportFprs.split(",")) fprs.add(Double.parseDouble(f.trim()));
    if (!fprs.contains(fpr)) fprs.add(fpr);
    fprs.sort(null);
    Kernels kernels = Kernels.create(Backend.parse(backend));

    ExtractCommand x = new ExtractCommand();
    x.model.checkpoint = checkpoint;
    x.data = data;
    x.model.flip = flip;
    x.model.device = device;
    LabelledFeatures set;
    try (ExtractCommand.Prepared p = x.prepare()) {
      LabelledFeatures[] sides = x.extractLabelled(p);
      set = switch (split) {
        case "query" -> sides[0];
        case "gallery" -> sides[1];
        default -> concat(sides[0], sides[1]);
      };
    }
    System.out.printf(Locale.ROOT, "%s: %,d images, backend %s%n", split, set.size(), kernels.describe());
    Verification.Options opts = Verification.Options.defaults().withMetric(m).withNormalize(!noNormalize)
        .withMaxImpostors(maxImpostors).withTargetFprs(fprs);
    Verification.Result r = Verification.evaluate(kernels, set, opts);
    System.out.println(r.summary());
    if (fpr * r.impostorPairs() < 1)
      System.out.printf(Locale.ROOT, "warning: %,d impostor pairs cannot measure an FPR of %s (the smallest "
          + "non-zero FPR they show is 1/%,d = %.3g): the threshold below is the one at FPR 0 in this sample, not a "
          + "measured FPR of %s. Use more images (--split all, a larger set) or raise --max-impostors.%n",
          r.impostorPairs(), fpr, r.impostorPairs(), 1.0 / r.impostorPairs(), fpr);
    VerificationThreshold t = VerificationThreshold.fromResult(r, fpr);
    Path file = out != null ? out : VerificationThreshold.fileIn(checkpoint.toAbsolutePath().getParent());
    t.save(file);
    System.out.printf(Locale.ROOT, "threshold %.6g (%s distance%s) for FPR <= %s: TPR %.4f%nwrote %s%n",
        t.threshold(), m.name().toLowerCase(Locale.ROOT), noNormalize ? "" : ", L2-normalised features", fpr,
        t.tprAtTarget(), file);
    return 0;
  }

  private static LabelledFeatures concat(LabelledFeatures a, LabelledFeatures b) {
    int d = a.features().cols();
    float[] f = new float[(a.size() + b.size()) * d];
    System.arraycopy(a.features().data(), 0, f, 0, a.size() * d);
    System.arraycopy(b.features().data(), 0, f, a.size() * d, b.size() * d);
    int[] p = new int[a.size() + b.size()], c = new int[p.length];
    System.arraycopy(a.pids(), 0, p, 0, a.size());
    System.arraycopy(b.pids(), 0, p, a.size(), b.size());
    System.arraycopy(a.camids(), 0, c, 0, a.size());
    System.arraycopy(b.camids(), 0, c, a.size(), b.size());
    return new LabelledFeatures("query + gallery", new org.reid4j.kernels.FloatMatrix(p.length, d, f), p, c);
  }
}
