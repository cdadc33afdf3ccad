package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Images stored as files, with their labels: what every folder or list reader returns. Labels live in
 * int arrays (a few bytes per image); each {@link #load} decodes the file with {@link ImageDecoder}.
 * {@link #relabelled} turns a data set's identity ids into contiguous class labels for training.
 */
public final class FileImageSource implements ImageSource {
  private final String name;
  private final Path[] files;
  private final int[] pids, camids, originalPids;
  private final int channels, numClasses;

  /** pids as given (query/gallery); numClasses() is the number of distinct pids. */
  public FileImageSource(String name, List<Path> files, int[] pids, int[] camids, int channels) {
    this(name, files, pids, camids, pids, channels);
  }

  private FileImageSource(String name, List<Path> files, int[] pids, int[] camids, int[] originalPids, int channels) {
    if (files.size() != pids.length || pids.length != camids.length)
      throw new IllegalArgumentException(name + ": " + files.size() + " files, " + pids.length + " pids and "
          + camids.length + " camids");
    if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
    this.name = name;
    this.files = files.toArray(new Path[0]);
    this.pids = pids.clone();
    this.camids = camids.clone();
    this.originalPids = originalPids.clone();
    this.channels = channels;
    this.numClasses = (int) Arrays.stream(pids).distinct().count();
  }

  /**
   * A training source: the distinct pids, in ascending order, become 0..C-1; {@link #originalPid}
   * still returns the data set's id.
   */
  public static FileImageSource relabelled(String name, List<Path> files, int[] pids, int[] camids, int channels) {
    int[] distinct = Arrays.stream(pids).distinct().sorted().toArray();
    int[] labels = new int[pids.length];
    for (int i = 0; i < pids.length; i++) labels[i] = Arrays.binarySearch(distinct, pids[i]);
    return new FileImageSource(name, files, labels, camids, pids, channels);
  }

  public String name() {
    return name;
  }

  public Path file(int i) {
    return files[i];
  }

  @Override
  public int size() {
    return files.length;
  }

  @Override
  public int pid(int i) {
    return pids[i];
  }

  @Override
  public int camid(int i) {
    return camids[i];
  }

  @Override
  public int originalPid(int i) {
    return originalPids[i];
  }

  @Override
  public FloatImage load(int i) throws IOException {
    return ImageDecoder.decode(files[i], channels);
  }

  @Override
  public String describe(int i) {
    return files[i].toString();
  }

  @Override
  public int numClasses() {
    return numClasses;
  }

  @Override
  public String toString() {
    return name + " (" + files.length + " images, " + numClasses + " ids)";
  }
}
