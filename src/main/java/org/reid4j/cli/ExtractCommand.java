package org.reid4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.CsvDataset;
import org.reid4j.data.Denoise;
import org.reid4j.data.FileImageSource;
import org.reid4j.data.ImageSource;
import org.reid4j.data.ReidDataset;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.io.AtomicFiles;
import org.reid4j.io.FeatureDir;
import org.reid4j.io.Npy;
import org.reid4j.serve.Embedder;
import org.reid4j.serve.Extractor;
import org.reid4j.serve.ModelEmbedder;
import org.reid4j.serve.ModelLoader;
import org.reid4j.serve.TorchScriptEmbedder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code reid4j extract}: features of a data set's query/gallery splits, or of a folder of crops. */
@Command(name = "extract", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Extract ReID features with a trained model.",
        "Model: --checkpoint FILE (reid4j train's best.pt/last.pt; a bare ReidModel.save file also needs --config), "
            + "or --torchscript FILE with --input-size, --mean, --std (a model trained elsewhere).",
        "Input: --data NAME[:ROOT] (fashion-mnist, market1501, dukemtmc, msmt17, or csv:QUERY.csv,GALLERY.csv) "
            + "writes query_feats.npy, query_pids.npy, query_camids.npy and the gallery_ files (the layout "
            + "`reid4j eval --dir` reads); --images DIR writes feats.npy and files.txt (same row order).",
        "Unreadable images are skipped with a warning and left out of every output file."})
public final class ExtractCommand implements Callable<Integer> {
  private static final List<String> DATASETS = List.of("fashion-mnist", "market1501", "dukemtmc", "msmt17", "csv");
  private static final List<String> IMAGE_EXTENSIONS = List.of(".jpg", ".jpeg", ".png", ".bmp", ".gif");

  @Mixin
  ModelOptions model = new ModelOptions(); // picocli fills this instance; eval, calibrate and serve fill it themselves

  @Option(names = "--data", paramLabel = "NAME[:ROOT]", description = "A labelled data set: its query and gallery splits.")
  String data;

  @Option(names = "--images", paramLabel = "DIR", description = "A folder of image crops (searched recursively, following symbolic links).")
  Path images;

  @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output folder.")
  Path out;

  @Option(names = "--batch", paramLabel = "N", description = "Images per forward pass (default: TEST.BATCH_SIZE, TorchScript 64).")
  Integer batch;

  @Option(names = "--workers", paramLabel = "N", defaultValue = "2", description = "Decoding threads; 0 decodes on the calling thread (default ${DEFAULT-VALUE}).")
  int workers = 2;

  private List<Path> imageList; // --images: the files found, listed and checked by prepare()

  /** The model, its config and how to run it: everything extraction needs besides the images. */
  record Prepared(TrainConfig cfg, Embedder embedder, Extractor.Options options, Map<String, Object> report)
      implements AutoCloseable {
    @Override
    public void close() {
      embedder.close();
    }
  }

  /**
   * A model opened from the model words of {@code reid4j extract} ({@code --checkpoint} or
   * {@code --torchscript}, {@code --config}, {@code --set}, {@code --input-size}, {@code --channels},
   * {@code --mean}, {@code --std}, {@code --feat}, {@code --device}, {@code --flip}, {@code --scales},
   * {@code --rotate}, {@code --denoise}, {@code --normalize}, {@code --batch}, {@code --workers}),
   * checked as the command checks them; for programs that rebuild one model in several places from
   * the same words (the executors of a Spark job). Extraction prints no progress lines. The caller
   * closes it.
   *
   * @throws IllegalArgumentException for an unknown or malformed word (the message names it)
   * @throws IOException when the model file cannot be read
   */
  public record OpenedModel(Embedder embedder, Extractor.Options options, Map<String, Object> report)
      implements AutoCloseable {
    @Override
    public void close() {
      embedder.close();
    }
  }

