package org.reid4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.reid4j.io.AtomicFiles;
import org.reid4j.loadtest.Durations;
import org.reid4j.loadtest.LoadGenerator;
import org.reid4j.loadtest.LoadGenerator.Level;
import org.reid4j.loadtest.LoadGenerator.Op;
import org.reid4j.loadtest.LoadGenerator.Outcome;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reid4j loadtest}: closed-loop HTTP load on a running {@code reid4j serve}, level by level. */
@Command(name = "loadtest", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Load a running reid4j serve and measure it: for each concurrency level, N virtual users each "
        + "send their next request as soon as the previous answer arrives (closed loop), first for --warmup (not "
        + "recorded), then for --duration. Prints a table (throughput, latency percentiles of every request, errors "
        + "by kind) to stdout, progress to stderr.",
        "Failed requests are counted and reported, not fatal; a server that cannot be reached at the start is."})
public final class LoadtestCommand implements Callable<Integer> {
  @Option(names = "--url", paramLabel = "URL", required = true,
      description = "The server, like http://localhost:8080 (its API under /v1/).")
  String url;

  @Option(names = "--op", paramLabel = "OP", defaultValue = "search",
      description = "What each request does: search (POST /v1/search, a random Gaussian query of the server's "
          + "dimension), embed (POST /v1/embed, the bytes of --image), add (POST /v1/items, a fresh id), or mixed "
          + "(90%% search, 10%% add) (default ${DEFAULT-VALUE}).")
  String op;

  @Option(names = "--concurrency", paramLabel = "N[,N...]", defaultValue = "1,8,32,64",
      description = "Virtual users of each level, 1 to " + MAX_CONCURRENCY + ", comma-separated; levels run in "
          + "this order (default ${DEFAULT-VALUE}).")
  String concurrency;

  @Option(names = "--duration", paramLabel = "TIME", defaultValue = "30s",
      description = "Measured load per level, like 30s, 2m or 500ms (default ${DEFAULT-VALUE}).")
  String duration;

  @Option(names = "--warmup", paramLabel = "TIME", defaultValue = "5s",
      description = "Load before each level's measurement, not recorded; 0s for none (default ${DEFAULT-VALUE}).")
  String warmup;

  @Option(names = "--timeout", paramLabel = "TIME", defaultValue = "10s",
      description = "Per request: waiting longer for a connection or for the answer counts as a timeout "
          + "(default ${DEFAULT-VALUE}).")
  String timeout;

  @Option(names = "--k", paramLabel = "K", defaultValue = "10",
      description = "With --op search or mixed: hits per search, 1 or more (default ${DEFAULT-VALUE}).")
  int k;

  @Option(names = "--rerank", description = "With --op search or mixed: every search asks for online k-reciprocal "
      + "re-ranking (\"rerank\": true, the server's k1 and defaults); the server must run with serve --rerank K1.")
  boolean rerank;

  @Option(names = "--image", paramLabel = "FILE",
      description = "With --op embed, and required there: the JPEG or PNG sent as every request's body.")
  Path image;

  @Option(names = "--api-key-file", paramLabel = "FILE",
      description = "A file holding the server's API key, sent as Authorization: Bearer KEY with every request "
          + "(a server with a key refuses adds without it).")
  Path apiKeyFile;

  @Option(names = "--json", paramLabel = "OUT", description = "Also write the results as JSON to OUT.")
  Path json;

  @Option(names = "--seed", paramLabel = "N",
      description = "Seed of the query vectors, of mixed's choice between search and add, and of added items' ids "
          + "(loadtest-SEED-N: a second add run on the same server needs another seed) (default: from the clock, "
          + "printed).")
  Long seed;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  static final int MAX_CONCURRENCY = 4096;

