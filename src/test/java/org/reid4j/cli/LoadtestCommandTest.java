package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.loadtest.Durations;
import org.reid4j.loadtest.LoadGenerator.Outcome;

/**
 * {@code reid4j loadtest} against a fake server in the test (the JDK's HttpServer on an ephemeral
 * port) that counts what it receives: the report's counts must equal the server's, latencies must
 * include the server's sleep, and every kind of failure must land in its own column.
 */
class LoadtestCommandTest {
  @TempDir Path tmp;

  static final ObjectMapper JSON = new ObjectMapper();

  static {
    // The JDK's HttpServer writes a response's headers and body apart; with Nagle's algorithm on, the
    // body then waits for the client's delayed ACK (~40 ms a request). Jetty sets TCP_NODELAY itself.
    System.setProperty("sun.net.httpserver.nodelay", "true");
  }

  /** A stand-in for reid4j serve with the API contract's endpoints and switches for misbehaviour. */
  static final class FakeServer implements AutoCloseable {
    final HttpServer http;
    final ExecutorService pool = Executors.newCachedThreadPool();
    final int dim;
    volatile int sleepMs;
    volatile int rejectEvery; // every n-th search (1st, n+1-th, ...) answered 429 with Retry-After
    volatile boolean fail; // searches answered 500
    volatile boolean drop; // searches answered by closing the connection
    volatile int startingHealthChecks; // this many GET /health answered 503 first
    volatile boolean withModel = true;
    volatile String apiKey;
    volatile byte[] image;
    final AtomicLong searches = new AtomicLong(), searchOk = new AtomicLong(), rejected = new AtomicLong(),
        failed = new AtomicLong(), adds = new AtomicLong(), embeds = new AtomicLong(), unauthorised = new AtomicLong(),
        health = new AtomicLong();
    final Set<String> ids = ConcurrentHashMap.newKeySet();
    final List<String> problems = java.util.Collections.synchronizedList(new ArrayList<>());
    volatile int expectedK = 10;
    volatile boolean expectRerank;
    volatile int rerankK1;

    FakeServer(int dim) throws IOException {
      this.dim = dim;
      http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 256);
      http.setExecutor(pool);
      http.createContext("/health", ex -> {
        boolean starting = health.incrementAndGet() <= startingHealthChecks;
        send(ex, starting ? 503 : 200, starting ? "{\"status\":\"starting\"}" : "{\"status\":\"ready\"}");
      });
      http.createContext("/v1/info", ex -> send(ex, 200, "{\"dimension\":" + dim + ",\"metric\":\"SQEUCLIDEAN\","
          + "\"items\":1000,\"rerank_k1\":" + rerankK1 + ",\"model\":" + (withModel ? "{\"input_size\":[256,128],\"channels\":3}" : "null")
          + ",\"version\":\"fake\"}"));
      http.createContext("/v1/search", this::search);
      http.createContext("/v1/items", this::items);
      http.createContext("/v1/embed", this::embed);
      http.start();
    }

    String url() {
      return "http://127.0.0.1:" + http.getAddress().getPort();
    }

    private void search(HttpExchange ex) throws IOException {
      long n = searches.incrementAndGet();
      byte[] body = ex.getRequestBody().readAllBytes();
      JsonNode q = JSON.readTree(body);
      if (!ex.getRequestMethod().equals("POST") || q.get("feature").size() != dim || q.get("k").asInt() != expectedK
          || q.path("rerank").asBoolean(false) != expectRerank)
        problems.add("search: " + ex.getRequestMethod() + " " + new String(body, StandardCharsets.UTF_8));
      sleep();
      if (drop) {
        ex.close(); // no status line: the client sees the connection end
        return;
      }
      if (fail) {
        failed.incrementAndGet();
        send(ex, 500, "{\"error\":\"index on fire\"}");
      } else if (rejectEvery > 0 && (n - 1) % rejectEvery == 0) {
        rejected.incrementAndGet();
        ex.getResponseHeaders().add("Retry-After", "1");
        send(ex, 429, "{\"error\":\"queue full\"}");
      } else {
        searchOk.incrementAndGet();
        send(ex, 200, "{\"hits\":[{\"id\":\"a\",\"distance\":0.5,\"pid\":3,\"camid\":1},{\"id\":\"b\","
            + "\"distance\":0.75}],\"took_ms\":0.1}");
      }
    }

