package org.reid4j.cli;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.reid4j.eval.rerank.Candidates;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.GalleryOptions;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Metric;
import org.reid4j.serve.VerificationThreshold;
import org.reid4j.serve.http.ReidService;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code reid4j serve}: a gallery (and optionally a model) behind the HTTP API of docs/api.md. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Serve a persistent gallery over HTTP/JSON (docs/api.md): add, get and delete items, search by "
        + "feature or image, embed and compare images. Concurrent searches (and embeds) are micro-batched.",
        "Without a model only feature requests are served. SIGTERM (Ctrl-C) drains the requests in flight and "
            + "closes the gallery; every acknowledged write is on disk even after kill -9."})
public final class ServeCommand implements Callable<Integer> {

  @Option(names = "--gallery", paramLabel = "DIR", required = true,
      description = "The gallery folder; created when it holds none (its dimension from the model or --dim).")
  Path galleryDir;

  @Option(names = "--dim", paramLabel = "D", description = "Dimension of a new gallery when there is no model.")
  Integer dim;

  @Option(names = "--metric", paramLabel = "METRIC",
      description = "Metric of a new gallery: sqeuclidean, euclidean or cosine (default: sqeuclidean; an existing "
          + "gallery keeps its own).")
  String metric;

  @Mixin
  ModelOptions model = new ModelOptions(); // a model enables image inputs (embed, search and add by image)

  @Option(names = "--threshold", paramLabel = "FILE",
      description = "threshold.json for /v1/compare (default: the one beside the checkpoint, if any).")
  Path threshold;

  @Option(names = "--host", paramLabel = "ADDR", defaultValue = "127.0.0.1",
      description = "Address to listen on; 0.0.0.0 for every interface (default ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "8080",
      description = "Port to listen on; 0 picks a free one (default ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--backend", paramLabel = "BACKEND", defaultValue = "auto",
      description = "Kernels for search: auto, cuda, cpu or java (default ${DEFAULT-VALUE}).")
  String backend;

  @Option(names = "--packed-rows", paramLabel = "MODE", arity = "0..1", fallbackValue = "on",
      defaultValue = "auto",
      description = "On the CPU backend, keep the gallery's rows packed for the distance kernels in native memory: "
          + "searches skip packing them on every call (about 20%% faster at 32 queries a batch, 40%% for one) at the "
          + "cost of one more copy of the features in memory (the CUDA backend keeps its copy on the device anyway). "
          + "MODE auto, on or off (default ${DEFAULT-VALUE}: on when the gallery's files take at most a quarter of "
          + "this machine's memory; --packed-rows alone: on).")
  String packedRows;

  @Option(names = "--rerank", paramLabel = "K1",
      description = "Allow online k-reciprocal re-ranking (\"rerank\": true in a search): builds the gallery's k1-nearest "
          + "neighbour graph before serving (20 is the usual k1; about N^2 d work, or N ef m d with --candidates hnsw).")
  Integer rerankK1;