  @Override
  public Integer call() throws Exception {
    Op o = parseOp(op);
    if (spec != null) {
      Cli.onlyWith(spec, o == Op.SEARCH || o == Op.MIXED, "with --op search or mixed", "--k", "--rerank");
      Cli.onlyWith(spec, o == Op.EMBED, "with --op embed", "--image");
    }
    URI base = parseUrl(url);
    List<Integer> levels = parseConcurrency(concurrency);
    Duration d = Durations.parse("--duration", duration), w = Durations.parse("--warmup", warmup),
        t = Durations.parse("--timeout", timeout);
    if (d.toMillis() < 1) throw new IllegalArgumentException("--duration must be 1ms or more, got " + duration);
    if (t.toMillis() < 1) throw new IllegalArgumentException("--timeout must be 1ms or more, got " + timeout);
    if (k < 1) throw new IllegalArgumentException("--k must be 1 or more, got " + k);
    byte[] imageBytes = null;
    String imageType = null;
    if (o == Op.EMBED) {
      if (image == null) throw new IllegalArgumentException("--op embed needs --image FILE (a JPEG or PNG)");
      imageBytes = Files.readAllBytes(image);
      imageType = imageType(imageBytes);
      if (imageType == null)
        throw new IllegalArgumentException("--image " + image + ": not a JPEG or PNG file (by its first bytes)");
    }
    String apiKey = apiKeyFile == null ? null : readApiKey(apiKeyFile);
    if (json != null) {
      Path parent = json.toAbsolutePath().getParent();
      if (parent != null && !Files.isDirectory(parent))
        throw new IllegalArgumentException("--json " + json + ": folder " + parent + " does not exist");
      if (Files.isDirectory(json)) throw new IllegalArgumentException("--json " + json + " is a folder");
    }
    long sd = seed != null ? seed : System.currentTimeMillis();

    JsonNode info = LoadGenerator.serverInfo(base, t, apiKey, System.err::println);
    int dimension = 0;
    if (o.needsDimension()) {
      JsonNode dim = info.get("dimension");
      if (dim == null || !dim.canConvertToInt() || dim.asInt() < 1 || dim.asInt() > 1 << 20)
        throw new IllegalStateException("GET " + base + "/v1/info has no usable \"dimension\" (" + dim + "); --op "
            + o.label() + " needs it for the query vectors");
      dimension = dim.asInt();
      if (rerank && !(info.path("rerank_k1").asInt(0) > 0))
        throw new IllegalStateException(base + " does not re-rank (/v1/info has \"rerank_k1\": "
            + info.get("rerank_k1") + "); start it with serve --rerank K1, or drop --rerank");
    } else if (info.has("model") && info.get("model").isNull()) {
      throw new IllegalStateException(base + " serves no model (\"model\": null in /v1/info), so /v1/embed cannot "
          + "answer; start it with a model, or load it with --op search");
    }
    LoadGenerator.Settings settings = new LoadGenerator.Settings(base, o, levels, d, w, t, k, rerank, dimension,
        imageBytes, imageType, apiKey, sd);
    String what = String.format(Locale.ROOT, "%s on %s%s: %s per level after %s warm-up, levels %s, seed %d",
        o.label() + (rerank ? " (re-ranked)" : ""), base, serverSummary(info), Durations.format(d), Durations.format(w), levels, sd);
    System.err.println("loadtest " + what);
    Instant date = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    List<Level> results;
    try (LoadGenerator g = new LoadGenerator(settings)) {
      results = g.run(System.err::println);
    }

    System.out.println("loadtest " + what);
    System.out.print(table(results));
    for (Level l : results)
      for (var e : l.firstErrors().entrySet())
        System.out.println("first " + e.getKey().label + " at concurrency " + l.concurrency() + ": " + e.getValue());
    if (json != null) {
      AtomicFiles.writeString(json, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(
          report(settings, date, info, results)) + "\n");
      System.out.println("wrote " + json);
    }
    return 0;
  }

  static Op parseOp(String s) {
    for (Op o : Op.values()) if (o.label().equals(s)) return o;
    throw new IllegalArgumentException("--op \"" + s + "\": expected search, embed, add or mixed");
  }

  static URI parseUrl(String s) {
    URI u;
    try {
      u = new URI(s.strip());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("--url \"" + s + "\": not a URL (" + e.getReason() + "); expected like "
          + "http://localhost:8080");
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https") || u.getHost() == null)
      throw new IllegalArgumentException("--url \"" + s + "\": expected http://HOST:PORT or https://HOST:PORT, like "
          + "http://localhost:8080");
    if (u.getRawQuery() != null || u.getRawFragment() != null)
      throw new IllegalArgumentException("--url \"" + s + "\": no query or fragment, only the server's base URL");
    String path = u.getRawPath() == null ? "" : u.getRawPath().replaceAll("/+$", "");
    return URI.create(scheme + "://" + u.getRawAuthority() + path);
  }

  static List<Integer> parseConcurrency(String s) {
    List<Integer> l = new ArrayList<>();
    for (String part : s.split(",", -1)) {
      int n;
      try {
        n = Integer.parseInt(part.strip());
      } catch (NumberFormatException e) {
        n = -1;
      }
      if (n < 1 || n > MAX_CONCURRENCY)
        throw new IllegalArgumentException("--concurrency \"" + s + "\": \"" + part + "\" is not a number of users "
            + "from 1 to " + MAX_CONCURRENCY + "; expected a list like 1,8,32,64");
      l.add(n);
    }
    return l;
  }

  /** "image/jpeg" or "image/png" by the file's magic bytes, else null. */
  static String imageType(byte[] b) {
    if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) return "image/jpeg";
    if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return "image/png";
    return null;
  }

