package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Shared reader of the Market-1501 folder layout (also DukeMTMC-reID's): three folders of images whose
 * names start with the pid and the 1-based camera. Package-private; use {@link Market1501} or
 * {@link DukeMtmcReid}. Cost: one directory listing per folder; images are not opened.
 */
final class PidCamFolders {
  static final String TRAIN = "bounding_box_train", QUERY = "query", GALLERY = "bounding_box_test";

  private PidCamFolders() {}

  /** The folder holding the three split folders: root itself or one of the usual subfolder names. */
  static Path locate(Path root, String dataset, String... subfolders) throws IOException {
    if (Files.isDirectory(root.resolve(TRAIN))) return root;
    for (String s : subfolders) if (Files.isDirectory(root.resolve(s).resolve(TRAIN))) return root.resolve(s);
    throw new IOException(dataset + " not found under " + root.toAbsolutePath() + ": expected a folder holding "
        + TRAIN + "/, " + QUERY + "/ and " + GALLERY + "/ (" + root + " itself or " + root + "/{"
        + String.join(",", subfolders) + "}); set DATALOADER.ROOT");
  }

  static ReidDataset read(String name, Path dir, Pattern pattern, String example, int channels) throws IOException {
    ImageSource train = split(name + " train", dir.resolve(TRAIN), pattern, example, channels, true);
    ImageSource query = split(name + " query", dir.resolve(QUERY), pattern, example, channels, false);
    ImageSource gallery = split(name + " gallery", dir.resolve(GALLERY), pattern, example, channels, false);
    return new ReidDataset(name, train, query, gallery);
  }

  /** Reads one folder; training drops junk (pid -1) and relabels. */
  static FileImageSource split(String name, Path folder, Pattern pattern, String example, int channels, boolean train)
      throws IOException {
    if (!Files.isDirectory(folder))
      throw new IOException(name + ": folder " + folder + " not found (expected the " + folder.getFileName()
          + "/ folder of the data set, with images named like " + example + ")");
    List<Path> names;
    try (Stream<Path> s = Files.list(folder)) {
      names = s.filter(Files::isRegularFile).sorted().toList();
    }
    List<Path> files = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    for (Path f : names) {
      String fn = f.getFileName().toString();
      if (!isImageName(fn)) continue; // Thumbs.db, .DS_Store, readme files
      Matcher m = pattern.matcher(fn);
      if (!m.matches())
        throw new IOException(f + ": image name does not follow the " + name.split(" ")[0] + " pattern (expected a name"
            + " like " + example + ": pid, then _c and the camera number)");
      int pid = Integer.parseInt(m.group(1)), cam = Integer.parseInt(m.group(2));
      if (cam < 1) throw new IOException(f + ": camera number " + cam + " is not >= 1 (cameras count from c1)");
      if (pid < -1) throw new IOException(f + ": pid " + pid + " is not -1 (junk) or >= 0");
      if (train && pid == -1) continue;
      files.add(f);
      labels.add(new int[] {pid, cam - 1});
    }
    if (files.isEmpty()) throw new IOException(name + ": no images in " + folder + " (expected files like " + example + ")");
    int[] pids = labels.stream().mapToInt(l -> l[0]).toArray(), cams = labels.stream().mapToInt(l -> l[1]).toArray();
    return train ? FileImageSource.relabelled(name, files, pids, cams, channels)
        : new FileImageSource(name, files, pids, cams, channels);
  }

  static boolean isImageName(String fileName) {
    String lower = fileName.toLowerCase(Locale.ROOT);
    return !lower.startsWith(".") && (lower.endsWith(".jpg") || lower.endsWith(".jpeg") || lower.endsWith(".png"));
  }
}