    private void items(HttpExchange ex) throws IOException {
      adds.incrementAndGet();
      byte[] body = ex.getRequestBody().readAllBytes();
      if (apiKey != null && !("Bearer " + apiKey).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
        unauthorised.incrementAndGet();
        send(ex, 401, "{\"error\":\"missing or wrong API key\"}");
        return;
      }
      JsonNode item = JSON.readTree(body);
      if (!ex.getRequestMethod().equals("POST") || item.get("feature").size() != dim || !item.get("id").isTextual())
        problems.add("add: " + new String(body, StandardCharsets.UTF_8));
      else if (!ids.add(item.get("id").asText())) problems.add("id repeated: " + item.get("id"));
      sleep();
      send(ex, 201, "{\"id\":" + item.get("id") + "}");
    }

    private void embed(HttpExchange ex) throws IOException {
      embeds.incrementAndGet();
      byte[] body = ex.getRequestBody().readAllBytes();
      if (!"image/png".equals(ex.getRequestHeaders().getFirst("Content-Type")) || !Arrays.equals(body, image))
        problems.add("embed: " + ex.getRequestHeaders().getFirst("Content-Type") + ", " + body.length + " bytes");
      sleep();
      send(ex, 200, "{\"feature\":[0.1,0.2,0.3]}");
    }

