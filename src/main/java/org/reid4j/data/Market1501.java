package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Market-1501 (Zheng et al. 2015): 32,668 boxes of 1,501 identities from 6 cameras. Layout:
 * {@code bounding_box_train/}, {@code query/}, {@code bounding_box_test/} with names like
 * {@code 0002_c1s1_000451_03.jpg} (pid 2, camera 1 -> camid 0, sequence 1, frame 451, box 3).
 * pid -1 marks junk (dropped from training, kept in the gallery where the evaluator ignores it),
 * pid 0 distractors (kept). A file with an image extension but another name is an error; other
 * files (Thumbs.db) are ignored. Cost: directory listings only; images decode on demand.
 */
public final class Market1501 {
  static final Pattern NAME = Pattern.compile("(-1|\\d+)_c(\\d+)s(\\d+)_(\\d+)_(\\d+)\\.(?i:jpe?g|png)");
  static final String EXAMPLE = "0002_c1s1_000451_03.jpg";

  private Market1501() {}

  /** root: the Market-1501 folder or a folder holding Market-1501-v15.09.15/, market1501/ or Market-1501/. */
  public static ReidDataset open(Path root, int channels) throws IOException {
    Path dir = PidCamFolders.locate(root, "Market-1501", "Market-1501-v15.09.15", "market1501", "Market-1501");
    return PidCamFolders.read("market1501", dir, NAME, EXAMPLE, channels);
  }
}
