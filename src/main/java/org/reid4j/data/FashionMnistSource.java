package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Fashion-MNIST as an {@link ImageSource} held in memory (the IDX bytes: 47 MB for train, 7.8 MB for
 * test); {@link #load} converts one 28x28 image to floats. The class label is the pid (already
 * 0..9); query images get camid 0, gallery images camid 1 (the protocol of {@link FashionMnist}).
 */
public final class FashionMnistSource implements ImageSource {
  private final String name;
  private final FashionMnist.Split split;
  private final int[] idx;
  private final int camid, channels;

  public FashionMnistSource(String name, FashionMnist.Split split, int[] idx, int camid, int channels) {
    if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
    this.name = name;
    this.split = split;
    this.idx = idx.clone();
    this.camid = camid;
    this.channels = channels;
  }

  /** Query and gallery of {@link FashionMnist#retrievalSplit} of the test file alone (the training file may be absent). */
  public static ImageSource[] openTest(Path dir, int channels) throws IOException {
    FashionMnist.Split test = FashionMnist.load(dir, "t10k");
    FashionMnist.RetrievalSplit rs = FashionMnist.retrievalSplit(test);
    return new ImageSource[] {new FashionMnistSource("fashion-mnist query", test, rs.queryIdx(), 0, channels),
        new FashionMnistSource("fashion-mnist gallery", test, rs.galleryIdx(), 1, channels)};
  }

  /** Train = the training file; query/gallery = {@link FashionMnist#retrievalSplit} of the test file. */
  public static ReidDataset open(Path dir, int channels) throws IOException {
    FashionMnist.Split train = FashionMnist.load(dir, "train"), test = FashionMnist.load(dir, "t10k");
    int[] all = new int[train.size()];
    for (int i = 0; i < all.length; i++) all[i] = i;
    FashionMnist.RetrievalSplit rs = FashionMnist.retrievalSplit(test);
    return new ReidDataset("fashion-mnist", new FashionMnistSource("fashion-mnist train", train, all, 0, channels),
        new FashionMnistSource("fashion-mnist query", test, rs.queryIdx(), 0, channels),
        new FashionMnistSource("fashion-mnist gallery", test, rs.galleryIdx(), 1, channels));
  }

  @Override
  public int size() {
    return idx.length;
  }

  @Override
  public int pid(int i) {
    return split.label(idx[i]);
  }

  @Override
  public int camid(int i) {
    return camid;
  }

  @Override
  public FloatImage load(int i) {
    int h = split.images().shape()[1], w = split.images().shape()[2], hw = h * w;
    float[] px = split.pixels(idx[i]);
    if (channels == 1) return new FloatImage(1, h, w, px);
    float[] rgb = new float[3 * hw];
    for (int c = 0; c < 3; c++) System.arraycopy(px, 0, rgb, c * hw, hw);
    return new FloatImage(3, h, w, rgb);
  }

  @Override
  public String describe(int i) {
    return name + " #" + i + " (file index " + idx[i] + ")";
  }

  @Override
  public int numClasses() {
    return FashionMnist.CLASSES;
  }
}