  static String readApiKey(Path f) throws IOException {
    String key = Files.readString(f, StandardCharsets.UTF_8).strip();
    if (key.isEmpty()) throw new IllegalArgumentException("--api-key-file " + f + " is empty");
    if (!key.chars().allMatch(c -> c > 0x20 && c < 0x7f))
      throw new IllegalArgumentException("--api-key-file " + f + ": the key must be one line of printable ASCII "
          + "without spaces (it goes into an HTTP header)");
    return key;
  }

  private static String serverSummary(JsonNode info) {
    List<String> parts = new ArrayList<>();
    if (info.hasNonNull("dimension")) parts.add("dimension " + info.get("dimension").asText());
    if (info.hasNonNull("metric")) parts.add(info.get("metric").asText().toLowerCase(Locale.ROOT));
    if (info.hasNonNull("items")) parts.add(String.format(Locale.ROOT, "%,d items", info.get("items").asLong()));
    if (info.hasNonNull("version")) parts.add("version " + info.get("version").asText());
    return parts.isEmpty() ? "" : " (" + String.join(", ", parts) + ")";
  }

  /** A Markdown table, columns padded for the terminal. */
  static String table(List<Level> levels) {
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"concurrency", "requests", "throughput (req/s)", "p50 (ms)", "p95 (ms)", "p99 (ms)",
        "max (ms)", "errors"});
    for (Level l : levels)
      rows.add(new String[] {Integer.toString(l.concurrency()), String.format(Locale.ROOT, "%,d", l.requests()),
          String.format(Locale.ROOT, "%,.1f", l.throughput()), LoadGenerator.ms(l.percentileMs(50)),
          LoadGenerator.ms(l.percentileMs(95)), LoadGenerator.ms(l.percentileMs(99)), LoadGenerator.ms(l.maxMs()),
          LoadGenerator.errors(l)});
    int[] width = new int[rows.get(0).length];
    for (String[] r : rows) for (int i = 0; i < r.length; i++) width[i] = Math.max(width[i], r[i].length());
    StringBuilder b = new StringBuilder();
    for (int r = 0; r < rows.size(); r++) {
      for (int i = 0; i < width.length; i++) {
        String cell = rows.get(r)[i];
        boolean left = i == width.length - 1 || r == 0;
        b.append("| ").append(left ? pad(cell, width[i], false) : pad(cell, width[i], true)).append(' ');
      }
      b.append("|\n");
      if (r == 0) {
        for (int i = 0; i < width.length; i++)
          b.append("|").append(i == width.length - 1 ? "-".repeat(width[i] + 2) : "-".repeat(width[i] + 1) + ":");
        b.append("|\n");
      }
    }
    return b.toString();
  }

  private static String pad(String s, int w, boolean right) {
    String fill = " ".repeat(Math.max(0, w - s.length()));
    return right ? fill + s : s + fill;
  }

  static Map<String, Object> report(LoadGenerator.Settings s, Instant date, JsonNode info, List<Level> levels) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("url", s.url().toString());
    m.put("op", s.op().label());
    m.put("duration_s", s.duration().toNanos() / 1e9);
    m.put("warmup_s", s.warmup().toNanos() / 1e9);
    m.put("timeout_s", s.timeout().toNanos() / 1e9);
    if (s.op() == Op.SEARCH || s.op() == Op.MIXED) {
      m.put("k", s.k());
      m.put("rerank", s.rerank());
    }
    m.put("seed", s.seed());
    m.put("date", date.toString());
    m.put("server", info);
    m.put("client", Map.of("java", System.getProperty("java.version"), "cores",
        Runtime.getRuntime().availableProcessors()));
    List<Map<String, Object>> ls = new ArrayList<>();
    for (Level l : levels) {
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("concurrency", l.concurrency());
      e.put("requests", l.requests());
      e.put("warmup_requests", l.warmupRequests());
      e.put("seconds", l.seconds());
      e.put("throughput", l.throughput());
      e.put("p50_ms", number(l.percentileMs(50)));
      e.put("p95_ms", number(l.percentileMs(95)));
      e.put("p99_ms", number(l.percentileMs(99)));
      e.put("max_ms", number(l.maxMs()));
      e.put("min_ms", number(l.minMs()));
      e.put("mean_ms", number(l.meanMs()));
      e.put("errors", l.errors());
      e.put("generator_cpu_s", number(l.cpuSeconds()));
      Map<String, Long> outcomes = new LinkedHashMap<>();
      for (Outcome o : Outcome.values()) outcomes.put(o.label, l.outcomes().get(o));
      e.put("outcomes", outcomes);
      e.put("by_op", l.byOp());
      Map<String, String> first = new LinkedHashMap<>();
      l.firstErrors().forEach((o, msg) -> first.put(o.label, msg));
      e.put("first_errors", first);
      ls.add(e);
    }
    m.put("levels", ls);
    return m;
  }

  private static Double number(double v) {
    return Double.isNaN(v) ? null : v;
  }
}
