package org.reid4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.GalleryOptions;
import org.reid4j.gallery.Item;
import org.reid4j.gallery.SearchOptions;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;

/**
 * One exact gallery search call (k = 10) over a checkpointed gallery of {@code items} x 512 random
 * features, for a batch of {@code queries} queries: what micro-batching buys. The time per query is
 * the score divided by {@code queries}. The plain form reads the memory-mapped segments in place;
 * with a camera exclusion each block of eligible rows is copied first (the filtered form).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class GallerySearchBenchmark {
  @Param({"100000"})
  public int items;

  @Param({"1", "8", "64"})
  public int queries;

  @Param({"cpu"})
  public String backend;

  Path dir;
  Gallery gallery;
  float[][] q;
  SearchOptions plain = SearchOptions.top(10), excluding = SearchOptions.top(10).excludeCamid(-1);

  @Setup(Level.Trial)
  public void setup() throws IOException {
    int d = 512;
    dir = Files.createTempDirectory("reid4j-bench-gallery");
    gallery = Gallery.open(dir, GalleryOptions.of(d).backend(Backend.parse(backend)).fsync(false));
    FloatMatrix f = Shapes.gaussian(items, d, 7);
    List<Item> batch = new ArrayList<>();
    for (int i = 0; i < items; i++) {
      float[] row = new float[d];
      System.arraycopy(f.data(), i * d, row, 0, d);
      batch.add(Item.of(Integer.toString(i), row).withCamid(i % 6));
      if (batch.size() == 10_000 || i == items - 1) {
        gallery.addAll(batch);
        batch.clear();
      }
    }
    gallery.checkpoint();
    FloatMatrix qm = Shapes.gaussian(queries, d, 8);
    q = new float[queries][d];
    for (int i = 0; i < queries; i++) System.arraycopy(qm.data(), i * d, q[i], 0, d);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    gallery.close();
    try (var s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }

  @Benchmark
  public Object search() {
    return gallery.search(q, plain);
  }

  @Benchmark
  public Object searchExcludingACamera() {
    return gallery.search(q, excluding);
  }
}
