package org.reid4j.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * MSMT17 (Wei et al. 2018): 126,441 boxes of 4,101 identities from 15 cameras, described by list
 * files of {@code relative/path.jpg pid} lines: {@code list_train.txt} (+ {@code list_val.txt}, which
 * is part of the training set as in the paper) against {@code train/}, {@code list_query.txt} and
 * {@code list_gallery.txt} against {@code test/} (the V2 names {@code mask_train_v2/},
 * {@code mask_test_v2/} work too). The camera is the third {@code _} field of the file name
 * ({@code 0000_000_01_0303morning_0015_0.jpg}: camera 1 -> camid 0). Images are not opened or
 * checked here; a missing one fails when loaded. Cost: reading the four lists.
 */
public final class Msmt17 {
  private Msmt17() {}

  /** root: the MSMT17 folder or a folder holding MSMT17_V1/, MSMT17_V2/, MSMT17/ or msmt17/. */
  public static ReidDataset open(Path root, int channels) throws IOException {
    Path dir = null;
    for (String s : new String[] {"", "MSMT17_V1", "MSMT17_V2", "MSMT17", "msmt17"}) {
      Path d = s.isEmpty() ? root : root.resolve(s);
      if (Files.isRegularFile(d.resolve("list_train.txt"))) {
        dir = d;
        break;
      }
    }
    if (dir == null)
      throw new IOException("MSMT17 not found under " + root.toAbsolutePath() + ": expected a folder holding "
          + "list_train.txt, list_query.txt, list_gallery.txt, train/ and test/ (" + root + " itself or " + root
          + "/{MSMT17_V1,MSMT17_V2,MSMT17,msmt17}); set DATALOADER.ROOT");
    Path trainDir = folder(dir, "train", "mask_train_v2"), testDir = folder(dir, "test", "mask_test_v2");
    List<Path> files = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    readList(dir.resolve("list_train.txt"), trainDir, files, labels);
    if (Files.isRegularFile(dir.resolve("list_val.txt"))) readList(dir.resolve("list_val.txt"), trainDir, files, labels);
    ImageSource train = FileImageSource.relabelled("msmt17 train", files, pids(labels), cams(labels), channels);
    return new ReidDataset("msmt17", train, split("msmt17 query", dir.resolve("list_query.txt"), testDir, channels),
        split("msmt17 gallery", dir.resolve("list_gallery.txt"), testDir, channels));
  }

  private static Path folder(Path dir, String... names) throws IOException {
    for (String n : names) if (Files.isDirectory(dir.resolve(n))) return dir.resolve(n);
    throw new IOException("MSMT17: image folder " + dir.resolve(names[0]) + " not found (expected " + names[0] + "/ or "
        + names[1] + "/ next to the list files)");
  }

  private static FileImageSource split(String name, Path list, Path imageDir, int channels) throws IOException {
    List<Path> files = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    readList(list, imageDir, files, labels);
    return new FileImageSource(name, files, pids(labels), cams(labels), channels);
  }

  static void readList(Path list, Path imageDir, List<Path> files, List<int[]> labels) throws IOException {
    if (!Files.isRegularFile(list))
      throw new IOException("MSMT17 list file " + list + " not found (expected lines like "
          + "\"0000/0000_000_01_0303morning_0015_0.jpg 0\")");
    List<String> lines = Files.readAllLines(list, StandardCharsets.UTF_8);
    for (int ln = 0; ln < lines.size(); ln++) {
      String line = lines.get(ln).trim();
      if (line.isEmpty()) continue;
      String[] f = line.split("\\s+");
      String where = list + " line " + (ln + 1);
      if (f.length != 2) throw new IOException(where + ": expected \"relative/path.jpg pid\", got \"" + line + "\"");
      int pid;
      try {
        pid = Integer.parseInt(f[1]);
      } catch (NumberFormatException e) {
        throw new IOException(where + ": pid \"" + f[1] + "\" is not an integer");
      }
      String fn = Path.of(f[0]).getFileName().toString();
      String[] parts = fn.split("_");
      int cam;
      try {
        cam = Integer.parseInt(parts[2]);
      } catch (RuntimeException e) {
        throw new IOException(where + ": file name " + fn + " has no camera number in its third _ field (expected "
            + "names like 0000_000_01_0303morning_0015_0.jpg)");
      }
      if (cam < 1) throw new IOException(where + ": camera number " + cam + " is not >= 1");
      files.add(imageDir.resolve(f[0]));
      labels.add(new int[] {pid, cam - 1});
    }
    if (lines.stream().allMatch(String::isBlank)) throw new IOException(list + ": empty list file");
  }

  static int[] pids(List<int[]> labels) {
    return labels.stream().mapToInt(l -> l[0]).toArray();
  }

  static int[] cams(List<int[]> labels) {
    return labels.stream().mapToInt(l -> l[1]).toArray();
  }
}
