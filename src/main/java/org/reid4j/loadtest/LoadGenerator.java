package org.reid4j.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.URI;
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
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.apache.hc.client5.http.ConnectTimeoutException;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.client5.http.classic.methods.HttpPost;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder;
import org.apache.hc.core5.http.ClassicHttpRequest;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.io.entity.ByteArrayEntity;
import org.apache.hc.core5.http.io.entity.EntityUtils;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;

/**
 * Closed-loop HTTP load on a {@code reid4j serve}: per concurrency level, N worker threads (virtual
 * users) each send the next request as soon as the previous answer arrives, first for the warm-up
 * (not recorded), then for the measured duration. A level ends when every worker's last request
 * has been answered (or timed out), so every request sent while measuring is counted exactly once.
 *
 * <p>One blocking Apache HttpClient 5 (HTTP/1.1, a pool with a keep-alive connection per worker)
 * serves all workers. The generator usually shares the machine with the server it measures, so what
 * a request costs it matters: this client takes about a third of the JDK client's CPU per request
 * (0.21–0.24 against 0.54–0.60 ms for a search on a 2-core machine; BENCHMARKS.md), and request
 * bodies are serialised before the load starts. Pooled connections live no longer than the server's
 * {@code Keep-Alive: timeout} says (and 10 s idle at most), so the server never closes one under a
 * request; failed requests are not repeated (each is counted as it ended).
 */
public final class LoadGenerator implements AutoCloseable {

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
  private final CloseableHttpClient client;
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

  /**
   * The shared client: HTTP/1.1 with a pool of {@code connections} keep-alive connections, kept no
   * longer than the server's {@code Keep-Alive} header allows and closed after 10 s idle; {@code timeout}
   * bounds connecting and each wait for the server's bytes (a request the server holds longer is a
   * timeout). No repeats, redirects, cookies or compression: a request is sent once, as given.
   */
  static CloseableHttpClient client(Duration timeout, int connections) {
    Timeout t = Timeout.of(timeout);
    return HttpClients.custom()
        .setConnectionManager(PoolingHttpClientConnectionManagerBuilder.create()
            .setMaxConnTotal(connections).setMaxConnPerRoute(connections)
            .setDefaultConnectionConfig(ConnectionConfig.custom().setConnectTimeout(t).setSocketTimeout(t).build())
            .build())
        .setDefaultRequestConfig(RequestConfig.custom().setResponseTimeout(t).setConnectionRequestTimeout(t)
            .setRedirectsEnabled(false).build())
        .disableAutomaticRetries().disableRedirectHandling().disableCookieManagement().disableContentCompression()
        .evictIdleConnections(TimeValue.ofSeconds(10)).setUserAgent(USER_AGENT).build();
  }

  @Override
  public void close() throws IOException {
    client.close();
  }

  /** A whole answer: status, body, and the Retry-After header (null without one). */
  record Answer(int status, byte[] body, String retryAfter) {}

  /** Sends r and reads the whole answer (any status); the connection goes back to the pool. */
  static Answer send(CloseableHttpClient c, ClassicHttpRequest r) throws IOException {
    return c.execute(r, resp -> {
      HttpEntity e = resp.getEntity();
      Header ra = resp.getFirstHeader("Retry-After");
      return new Answer(resp.getCode(), e == null ? new byte[0] : EntityUtils.toByteArray(e),
          ra == null ? null : ra.getValue());
    });
  }

