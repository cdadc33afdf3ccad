package org.reid4j.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.reid4j.data.SyntheticImages;
import org.reid4j.data.SyntheticReid;
import org.reid4j.io.FeatureDir;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code reid4j synth}: writes a synthetic ReID case in the layout {@code eval --dir} reads
 * ({@code --out}), or a synthetic image data set in the Market-1501 layout ({@code --market-images}).
 */
@Command(name = "synth", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Write a synthetic ReID case (identities x cameras, distractors pid 0, junk pid -1) as the six "
        + ".npy files that `eval --dir` reads (--out),",
        "or a synthetic image data set in the Market-1501 layout (bounding_box_train/, query/, bounding_box_test/, "
        + "JPEG files named like 0002_c1s1_000451_03.jpg) that DATALOADER.DATASET=market1501 reads (--market-images).",
        "--preset market gives the Market-1501 test shape: 3,368 queries, 15,913 gallery, d = 2048."})
public final class SynthCommand implements Callable<Integer> {
  static final class Target {
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Feature case: output folder.")
    Path out;

    @Option(names = "--market-images", required = true, paramLabel = "DIR",
        description = "Image data set: output folder (new or empty split folders).")
    Path marketImages;
  }

  @ArgGroup(exclusive = true, multiplicity = "1") Target target;

  @Option(names = "--preset", paramLabel = "PRESET", description = "Feature case: small or market (the sizes and the noise "
      + "options are then refused).")
  String preset;

  @Option(names = "--ids", paramLabel = "N", defaultValue = "100", description = "Identities; images: training identities (default ${DEFAULT-VALUE}).") int ids;
  @Option(names = "--test-ids", paramLabel = "N", description = "Images: query/gallery identities (default: --ids).") Integer testIds;
  @Option(names = "--cams", paramLabel = "N", defaultValue = "4", description = "Cameras (default ${DEFAULT-VALUE}).") int cams;
  @Option(names = "--per-cam", paramLabel = "N", defaultValue = "2", description = "Gallery (images: also training) images per identity and camera (default ${DEFAULT-VALUE}).") int perCam;
  @Option(names = "--width", paramLabel = "PX", defaultValue = "64", description = "Images: width in pixels (default ${DEFAULT-VALUE}).") int width;
  @Option(names = "--height", paramLabel = "PX", defaultValue = "128", description = "Images: height in pixels (default ${DEFAULT-VALUE}).") int height;
  @Option(names = "--dim", paramLabel = "D", defaultValue = "128", description = "Feature case: feature dimension (default ${DEFAULT-VALUE}).") int dim;
  @Option(names = "--distractors", paramLabel = "N", description = "Gallery rows/images with pid 0 (default: 200; images: the test identities).") Integer distractors;
  @Option(names = "--junk", paramLabel = "N", description = "Gallery rows/images with pid -1 (default: 50; images: a quarter of the test identities).") Integer junk;
  @Option(names = "--queries", paramLabel = "N", description = "Feature case: at most N queries (camera 1's "
      + "identities first, then camera 2's, ...; default: identities x half the cameras, rounded up).") Integer queries;
  @Option(names = "--noise", paramLabel = "SCALE", defaultValue = "1.5", description = "Feature case: per-image noise scale (default ${DEFAULT-VALUE}).") float noise;
  @Option(names = "--seed", paramLabel = "SEED", defaultValue = "0", description = "Random seed (default ${DEFAULT-VALUE}).") long seed;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (target.marketImages != null) return images();
    refuse("--out", "--test-ids", "--width", "--height");
    if (queries != null && queries < 1) throw new IllegalArgumentException("--queries must be 1 or more, got " + queries);
    if (preset != null)
      Cli.onlyWith(spec, false, "without --preset (a preset fixes the whole case; drop --preset to choose each size)",
          "--ids", "--cams", "--per-cam", "--dim", "--distractors", "--junk", "--noise", "--queries");
    SyntheticReid.Spec s;
    int d = distractors == null ? 200 : distractors, j = junk == null ? 50 : junk;
    if (preset == null)
      s = new SyntheticReid.Spec(ids, cams, perCam, dim, d, j, noise, 0.3f, queries == null ? 0 : queries, 0, seed);
    else if (preset.equals("market")) s = SyntheticReid.Spec.market(seed);
    else if (preset.equals("small")) s = SyntheticReid.Spec.small(seed);
    else throw new IllegalArgumentException("unknown --preset '" + preset + "': expected small or market");
    SyntheticReid.Case c = SyntheticReid.build(s);
    FeatureDir.write(target.out, c.query(), c.gallery());
    System.out.printf("wrote %s: %,d queries, %,d gallery, d = %d (seed %d)%n", target.out, c.query().size(),
        c.gallery().size(), s.dim(), s.seed());
    return 0;
  }

  private int images() throws Exception {
    refuse("--market-images", "--preset", "--dim", "--noise", "--queries");
    int t = testIds == null ? ids : testIds;
    SyntheticImages.Spec s = new SyntheticImages.Spec(ids, t, cams, perCam, width, height,
        distractors == null ? t : distractors, junk == null ? t / 4 : junk, seed);
    long t0 = System.nanoTime();
    SyntheticImages.Counts c = SyntheticImages.write(target.marketImages, s);
    System.out.printf("wrote %s (%d x %d JPEG, %d cameras, seed %d, %.1f s): %s%n", target.marketImages, width, height,
        cams, seed, (System.nanoTime() - t0) / 1e9, c.summary());
    return 0;
  }

  /** Options that only the other mode reads are an error rather than silently ignored. */
  private void refuse(String mode, String... options) {
    for (String o : options)
      if (spec.commandLine().getParseResult().hasMatchedOption(o))
        throw new IllegalArgumentException(o + " does not apply with " + mode + " (" + (mode.equals("--out")
            ? "it is an --market-images option" : "it is an --out (feature case) option") + ")");
  }
}
