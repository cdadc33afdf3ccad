package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * DukeMTMC-reID (Zheng et al. 2017): 36,411 boxes of 1,812 identities from 8 cameras, in the
 * Market-1501 layout with names like {@code 0001_c2_f0046182.jpg} (pid 1, camera 2 -> camid 1,
 * frame 46182). Same rules as {@link Market1501}. Cost: directory listings only.
 */
public final class DukeMtmcReid {
  static final Pattern NAME = Pattern.compile("(-1|\\d+)_c(\\d+)_f(\\d+)\\.(?i:jpe?g|png)");
  static final String EXAMPLE = "0001_c2_f0046182.jpg";

  private DukeMtmcReid() {}

  /** root: the DukeMTMC-reID folder or a folder holding DukeMTMC-reID/, dukemtmc-reid/ or dukemtmc/. */
  public static ReidDataset open(Path root, int channels) throws IOException {
    Path dir = PidCamFolders.locate(root, "DukeMTMC-reID", "DukeMTMC-reID", "dukemtmc-reid", "dukemtmc");
    return PidCamFolders.read("dukemtmc", dir, NAME, EXAMPLE, channels);
  }
}
