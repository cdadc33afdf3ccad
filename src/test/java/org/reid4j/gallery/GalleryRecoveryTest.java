package org.reid4j.gallery;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.kernels.Backend;

/** A torn or damaged log tail, kill -9 during adds, and searches racing adds. */
class GalleryRecoveryTest {
  @TempDir Path dir;

  static GalleryOptions opts() {
    return GalleryOptions.of(4).backend(Backend.JAVA).fsync(false);
  }

  static Item item(int i) {
    return Item.of("k" + i, new float[] {i, -i, 0.5f * i, 1}).withPid(i).withAttribute("n", "v" + i);
  }

  /** Writes 5 items to the log of a gallery left without a checkpoint; returns [start, end) of the last record. */
  long[] logWithFiveItems(Path d) throws Exception {
    Gallery g = Gallery.open(d, opts());
    for (int i = 0; i < 4; i++) g.add(item(i));
    Path log = d.resolve(Manifest.read(d).log());
    long start = Files.size(log);
    g.add(item(4));
    long end = Files.size(log);
    g.abandon();
    return new long[] {start, end};
  }

  void copy(Path from, Path to) throws Exception {
    Files.createDirectories(to);
    try (var s = Files.list(from)) {
      for (Path p : (Iterable<Path>) s::iterator) Files.copy(p, to.resolve(p.getFileName()));
    }
  }

  void assertFirstFourOnly(Gallery g) {
    for (int i = 0; i < 4; i++) GalleryTest.assertItem(item(i), g.get("k" + i).orElseThrow());
    assertTrue(g.get("k4").isEmpty());
    assertEquals(4, g.size());
  }

  @Test
  void truncatedTailAtEveryOffsetOfTheLastRecord() throws Exception {
    Path orig = dir.resolve("orig");
    long[] last = logWithFiveItems(orig);
    String logName = Manifest.read(orig).log();
    for (long cut = last[0] + 1; cut < last[1]; cut++) {
      Path d = dir.resolve("cut" + cut);
      copy(orig, d);
      try (RandomAccessFile f = new RandomAccessFile(d.resolve(logName).toFile(), "rw")) {
        f.setLength(cut);
      }
      try (Gallery g = Gallery.open(d, opts())) {
        RecoveryReport rep = g.recoveryReport();
        assertFalse(rep.clean(), "cut at " + cut);
        assertEquals(last[0], rep.truncatedAt(), "cut at " + cut + ": " + rep);
        assertEquals(cut - last[0], rep.droppedBytes(), rep.toString());
        assertEquals(4, rep.recordsReplayed());
        assertTrue(rep.reason().startsWith("short record"), rep.reason());
        assertEquals(last[0], Files.size(d.resolve(logName)), "the log is truncated to the last good record");
        assertFirstFourOnly(g);
      }
    }
  }

  @Test
  void bitFlipsInTheLastRecordAreDroppedAndReported() throws Exception {
    Path orig = dir.resolve("orig");
    long[] last = logWithFiveItems(orig);
    String logName = Manifest.read(orig).log();
    long[] at = {last[0] + 3, last[0] + 5, last[0] + 9, last[0] + 20, last[1] - 1};
    String[] reason = {"bad record length", "checksum mismatch", "checksum mismatch", "checksum mismatch",
        "checksum mismatch"};
    for (int i = 0; i < at.length; i++) {
      Path d = dir.resolve("flip" + i);
      copy(orig, d);
      try (RandomAccessFile f = new RandomAccessFile(d.resolve(logName).toFile(), "rw")) {
        f.seek(at[i]);
        int b = f.read();
        f.seek(at[i]);
        f.write(b ^ (at[i] == last[0] + 3 ? 0x40 : 0x08));
      }
      try (Gallery g = Gallery.open(d, opts())) {
        RecoveryReport rep = g.recoveryReport();
        assertEquals(last[0], rep.truncatedAt(), rep.toString());
        assertTrue(rep.reason().startsWith(reason[i]), "flip at " + at[i] + ": " + rep);
        assertFirstFourOnly(g);
      }
    }
  }

