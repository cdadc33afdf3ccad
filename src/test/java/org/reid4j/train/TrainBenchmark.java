package org.reid4j.train;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.Batch;
import org.reid4j.data.DataLoader;
import org.reid4j.data.ImageSource;
import org.reid4j.data.PKSampler;
import org.reid4j.data.ReidDataset;
import org.reid4j.data.Transforms;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Kernels;
import org.reid4j.loss.CrossEntropyLabelSmooth;
import org.reid4j.loss.TripletLoss;
import org.reid4j.model.ReidModel;

/**
 * Training throughput, for BENCHMARKS.md (not a unit test): the loader alone (decode + augment, no
 * model) and the model alone (forward + CE-LS + triplet + backward + Adam step on one fixed batch,
 * inside a PointerScope per step), in images per second.
 *
 * <pre>
 * java -cp "$T/test-classes:$T/classes:$T/lib/*" org.reid4j.train.TrainBenchmark quickstart
 * java -cp ... org.reid4j.train.TrainBenchmark r50     # ResNet-50, 256x128, P16 x K4 = 64, JPEGs written to a temp folder
 * </pre>
 */
public final class TrainBenchmark {
  public static void main(String[] args) throws Exception {
    String which = args.length > 0 ? args[0] : "quickstart";
    int modelSteps = args.length > 1 ? Integer.parseInt(args[1]) : (which.equals("r50") ? 4 : 40);
    TrainConfig cfg;
    ReidDataset data;
    Path tmp = null;
    if (which.equals("r50")) {
      tmp = Files.createTempDirectory("reid4j-bench");
      Path csv = writeJpegs(tmp, 64, 8);
      cfg = TrainConfig.load(Path.of("configs/bot_r50_market.yml"), List.of("DATALOADER.DATASET=csv",
          "DATALOADER.TRAIN_CSV=\"" + csv + "\"", "DATALOADER.QUERY_CSV=\"" + csv + "\"",
          "DATALOADER.GALLERY_CSV=\"" + csv + "\"", "DATALOADER.NUM_WORKERS=2"));
    } else {
      cfg = TrainConfig.load(Path.of("configs/quickstart.yml"), List.of());
    }
    data = ReidDataset.open(cfg);
    ImageSource train = data.train();
    PKSampler sampler = new PKSampler(train.pids(), cfg.dataloader().p(), cfg.dataloader().k(), 1);
    System.out.printf(Locale.ROOT, "%s: %s, batch %d, %d torch threads, %d loader workers%n", which,
        cfg.model().backbone(), sampler.batchSize(), torch.get_num_threads(), cfg.dataloader().numWorkers());

    // Loader alone: decode + train transforms, workers as configured.
    List<int[]> batches = new ArrayList<>();
    for (int e = 0; batches.size() < (which.equals("r50") ? 40 : 150); e++) batches.addAll(sampler.epoch(e));
    long images = 0;
    long t0 = System.nanoTime();
    Batch first = null;
    try (DataLoader loader = new DataLoader(train, batches, Transforms.train(cfg), cfg.dataloader().numWorkers(),
        cfg.dataloader().prefetch(), 7)) {
      while (loader.hasNext()) {
        Batch b = loader.next();
        if (first == null) first = b;
        images += b.size();
      }
    }
    double loaderRate = images / ((System.nanoTime() - t0) / 1e9);
    System.out.printf(Locale.ROOT, "loader: %,d images in %d batches: %,.0f images/s%n", images, batches.size(),
        loaderRate);

    // Model alone on one fixed batch.
    torch.manual_seed(1);
    ReidModel model = ReidModel.build(cfg.model(), cfg.input().channels(), train.numClasses());
    List<Optimizers.Param> ps = new ArrayList<>();
    for (ReidModel.NamedParam p : model.namedParams()) ps.add(new Optimizers.Param(p.name(), p.tensor(), p.isBias()));
    TrainConfig.Solver s = cfg.solver();
    Optimizers.Groups g = Optimizers.create(new Optimizers.Settings(s.optimizer(), s.baseLr(), s.weightDecay(),
        s.weightDecayBias(), s.biasLrFactor(), s.momentum()), ps);
    CrossEntropyLabelSmooth ce = new CrossEntropyLabelSmooth(train.numClasses(), s.labelSmooth());
    TripletLoss tri = new TripletLoss(s.tripletMargin(), false, Kernels.create(Backend.AUTO));
    model.train(true);
    StepInput in = new StepInput(org.reid4j.model.Tensors.CPU);
    in.load(first);
    double best = Double.MAX_VALUE, sum = 0;
    int warm = which.equals("r50") ? 1 : 5;
    for (int i = 0; i < warm + modelSteps; i++) {
      long a = System.nanoTime();
      try (PointerScope scope = new PointerScope()) {
        var x = in.images(first);
        var y = org.reid4j.model.Tensors.longs(first.pids(), org.reid4j.model.Tensors.CPU);
        ReidModel.Output o = model.forward(x, y);
        var loss = ce.forward(o.logits(), y).add(tri.forward(o.globalFeat(), first.pids()).loss());
        g.zeroGrad();
        loss.backward();
        g.step();
        loss.item_double();
      }
      double sec = (System.nanoTime() - a) / 1e9;
      if (i >= warm) {
        sum += sec;
        best = Math.min(best, sec);
      }
    }
    double mean = sum / modelSteps;
    System.out.printf(Locale.ROOT, "model: %d steps of %d images: mean %.1f ms (best %.1f) per step = %,.0f images/s "
        + "(best %,.0f)%n", modelSteps, first.size(), mean * 1e3, best * 1e3, first.size() / mean, first.size() / best);
    System.out.printf(Locale.ROOT, "loader / model = %.1fx%n", loaderRate / (first.size() / mean));
    System.out.printf(Locale.ROOT, "RSS %.0f MiB%n", Trainer.residentMegabytes());
  }

  /** ids x perId random-textured 128x64 JPEGs (Market-1501's size) and a train CSV listing them. */
  static Path writeJpegs(Path dir, int ids, int perId) throws IOException {
    SplittableRandom r = new SplittableRandom(3);
    StringBuilder csv = new StringBuilder("path,pid,camid\n");
    for (int id = 0; id < ids; id++)
      for (int j = 0; j < perId; j++) {
        BufferedImage img = new BufferedImage(64, 128, BufferedImage.TYPE_INT_RGB);
        int base = r.nextInt(0xFFFFFF);
        for (int y = 0; y < 128; y++)
          for (int x = 0; x < 64; x++) img.setRGB(x, y, (base + (y / 8) * 0x030201 + r.nextInt(0x101010)) & 0xFFFFFF);
        String name = String.format(Locale.ROOT, "%04d_c%d_%03d.jpg", id, j % 6 + 1, j);
        javax.imageio.ImageIO.write(img, "jpg", dir.resolve(name).toFile());
        csv.append(name).append(',').append(id).append(',').append(j % 6).append('\n');
      }
    Path f = dir.resolve("train.csv");
    Files.writeString(f, csv);
    return f;
  }
}
