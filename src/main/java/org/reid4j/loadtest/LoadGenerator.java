package org.reid4j.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Closed-loop HTTP load on a {@code reid4j serve}: per concurrency level, N worker threads (virtual
 * users) each send the next request as soon as the previous answer arrives, first for the warm-up
 * (not recorded), then for the measured duration. A level ends when every worker's last request
 * has been answered (or timed out), so every request sent while measuring is counted exactly once.
 *
 * <p>One {@link HttpClient} (HTTP/1.1, keep-alive, one connection per busy worker) serves all
 * workers: a client per worker would add a selector thread each, which on a small machine shared
 * with the server costs more than it saves. Request bodies are serialised before the load starts,
 * so a request costs the generator little more than the client's own work.
 */
public final class LoadGenerator {

  /** What each request does. */
  public enum Op {
    SEARCH, EMBED, ADD, MIXED;

    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Needs query vectors of the server's dimension. */
    public boolean needsDimension() {
      return this != EMBED;
    }
  }

  /** How a request ended; {@link #label} is the name in tables and JSON. */
  public enum Outcome {
    OK("2xx"), CLIENT_ERROR("4xx"), REJECTED("429/503"), SERVER_ERROR("5xx"), OTHER_STATUS("other status"),
    TIMEOUT("timeout"), TRANSPORT("transport");

    public final String label;

    Outcome(String label) {
      this.label = label;
    }

    public static Outcome of(int status) {
      if (status >= 200 && status < 300) return OK;
      if (status == 429 || status == 503) return REJECTED;
      if (status >= 400 && status < 500) return CLIENT_ERROR;
      if (status >= 500 && status < 600) return SERVER_ERROR;
      return OTHER_STATUS;
    }
  }

  /**
   * What to run. {@code url} is the server's base (no trailing slash); {@code dimension} the query
   * vectors' length (from /v1/info; unused by embed); {@code image} and {@code imageType} only for
   * embed; {@code apiKey} may be null; {@code rerank}: searches ask for online re-ranking.
   */
  public record Settings(URI url, Op op, List<Integer> concurrency, Duration duration, Duration warmup,
      Duration timeout, int k, boolean rerank, int dimension, byte[] image, String imageType, String apiKey, long seed) {}

  /**
   * One level's results. {@code latencyMicros} holds every measured request's latency (whatever its
   * outcome) in microseconds; {@code seconds} runs from the end of the warm-up until the last
   * measured request was answered. {@code cpuSeconds} is this process's CPU time over the whole
   * level, warm-up included (what the generator took from a machine it may share with the server),
   * NaN where the JVM cannot tell.
   */
  public record Level(int concurrency, long requests, long warmupRequests, double seconds, Histogram latencyMicros,
      Map<Outcome, Long> outcomes, Map<String, Long> byOp, Map<Outcome, String> firstErrors, double cpuSeconds) {
    /** This process's CPU time per request sent (warm-up included), in ms. */
    public double cpuMsPerRequest() {
      long n = requests + warmupRequests;
      return n == 0 ? Double.NaN : cpuSeconds * 1e3 / n;
    }

    public double throughput() {
      return seconds > 0 ? requests / seconds : 0;
    }

    public long errors() {
      return requests - outcomes.getOrDefault(Outcome.OK, 0L);
    }

    /** The latency at percentile {@code p} (0..100) in ms, NaN without requests. */
    public double percentileMs(double p) {
      return latencyMicros.getTotalCount() == 0 ? Double.NaN : latencyMicros.getValueAtPercentile(p) / 1e3;
    }

    public double maxMs() {
      return latencyMicros.getTotalCount() == 0 ? Double.NaN : latencyMicros.getMaxValue() / 1e3;
    }

    public double minMs() {
      return latencyMicros.getTotalCount() == 0 ? Double.NaN : latencyMicros.getMinValue() / 1e3;
    }

    public double meanMs() {
      return latencyMicros.getTotalCount() == 0 ? Double.NaN : latencyMicros.getMean() / 1e3;
    }
  }

  static final ObjectMapper JSON = new ObjectMapper();
  static final String USER_AGENT = "reid4j-loadtest";
  static final long PROGRESS_EVERY_NANOS = 5_000_000_000L;

  private final Settings s;
  private final HttpClient client;
  private final URI search, items, embed;
  private final byte[][] searchBodies, features;
  private final AtomicLong nextId = new AtomicLong();
  private final byte[] idPrefix;

