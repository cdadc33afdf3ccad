package org.reid4j.serve;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.GalleryOptions;
import org.reid4j.gallery.Hit;
import org.reid4j.gallery.Item;
import org.reid4j.gallery.SearchOptions;
import org.reid4j.kernels.Backend;

class BatchedSearchTest {
  @TempDir Path dir;

  @Test
  void coalescedSearchesEqualSingleSearchesWhateverTheirOptions() throws Exception {
    Random r = new Random(4);
    int d = 9;
    try (Gallery g = Gallery.open(dir, GalleryOptions.of(d).backend(Backend.JAVA).fsync(false))) {
      List<Item> items = new ArrayList<>();
      for (int i = 0; i < 300; i++) items.add(Item.of("i" + i, gaussian(r, d)).withCamid(i % 4).withAttribute("s", "" + i % 3));
      g.addAll(items);
      g.checkpoint();
      g.remove("i7");
      SearchOptions[] opts = {SearchOptions.top(5), SearchOptions.top(3).excludeCamid(1),
          SearchOptions.top(5).filter("s", "2"), SearchOptions.top(300)};
      List<Integer> sizes = Collections.synchronizedList(new ArrayList<>());
      try (BatchedSearch b = new BatchedSearch(g, 16, 50_000, 1000, sizes::add)) {
        List<float[]> qs = new ArrayList<>();
        List<CompletableFuture<List<Hit>>> fs = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
          float[] q = gaussian(r, d);
          qs.add(q);
          fs.add(b.submit(q, opts[i % opts.length]));
        }
        for (int i = 0; i < 64; i++)
          assertEquals(g.search(qs.get(i), opts[i % opts.length]), fs.get(i).get(10, TimeUnit.SECONDS), "query " + i);
        assertTrue(Collections.max(sizes) > 1, "never coalesced: " + sizes);
        assertEquals(64, sizes.stream().mapToInt(Integer::intValue).sum());
        CompletableFuture<List<Hit>> bad = b.submit(new float[d - 1], opts[0]);
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> bad.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("dimension"), e.getCause().getMessage());
      }
    }
  }

  static float[] gaussian(Random r, int d) {
    float[] f = new float[d];
    for (int i = 0; i < d; i++) f[i] = (float) r.nextGaussian();
    return f;
  }
}
