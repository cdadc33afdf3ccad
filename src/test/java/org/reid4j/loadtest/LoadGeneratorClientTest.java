package org.reid4j.loadtest;

import static org.junit.jupiter.api.Assertions.*;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.hc.client5.http.classic.methods.HttpPost;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.io.entity.ByteArrayEntity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.GalleryOptions;
import org.reid4j.kernels.Backend;
import org.reid4j.serve.http.ReidService;

/** The load generator's HTTP client against a real server that closes idle connections. */
class LoadGeneratorClientTest {

  /**
   * A POST is not repeated, so one sent on a pooled connection that the server has closed for idleness
   * would fail: the client must have dropped it first (the server's Keep-Alive header says timeout=1).
   */
  @Test
  void aPooledConnectionIsNotUsedAfterTheServerClosedIt(@TempDir Path dir) throws Exception {
    try (ReidService svc = ReidService.start(ReidService.Options.defaults().withIdleTimeout(2000), null,
            Map.of("version", "test"), () -> Gallery.open(dir.resolve("g"), GalleryOptions.of(2).backend(Backend.JAVA)));
         CloseableHttpClient c = LoadGenerator.client(Duration.ofSeconds(10), 1)) {
      URI search = URI.create("http://127.0.0.1:" + svc.port() + "/v1/search");
      long[] pauses = {0, 500, 2500, 0};
      for (int i = 0; i < pauses.length; i++) {
        Thread.sleep(pauses[i]);
        HttpPost p = new HttpPost(search);
        p.setEntity(new ByteArrayEntity("{\"k\":1,\"feature\":[1,2]}".getBytes(StandardCharsets.US_ASCII),
            ContentType.APPLICATION_JSON));
        int n = i;
        LoadGenerator.Answer a = assertDoesNotThrow(() -> LoadGenerator.send(c, p), "request " + n);
        assertEquals(200, a.status(), new String(a.body(), StandardCharsets.UTF_8));
        assertNull(a.retryAfter());
      }
    }
  }
}