  public LoadGenerator(Settings settings) {
    this.s = settings;
    int threads = Collections.max(s.concurrency());
    this.client = client(s.timeout(), threads);
    this.search = URI.create(s.url() + "/v1/search");
    this.items = URI.create(s.url() + "/v1/items");
    this.embed = URI.create(s.url() + "/v1/embed");
    this.idPrefix = ("{\"id\":\"loadtest-" + s.seed() + "-").getBytes(StandardCharsets.US_ASCII);
    if (s.op().needsDimension()) {
      // Random Gaussian vectors, serialised once: a pool that keeps the bodies under ~16 MB.
      int n = (int) Math.max(16, Math.min(256, 16_000_000L / (12L * s.dimension())));
      Random rnd = new Random(s.seed());
      features = new byte[n][];
      searchBodies = new byte[n][];
      for (int i = 0; i < n; i++) {
        float[] v = new float[s.dimension()];
        for (int j = 0; j < v.length; j++) v[j] = (float) rnd.nextGaussian();
        try {
          features[i] = JSON.writeValueAsBytes(v);
          Map<String, Object> body = new LinkedHashMap<>();
          body.put("k", s.k());
          if (s.rerank()) body.put("rerank", true);
          body.put("feature", v);
          searchBodies[i] = JSON.writeValueAsBytes(body);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    } else {
      features = searchBodies = null;
    }
  }

  static {
    expirePooledConnectionsBeforeServers();
  }

  /**
   * Makes the JDK's HTTP clients in this JVM drop a pooled connection after 10 s idle, unless
   * {@code jdk.httpclient.keepalive.timeout} is set already. The JDK keeps one for 20 minutes otherwise,
   * far past a server's idle timeout (reid4j serve: 30 s), and a request sent on a pooled connection just
   * as the server closes it fails with "header parser received no bytes" (the JDK repeats only GET-like
   * requests): an error the server did not make. The property is read once per JVM, when the first
   * client is built, so call this before that.
   */
  public static void expirePooledConnectionsBeforeServers() {
    if (System.getProperty("jdk.httpclient.keepalive.timeout") == null)
      System.setProperty("jdk.httpclient.keepalive.timeout", "10");
  }

  /**
   * The shared client: HTTP/1.1 (no h2c upgrade), a connect timeout, and an executor with a thread
   * per virtual user of the largest level for the client's own completion tasks; idle threads end.
   */
  static HttpClient client(Duration timeout, int threads) {
    AtomicInteger n = new AtomicInteger();
    ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        r -> {
          Thread t = new Thread(r, "loadtest-http-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    pool.allowCoreThreadTimeOut(true);
    return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).executor(pool)
        .followRedirects(HttpClient.Redirect.NEVER).build();
  }

  /**
   * The server's {@code GET /v1/info}, after {@code GET /health} says it is ready (a 503 there means
   * it is starting: asked again every 250 ms for up to {@code timeout}).
   *
   * @throws IllegalStateException naming the URL when it cannot be reached or does not answer as
   *     reid4j serve does
   */
  public static JsonNode serverInfo(URI url, Duration timeout, String apiKey, Consumer<String> progress)
      throws InterruptedException {
    HttpClient c = client(timeout, 1);
    long deadline = System.nanoTime() + timeout.toNanos();
    boolean said = false;
    while (true) {
      HttpResponse<byte[]> h = get(c, url, "/health", timeout, apiKey);
      if (h.statusCode() != 503 || System.nanoTime() - deadline > 0) break;
      if (!said) progress.accept("waiting for " + url + " to be ready (GET /health answers 503)");
      said = true;
      Thread.sleep(250);
    }
    HttpResponse<byte[]> r = get(c, url, "/v1/info", timeout, apiKey);
    String body = new String(r.body(), StandardCharsets.UTF_8);
    if (r.statusCode() != 200)
      throw new IllegalStateException("GET " + url + "/v1/info answered " + r.statusCode() + " " + brief(body)
          + (r.statusCode() == 503 ? " (the server is not ready)" : "; is reid4j serve running there?"));
    try {
      JsonNode info = JSON.readTree(body);
      if (info == null || !info.isObject()) throw new IOException("not a JSON object");
      return info;
    } catch (IOException e) {
      throw new IllegalStateException("GET " + url + "/v1/info: not the JSON object reid4j serve answers ("
          + brief(body) + "); is --url right?");
    }
  }

  private static HttpResponse<byte[]> get(HttpClient c, URI url, String path, Duration timeout, String apiKey)
      throws InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(timeout).GET()
        .header("User-Agent", USER_AGENT);
    if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
    try {
      return c.send(b.build(), BodyHandlers.ofByteArray());
    } catch (HttpTimeoutException e) {
      throw new IllegalStateException("cannot reach " + url + ": GET " + path + " got no answer within "
          + Durations.format(timeout) + "; is reid4j serve running there?");
    } catch (IOException e) {
      String why = e instanceof java.net.ConnectException ? "connection refused"
          : e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
      throw new IllegalStateException("cannot reach " + url + ": GET " + path + ": " + why
          + "; is reid4j serve running there?");
    }
  }

  /** Runs every level in order; {@code progress} gets a line every few seconds and one per level. */
  public List<Level> run(Consumer<String> progress) throws InterruptedException {
    List<Level> levels = new ArrayList<>();
    long perLevel = s.warmup().toNanos() + s.duration().toNanos();
    for (int i = 0; i < s.concurrency().size(); i++) {
      int left = s.concurrency().size() - i - 1;
      Level l = level(s.concurrency().get(i), i, left * perLevel, progress);
      levels.add(l);
      progress.accept(String.format(java.util.Locale.ROOT,
          "concurrency %d: %,d requests in %.1f s, %,.1f req/s, p50 %s ms, p99 %s ms, errors %s; generator CPU %s ms "
              + "a request%s", l.concurrency(), l.requests(), l.seconds(), l.throughput(), ms(l.percentileMs(50)),
          ms(l.percentileMs(99)), errors(l), ms(l.cpuMsPerRequest()),
          left > 0 ? "; ETA " + Durations.format(Duration.ofNanos(left * perLevel)) : ""));
    }
    return levels;
  }

  /** The shared counters of one level. */
  private static final class Tally {
    final Recorder latency = new Recorder(3);
    final LongAdder[] outcomes = new LongAdder[Outcome.values().length];
    final Map<String, LongAdder> byOp = new ConcurrentHashMap<>();
    final LongAdder warmup = new LongAdder(), measured = new LongAdder();
    final Map<Outcome, String> firstErrors = new ConcurrentHashMap<>();

    Tally() {
      for (int i = 0; i < outcomes.length; i++) outcomes[i] = new LongAdder();
    }
  }

  private Level level(int concurrency, int index, long laterNanos, Consumer<String> progress)
      throws InterruptedException {
    Tally t = new Tally();
    long cpu0 = processCpuNanos();
    long start = System.nanoTime();
    long warmEnd = start + s.warmup().toNanos(), end = warmEnd + s.duration().toNanos();
    Thread[] workers = new Thread[concurrency];
    for (int w = 0; w < concurrency; w++) {
      SplittableRandom rnd = new SplittableRandom(s.seed() * 1_000_003L + index * 65_537L + w);
      workers[w] = new Thread(() -> work(rnd, warmEnd, end, t), "loadtest-user-" + (w + 1));
      workers[w].setDaemon(true);
      workers[w].start();
    }
    long nextProgress = start + PROGRESS_EVERY_NANOS;
    for (Thread w : workers) {
      while (w.isAlive()) {
        long now = System.nanoTime();
        if (now - nextProgress >= 0) {
          nextProgress += PROGRESS_EVERY_NANOS;
          progress.accept(progressLine(concurrency, now, start, warmEnd, end, laterNanos, t));
        }
        long waitMs = Math.max(1, (nextProgress - now) / 1_000_000);
        w.join(waitMs);
      }
    }
    double seconds = (System.nanoTime() - warmEnd) / 1e9;
    long cpu1 = processCpuNanos();
    double cpuSeconds = cpu0 < 0 || cpu1 < 0 ? Double.NaN : (cpu1 - cpu0) / 1e9;
    Map<Outcome, Long> outcomes = new EnumMap<>(Outcome.class);
    long requests = 0;
    for (Outcome o : Outcome.values()) {
      outcomes.put(o, t.outcomes[o.ordinal()].sum());
      requests += t.outcomes[o.ordinal()].sum();
    }
    Map<String, Long> byOp = new java.util.TreeMap<>();
    t.byOp.forEach((k, v) -> byOp.put(k, v.sum()));
    Map<Outcome, String> firstErrors = new EnumMap<>(Outcome.class);
    firstErrors.putAll(t.firstErrors);
    return new Level(concurrency, requests, t.warmup.sum(), seconds, t.latency.getIntervalHistogram(), outcomes, byOp,
        firstErrors, cpuSeconds);
  }

  /** This JVM's CPU time so far, -1 where it cannot tell. */
  static long processCpuNanos() {
    return java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : -1;
  }

  private String progressLine(int concurrency, long now, long start, long warmEnd, long end, long laterNanos, Tally t) {
    String eta = "; ETA " + Durations.format(Duration.ofNanos(Math.max(0, end - now) + laterNanos));
    if (now - warmEnd < 0)
      return String.format(java.util.Locale.ROOT, "concurrency %d: warming up, %.0f of %s%s", concurrency,
          (now - start) / 1e9, Durations.format(s.warmup()), eta);
    double el = (now - warmEnd) / 1e9;
    long n = t.measured.sum();
    return String.format(java.util.Locale.ROOT, "concurrency %d: %.0f of %s, %,d requests, %,.1f req/s so far%s",
        concurrency, el, Durations.format(s.duration()), n, n / el, eta);
  }

  /** One virtual user: request after request until the level ends, the last one answered before it returns. */
  private void work(SplittableRandom rnd, long warmEnd, long end, Tally t) {
    while (true) {
      long t0 = System.nanoTime();
      if (t0 - end >= 0) return;
      boolean warm = t0 - warmEnd < 0;
      Op op = s.op() == Op.MIXED ? (rnd.nextInt(10) == 0 ? Op.ADD : Op.SEARCH) : s.op();
      HttpRequest request = request(op, rnd);
      Outcome outcome;
      HttpResponse<byte[]> response = null;
      Exception failure = null;
      try {
        response = client.send(request, BodyHandlers.ofByteArray());
        outcome = Outcome.of(response.statusCode());
      } catch (HttpTimeoutException e) {
        outcome = Outcome.TIMEOUT;
        failure = e;
      } catch (IOException | RuntimeException e) {
        outcome = Outcome.TRANSPORT;
        failure = e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      long micros = (System.nanoTime() - t0) / 1000;
      if (warm) {
        t.warmup.increment();
        continue;
      }
      t.latency.recordValue(Math.max(1, micros));
      t.outcomes[outcome.ordinal()].increment();
      t.byOp.computeIfAbsent(op.label(), x -> new LongAdder()).increment();
      t.measured.increment();
      if (outcome != Outcome.OK && !t.firstErrors.containsKey(outcome))
        t.firstErrors.putIfAbsent(outcome, describe(op, response, failure));
    }
  }

  private HttpRequest request(Op op, SplittableRandom rnd) {
    HttpRequest.Builder b;
    switch (op) {
      case SEARCH -> b = HttpRequest.newBuilder(search).header("Content-Type", "application/json")
          .POST(BodyPublishers.ofByteArray(searchBodies[rnd.nextInt(searchBodies.length)]));
      case ADD -> {
        byte[] id = (nextId.getAndIncrement() + "\",\"feature\":").getBytes(StandardCharsets.US_ASCII);
        BodyPublisher body = BodyPublishers.concat(BodyPublishers.ofByteArray(idPrefix), BodyPublishers.ofByteArray(id),
            BodyPublishers.ofByteArray(features[rnd.nextInt(features.length)]), BodyPublishers.ofByteArray(CLOSE));
        b = HttpRequest.newBuilder(items).header("Content-Type", "application/json").POST(body);
      }
      case EMBED -> b = HttpRequest.newBuilder(embed).header("Content-Type", s.imageType())
          .POST(BodyPublishers.ofByteArray(s.image()));
      default -> throw new IllegalStateException("no request for " + op);
    }
    b.timeout(s.timeout()).header("User-Agent", USER_AGENT);
    if (s.apiKey() != null) b.header("Authorization", "Bearer " + s.apiKey());
    return b.build();
  }

  private static final byte[] CLOSE = {'}'};

  /** "POST /v1/search: 429 {...} (Retry-After: 1)" or "POST /v1/search: HttpTimeoutException ...". */
  private static String describe(Op op, HttpResponse<byte[]> r, Exception failure) {
    String what = "POST " + (op == Op.ADD ? "/v1/items" : "/v1/" + op.label()) + ": ";
    if (r == null)
      return what + failure.getClass().getSimpleName() + (failure.getMessage() == null ? "" : " " + failure.getMessage());
    String retry = r.headers().firstValue("Retry-After").map(v -> " (Retry-After: " + v + ")").orElse("");
    return what + r.statusCode() + " " + brief(new String(r.body(), StandardCharsets.UTF_8)) + retry;
  }

  static String brief(String body) {
    String b = body.strip().replaceAll("\\s+", " ");
    return b.length() > 200 ? b.substring(0, 200) + "..." : b;
  }

  /** A latency for tables: 3 significant figures, "-" for none. */
  public static String ms(double v) {
    if (Double.isNaN(v)) return "-";
    if (v < 10) return String.format(java.util.Locale.ROOT, "%.2f", v);
    if (v < 100) return String.format(java.util.Locale.ROOT, "%.1f", v);
    return String.format(java.util.Locale.ROOT, "%,.0f", v);
  }

  /** "none", or the count of each kind of error: "429/503 120, timeout 2". */
  public static String errors(Level l) {
    StringBuilder b = new StringBuilder();
    for (var e : l.outcomes().entrySet())
      if (e.getKey() != Outcome.OK && e.getValue() > 0)
        b.append(b.length() > 0 ? ", " : "").append(e.getKey().label).append(' ').append(String.format(java.util.Locale.ROOT, "%,d", e.getValue()));
    return b.length() == 0 ? "none" : b.toString();
  }
}
