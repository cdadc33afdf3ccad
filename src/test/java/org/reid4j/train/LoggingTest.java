package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoggingTest {
  @TempDir Path tmp;

  @Test
  void metricsLogKeepsEpochsUpToTheCheckpointOnResume() throws IOException {
    Path f = tmp.resolve("out/metrics.jsonl");
    try (MetricsLog log = new MetricsLog(f, 0)) {
      for (int e = 1; e <= 3; e++) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", e);
        m.put("loss", 1.0 / e);
        log.append(m);
      }
    }
    Files.writeString(f, "{\"epoch\": 4, \"lo", java.nio.file.StandardOpenOption.APPEND); // cut short by a kill
    try (MetricsLog log = new MetricsLog(f, 2)) {
      log.append(Map.of("epoch", 3, "loss", 0.3));
    }
    var rows = MetricsLog.read(f);
    assertEquals(3, rows.size());
    assertEquals(2, rows.get(1).get("epoch").asInt());
    assertEquals(0.3, rows.get(2).get("loss").asDouble(), 0);
    try (MetricsLog log = new MetricsLog(f, 0)) {
      // a fresh run starts empty
    }
    assertEquals(0, MetricsLog.read(f).size());
  }

  @Test
  void progressLinesWithoutTerminalFollowTheLogPeriod() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, 5);
    for (int i = 1; i <= 12; i++)
      bar.update(new ProgressBar.Status(0, 3, i, 12, 1.5, 1.2, 0.3, 0.01, 0.5, 3.5e-4, 1234, 75));
    String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
    assertEquals(3, lines.length, "iterations 5, 10 and the last, 12");
    assertTrue(lines[2].startsWith("epoch 1/3 12/12 loss 1.5000 (id 1.2000 tri 0.3000 cen 0.0100) acc 0.500 lr 3.50e-04"),
        lines[2]);
    assertTrue(lines[2].endsWith("1,234 img/s ETA 1m15s"), lines[2]);
  }

  @Test
  void terminalBarRedrawsInPlace() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), true, 5);
    bar.update(new ProgressBar.Status(0, 1, 1, 2, 1, 1, 0, 0, 0, 1e-3, 10, -1));
    bar.update(new ProgressBar.Status(0, 1, 2, 2, 1, 1, 0, 0, 0, 1e-3, 10, -1));
    String s = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(s.startsWith("\repoch 1/1 [##########..........] 1/2"), s);
    assertTrue(s.contains("\repoch 1/1 [####################] 2/2") && s.endsWith("\n"), s);
    assertEquals("3m07s", ProgressBar.duration(187));
    assertEquals("1h02m", ProgressBar.duration(3720));
  }
}
