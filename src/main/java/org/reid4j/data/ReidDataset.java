package org.reid4j.data;

import java.io.IOException;
import java.nio.file.Path;
import org.reid4j.config.TrainConfig;

/**
 * A ReID data set: a training split (pids relabelled to 0..C-1) and the query and gallery splits of
 * its retrieval protocol. {@link #open} picks the reader named by DATALOADER.DATASET. Cost: the
 * readers list files or read list files; images are decoded later, on demand.
 */
public record ReidDataset(String name, ImageSource train, ImageSource query, ImageSource gallery) {

  /** Opens the data set of cfg's DATALOADER group, images with INPUT.CHANNELS channels. */
  public static ReidDataset open(TrainConfig cfg) throws IOException {
    TrainConfig.Dataloader d = cfg.dataloader();
    int channels = cfg.input().channels();
    Path root = Path.of(d.root().isEmpty() ? "." : d.root());
    return switch (d.dataset()) {
      case "fashion-mnist" -> FashionMnistSource.open(d.root().isEmpty() ? FashionMnist.DEFAULT_DIR : root, channels);
      case "market1501" -> Market1501.open(root, channels);
      case "dukemtmc" -> DukeMtmcReid.open(root, channels);
      case "msmt17" -> Msmt17.open(root, channels);
      case "csv" -> CsvDataset.open(Path.of(d.trainCsv()), Path.of(d.queryCsv()), Path.of(d.galleryCsv()), channels);
      default -> throw new IllegalArgumentException("DATALOADER.DATASET: unknown data set " + d.dataset()
          + "; expected one of " + TrainConfig.CHOICES.get("DATALOADER.DATASET"));
    };
  }

  /**
   * The query and gallery splits alone, for extraction and evaluation: readers that keep the splits in
   * separate files (Fashion-MNIST) do not need the training files; the others open the whole set.
   */
  public static ImageSource[] openQueryGallery(TrainConfig cfg) throws IOException {
    TrainConfig.Dataloader d = cfg.dataloader();
    if (d.dataset().equals("fashion-mnist"))
      return FashionMnistSource.openTest(d.root().isEmpty() ? FashionMnist.DEFAULT_DIR : Path.of(d.root()),
          cfg.input().channels());
    ReidDataset ds = open(cfg);
    return new ImageSource[] {ds.query(), ds.gallery()};
  }

  /** One line for logs: image and identity counts of each split. */
  public String summary() {
    return name + ": train " + train.size() + " images / " + train.numClasses() + " ids, query " + query.size()
        + " / " + query.numClasses() + ", gallery " + gallery.size() + " / " + gallery.numClasses();
  }
}
