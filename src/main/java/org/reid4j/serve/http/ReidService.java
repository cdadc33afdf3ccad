package org.reid4j.serve.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.Pointer;
import org.reid4j.data.FloatImage;
import org.reid4j.data.ImageDecoder;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.Hit;
import org.reid4j.gallery.Item;
import org.reid4j.gallery.SearchOptions;
import org.reid4j.serve.BatchedSearch;
import org.reid4j.serve.Embedder;
import org.reid4j.serve.Extractor;
import org.reid4j.serve.MicroBatcher;
import org.reid4j.serve.SharedEmbedder;
import org.reid4j.serve.VerificationThreshold;

/**
 * {@code reid4j serve}: a {@link Gallery} (and optionally a model) behind an HTTP/JSON API; see
 * docs/api.md for every endpoint. Searches and embeds from concurrent requests are coalesced by
 * {@link MicroBatcher}s (one GEMM for many queries, one forward pass for many images); adds go
 * straight to the gallery, whose group commit shares one fsync among concurrent writers.
 *
 * <p>Life cycle: {@link #start} listens first and answers {@code /health} with 503 "starting" while
 * the gallery opens (replaying its log may take a while), then turns ready. {@link #close} (run
 * on SIGTERM by the CLI) answers new requests with 503, waits for the ones in flight, stops the
 * server and closes the gallery, so every acknowledged write is in its log and checkpointed.
 */
public final class ReidService implements AutoCloseable {