  /** The model words {@link #openModel} takes, and nothing else. */
  @Command(name = "model")
  private static final class ModelWords {
    @Mixin
    ModelOptions model = new ModelOptions();

    @Option(names = "--batch", paramLabel = "N")
    Integer batch;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "2")
    int workers = 2;
  }

  /** See {@link OpenedModel}. */
  public static OpenedModel openModel(List<String> words) throws IOException {
    ModelWords w = new ModelWords();
    try {
      new picocli.CommandLine(w).parseArgs(words.toArray(new String[0]));
    } catch (picocli.CommandLine.ParameterException e) {
      throw new IllegalArgumentException("model options " + words + ": " + e.getMessage(), e);
    }
    if (w.batch != null && w.batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + w.batch);
    ExtractCommand c = new ExtractCommand();
    c.model = w.model;
    c.batch = w.batch;
    c.workers = w.workers;
    Prepared p = c.prepare();
    return new OpenedModel(p.embedder(), p.options().withProgress(null, 10), p.report());
  }

  @Override
  public Integer call() throws IOException {
    if ((data == null) == (images == null))
      throw new IllegalArgumentException("give exactly one input: --data NAME[:ROOT] or --images DIR");
    if (images != null && !Files.isDirectory(images))
      throw new NoSuchFileException(images.toString(), null, "--images must be a folder of image files");
    try (Prepared p = prepare()) {
      Embedder e = p.embedder();
      if (images != null) {
        extractFolder(e, p.options(), p.report(), imageList);
      } else {
        LabelledFeatures[] sides = extractLabelled(p);
        FeatureDir.write(out, sides[0], sides[1]);
      }
      AtomicFiles.writeString(out.resolve("extract.json"),
          new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(p.report()) + "\n");
    }
    System.out.println("wrote " + out);
    return 0;
  }

  /**
   * Checks the arguments, then loads the model (--checkpoint or --torchscript). Everything that can
   * be checked without the model is checked before loading it. The caller closes the embedder.
   */
  Prepared prepare() throws IOException {
    Path checkpoint = model.checkpoint, config = model.config, torchscript = model.torchscript;
    List<String> overrides = model.overrides;
    String inputSizeText = model.inputSizeText, meanText = model.meanText, stdText = model.stdText;
    String device = model.device, feat = model.feat;
    Integer channels = model.channels;
    boolean flip = model.flip, normalize = model.normalize;
    if ((checkpoint == null) == (torchscript == null))
      throw new IllegalArgumentException("give exactly one model: --checkpoint FILE or --torchscript FILE");
    if (workers < 0)
      throw new IllegalArgumentException("--workers must be at least 0 (0 decodes on the calling thread), got " + workers);
    if (data != null) parseDataSpec();
    int[] inputSize = inputSizeText == null ? null : ints("--input-size", inputSizeText, 2);
    double[] mean = meanText == null ? null : doubles("--mean", meanText);
    double[] std = stdText == null ? null : doubles("--std", stdText);
    if (mean != null)
      for (double v : mean)
        if (!(v >= 0 && v <= 1)) throw new IllegalArgumentException("--mean: each value is a mean of [0, 1] pixels, "
            + "so in [0, 1]; got " + meanText);
    if (std != null)
      for (double v : std)
        if (!(v > 0) || Double.isInfinite(v))
          throw new IllegalArgumentException("--std: each value must be > 0; got " + stdText);
    if (mean != null && std != null && mean.length != std.length)
      throw new IllegalArgumentException("--mean has " + mean.length + " values but --std has " + std.length
          + " (one per channel each)");
    double[] scales = doubles("--scales", model.scalesText);
    for (double sc : scales)
      if (!(sc > 0 && sc <= 8)) throw new IllegalArgumentException("--scales: each scale must be in (0, 8], got " + sc);
    int[] rotations = rotations(model.rotateText);
    Denoise denoise = Denoise.parse("--denoise", model.denoiseText);
    ModelEmbedder.Feature feature = feat == null ? null : ModelEmbedder.Feature.parse(feat);
    long t0 = System.nanoTime();
    TrainConfig cfg;
    Embedder embedder;
    boolean rescalePad = false;
    Map<String, Object> described = new LinkedHashMap<>();
    if (checkpoint != null) {
      if (channels != null) throw new IllegalArgumentException("--channels is for --torchscript; a checkpoint's "
          + "channel count comes from its config (INPUT.CHANNELS)");
      List<String> sets = new ArrayList<>(overrides);
      if (inputSize != null) sets.add("INPUT.SIZE_TEST=" + list(inputSize));
      if (mean != null) sets.add("INPUT.PIXEL_MEAN=" + list(mean));
      if (std != null) sets.add("INPUT.PIXEL_STD=" + list(std));
      TrainConfig given = null;
      if (config != null) {
        if (!Files.isRegularFile(config)) throw new NoSuchFileException(config + " (--config)");
        given = TrainConfig.load(config, List.of());
      }
      org.bytedeco.pytorch.Device dev = org.reid4j.train.Devices.choose(device);
      ModelLoader.Loaded loaded = ModelLoader.load(checkpoint, given, sets, dev);
      if (images != null) {
        try {
          imageList = imageFiles(images); // checked before any image is decoded
        } catch (IOException e) {
          loaded.model().close();
          throw e;
        }
      }
      cfg = loaded.config();
      embedder = ModelLoader.embedder(loaded, feature);
      rescalePad = cfg.input().rescalePad();
      described.put("checkpoint", checkpoint.toString());
      described.put("device", dev.str().getString());
      described.put("backbone", cfg.model().backbone());
      described.put("feature", ((ModelEmbedder) embedder).feature().name().toLowerCase(Locale.ROOT) + " neck");
    } else {
      if (config != null || !overrides.isEmpty())
        throw new IllegalArgumentException("--config and --set apply to --checkpoint models only");
      if (!device.equals("auto")) throw new IllegalArgumentException("--device applies to --checkpoint models only "
          + "(TorchScript models run on the CPU)");
      if (feat != null) throw new IllegalArgumentException("--feat applies to --checkpoint models only (a TorchScript "
          + "model returns one feature)");
      if (inputSize == null)
        throw new IllegalArgumentException("--torchscript needs --input-size H,W (the size the model was trained at)");
      int c = channels != null ? channels : mean != null ? mean.length : 3;
      double[] m = mean != null ? mean : defaultMean(c);
      double[] s = std != null ? std : defaultStd(c);
      if (images != null) imageList = imageFiles(images); // checked before the model loads
      embedder = new TorchScriptEmbedder(torchscript, c, inputSize, m, s);
      cfg = TrainConfig.defaults().with(List.of("INPUT.CHANNELS=" + c, "INPUT.PIXEL_MEAN=" + list(m),
          "INPUT.PIXEL_STD=" + list(s), "INPUT.SIZE_TEST=" + list(inputSize)));
      described.put("torchscript", torchscript.toString());
    }
    System.out.printf(Locale.ROOT, "model: %s; input %dx%d (loaded in %.1f s)%n", embedder, embedder.inputSize()[0],
        embedder.inputSize()[1], (System.nanoTime() - t0) / 1e9);
    Extractor.Options opts = new Extractor.Options(batch != null ? batch : checkpoint != null
        ? cfg.test().batchSize() : 64, workers, flip, scales, rotations, denoise, normalize, rescalePad, System.out, 10);
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("model", described);
    report.put("input_size", embedder.inputSize());
    report.put("dim", embedder.dim());
    report.put("flip", flip);
    report.put("scales", opts.scales());
    report.put("rotations", opts.rotations());
    report.put("denoise", denoise.label());
    report.put("normalize", normalize);
    return new Prepared(cfg, embedder, opts, report);
  }

  /** Query and gallery features of the --data set, with their pids and camids (unreadable images left out). */
  LabelledFeatures[] extractLabelled(Prepared p) throws IOException {
    return extractLabelled(p, openDataset(p.cfg(), p.embedder().channels()));
  }

  LabelledFeatures[] extractLabelled(Prepared p, ImageSource[] qg) throws IOException {
    Embedder e = p.embedder();
    Extractor.Options opts = p.options();
    Map<String, Object> report = p.report();
    String[] names = {"query", "gallery"};
    LabelledFeatures[] sides = new LabelledFeatures[2];
    for (int k = 0; k < 2; k++) {
      ImageSource src = qg[k];
      System.out.printf(Locale.ROOT, "%s: %,d images%n", names[k], src.size());
      Extractor.Result r = Extractor.extract(e, src, opts);
      if (r.kept().length == 0) throw new IOException(names[k] + ": no image could be loaded from " + data);
      int[] pids = new int[r.kept().length], camids = new int[r.kept().length];
      for (int i = 0; i < pids.length; i++) {
        pids[i] = src.pid(r.kept()[i]);
        camids[i] = src.camid(r.kept()[i]);
      }
      sides[k] = new LabelledFeatures(names[k], r.features(), pids, camids);
      report.put(names[k], summary(src, r));
    }
    return sides;
  }

  /** The image files under dir, sorted; refused when there are none or a name cannot be one line of files.txt. */
  private static List<Path> imageFiles(Path dir) throws IOException {
    List<Path> files = listImages(dir);
    for (Path f : files)
      if (f.toString().contains("\n") || f.toString().contains("\r"))
        throw new IOException(f + ": the file name holds a line break, which files.txt (one name per line) cannot "
            + "show; rename the file");
    if (files.isEmpty())
      throw new IOException(dir + ": no image files (" + String.join(", ", IMAGE_EXTENSIONS) + ") found");
    return files;
  }

  private void extractFolder(Embedder e, Extractor.Options opts, Map<String, Object> report, List<Path> files)
      throws IOException {
    int[] zeros = new int[files.size()];
    ImageSource src = new FileImageSource(images.toString(), files, zeros, zeros, e.channels());
    System.out.printf(Locale.ROOT, "images: %,d files in %s%n", files.size(), images);
    Extractor.Result r = Extractor.extract(e, src, opts);
    if (r.kept().length == 0) throw new IOException(images + ": no image could be loaded");
    StringBuilder names = new StringBuilder();
    for (int i : r.kept()) names.append(relative(images, files.get(i))).append('\n');
    // (names with a line break were refused before extraction: files.txt has one name per line)
    Files.createDirectories(out);
    Npy.writeFloat32(out.resolve("feats.npy"), r.features());
    AtomicFiles.writeString(out.resolve("files.txt"), names.toString());
    report.put("images", summary(src, r));
  }

  /** The query and gallery splits SPEC names, images with the model's channel count. */
  ImageSource[] openDataset(TrainConfig cfg, int c) throws IOException {
    String[] spec = parseDataSpec();
    String name = spec[0], root = spec[1];
    if (name.equals("csv")) {
      String[] f = root.split(",");
      return new ImageSource[] {CsvDataset.read("csv query", Path.of(f[0]), c, false),
          CsvDataset.read("csv gallery", Path.of(f[1]), c, false)};
    }
    if (root == null)
      root = name.equals(cfg.dataloader().dataset()) ? cfg.dataloader().root()
          : name.equals("fashion-mnist") ? "" : "datasets";
    TrainConfig d = cfg.with(List.of("DATALOADER.DATASET=" + name,
        "DATALOADER.ROOT=" + TrainCommand.yamlString(root)));
    return ReidDataset.openQueryGallery(d);
  }

  /** --data NAME[:ROOT] as {name, root or null}, checked. */
  private String[] parseDataSpec() {
    int colon = data.indexOf(':');
    String name = (colon < 0 ? data : data.substring(0, colon)).trim().toLowerCase(Locale.ROOT);
    String root = colon < 0 ? null : data.substring(colon + 1);
    if (!DATASETS.contains(name))
      throw new IllegalArgumentException("--data: unknown data set '" + name + "'; expected one of " + DATASETS
          + ", optionally followed by :ROOT (e.g. market1501:/data/Market-1501)");
    if (name.equals("csv") && (root == null || root.split(",").length != 2))
      throw new IllegalArgumentException("--data csv needs the query and gallery lists: csv:QUERY.csv,GALLERY.csv");
    return new String[] {name, root};
  }

  private static List<Path> listImages(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
      return s.filter(Files::isRegularFile)
          .filter(p -> IMAGE_EXTENSIONS.stream().anyMatch(x -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(x)))
          .sorted((a, b) -> relative(dir, a).compareTo(relative(dir, b)))
          .toList();
    }
  }

  /** p relative to dir, with '/' separators. */
  static String relative(Path dir, Path p) {
    return dir.relativize(p).toString().replace(java.io.File.separatorChar, '/');
  }

  private static Map<String, Object> summary(ImageSource src, Extractor.Result r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("images", src.size());
    m.put("kept", r.kept().length);
    List<String> skipped = new ArrayList<>();
    for (int i : r.skipped()) skipped.add(src.describe(i));
    m.put("skipped", skipped);
    m.put("seconds", r.seconds());
    m.put("images_per_second", r.imagesPerSecond());
    return m;
  }

  private static double[] defaultMean(int c) {
    if (c == 3) return new double[] {0.485, 0.456, 0.406};
    double[] m = new double[c];
    Arrays.fill(m, 0.5);
    return m;
  }

  private static double[] defaultStd(int c) {
    if (c == 3) return new double[] {0.229, 0.224, 0.225};
    double[] m = new double[c];
    Arrays.fill(m, 0.5);
    return m;
  }

  /** Comma-separated numbers of an option ("1.0,1.1"), or an error naming the option and the bad part. */
  static double[] doubles(String option, String text) {
    String[] parts = text.split(",");
    double[] v = new double[parts.length];
    for (int i = 0; i < parts.length; i++) {
      try {
        v[i] = Double.parseDouble(parts[i].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(option + ": '" + parts[i].trim() + "' is not a number (expected e.g. "
            + option + " 1.0,1.1)");
      }
    }
    return v;
  }

  /**
   * --rotate's angles in degrees: multiples of 90 in [-360, 360], taken modulo 360 (so -90 is 270),
   * each at most once.
   */
  static int[] rotations(String text) {
    double[] d = doubles("--rotate", text);
    int[] v = new int[d.length];
    for (int i = 0; i < d.length; i++) {
      if (d[i] % 90 != 0 || Math.abs(d[i]) > 360)
        throw new IllegalArgumentException("--rotate: angles must be multiples of 90 degrees in [-360, 360] (e.g. "
            + "0,90,180,270), got " + text.split(",")[i].trim());
      v[i] = Math.floorMod((int) d[i], 360);
      for (int j = 0; j < i; j++)
        if (v[j] == v[i]) throw new IllegalArgumentException("--rotate: " + v[i] + " degrees given twice in " + text);
    }
    return v;
  }

  private static int[] ints(String option, String text, int count) {
    double[] d = doubles(option, text);
    int[] v = new int[d.length];
    for (int i = 0; i < d.length; i++) {
      v[i] = (int) d[i];
      if (v[i] != d[i] || v[i] < 1)
        throw new IllegalArgumentException(option + ": expected positive integers, got " + text);
    }
    if (v.length != count) throw new IllegalArgumentException(option + ": expected " + count + " values, got " + text);
    return v;
  }

  private static String list(int[] v) {
    return Arrays.toString(v).replace(" ", "");
  }

  private static String list(double[] v) {
    return Arrays.toString(v).replace(" ", "");
  }
}