  @Mixin CandidateOptions neighbours = new CandidateOptions(); // how --rerank builds the graph

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--api-key-file", paramLabel = "FILE",
      description = "A file whose first line is the API key that adding and deleting items need (Authorization: Bearer KEY).")
  Path apiKeyFile;

  @Option(names = "--api-key-for-reads", description = "Also require the key for searches and every other endpoint but /health.")
  boolean keyForReads;

  @Option(names = "--max-batch", paramLabel = "N", defaultValue = "64",
      description = "Most requests coalesced into one search or forward pass; 1 switches batching off (default ${DEFAULT-VALUE}).")
  int maxBatch;

  @Option(names = "--max-wait-us", paramLabel = "US", defaultValue = "2000",
      description = "Microseconds an embed (or, with --scan-rows 0, a search) waits for others to join its batch "
          + "(default ${DEFAULT-VALUE}).")
  long maxWaitMicros;

  @Option(names = "--scan-rows", paramLabel = "ROWS", defaultValue = "32768",
      description = "Searches share one circular scan over the gallery in pieces of this many rows: a query joins at the "
          + "next piece and leaves after one full pass, beside up to --max-batch others; 0 gathers queries for up to "
          + "--max-wait-us instead and runs each batch as a whole pass (default ${DEFAULT-VALUE}).")
  int scanRows;

  @Option(names = "--queue", paramLabel = "N", defaultValue = "4096",
      description = "Requests that may wait for a batch; more get 503 with Retry-After (default ${DEFAULT-VALUE}).")
  int queue;

  @Option(names = "--max-body-mb", paramLabel = "MB", defaultValue = "16",
      description = "Largest request body in MiB; larger ones get 413 (default ${DEFAULT-VALUE}).")
  int maxBodyMb;

  @Option(names = "--drain-seconds", paramLabel = "S", defaultValue = "30",
      description = "On SIGTERM, how long requests in flight may take to finish (default ${DEFAULT-VALUE}).")
  int drainSeconds;

  @Option(names = "--idle-timeout", paramLabel = "S", defaultValue = "30",
      description = "Close a kept-alive connection idle this many seconds (at least 2; default ${DEFAULT-VALUE}). "
          + "Answers advertise one second less (Keep-Alive: timeout=S-1) for clients that expire pooled connections.")
  int idleTimeoutSeconds;

  /** Counted down once the service is up; tests wait on it. */
  final CountDownLatch ready = new CountDownLatch(1);
  private final CountDownLatch stopped = new CountDownLatch(1);
  volatile ReidService service;

  @Override
  public Integer call() throws Exception {
    if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be at least 1, got " + maxBatch);
    if (maxWaitMicros < 0) throw new IllegalArgumentException("--max-wait-us must be >= 0, got " + maxWaitMicros);
    if (scanRows < 0) throw new IllegalArgumentException("--scan-rows must be >= 0, got " + scanRows);
    if (queue < 1) throw new IllegalArgumentException("--queue must be at least 1, got " + queue);
    if (maxBodyMb < 1 || maxBodyMb > 2047) throw new IllegalArgumentException("--max-body-mb must be 1 to 2047, got "
        + maxBodyMb);
    if (drainSeconds < 0) throw new IllegalArgumentException("--drain-seconds must be >= 0, got " + drainSeconds);
    if (idleTimeoutSeconds < 2 || idleTimeoutSeconds > 86_400)
      throw new IllegalArgumentException("--idle-timeout must be 2 to 86400 seconds, got " + idleTimeoutSeconds);
    if (keyForReads && apiKeyFile == null)
      throw new IllegalArgumentException("--api-key-for-reads needs --api-key-file");
    Backend be = Backend.parse(backend);
    Metric m = metric == null ? null : Metric.parse(metric);
    ReidService.Options o = ReidService.Options.defaults().withPort(host, port)
        .withBatching(maxBatch, maxWaitMicros, queue).withScanRows(scanRows).withBodyLimit((long) maxBodyMb << 20)
        .withDrainMillis(drainSeconds * 1000L).withIdleTimeout(idleTimeoutSeconds * 1000L);
    if (apiKeyFile != null) o = o.withApiKeyFile(apiKeyFile, keyForReads);
    if (spec != null) {
      Cli.onlyWith(spec, rerankK1 != null, "with --rerank", "--candidates");
      Cli.onlyWith(spec, rerankK1 != null && neighbours.hnsw(), "with --rerank --candidates hnsw",
          CandidateOptions.HNSW);
    }
    Candidates index = neighbours.parse();
    if (rerankK1 != null) {
      if (rerankK1 < 1) throw new IllegalArgumentException("--rerank: k1 must be at least 1, got " + rerankK1);
      o = o.withRerank(rerankK1);
    }

    GalleryOptions stored = Gallery.storedOptions(galleryDir).orElse(null);
    if (stored != null && dim != null && dim != stored.dimension())
      throw new IllegalArgumentException("--dim " + dim + ": the gallery in " + galleryDir + " has dimension "
          + stored.dimension());
    if (stored != null && m != null && m != stored.metric())
      throw new IllegalArgumentException("--metric " + metric + ": the gallery in " + galleryDir + " was made with "
          + stored.metric().name().toLowerCase(Locale.ROOT) + " (a gallery's metric is fixed)");
    boolean hasModel = model.checkpoint != null || model.torchscript != null;
    if (stored == null && dim == null && !hasModel)
      throw new IllegalArgumentException(galleryDir + " holds no gallery; give --dim D to make an empty one, or a model"
          + " (--checkpoint or --torchscript), or make one first with reid4j gallery import");
    if (dim != null && dim < 1) throw new IllegalArgumentException("--dim must be at least 1, got " + dim);

    long galleryBytes = filesBytes(galleryDir), memory = physicalMemory();
    boolean packed = packedRows(packedRows, galleryBytes, memory);

    ReidService.Model loaded = hasModel ? loadModel() : null;
    try {
      if (loaded != null && dim != null && dim != loaded.embedder().dim())
        throw new IllegalArgumentException("--dim " + dim + " differs from the model's feature size "
            + loaded.embedder().dim());
      int d = stored != null ? stored.dimension() : loaded != null ? loaded.embedder().dim() : dim;
      GalleryOptions go = (stored != null ? stored : GalleryOptions.of(d).metric(m == null ? Metric.SQEUCLIDEAN : m))
          .backend(be).packedRows(packed).index(index);
      Map<String, Object> info = new LinkedHashMap<>();
      info.put("version", new Main.Version().getVersion()[0]);
      service = ReidService.start(o, loaded, info, () -> Gallery.open(galleryDir, go));
    } catch (Exception | Error e) {
      if (loaded != null && service == null) loaded.embedder().close();
      throw e;
    }
    System.out.printf(Locale.ROOT, "gallery rows %s (--packed-rows %s; gallery files %.1f MB, memory %.1f GB)%n",
        packed ? "kept packed in native memory" : "read from the mapped segments", packedRows, galleryBytes / 1e6,
        memory / 1e9);
    Thread hook = new Thread(this::stop, "reid4j-serve-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    System.out.printf(Locale.ROOT, "serving %s (dimension %d, %s) on http://%s:%d%s; Ctrl-C or SIGTERM stops%n",
        galleryDir, service.dimension(), !hasModel ? "no model: feature requests only" : "model " + loaded.embedder(),
        host, service.port(), apiKeyFile == null ? "" : " (API key required for " + (keyForReads ? "every endpoint"
            : "writes") + ")");
    System.out.flush();
    ready.countDown();
    stopped.await();
    return 0;
  }

  /**
   * Whether to keep the rows packed: {@code setting} on or off as said; auto when the gallery's files take at most a
   * quarter of the machine's memory (a copy of the features that fits beside everything else).
   */
  static boolean packedRows(String setting, long galleryBytes, long memoryBytes) {
    return switch (setting == null ? "auto" : setting.trim().toLowerCase(Locale.ROOT)) {
      case "on", "true", "1" -> true;
      case "off", "false", "0" -> false;
      case "auto" -> memoryBytes > 0 && galleryBytes <= memoryBytes / 4;
      default -> throw new IllegalArgumentException("--packed-rows must be auto, on or off, got '" + setting + "'");
    };
  }

  /** The bytes of the regular files under {@code dir} (0 when it does not exist yet). */
  static long filesBytes(java.nio.file.Path dir) throws java.io.IOException {
    if (!java.nio.file.Files.isDirectory(dir)) return 0;
    try (var files = java.nio.file.Files.walk(dir)) {
      long sum = 0;
      for (var f : (Iterable<java.nio.file.Path>) files::iterator)
        if (java.nio.file.Files.isRegularFile(f)) sum += java.nio.file.Files.size(f);
      return sum;
    }
  }

  /** This machine's physical memory in bytes (0 when the JVM cannot say). */
  static long physicalMemory() {
    if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os)
      return os.getTotalMemorySize();
    return 0;
  }

  /** Drains and closes the service (SIGTERM, or a test); returns once it is closed. */
  void stop() {
    ReidService s = service;
    if (s != null) {
      System.out.println("stopping: draining requests in flight, then closing the gallery");
      System.out.flush();
      s.close();
      System.out.println("stopped");
      System.out.flush();
    }
    stopped.countDown();
  }

  private ReidService.Model loadModel() throws Exception {
    ExtractCommand x = new ExtractCommand();
    x.model = model;
    Path checkpoint = model.checkpoint;
    Path t = threshold;
    if (t != null && !Files.isRegularFile(t)) throw new NoSuchFileException(t + " (--threshold)");
    if (t == null && checkpoint != null) {
      Path beside = VerificationThreshold.fileIn(checkpoint.toAbsolutePath().getParent());
      if (Files.isRegularFile(beside)) t = beside;
    }
    VerificationThreshold vt = t == null ? null : VerificationThreshold.load(t);
    ExtractCommand.Prepared p = x.prepare();
    Map<String, Object> describe = new LinkedHashMap<>(p.report());
    if (t != null) describe.put("threshold_file", t.toString());
    return new ReidService.Model(p.embedder(), p.options(), vt, describe);
  }
}
