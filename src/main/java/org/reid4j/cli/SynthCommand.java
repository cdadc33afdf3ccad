package org.reid4j.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.reid4j.data.SyntheticReid;
import org.reid4j.io.FeatureDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reid4j synth}: writes a synthetic ReID case in the layout {@code eval --dir} reads. */
@Command(name = "synth", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Write a synthetic ReID case (identities x cameras, distractors pid 0, junk pid -1) as the six "
        + ".npy files that `eval --dir` reads.",
        "--preset market gives the Market-1501 test shape: 3,368 queries, 15,913 gallery, d = 2048."})
public final class SynthCommand implements Callable<Integer> {
  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
  Path out;

  @Option(names = "--preset", paramLabel = "P", description = "small or market (other options then override nothing).")
  String preset;

  @Option(names = "--ids", defaultValue = "100", description = "Identities (default ${DEFAULT-VALUE}).") int ids;
  @Option(names = "--cams", defaultValue = "4", description = "Cameras (default ${DEFAULT-VALUE}).") int cams;
  @Option(names = "--per-cam", defaultValue = "2", description = "Gallery images per identity and camera (default ${DEFAULT-VALUE}).") int perCam;
  @Option(names = "--dim", defaultValue = "128", description = "Feature dimension (default ${DEFAULT-VALUE}).") int dim;
  @Option(names = "--distractors", defaultValue = "200", description = "Gallery rows with pid 0 (default ${DEFAULT-VALUE}).") int distractors;
  @Option(names = "--junk", defaultValue = "50", description = "Gallery rows with pid -1 (default ${DEFAULT-VALUE}).") int junk;
  @Option(names = "--noise", defaultValue = "1.5", description = "Per-image noise scale (default ${DEFAULT-VALUE}).") float noise;
  @Option(names = "--seed", defaultValue = "0", description = "Random seed (default ${DEFAULT-VALUE}).") long seed;

  @Override
  public Integer call() throws Exception {
    SyntheticReid.Spec spec;
    if (preset == null) spec = new SyntheticReid.Spec(ids, cams, perCam, dim, distractors, junk, noise, 0.3f, 0, 0, seed);
    else if (preset.equals("market")) spec = SyntheticReid.Spec.market(seed);
    else if (preset.equals("small")) spec = SyntheticReid.Spec.small(seed);
    else throw new IllegalArgumentException("unknown --preset '" + preset + "': expected small or market");
    SyntheticReid.Case c = SyntheticReid.build(spec);
    FeatureDir.write(out, c.query(), c.gallery());
    System.out.printf("wrote %s: %,d queries, %,d gallery, d = %d (seed %d)%n", out, c.query().size(),
        c.gallery().size(), spec.dim(), spec.seed());
    return 0;
  }
}