  @Test
  void killDashNineDuringAddsLosesNoAcknowledgedItem() throws Exception {
    Path g0 = dir.resolve("g");
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    List<String> acked = new ArrayList<>();
    for (int round = 0; round < 3; round++) {
      Process p = new ProcessBuilder(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", cp,
          GalleryCrashChild.class.getName(), g0.toString(), String.valueOf(round * 1_000_000))
          .redirectError(ProcessBuilder.Redirect.INHERIT).start();
      List<String> lines = new CopyOnWriteArrayList<>();
      CountDownLatch ready = new CountDownLatch(1);
      Thread reader = new Thread(() -> {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
          for (String line; (line = in.readLine()) != null; ) {
            if (line.equals("ready")) ready.countDown();
            else lines.add(line);
          }
        } catch (Exception ignored) {
          // the pipe breaks when the child dies
        }
      });
      reader.start();
      assertTrue(ready.await(60, TimeUnit.SECONDS), "child did not start (seed " + seed + ")");
      Thread.sleep(100 + r.nextInt(600));
      p.destroyForcibly();
      p.waitFor();
      reader.join();
      for (String l : lines) if (l.startsWith("ack ")) acked.add(l.substring(4));
      assertTrue(lines.size() > 0, "the child acknowledged nothing before the kill");
      try (Gallery g = Gallery.open(g0, GalleryCrashChild.options())) {
        for (String id : acked) {
          Item it = g.get(id).orElse(null);
          assertNotNull(it, "acknowledged " + id + " lost after kill " + round + " (seed " + seed + ") " + g.recoveryReport());
          assertArrayEquals(GalleryCrashChild.feature(id), it.feature(), id);
        }
      }
    }
  }

  @Test
  void searchesSeeAPrefixOfEachWritersAcknowledgedAdds() throws Exception {
    int writers = 3, each = 120;
    GalleryOptions o = GalleryOptions.of(3).backend(Backend.JAVA).checkpointBytes(2048).blockRows(16);
    try (Gallery g = Gallery.open(dir, o)) {
      AtomicInteger[] acked = new AtomicInteger[writers];
      AtomicBoolean done = new AtomicBoolean();
      List<Throwable> errors = new CopyOnWriteArrayList<>();
      List<Thread> ts = new ArrayList<>();
      for (int w = 0; w < writers; w++) {
        int ww = w;
        acked[w] = new AtomicInteger();
        ts.add(new Thread(() -> {
          try {
            for (int i = 0; i < each; i++) {
              g.add(Item.of(ww + ":" + i, new float[] {ww, i, 1}).withCamid(ww));
              acked[ww].set(i + 1);
            }
          } catch (Throwable e) {
            errors.add(e);
          }
        }));
      }
      AtomicInteger searches = new AtomicInteger();
      for (int s = 0; s < 2; s++) {
        ts.add(new Thread(() -> {
          try {
            while (!done.get()) {
              int[] before = new int[writers];
              for (int w = 0; w < writers; w++) before[w] = acked[w].get();
              List<Hit> hits = g.search(new float[] {0, 0, 0}, SearchOptions.top(writers * each));
              boolean[][] seen = new boolean[writers][each];
              for (Hit h : hits) {
                String[] parts = h.id().split(":");
                seen[Integer.parseInt(parts[0])][Integer.parseInt(parts[1])] = true;
              }
              for (int w = 0; w < writers; w++) {
                int n = 0;
                while (n < each && seen[w][n]) n++;
                for (int i = n; i < each; i++) assertFalse(seen[w][i], "writer " + w + ": saw " + i + " without " + n);
                assertTrue(n >= before[w], "writer " + w + ": " + before[w] + " acknowledged before the search, saw " + n);
              }
              searches.incrementAndGet();
            }
          } catch (Throwable e) {
            errors.add(e);
          }
        }));
      }
      ts.forEach(Thread::start);
      for (int w = 0; w < writers; w++) ts.get(w).join();
      done.set(true);
      for (Thread t : ts) t.join();
      if (!errors.isEmpty()) throw new AssertionError(errors.size() + " errors, first: " + errors.get(0), errors.get(0));
      assertEquals(writers * each, g.size());
      assertTrue(searches.get() > 5, "searches ran: " + searches.get());
    }
  }
}