  /**
   * How the service runs.
   *
   * @param host the address to listen on ("0.0.0.0" for every interface)
   * @param port the port (0 = any free one; see {@link #port()})
   * @param maxBatch the most requests coalesced into one kernel call or forward pass (1 = no batching)
   * @param maxWaitMicros how long a request waits for others to join its batch
   * @param queueCapacity requests that may wait per batcher before new ones get 503
   * @param maxBodyBytes the largest request body (413 above)
   * @param maxImageSide the largest image side accepted, in pixels
   * @param maxK the largest k of a search
   * @param maxBatchQueries the most queries (or items) in one batch request
   * @param apiKey needed by the mutating endpoints (null: none)
   * @param keyForReads the key is needed by every endpoint but /health
   * @param drainMillis how long {@link #close} waits for requests in flight
   * @param requestTimeoutMillis how long a request waits for its batch before a 503
   * @param rerankK1 the k1 of the gallery's neighbour graph for online re-ranking, built before the
   *     service turns ready (0: re-ranking off)
   * @param idleTimeoutMillis how long a kept-alive connection may stay idle before the server closes it;
   *     every answer advertises one second less in a {@code Keep-Alive: timeout=S} header, so that a
   *     client that honours it never reuses a connection the server is closing
   */
  public record Options(String host, int port, int maxBatch, long maxWaitMicros, int queueCapacity, long maxBodyBytes,
      int maxImageSide, int maxK, int maxBatchQueries, ApiKey apiKey, boolean keyForReads, long drainMillis,
      long requestTimeoutMillis, int rerankK1, long idleTimeoutMillis, int scanRows) {
    public Options {
      if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be 0 to 65535, got " + port);
      if (maxBodyBytes < 1024) throw new IllegalArgumentException("the body limit must be at least 1024 bytes, got "
          + maxBodyBytes);
      if (maxK < 1 || maxBatchQueries < 1 || maxImageSide < 1 || drainMillis < 0 || requestTimeoutMillis < 1)
        throw new IllegalArgumentException("bad service limits: " + this);
      if (keyForReads && apiKey == null) throw new IllegalArgumentException("keyForReads needs an API key");
      if (rerankK1 < 0) throw new IllegalArgumentException("rerankK1 must be >= 0, got " + rerankK1);
      if (idleTimeoutMillis < 2000)
        throw new IllegalArgumentException("the idle timeout must be at least 2 s, got " + idleTimeoutMillis + " ms");
      if (scanRows < 0) throw new IllegalArgumentException("scanRows must be >= 0, got " + scanRows);
    }

    /** Loopback, any free port, batches of up to 64 within 2 ms, 16 MiB bodies, no key, 30 s idle connections. */
    public static Options defaults() {
      return new Options("127.0.0.1", 0, 64, 2000, 4096, 16L << 20, 4096, 1000, 1024, null, false, 30_000, 30_000, 0,
          30_000, 32_768);
    }

    public Options withPort(String host, int port) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, drainMillis, requestTimeoutMillis, rerankK1, idleTimeoutMillis, scanRows);
    }

    public Options withBatching(int maxBatch, long maxWaitMicros, int queueCapacity) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, drainMillis, requestTimeoutMillis, rerankK1, idleTimeoutMillis, scanRows);
    }

    public Options withBodyLimit(long bytes) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, bytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, drainMillis, requestTimeoutMillis, rerankK1, idleTimeoutMillis, scanRows);
    }

    /** The key in {@code keyFile} (first line), needed for writes, and for reads too when {@code forReads}. */
    public Options withApiKeyFile(java.nio.file.Path keyFile, boolean forReads) throws IOException {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, ApiKey.read(keyFile), forReads, drainMillis, requestTimeoutMillis, rerankK1, idleTimeoutMillis, scanRows);
    }

    Options withApiKey(String key, boolean forReads) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, ApiKey.of(key), forReads, drainMillis, requestTimeoutMillis, rerankK1, idleTimeoutMillis, scanRows);
    }

    public Options withDrainMillis(long ms) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, ms, requestTimeoutMillis, rerankK1, idleTimeoutMillis, scanRows);
    }

    /** Kept-alive connections idle this long are closed (see {@link Options#idleTimeoutMillis}). */
    public Options withIdleTimeout(long millis) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, drainMillis, requestTimeoutMillis, rerankK1, millis, scanRows);
    }

    /**
     * Searches by a shared scan over pieces of this many rows ({@link org.reid4j.gallery.SharedScan}, the
     * default, 32,768), or by the micro-batcher of whole passes ({@link BatchedSearch}) when 0.
     */
    public Options withScanRows(int rows) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, drainMillis, requestTimeoutMillis, rerankK1, idleTimeoutMillis, rows);
    }

    /** Online re-ranking with a neighbour graph of this k1 (0: off); see {@link Options#rerankK1}. */
    public Options withRerank(int k1) {
      return new Options(host, port, maxBatch, maxWaitMicros, queueCapacity, maxBodyBytes, maxImageSide, maxK,
          maxBatchQueries, apiKey, keyForReads, drainMillis, requestTimeoutMillis, k1, idleTimeoutMillis, scanRows);
    }
  }

  /**
   * The model behind /v1/embed, image inputs and /v1/compare: the embedder (used from the embed
   * batcher's thread only, through a {@link SharedEmbedder}), the extraction options (flip, scales,
   * normalisation), the calibrated threshold if there is one, and what /v1/info says about it. The
   * service closes the embedder.
   */
  public record Model(Embedder embedder, Extractor.Options options, VerificationThreshold thresholdOrNull,
      Map<String, Object> info) {}

  private record SearchJob(float[] feature, SearchOptions options) {}

  private static final String STARTING = "starting", READY = "ready", STOPPING = "stopping";
  private static final Set<String> ITEM_FIELDS = Set.of("id", "feature", "image", "pid", "camid", "attributes");

  private final Options options;
  private final Model model;
  private final Map<String, Object> info;
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final JvmGcMetrics gcMetrics = new JvmGcMetrics();
  private final AtomicInteger inflight = new AtomicInteger();
  private final java.util.concurrent.ConcurrentHashMap<String, Timer> timers = new java.util.concurrent.ConcurrentHashMap<>();
  /** Single searches from the request threads: a shared scan, or the micro-batcher of whole passes. */
  private record Searches(java.util.function.BiFunction<float[], SearchOptions, CompletableFuture<List<Hit>>> submitter,
      java.util.function.IntSupplier waiting, java.util.function.LongConsumer closer) {
    CompletableFuture<List<Hit>> submit(float[] feature, SearchOptions options) {
      return submitter.apply(feature, options);
    }

    int queued() {
      return waiting.getAsInt();
    }

    void close(long drainMillis) {
      closer.accept(drainMillis);
    }

    static Searches of(Gallery g, Options o, java.util.function.IntConsumer sizes) {
      if (o.scanRows() > 0) {
        org.reid4j.gallery.SharedScan scan = new org.reid4j.gallery.SharedScan(g, o.maxBatch(), o.scanRows(),
            o.queueCapacity(), sizes);
        return new Searches(scan::submit, scan::queued, scan::close);
      }
      BatchedSearch b = new BatchedSearch(g, o.maxBatch(), o.maxWaitMicros(), o.queueCapacity(), sizes);
      return new Searches(b::submit, b::queued, b::close);
    }
  }

  private volatile Searches searches;
  private final SharedEmbedder embeds;
  private final Javalin app;
  private final DistributionSummary searchSizes;
  private volatile String state = STARTING;
  private volatile Gallery gallery;
  private volatile org.eclipse.jetty.server.Server jetty;
  private boolean closed;

  private ReidService(Options o, Model model, Map<String, Object> info) {
    this.options = o;
    this.model = model;
    this.info = info == null ? Map.of() : info;
    DistributionSummary searchSizes = batchSizes("search"), embedSizes = model == null ? null : batchSizes("embed");
    this.searchSizes = searchSizes;
    embeds = model == null ? null : new SharedEmbedder(model.embedder(), model.options(), o.maxBatch(),
        o.maxWaitMicros(), o.queueCapacity(), embedSizes::record);
    Gauge.builder("reid4j.queue.depth", this, s -> s.searches == null ? 0 : s.searches.queued())
        .tag("batcher", "search").description("requests waiting for a batch").register(registry);
    if (embeds != null)
      Gauge.builder("reid4j.queue.depth", embeds, SharedEmbedder::queued).tag("batcher", "embed")
          .description("requests waiting for a batch").register(registry);
    Gauge.builder("reid4j.gallery.items", this, s -> s.gallery == null ? 0 : s.gallery.size())
        .description("items in the gallery").register(registry);
    Gauge.builder("reid4j.http.inflight", inflight, AtomicInteger::get).description("requests being answered")
        .register(registry);
    Gauge.builder("reid4j.native.physical.bytes", Pointer::physicalBytes).baseUnit("bytes")
        .description("resident memory of the process as JavaCPP measures it").register(registry);
    Gauge.builder("reid4j.native.javacpp.bytes", Pointer::totalBytes).baseUnit("bytes")
        .description("native memory held by JavaCPP pointers").register(registry);
    new JvmMemoryMetrics().bindTo(registry);
    gcMetrics.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    app = Javalin.create(c -> {
      c.showJavalinBanner = false;
      c.http.prefer405over404 = true;
      c.jetty.modifyServer(server -> {
        server.setStopAtShutdown(false); // close() stops it after draining
        // Every connector gets the idle timeout as the server starts, before any of them accepts a
        // connection (none is ever kept with Jetty's default).
        server.addEventListener(new org.eclipse.jetty.util.component.LifeCycle.Listener() {
          @Override
          public void lifeCycleStarting(org.eclipse.jetty.util.component.LifeCycle event) {
            for (org.eclipse.jetty.server.Connector con : server.getConnectors())
              if (con instanceof org.eclipse.jetty.server.AbstractConnector a) a.setIdleTimeout(o.idleTimeoutMillis());
          }
        });
        jetty = server;
      });
      c.requestLogger.http((ctx, ms) -> finished(ctx, ms));
    });
    routes();
  }

  private DistributionSummary batchSizes(String batcher) {
    return DistributionSummary.builder("reid4j.batch.size").tag("batcher", batcher)
        .description("requests per kernel call or forward pass").serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256)
        .register(registry);
  }

  /**
   * Starts listening, then opens the gallery with {@code opener} (health says "starting" meanwhile)
   * and turns ready. On failure the server is stopped and the error rethrown.
   */
  public static ReidService start(Options o, Model modelOrNull, Map<String, Object> info, Callable<Gallery> opener)
      throws Exception {
    ReidService s = new ReidService(o, modelOrNull, info);
    s.app.start(o.host(), o.port());
    try {
      Gallery g = opener.call();
      if (modelOrNull != null && modelOrNull.embedder().dim() != g.dimension())
        throw new IllegalArgumentException("the model's features have " + modelOrNull.embedder().dim()
            + " values, the gallery's dimension is " + g.dimension() + "; serve a gallery made with this model");
      if (o.rerankK1() > 0 && g.size() > 0)
        g.buildNeighbours(o.rerankK1(), line -> System.out.println("reid4j serve: neighbour graph: " + line));
      s.gallery = g;
      s.searches = Searches.of(g, o, s.searchSizes::record);
      s.state = READY;
      return s;
    } catch (Exception | Error e) {
      s.close();
      throw e;
    }
  }

  /** The port the service listens on. */
  public int port() {
    return app.port();
  }

  /** The gallery's dimension. */
  public int dimension() {
    return gallery.dimension();
  }

  /** The meters behind /metrics. */
  public PrometheusMeterRegistry registry() {
    return registry;
  }

  // ---------------------------------------------------------------- routes

  private void routes() {
    String keepAlive = "timeout=" + (options.idleTimeoutMillis() / 1000 - 1);
    app.before(ctx -> {
      ctx.header("Keep-Alive", keepAlive);
      inflight.incrementAndGet();
      ctx.attribute("reid4j.counted", Boolean.TRUE);
      String path = ctx.path();
      if (path.equals("/health")) return;
      if (!state.equals(READY))
        throw new ApiException(503, state.equals(STARTING) ? "the gallery is still opening" : "the service is stopping",
            1);
      boolean write = !ctx.method().name().equals("GET") && path.startsWith("/v1/items");
      if (options.apiKey() != null && (write || options.keyForReads()))
        options.apiKey().check(ctx.header("Authorization"));
    });
    app.get("/health", ctx -> {
      ObjectNode n = Requests.JSON.createObjectNode();
      n.put("status", state);
      Gallery g = gallery;
      if (g != null && state.equals(READY)) n.put("items", g.size());
      send(ctx, state.equals(READY) ? 200 : 503, n);
    });
    app.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(registry.scrape()));
    app.get("/v1/info", ctx -> send(ctx, 200, infoJson()));
    app.get("/v1/items", ctx -> send(ctx, 200, Requests.JSON.createObjectNode().put("count", gallery.size())));
    app.post("/v1/items", this::addItem);
    app.post("/v1/items/batch", this::addItems);
    app.get("/v1/items/{id}", this::getItem);
    app.delete("/v1/items/{id}", this::deleteItem);
    app.post("/v1/search", this::search);
    app.post("/v1/search/batch", this::searchMany);
    app.post("/v1/embed", this::embed);
    app.post("/v1/compare", this::compare);

    app.exception(ApiException.class, (e, ctx) -> {
      if (e.retryAfterSeconds > 0) ctx.header("Retry-After", Integer.toString(e.retryAfterSeconds));
      error(ctx, e.status, e.getMessage());
    });
    app.exception(java.util.concurrent.RejectedExecutionException.class, (e, ctx) -> {
      ctx.header("Retry-After", "1");
      error(ctx, 503, e.getMessage());
    });
    app.exception(HttpResponseException.class, (e, ctx) -> {
      int status = e.getStatus();
      error(ctx, status, switch (status) {
        case 404 -> notFound(ctx);
        case 405 -> notAllowed(ctx);
        default -> e.getMessage();
      });
    });
    app.exception(IllegalArgumentException.class, (e, ctx) -> error(ctx, 400, e.getMessage()));
    app.exception(Exception.class, (e, ctx) -> {
      System.err.println("reid4j serve: internal error on " + ctx.method() + " " + ctx.path() + ": " + e);
      e.printStackTrace();
      error(ctx, 500, "internal error (" + e.getClass().getSimpleName() + "); the server log has the details");
    });
    app.error(404, ctx -> {
      if (ctx.attribute("reid4j.error") == null) error(ctx, 404, notFound(ctx));
    });
    app.error(405, ctx -> {
      if (ctx.attribute("reid4j.error") == null) error(ctx, 405, notAllowed(ctx));
    });
  }

  private static String notFound(Context ctx) {
    return "no such endpoint: " + ctx.method() + " " + ctx.path() + " (see docs/api.md)";
  }

  private static String notAllowed(Context ctx) {
    return ctx.method() + " is not allowed on " + ctx.path() + " (see docs/api.md)";
  }

  private void finished(Context ctx, float ms) {
    if (ctx.attribute("reid4j.counted") != null) inflight.decrementAndGet();
    String endpoint;
    try {
      endpoint = ctx.endpointHandlerPath(); // the route template, so ids do not become labels
    } catch (IllegalStateException e) {
      endpoint = null; // answered before routing (503 while starting or stopping, 401/403)
    }
    String route = endpoint == null || endpoint.isEmpty() || endpoint.equals("*") ? "unmatched" : endpoint;
    String method = ctx.method().name();
    int status = ctx.statusCode();
    timers.computeIfAbsent(route + " " + method + " " + status, k -> Timer.builder("reid4j.http.requests")
        .tag("endpoint", route).tag("method", method).tag("status", Integer.toString(status))
        .description("HTTP requests by endpoint and status").publishPercentileHistogram().register(registry))
        .record(Duration.ofNanos((long) (ms * 1e6)));
  }

  /**
   * The request body, read once into an array of exactly its length (a declared length above the
   * limit is refused before reading; a body without one is read up to the limit).
   */
  private byte[] body(Context ctx) throws IOException {
    long max = options.maxBodyBytes(), declared = ctx.req().getContentLengthLong();
    if (declared > max) throw new ApiException(413, "the request body is larger than " + max + " bytes");
    try (java.io.InputStream in = ctx.req().getInputStream()) {
      byte[] b = declared >= 0 ? in.readNBytes((int) declared) : in.readNBytes((int) max + 1);
      if (b.length > max) throw new ApiException(413, "the request body is larger than " + max + " bytes");
      if (declared >= 0 && b.length < declared)
        throw ApiException.badRequest("the request body ended after " + b.length + " of " + declared + " bytes");
      return b;
    }
  }

  private static void error(Context ctx, int status, String message) {
    ctx.attribute("reid4j.error", Boolean.TRUE);
    send(ctx, status, Requests.JSON.createObjectNode().put("error", message == null ? "error" : message));
  }

  private static void send(Context ctx, int status, JsonNode body) {
    try {
      ctx.status(status).contentType("application/json").result(Requests.JSON.writeValueAsBytes(body));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private ObjectNode infoJson() {
    ObjectNode n = Requests.JSON.createObjectNode();
    n.put("dimension", gallery.dimension());
    n.put("metric", gallery.metric().name());
    n.put("items", gallery.size());
    n.put("rerank_k1", options.rerankK1()); // 0: online re-ranking is off
    n.putPOJO("rerank_candidates", gallery.neighbourIndex().toJson());
    if (model == null) n.putNull("model");
    else {
      ObjectNode m = n.putObject("model");
      m.put("dim", model.embedder().dim());
      m.put("channels", model.embedder().channels());
      ArrayNode size = m.putArray("input_size");
      for (int v : model.embedder().inputSize()) size.add(v);
      m.put("threshold", model.thresholdOrNull() != null);
      m.set("describe", Requests.JSON.valueToTree(model.info()));
    }
    ObjectNode b = n.putObject("batching");
    b.put("max_batch", options.maxBatch());
    b.put("max_wait_us", options.maxWaitMicros());
    b.put("search", options.scanRows() > 0 ? "shared scan" : "micro-batches");
    b.put("scan_rows", options.scanRows());
    b.put("queue_capacity", options.queueCapacity());
    b.put("max_body_bytes", options.maxBodyBytes());
    for (Map.Entry<String, Object> e : info.entrySet()) n.set(e.getKey(), Requests.JSON.valueToTree(e.getValue()));
    return n;
  }

  // ---------------------------------------------------------------- items

  private Item item(JsonNode o, String where) {
    Requests.onlyFields(o, where, ITEM_FIELDS);
    String id = Requests.requiredString(o, "id", where);
    float[] f = feature(Requests.input(o, where, gallery.dimension()), where);
    Map<String, String> attrs = Requests.stringMap(o, "attributes", where);
    return new Item(id, f, Requests.optionalInt(o, "pid", where), Requests.optionalInt(o, "camid", where), attrs);
  }

  private void addItem(Context ctx) throws IOException {
    Item it = item(Requests.object(body(ctx)), "");
    gallery.add(it);
    ctx.header("Location", "/v1/items/" + URLEncoder.encode(it.id(), StandardCharsets.UTF_8).replace("+", "%20"));
    send(ctx, 201, Requests.JSON.createObjectNode().put("id", it.id()));
  }

  private void addItems(Context ctx) throws IOException {
    JsonNode o = Requests.object(body(ctx));
    Requests.onlyFields(o, "", Set.of("items"));
    JsonNode a = o.get("items");
    if (a == null || !a.isArray() || a.isEmpty())
      throw ApiException.badRequest("items: expected a non-empty array of items");
    if (a.size() > options.maxBatchQueries())
      throw new ApiException(413, "items: " + a.size() + " items in one request; at most " + options.maxBatchQueries());
    List<Item> items = new ArrayList<>(a.size());
    for (int i = 0; i < a.size(); i++) {
      if (!a.get(i).isObject()) throw ApiException.badRequest("items[" + i + "]: expected an object");
      items.add(item(a.get(i), "items[" + i + "]."));
    }
    gallery.addAll(items);
    send(ctx, 201, Requests.JSON.createObjectNode().put("count", items.size()));
  }

  private void getItem(Context ctx) {
    String id = ctx.pathParam("id");
    Item it = gallery.get(id).orElseThrow(() -> ApiException.notFound("no item with id '" + id + "'"));
    ObjectNode n = Requests.JSON.createObjectNode();
    n.put("id", it.id());
    ArrayNode f = n.putArray("feature");
    for (float v : it.feature()) f.add(v);
    if (it.pid() != null) n.put("pid", it.pid());
    if (it.camid() != null) n.put("camid", it.camid());
    n.set("attributes", Requests.JSON.valueToTree(it.attributes()));
    send(ctx, 200, n);
  }

  private void deleteItem(Context ctx) {
    String id = ctx.pathParam("id");
    if (!gallery.remove(id)) throw ApiException.notFound("no item with id '" + id + "'");
    ctx.status(204);
  }

  // ---------------------------------------------------------------- search

  private SearchJob job(Requests.Query q, String where) {
    SearchOptions so = SearchOptions.top(q.k());
    Requests.RerankRequest r = q.rerank();
    if (r != null) {
      int k1 = options.rerankK1();
      if (k1 == 0)
        throw ApiException.badRequest(where + "rerank: re-ranking is off on this server (start it with --rerank K1, "
            + "which builds the gallery's neighbour graph)");
      if (r.k1() != null && r.k1() != k1)
        throw ApiException.badRequest(where + "rerank.k1: this server's neighbour graph has k1 = " + k1 + ", got "
            + r.k1());
      int k2 = r.k2() != null ? r.k2() : Math.min(6, k1);
      double lambda = r.lambda() != null ? r.lambda() : 0.3;
      int candidates = r.candidates() != null ? r.candidates() : Math.max(q.k(), SearchOptions.DEFAULT_CANDIDATES);
      if (candidates > 10 * options.maxK())
        throw ApiException.badRequest(where + "rerank.candidates: at most " + 10 * options.maxK() + ", got " + candidates);
      try {
        so = so.rerank(k1, k2, (float) lambda, candidates);
      } catch (IllegalArgumentException e) {
        throw ApiException.badRequest(where + e.getMessage());
      }
    }
    if (q.excludeCamid() != null) so = so.excludeCamid(q.excludeCamid());
    for (Map.Entry<String, String> e : q.filter().entrySet()) so = so.filter(e.getKey(), e.getValue());
    return new SearchJob(feature(q.input(), where), so);
  }

  private void search(Context ctx) throws IOException {
    long t0 = System.nanoTime();
    Requests.Query q = Requests.query(Requests.object(body(ctx)), "", gallery.dimension(), options.maxK());
    SearchJob j = job(q, "");
    List<Hit> hits = await(searches.submit(j.feature(), j.options()), "search");
    ObjectNode n = Requests.JSON.createObjectNode();
    n.set("hits", hitsJson(hits));
    n.put("took_ms", (System.nanoTime() - t0) / 1e6);
    send(ctx, 200, n);
  }

  private void searchMany(Context ctx) throws IOException {
    long t0 = System.nanoTime();
    List<Requests.Query> qs = Requests.queries(Requests.object(body(ctx)), gallery.dimension(), options.maxK(),
        options.maxBatchQueries());
    List<SearchJob> jobs = new ArrayList<>(qs.size());
    for (int i = 0; i < qs.size(); i++) jobs.add(job(qs.get(i), "queries[" + i + "]."));
    List<CompletableFuture<List<Hit>>> fs = new ArrayList<>(jobs.size());
    for (SearchJob j : jobs) fs.add(searches.submit(j.feature(), j.options()));
    ObjectNode n = Requests.JSON.createObjectNode();
    ArrayNode results = n.putArray("results");
    for (CompletableFuture<List<Hit>> f : fs) results.addObject().set("hits", hitsJson(await(f, "search")));
    n.put("took_ms", (System.nanoTime() - t0) / 1e6);
    send(ctx, 200, n);
  }

  private static ArrayNode hitsJson(List<Hit> hits) {
    ArrayNode a = Requests.JSON.createArrayNode();
    for (Hit h : hits) {
      ObjectNode o = a.addObject();
      o.put("id", h.id());
      o.put("distance", h.distance());
      if (h.pid() != null) o.put("pid", h.pid());
      if (h.camid() != null) o.put("camid", h.camid());
    }
    return a;
  }

  // ---------------------------------------------------------------- model

  private Model model(String what) {
    if (model == null)
      throw ApiException.badRequest(what + " needs a model, and this server has none (start it with --checkpoint or "
          + "--torchscript); send features instead");
    return model;
  }

  /** The input's feature: as given, or the embedding of its image. */
  private float[] feature(Requests.Input in, String where) {
    if (in.feature() != null) return in.feature();
    return embedImage(in.image(), where + "image");
  }

  private float[] embedImage(byte[] bytes, String source) {
    Model m = model("an image input");
    FloatImage img;
    try {
      img = ImageDecoder.decode(bytes, source, m.embedder().channels(), options.maxImageSide());
    } catch (IOException e) {
      throw ApiException.badRequest(e.getMessage());
    }
    return await(embeds.submit(img), "embed");
  }

  private void embed(Context ctx) throws IOException {
    String type = ctx.contentType() == null ? "" : ctx.contentType().toLowerCase(Locale.ROOT);
    byte[] body = body(ctx);
    byte[] image;
    if (type.startsWith("application/json")) {
      JsonNode o = Requests.object(body);
      Requests.onlyFields(o, "", Set.of("image"));
      Requests.Input in = Requests.input(o, "", model("/v1/embed").embedder().dim());
      if (in.image() == null) throw ApiException.badRequest("/v1/embed takes an image, not a feature");
      image = in.image();
    } else {
      image = body;
    }
    float[] f = embedImage(image, "the request body");
    ObjectNode n = Requests.JSON.createObjectNode();
    ArrayNode a = n.putArray("feature");
    for (float v : f) a.add(v);
    send(ctx, 200, n);
  }

  private void compare(Context ctx) throws IOException {
    JsonNode o = Requests.object(body(ctx));
    Requests.onlyFields(o, "", Set.of("a", "b"));
    Model m = model("/v1/compare");
    if (m.thresholdOrNull() == null)
      throw ApiException.notFound("no verification threshold: this model was not calibrated (run reid4j calibrate, "
          + "which writes threshold.json beside the checkpoint, then restart the server)");
    float[][] ab = new float[2][];
    String[] names = {"a", "b"};
    for (int i = 0; i < 2; i++) {
      JsonNode x = o.get(names[i]);
      if (x == null || !x.isObject())
        throw ApiException.badRequest(names[i] + ": expected an object with 'feature' or 'image'");
      Requests.onlyFields(x, names[i] + ".", Set.of("feature", "image"));
      ab[i] = feature(Requests.input(x, names[i] + ".", m.embedder().dim()), names[i] + ".");
    }
    VerificationThreshold t = m.thresholdOrNull();
    ObjectNode n = Requests.JSON.createObjectNode();
    n.put("distance", t.distance(ab[0], ab[1]));
    n.put("same_identity", t.sameIdentity(ab[0], ab[1]));
    n.put("threshold", t.threshold());
    n.put("metric", t.metric());
    send(ctx, 200, n);
  }

  private <T> T await(CompletableFuture<T> f, String what) {
    try {
      return f.get(options.requestTimeoutMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      f.cancel(false);
      throw new ApiException(503, "the " + what + " did not finish within " + options.requestTimeoutMillis()
          + " ms (the server is overloaded)", 1);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ApiException(503, "the server is stopping", 1);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof RuntimeException r) throw r;
      if (c instanceof Error err) throw err;
      throw new IllegalStateException(c);
    }
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Stops gracefully: new requests get 503, requests in flight get up to {@link Options#drainMillis}
   * to finish, then the server stops and the gallery and model are closed. Idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    state = STOPPING;
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(options.drainMillis());
    while (inflight.get() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    // Our count drops when a response is handed to Jetty, a moment before Jetty has sent its last
    // bytes: a graceful stop (Javalin's server counts requests to their completion) lets those go
    // out instead of cutting the connection, within what is left of the drain time.
    long leftMillis = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
    if (jetty != null) jetty.setStopTimeout(options.drainMillis() == 0 ? 0 : Math.max(1, leftMillis));
    app.stop();
    if (searches != null) searches.close(options.drainMillis());
    if (embeds != null) embeds.close(options.drainMillis()); // closes the model too
    try {
      if (gallery != null) gallery.close();
    } catch (IOException e) {
      System.err.println("reid4j serve: closing the gallery failed: " + e.getMessage());
    }
    gcMetrics.close();
    registry.close();
  }
}
