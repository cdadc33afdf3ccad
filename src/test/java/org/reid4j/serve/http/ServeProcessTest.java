package org.reid4j.serve.http;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.Item;

/**
 * {@code reid4j serve} as a separate process, with real clients: kill -9 in the middle of a stream
 * of adds and deletes loses no acknowledged change; SIGTERM drains and closes cleanly.
 */
class ServeProcessTest {
  static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  static final Pattern LISTENING = Pattern.compile("on http://127\\.0\\.0\\.1:(\\d+)");

  @TempDir Path dir;

  /** A started server process, its port and what it printed. */
  record Server(Process process, int port, List<String> lines, Thread reader) {}

  static Server start(Path gallery, String... extra) throws Exception {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", cp,
        "org.reid4j.cli.Main", "serve", "--gallery", gallery.toString(), "--port", "0", "--backend", "java"));
    cmd.addAll(List.of(extra));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<String> lines = new CopyOnWriteArrayList<>();
    CountDownLatch ready = new CountDownLatch(1);
    int[] port = {-1};
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = in.readLine()) != null; ) {
          lines.add(line);
          Matcher m = LISTENING.matcher(line);
          if (m.find()) {
            port[0] = Integer.parseInt(m.group(1));
            ready.countDown();
          }
        }
      } catch (Exception ignored) {
        // the pipe breaks when the process dies
      }
      ready.countDown();
    });
    reader.start();
    assertTrue(ready.await(60, TimeUnit.SECONDS), "the server did not start: " + lines);
    assertTrue(port[0] > 0, "the server did not start: " + lines);
    return new Server(p, port[0], lines, reader);
  }

  static float[] feature(String id) {
    Random r = new Random(id.hashCode());
    return new float[] {r.nextFloat(), r.nextFloat(), r.nextFloat(), id.length()};
  }

  static int send(int port, String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    return CLIENT.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  static String item(String id) {
    float[] f = feature(id);
    return "{\"id\":\"" + id + "\",\"feature\":[" + f[0] + "," + f[1] + "," + f[2] + "," + f[3] + "]}";
  }

  @Test
  void killDashNineMidStreamLosesNoAcknowledgedAddOrDelete() throws Exception {
    Path g = dir.resolve("g");
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    // deleted: acknowledged deletes; doomed: deletes sent, acknowledged or not (an unanswered one may have happened)
    Set<String> added = ConcurrentHashMap.newKeySet(), deleted = ConcurrentHashMap.newKeySet(),
        doomed = ConcurrentHashMap.newKeySet();
    for (int round = 0; round < 3; round++) {
      Server s = start(g, "--dim", "4");
      AtomicBoolean stop = new AtomicBoolean();
      List<Thread> clients = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        int cc = c, rr = round;
        clients.add(new Thread(() -> {
          List<String> mine = new ArrayList<>();
          for (int i = 0; !stop.get(); i++) {
            try {
              String id = "r" + rr + "c" + cc + "-" + i;
              if (send(s.port(), "POST", "/v1/items", item(id)) == 201) {
                added.add(id);
                mine.add(id);
              }
              if (cc == 0 && i % 3 == 2 && !mine.isEmpty()) { // client 0 also deletes its own items
                String victim = mine.remove(0);
                doomed.add(victim);
                if (send(s.port(), "DELETE", "/v1/items/" + victim, null) == 204) deleted.add(victim);
              }
            } catch (Exception e) {
              return; // the server is gone
            }
          }
        }));
      }
      clients.forEach(Thread::start);
      Thread.sleep(400 + r.nextInt(800));
      s.process().destroyForcibly(); // SIGKILL
      s.process().waitFor();
      stop.set(true);
      for (Thread t : clients) t.join();
      s.reader().join();
      assertFalse(added.isEmpty(), "nothing was acknowledged before the kill (seed " + seed + ")");
      try (Gallery gal = Gallery.open(g)) {
        for (String id : added) {
          if (deleted.contains(id)) {
            assertTrue(gal.get(id).isEmpty(), "acknowledged delete of " + id + " undone by kill " + round + " (seed " + seed
                + ")");
          } else if (!doomed.contains(id)) {
            Item it = gal.get(id).orElse(null);
            assertNotNull(it, "acknowledged add of " + id + " lost by kill " + round + " (seed " + seed + "); "
                + gal.recoveryReport());
            assertArrayEquals(feature(id), it.feature(), id);
          }
        }
      }
    }
  }

  @Test
  void sigtermDrainsAndClosesTheGallery() throws Exception {
    Path g = dir.resolve("g");
    Server s = start(g, "--dim", "4");
    for (int i = 0; i < 20; i++) assertEquals(201, send(s.port(), "POST", "/v1/items", item("x" + i)));
    s.process().toHandle().destroy(); // SIGTERM (Process.destroy would also close our end of its output)
    assertTrue(s.process().waitFor(60, TimeUnit.SECONDS), "the server did not stop on SIGTERM");
    s.reader().join();
    assertTrue(s.lines().contains("stopped"), "no clean stop (exit " + s.process().exitValue() + "): " + s.lines());
    assertFalse(String.join("\n", s.lines()).contains("Exception"), String.join("\n", s.lines()));
    try (Gallery gal = Gallery.open(g)) {
      assertEquals(20, gal.size());
      assertTrue(gal.recoveryReport().clean(), "closed cleanly: " + gal.recoveryReport());
    }
    assertTrue(Files.exists(g.resolve("MANIFEST.json")));
  }

  /** serve --rerank --candidates hnsw: the graph from Lucene's HNSW (exhaustive here: the exact graph), told by /v1/info. */
  @Test
  void rerankWithAnHnswIndexServesTheGallerysOwnReranking() throws Exception {
    Path g = dir.resolve("h");
    List<Item> items = new ArrayList<>();
    for (int i = 0; i < 150; i++) items.add(Item.of("h" + i, feature("h" + i)));
    try (Gallery gal = Gallery.open(g, org.reid4j.gallery.GalleryOptions.of(4).fsync(false))) {
      gal.addAll(items);
    }
    Server s = start(g, "--rerank", "5", "--candidates", "hnsw", "--hnsw-m", "4", "--hnsw-ef", "100000");
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    float[] q = feature("query");
    com.fasterxml.jackson.databind.JsonNode info, hits;
    try {
      info = json.readTree(body(s.port(), "GET", "/v1/info", null));
      hits = json.readTree(body(s.port(), "POST", "/v1/search", "{\"feature\":[" + q[0] + "," + q[1] + "," + q[2] + ","
          + q[3] + "],\"k\":5,\"rerank\":true}")).get("hits");
    } finally {
      s.process().toHandle().destroy();
      assertTrue(s.process().waitFor(60, TimeUnit.SECONDS), "the server did not stop on SIGTERM");
    }
    assertEquals(5, info.get("rerank_k1").asInt(), info.toString());
    assertEquals("hnsw", info.get("rerank_candidates").get("kind").asText(), info.toString());
    assertEquals(4, info.get("rerank_candidates").get("m").asInt(), info.toString());
    assertEquals(100000, info.get("rerank_candidates").get("ef").asInt(), info.toString());
    try (Gallery gal = Gallery.open(g)) { // the default: the exact graph
      List<org.reid4j.gallery.Hit> want = gal.search(q, org.reid4j.gallery.SearchOptions.top(5).rerank(5, 5, 0.3f));
      assertEquals(5, hits.size(), hits.toString());
      for (int j = 0; j < 5; j++) {
        assertEquals(want.get(j).id(), hits.get(j).get("id").asText(), "rank " + j + ": " + hits);
        assertEquals(want.get(j).distance(), (float) hits.get(j).get("distance").asDouble(), 1e-6, "rank " + j);
      }
    }
  }

  static String body(int port, String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    HttpResponse<String> r = CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), method + " " + path + ": " + r.body());
    return r.body();
  }
}