    private void sleep() {
      if (sleepMs > 0) {
        try {
          Thread.sleep(sleepMs);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    static void send(HttpExchange ex, int status, String json) throws IOException {
      byte[] b = json.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(status, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    }

    @Override
    public void close() {
      http.stop(0);
      pool.shutdownNow();
    }
  }

  EvalCommandTest.Run loadtest(FakeServer s, String... args) {
    List<String> a = new ArrayList<>(List.of("loadtest", "--url", s.url()));
    a.addAll(List.of(args));
    if (!a.contains("--warmup")) a.addAll(List.of("--warmup", "0s"));
    return EvalCommandTest.cli(a.toArray(String[]::new));
  }

  JsonNode report(Path json) throws IOException {
    return JSON.readTree(json.toFile());
  }

  static long total(JsonNode report, String field) {
    long n = 0;
    for (JsonNode l : report.get("levels")) n += l.get(field).asLong();
    return n;
  }

  @Test
  void countsEqualWhatTheServerSawAndLatenciesIncludeItsSleep() throws Exception {
    try (FakeServer s = new FakeServer(8)) {
      s.sleepMs = 20;
      s.expectedK = 7;
      Path json = tmp.resolve("search.json");
      EvalCommandTest.Run r = loadtest(s, "--concurrency", "1,4", "--duration", "500ms", "--k", "7", "--seed", "3",
          "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      assertEquals(List.of(), s.problems);
      JsonNode rep = report(json);
      assertEquals(2, rep.get("levels").size());
      assertEquals("search", rep.get("op").asText());
      assertEquals(8, rep.get("server").get("dimension").asInt());
      assertEquals(s.url(), rep.get("url").asText());
      assertEquals(7, rep.get("k").asInt());
      assertEquals(s.searches.get(), total(rep, "requests"), "every request sent is reported, once");
      for (JsonNode l : rep.get("levels")) {
        long n = l.get("requests").asLong();
        assertTrue(n > 0, l.toString());
        assertEquals(n, l.get("outcomes").get("2xx").asLong(), l.toString());
        assertEquals(0, l.get("errors").asLong(), l.toString());
        assertEquals(n, l.get("by_op").get("search").asLong(), l.toString());
        // HdrHistogram keeps 3 significant digits: the smallest value may read up to 0.1% low.
        assertTrue(l.get("min_ms").asDouble() >= 20 * 0.999, l.toString());
        assertTrue(l.get("p50_ms").asDouble() >= 20, l.toString());
        assertTrue(l.get("max_ms").asDouble() >= l.get("p99_ms").asDouble(), l.toString());
        assertTrue(l.get("p99_ms").asDouble() >= l.get("p95_ms").asDouble(), l.toString());
        assertTrue(l.get("p95_ms").asDouble() >= l.get("p50_ms").asDouble(), l.toString());
        assertEquals(n / l.get("seconds").asDouble(), l.get("throughput").asDouble(), 1e-6);
        assertTrue(l.get("seconds").asDouble() >= 0.5, l.toString());
      }
      JsonNode one = rep.get("levels").get(0), four = rep.get("levels").get(1);
      assertEquals(1, one.get("concurrency").asInt());
      assertEquals(4, four.get("concurrency").asInt());
      // 20 ms per answer: one user makes at most ~50 req/s, four make about four times as many.
      assertTrue(one.get("throughput").asDouble() <= 51, one.toString());
      assertTrue(four.get("requests").asLong() > 2 * one.get("requests").asLong(), rep.toString());
      assertTrue(r.out().contains("| concurrency | requests | throughput (req/s) | p50 (ms)"), r.out());
      assertTrue(r.out().lines().anyMatch(l -> l.matches("\\|\\s+4 \\|.*\\| none\\s+\\|")), r.out());
      assertTrue(r.err().contains("concurrency 1: ") && r.err().contains("concurrency 4: "), r.err());
    }
  }

  @Test
  void warmupRequestsAreSentButNotRecorded() throws Exception {
    try (FakeServer s = new FakeServer(4)) {
      s.sleepMs = 5;
      Path json = tmp.resolve("warm.json");
      EvalCommandTest.Run r = loadtest(s, "--concurrency", "2", "--warmup", "300ms", "--duration", "300ms", "--json",
          json.toString());
      assertEquals(0, r.code(), r.err());
      JsonNode l = report(json).get("levels").get(0);
      assertTrue(l.get("warmup_requests").asLong() > 0, l.toString());
      assertEquals(s.searches.get(), l.get("requests").asLong() + l.get("warmup_requests").asLong());
    }
  }

  @Test
  void rejectionsServerErrorsTimeoutsAndDroppedConnectionsAreCountedApart() throws Exception {
    try (FakeServer s = new FakeServer(4)) {
      s.rejectEvery = 3;
      s.sleepMs = 2;
      Path json = tmp.resolve("reject.json");
      EvalCommandTest.Run r = loadtest(s, "--concurrency", "3", "--duration", "400ms", "--json", json.toString());
      assertEquals(0, r.code(), "failed requests are reported, not fatal: " + r.err());
      JsonNode l = report(json).get("levels").get(0);
      assertEquals(s.searches.get(), l.get("requests").asLong());
      assertEquals(s.rejected.get(), l.get("outcomes").get("429/503").asLong(), l.toString());
      assertEquals(s.searchOk.get(), l.get("outcomes").get("2xx").asLong(), l.toString());
      assertTrue(s.rejected.get() > 0);
      assertEquals(s.rejected.get(), l.get("errors").asLong());
      assertEquals(0, l.get("outcomes").get("5xx").asLong());
      assertTrue(l.get("first_errors").get("429/503").asText().contains("429 {\"error\":\"queue full\"} (Retry-After: 1)"),
          l.toString());
      assertTrue(r.out().contains("429/503 " + String.format("%,d", s.rejected.get())), r.out());

      s.rejectEvery = 0;
      s.fail = true;
      long before = s.searches.get();
      r = loadtest(s, "--concurrency", "2", "--duration", "300ms", "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      l = report(json).get("levels").get(0);
      assertEquals(s.searches.get() - before, l.get("outcomes").get("5xx").asLong(), l.toString());
      assertEquals(l.get("requests").asLong(), l.get("errors").asLong());
      assertEquals(0, l.get("outcomes").get("429/503").asLong() + l.get("outcomes").get("4xx").asLong());
      assertTrue(r.out().contains("first 5xx at concurrency 2: POST /v1/search: 500 {\"error\":\"index on fire\"}"),
          r.out());

      s.fail = false;
      s.drop = true;
      before = s.searches.get();
      r = loadtest(s, "--concurrency", "2", "--duration", "300ms", "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      l = report(json).get("levels").get(0);
      assertTrue(l.get("requests").asLong() > 0);
      assertEquals(s.searches.get() - before, l.get("outcomes").get("transport").asLong(), l.toString());
      assertEquals(l.get("requests").asLong(), l.get("outcomes").get("transport").asLong(), l.toString());

      s.drop = false;
      s.sleepMs = 400;
      r = loadtest(s, "--concurrency", "2", "--duration", "300ms", "--timeout", "100ms", "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      l = report(json).get("levels").get(0);
      assertTrue(l.get("requests").asLong() > 0);
      assertEquals(l.get("requests").asLong(), l.get("outcomes").get("timeout").asLong(), l.toString());
      assertTrue(l.get("p50_ms").asDouble() >= 100 && l.get("max_ms").asDouble() < 400, l.toString());
    }
  }

  @Test
  void addsUseFreshIdsAndTheApiKey() throws Exception {
    try (FakeServer s = new FakeServer(6)) {
      s.apiKey = "s3cret-key";
      Path key = tmp.resolve("key.txt");
      Files.writeString(key, "s3cret-key\n");
      Path json = tmp.resolve("add.json");
      EvalCommandTest.Run r = loadtest(s, "--op", "add", "--concurrency", "2,3", "--duration", "300ms", "--seed", "5",
          "--api-key-file", key.toString(), "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      assertEquals(List.of(), s.problems);
      JsonNode rep = report(json);
      assertEquals(s.adds.get(), total(rep, "requests"));
      assertEquals(s.ids.size(), s.adds.get(), "every id fresh");
      assertTrue(s.ids.stream().allMatch(id -> id.startsWith("loadtest-5-")), s.ids.toString());
      assertFalse(rep.has("k"), "k applies to searches only");
      for (JsonNode l : rep.get("levels")) assertEquals(l.get("requests").asLong(), l.get("outcomes").get("2xx").asLong());

      r = loadtest(s, "--op", "add", "--concurrency", "1", "--duration", "200ms", "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      JsonNode l = report(json).get("levels").get(0);
      assertEquals(s.unauthorised.get(), l.get("outcomes").get("4xx").asLong(), "no key: refused, as 4xx");
      assertEquals(l.get("requests").asLong(), l.get("errors").asLong());
      assertTrue(l.get("first_errors").get("4xx").asText().startsWith("POST /v1/items: 401 "), l.toString());
    }
  }

  @Test
  void mixedIsMostlySearches() throws Exception {
    try (FakeServer s = new FakeServer(4)) {
      s.sleepMs = 1;
      Path json = tmp.resolve("mixed.json");
      EvalCommandTest.Run r = loadtest(s, "--op", "mixed", "--concurrency", "4", "--duration", "600ms", "--json",
          json.toString());
      assertEquals(0, r.code(), r.err());
      assertEquals(List.of(), s.problems);
      JsonNode l = report(json).get("levels").get(0);
      assertEquals(s.searches.get(), l.get("by_op").get("search").asLong());
      assertEquals(s.adds.get(), l.get("by_op").get("add").asLong());
      long n = l.get("requests").asLong();
      assertEquals(n, s.searches.get() + s.adds.get());
      assertTrue(n >= 100, "too few requests to check the mix: " + n);
      double addShare = s.adds.get() / (double) n;
      assertTrue(addShare > 0.03 && addShare < 0.2, "adds " + addShare);
    }
  }

  @Test
  void rerankAsksForItOnlyWhereTheServerReRanks() throws Exception {
    try (FakeServer s = new FakeServer(4)) {
      EvalCommandTest.Run r = loadtest(s, "--op", "search", "--rerank", "--concurrency", "1", "--duration", "300ms");
      assertEquals(1, r.code(), r.err());
      assertTrue(r.err().contains("does not re-rank") && r.err().contains("serve --rerank"), r.err());
      assertEquals(0, s.searches.get(), "nothing sent to a server that would refuse every search");

      s.rerankK1 = 20;
      s.expectRerank = true;
      Path json = tmp.resolve("rerank.json");
      r = loadtest(s, "--op", "search", "--rerank", "--concurrency", "2", "--duration", "300ms", "--json",
          json.toString());
      assertEquals(0, r.code(), r.err());
      assertTrue(s.searches.get() > 0);
      assertEquals(List.of(), s.problems, "every search asked for re-ranking");
      assertTrue(report(json).get("rerank").asBoolean());

      r = loadtest(s, "--op", "embed", "--rerank", "--duration", "300ms");
      assertEquals(2, r.code());
      assertTrue(r.err().contains("--rerank") && r.err().contains("search or mixed"), r.err());
    }
  }

  @Test
  void embedSendsTheImage() throws Exception {
    try (FakeServer s = new FakeServer(4)) {
      Path png = tmp.resolve("crop.png");
      ReadmeTest.writeCrops(tmp.resolve("crops"), 1);
      Files.copy(tmp.resolve("crops/crop_0.png"), png);
      s.image = Files.readAllBytes(png);
      Path json = tmp.resolve("embed.json");
      EvalCommandTest.Run r = loadtest(s, "--op", "embed", "--image", png.toString(), "--concurrency", "2",
          "--duration", "300ms", "--json", json.toString());
      assertEquals(0, r.code(), r.err());
      assertEquals(List.of(), s.problems);
      JsonNode l = report(json).get("levels").get(0);
      assertEquals(s.embeds.get(), l.get("outcomes").get("2xx").asLong());
      assertEquals(s.embeds.get(), l.get("requests").asLong());

      s.withModel = false;
      r = loadtest(s, "--op", "embed", "--image", png.toString(), "--duration", "300ms");
      assertEquals(1, r.code(), r.err());
      assertTrue(r.err().contains("serves no model"), r.err());
    }
  }

  @Test
  void waitsForAStartingServer() throws Exception {
    try (FakeServer s = new FakeServer(4)) {
      s.startingHealthChecks = 2;
      EvalCommandTest.Run r = loadtest(s, "--concurrency", "1", "--duration", "100ms");
      assertEquals(0, r.code(), r.err());
      assertTrue(r.err().contains("waiting for " + s.url() + " to be ready"), r.err());
      assertEquals(3, s.health.get());
    }
  }

  @Test
  void anUnreachableServerIsAnErrorNamingTheUrl() throws Exception {
    int port;
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = free.getLocalPort();
    }
    String url = "http://127.0.0.1:" + port;
    EvalCommandTest.Run r = EvalCommandTest.cli("loadtest", "--url", url, "--duration", "1s", "--timeout", "2s");
    assertEquals(1, r.code(), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertTrue(r.err().startsWith("reid4j loadtest: error: cannot reach " + url + ": GET /health: connection refused"),
        r.err());
    assertEquals("", r.out());
  }

  @Test
  void badOptionsAreOneLineErrors() throws Exception {
    String url = "http://127.0.0.1:9"; // never reached: options are checked first
    Path text = tmp.resolve("not-an-image.png"), empty = tmp.resolve("empty-key");
    Files.writeString(text, "hello");
    Files.writeString(empty, "\n");
    String[][] cases = {
        {"--concurrency 0", "--concurrency \"0\": \"0\" is not a number of users from 1 to 4096"},
        {"--concurrency 1,,8", "\"\" is not a number of users"},
        {"--concurrency 1,5000", "\"5000\" is not a number of users from 1 to 4096"},
        {"--duration 30", "--duration \"30\": expected a number and a unit (ms, s, m or h), like 30s, 2m or 500ms"},
        {"--duration -1s", "--duration \"-1s\": expected a number and a unit"},
        {"--duration 0s", "--duration must be 1ms or more"},
        {"--warmup soon", "--warmup \"soon\": expected a number and a unit"},
        {"--timeout 0ms", "--timeout must be 1ms or more"},
        {"--op delete", "--op \"delete\": expected search, embed, add or mixed"},
        {"--k 0", "--k must be 1 or more"},
        {"--op add --k 5", "--k applies only with --op search or mixed"},
        {"--image " + text, "--image applies only with --op embed"},
        {"--op embed", "--op embed needs --image FILE"},
        {"--op embed --image " + text, "--image " + text + ": not a JPEG or PNG file"},
        {"--op embed --image " + tmp.resolve("missing.jpg"), "file not found: " + tmp.resolve("missing.jpg")},
        {"--api-key-file " + empty, "--api-key-file " + empty + " is empty"},
        {"--json " + tmp.resolve("no/such/out.json"), "does not exist"},
    };
    for (String[] c : cases) {
      List<String> a = new ArrayList<>(List.of("loadtest", "--url", url));
      a.addAll(List.of(c[0].split(" ")));
      EvalCommandTest.Run r = EvalCommandTest.cli(a.toArray(String[]::new));
      assertEquals(2, r.code(), c[0] + ": " + r.err());
      assertEquals(1, r.err().strip().lines().count(), c[0] + ": " + r.err());
      assertTrue(r.err().contains(c[1]), c[0] + ": " + r.err());
    }
    for (String bad : List.of("localhost:8080", "ftp://host/", "http://", "http://h:80/x?y=1", "http://a b")) {
      EvalCommandTest.Run r = EvalCommandTest.cli("loadtest", "--url", bad);
      assertEquals(2, r.code(), bad + ": " + r.err());
      assertEquals(1, r.err().strip().lines().count(), bad + ": " + r.err());
      assertTrue(r.err().contains("--url \"" + bad + "\""), bad + ": " + r.err());
    }
  }

  @Test
  void urlsLoseTheirTrailingSlash() {
    assertEquals("http://h:8080", LoadtestCommand.parseUrl("http://h:8080/").toString());
    assertEquals("http://h:8080/reid", LoadtestCommand.parseUrl("http://h:8080/reid//").toString());
    assertEquals("https://h", LoadtestCommand.parseUrl("HTTPS://h").toString());
  }

  @Test
  void durationsParseAsWritten() {
    assertEquals(Duration.ofSeconds(30), Durations.parse("--duration", "30s"));
    assertEquals(Duration.ofMinutes(2), Durations.parse("--duration", "2m"));
    assertEquals(Duration.ofMillis(500), Durations.parse("--duration", "500ms"));
    assertEquals(Duration.ofMillis(1500), Durations.parse("--duration", "1.5s"));
    assertEquals(Duration.ofHours(1), Durations.parse("--duration", "1h"));
    assertEquals(Duration.ZERO, Durations.parse("--warmup", "0s"));
    assertEquals(Duration.ofSeconds(10), Durations.parse("--timeout", " 10S "));
    for (String bad : List.of("30", "s", "", "-1s", "1d", "2 m", "1.s", ".5s", "1e3ms", "30s5", "8d"))
      assertThrows(IllegalArgumentException.class, () -> Durations.parse("--duration", bad), bad);
    assertThrows(IllegalArgumentException.class, () -> Durations.parse("--duration", "200h"));
    assertEquals("500ms", Durations.format(Duration.ofMillis(500)));
    assertEquals("30s", Durations.format(Duration.ofSeconds(30)));
    assertEquals("1.5s", Durations.format(Duration.ofMillis(1500)));
    assertEquals("2m", Durations.format(Duration.ofMinutes(2)));
    assertEquals("2m30s", Durations.format(Duration.ofSeconds(150)));
    assertEquals("1h5m", Durations.format(Duration.ofMinutes(65)));
  }

  @Test
  void statusesFallIntoTheirKinds() {
    assertEquals(Outcome.OK, Outcome.of(200));
    assertEquals(Outcome.OK, Outcome.of(204));
    assertEquals(Outcome.REJECTED, Outcome.of(429));
    assertEquals(Outcome.REJECTED, Outcome.of(503));
    assertEquals(Outcome.CLIENT_ERROR, Outcome.of(400));
    assertEquals(Outcome.CLIENT_ERROR, Outcome.of(404));
    assertEquals(Outcome.SERVER_ERROR, Outcome.of(500));
    assertEquals(Outcome.SERVER_ERROR, Outcome.of(502));
    assertEquals(Outcome.OTHER_STATUS, Outcome.of(302));
    assertEquals(Outcome.OTHER_STATUS, Outcome.of(101));
  }

  @Test
  void imagesAreKnownByTheirFirstBytes() throws IOException {
    ReadmeTest.writeCrops(tmp, 1);
    try (InputStream in = Files.newInputStream(tmp.resolve("crop_0.png"))) {
      assertEquals("image/png", LoadtestCommand.imageType(in.readAllBytes()));
    }
    assertEquals("image/jpeg", LoadtestCommand.imageType(new byte[] {(byte) 0xff, (byte) 0xd8, (byte) 0xff, 0}));
    assertNull(LoadtestCommand.imageType("GIF89a".getBytes(StandardCharsets.US_ASCII)));
  }
}
