package org.reid4j.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Any data set described by three CSV files of {@code path,pid[,camid]} lines: the way to train on
 * one's own data. An optional header line is skipped when it looks like one (its first field not a
 * path: no '/' and no file extension; its pid field not an integer, e.g. {@code path,pid,camid});
 * any other malformed line is an error. Blank lines and lines starting with {@code #} are skipped;
 * in the training list, pid -1 rows (junk, as in Market-1501) are left out; relative paths resolve
 * against the CSV file's folder;
 * camid defaults to 0 and is stored as given. Fields are split at commas (no quoting), so paths must
 * not contain commas. Images are not opened here. Cost: reading the three files.
 */
public final class CsvDataset {
  private CsvDataset() {}

  public static ReidDataset open(Path trainCsv, Path queryCsv, Path galleryCsv, int channels) throws IOException {
    return new ReidDataset("csv", read("csv train", trainCsv, channels, true), read("csv query", queryCsv, channels, false),
        read("csv gallery", galleryCsv, channels, false));
  }

  /** One split; train=true relabels the pids to 0..C-1. */
  public static FileImageSource read(String name, Path csv, int channels, boolean train) throws IOException {
    if (!Files.isRegularFile(csv))
      throw new IOException(name + ": CSV file " + csv + " not found (expected lines \"path,pid[,camid]\")");
    List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
    Path base = csv.toAbsolutePath().getParent();
    List<Path> files = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    boolean first = true;
    int junk = 0;
    for (int ln = 0; ln < lines.size(); ln++) {
      String line = lines.get(ln).strip();
      if (line.isEmpty() || line.startsWith("#")) continue;
      String[] f = line.split(",", -1);
      String where = csv + " line " + (ln + 1);
      // Only a first line that looks like a header may be one: a first field that is not a path
      // (no '/' and no file extension) and a pid field that is not a number, e.g. "path,pid,camid".
      boolean header = first && f.length >= 2 && !f[0].contains("/") && !f[0].strip().matches(".*\\.[A-Za-z0-9]{2,4}")
          && parseInt(f[1]) == null;
      first = false;
      if (f.length < 2 || f.length > 3) {
        if (header) continue;
        throw new IOException(where + ": expected \"path,pid[,camid]\", got \"" + line + "\"");
      }
      Integer pid = parseInt(f[1]);
      if (pid == null) {
        if (header) continue; // a header such as "path,pid,camid"
        throw new IOException(where + ": pid \"" + f[1].strip() + "\" is not an integer");
      }
      int cam = 0;
      if (f.length == 3) {
        Integer c = parseInt(f[2]);
        if (c == null) throw new IOException(where + ": camid \"" + f[2].strip() + "\" is not an integer");
        cam = c;
      }
      String p = f[0].strip();
      if (p.isEmpty()) throw new IOException(where + ": empty path");
      if (train && pid == -1) { // junk, as in Market-1501: not an identity to learn
        junk++;
        continue;
      }
      try {
        files.add(base.resolve(p));
      } catch (java.nio.file.InvalidPathException e) {
        throw new IOException(where + ": \"" + p.replace("\0", "\\0") + "\" is not a valid file path (" + e.getReason()
            + ")", e);
      }
      labels.add(new int[] {pid, cam});
    }
    if (files.isEmpty())
      throw new IOException(name + ": " + csv + " lists no images" + (junk > 0 ? " (only " + junk + " junk rows, pid -1)"
          : ""));
    int[] pids = Msmt17.pids(labels), cams = Msmt17.cams(labels);
    return train ? FileImageSource.relabelled(name, files, pids, cams, channels)
        : new FileImageSource(name, files, pids, cams, channels);
  }

  private static Integer parseInt(String s) {
    try {
      return Integer.parseInt(s.strip());
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