  /** A request that got no bytes within the timeout, or no connection within it. */
  static boolean timedOut(IOException e) {
    return e instanceof SocketTimeoutException || e instanceof ConnectTimeoutException;
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
    Answer r;
    try (CloseableHttpClient c = client(timeout, 1)) {
      long deadline = System.nanoTime() + timeout.toNanos();
      boolean said = false;
      while (true) {
        Answer h = get(c, url, "/health", timeout, apiKey);
        if (h.status() != 503 || System.nanoTime() - deadline > 0) break;
        if (!said) progress.accept("waiting for " + url + " to be ready (GET /health answers 503)");
        said = true;
        Thread.sleep(250);
      }
      r = get(c, url, "/v1/info", timeout, apiKey);
    } catch (IOException e) { // closing the client
      throw new java.io.UncheckedIOException(e);
    }
    String body = new String(r.body(), StandardCharsets.UTF_8);
    if (r.status() != 200)
      throw new IllegalStateException("GET " + url + "/v1/info answered " + r.status() + " " + brief(body)
          + (r.status() == 503 ? " (the server is not ready)" : "; is reid4j serve running there?"));
    try {
      JsonNode info = JSON.readTree(body);
      if (info == null || !info.isObject()) throw new IOException("not a JSON object");
      return info;
    } catch (IOException e) {
      throw new IllegalStateException("GET " + url + "/v1/info: not the JSON object reid4j serve answers ("
          + brief(body) + "); is --url right?");
    }
  }

  private static Answer get(CloseableHttpClient c, URI url, String path, Duration timeout, String apiKey) {
    HttpGet g = new HttpGet(URI.create(url + path));
    if (apiKey != null) g.setHeader("Authorization", "Bearer " + apiKey);
    try {
      return send(c, g);
    } catch (IOException e) {
      if (timedOut(e))
        throw new IllegalStateException("cannot reach " + url + ": GET " + path + " got no answer within "
            + Durations.format(timeout) + "; is reid4j serve running there?");
      String why = e instanceof ConnectException ? "connection refused"
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
      ClassicHttpRequest request = request(op, rnd);
      Outcome outcome;
      Answer response = null;
      Exception failure = null;
      try {
        response = send(client, request);
        outcome = Outcome.of(response.status());
      } catch (IOException e) {
        outcome = timedOut(e) ? Outcome.TIMEOUT : Outcome.TRANSPORT;
        failure = e;
      } catch (RuntimeException e) {
        outcome = Outcome.TRANSPORT;
        failure = e;
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

  private ClassicHttpRequest request(Op op, SplittableRandom rnd) {
    HttpPost p;
    switch (op) {
      case SEARCH -> {
        p = new HttpPost(search);
        p.setEntity(new ByteArrayEntity(searchBodies[rnd.nextInt(searchBodies.length)], JSON_TYPE));
      }
      case ADD -> {
        byte[] id = (nextId.getAndIncrement() + "\",\"feature\":").getBytes(StandardCharsets.US_ASCII);
        byte[] f = features[rnd.nextInt(features.length)];
        byte[] body = new byte[idPrefix.length + id.length + f.length + 1];
        System.arraycopy(idPrefix, 0, body, 0, idPrefix.length);
        System.arraycopy(id, 0, body, idPrefix.length, id.length);
        System.arraycopy(f, 0, body, idPrefix.length + id.length, f.length);
        body[body.length - 1] = '}';
        p = new HttpPost(items);
        p.setEntity(new ByteArrayEntity(body, JSON_TYPE));
      }
      case EMBED -> {
        p = new HttpPost(embed);
        p.setEntity(new ByteArrayEntity(s.image(), ContentType.parse(s.imageType())));
      }
      default -> throw new IllegalStateException("no request for " + op);
    }
    if (s.apiKey() != null) p.setHeader("Authorization", "Bearer " + s.apiKey());
    return p;
  }

  /** "application/json" as the JDK client sent it, without a charset parameter. */
  private static final ContentType JSON_TYPE = ContentType.create("application/json", (java.nio.charset.Charset) null);

  /** "POST /v1/search: 429 {...} (Retry-After: 1)" or "POST /v1/search: SocketTimeoutException ...". */
  private static String describe(Op op, Answer r, Exception failure) {
    String what = "POST " + (op == Op.ADD ? "/v1/items" : "/v1/" + op.label()) + ": ";
    if (r == null)
      return what + failure.getClass().getSimpleName() + (failure.getMessage() == null ? "" : " " + failure.getMessage());
    String retry = r.retryAfter() == null ? "" : " (Retry-After: " + r.retryAfter() + ")";
    return what + r.status() + " " + brief(new String(r.body(), StandardCharsets.UTF_8)) + retry;
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
