package org.reid4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.GalleryOptions;
import org.reid4j.gallery.Item;
import org.reid4j.io.FeatureDir;
import org.reid4j.io.Npy;
import org.reid4j.io.NpyArray;
import org.reid4j.kernels.Checks;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Metric;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code reid4j gallery import|info}: make a persistent gallery from feature files, and describe one. */
@Command(name = "gallery", mixinStandardHelpOptions = true,
    description = "Make a persistent gallery (org.reid4j.gallery) from feature files, or describe one.",
    subcommands = {GalleryCommand.Import.class, GalleryCommand.Info.class})
public final class GalleryCommand {

  /** {@code gallery import}: a new gallery from an eval folder's gallery rows or from .npy features and an id list. */
  @Command(name = "import", mixinStandardHelpOptions = true,
      description = "Make a new gallery from files: the gallery rows of an eval folder (ids are the row numbers "
          + "0, 1, ..., with their person and camera ids), or --features F.npy with one id per line in --ids.")
  static final class Import implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
      @Option(names = "--dir", paramLabel = "DIR", required = true,
          description = "Folder in eval's layout (gallery_feats.npy, gallery_pids.npy, gallery_camids.npy).")
      Path dir;

      @ArgGroup(exclusive = false)
      FeatureFiles files;
    }

    static final class FeatureFiles {
      @Option(names = "--features", paramLabel = "FEATURES.NPY", required = true, description = "Features [n, d], float32.")
      Path features;

      @Option(names = "--ids", paramLabel = "IDS.TXT", required = true,
          description = "One item id per line, in the rows' order (UTF-8; unique).")
      Path ids;

      @Option(names = "--pids", paramLabel = "PIDS.NPY", description = "Person ids [n] (int32/int64), optional.")
      Path pids;

      @Option(names = "--camids", paramLabel = "CAMIDS.NPY", description = "Camera ids [n] (int32/int64), optional.")
      Path camids;
    }

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "The new gallery's folder.")
    Path out;

    @Option(names = "--metric", paramLabel = "METRIC", defaultValue = "sqeuclidean",
        description = "What search ranks by, fixed at creation: sqeuclidean, euclidean or cosine (default: "
            + "${DEFAULT-VALUE}).")
    String metric;

    @Override
    public Integer call() throws IOException {
      Metric m = Metric.parse(metric);
      if (Files.exists(out.resolve("MANIFEST.json")))
        throw new IllegalArgumentException("--out " + out + " already holds a gallery; import makes a new one "
            + "(choose another folder, or add to that one through the Java API)");
      // Everything is read and checked before the gallery folder is made: a refused import writes nothing.
      FloatMatrix f;
      List<String> ids;
      int[] pids = null, camids = null;
      if (source.dir != null) {
        LabelledFeatures g = FeatureDir.readGallery(source.dir);
        f = g.features();
        pids = g.pids();
        camids = g.camids();
        ids = new ArrayList<>(f.rows());
        for (int i = 0; i < f.rows(); i++) ids.add(Integer.toString(i));
      } else {
        NpyArray a = Npy.read(source.files.features);
        if (a.shape().length != 2)
          throw new IllegalArgumentException(source.files.features + ": expected features of shape [n, d], got "
              + java.util.Arrays.toString(a.shape()));
        f = a.asMatrix();
        ids = readIds(source.files.ids, f.rows());
        if (source.files.pids != null) pids = labels(source.files.pids, "person ids", f.rows());
        if (source.files.camids != null) camids = labels(source.files.camids, "camera ids", f.rows());
      }
      String what = source.dir != null ? source.dir.resolve("gallery_feats.npy").toString()
          : source.files.features.toString();
      Checks.requireUsable(f, what);
      int n = f.rows(), d = f.cols();
      if (d < 1) throw new IllegalArgumentException(what + ": features have no columns");

      long t0 = System.nanoTime();
      org.reid4j.report.ProgressLine progress = new org.reid4j.report.ProgressLine(System.out, 2, n, t0, "import",
          "items", "items", 0);
      // Bulk import without a force per batch; the closing checkpoint makes the whole import durable.
      try (Gallery g = Gallery.open(out, GalleryOptions.of(d).metric(m).fsync(false))) {
        int batch = 4096;
        for (int start = 0; start < n; start += batch) {
          int end = Math.min(n, start + batch);
          List<Item> items = new ArrayList<>(end - start);
          for (int i = start; i < end; i++) {
            Item it = Item.of(ids.get(i), f.row(i));
            if (pids != null) it = it.withPid(pids[i]);
            if (camids != null) it = it.withCamid(camids[i]);
            items.add(it);
          }
          g.addAll(items);
          progress.update(end);
        }
        g.checkpoint();
        Gallery.Stats s = g.stats();
        System.out.printf(Locale.ROOT, "imported %,d items of dimension %d into %s (metric %s) in %.1f s%n",
            s.items(), d, out, m.name().toLowerCase(Locale.ROOT), (System.nanoTime() - t0) / 1e9);
      }
      return 0;
    }

    static List<String> readIds(Path file, int rows) throws IOException {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      if (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) lines.remove(lines.size() - 1);
      if (lines.size() != rows)
        throw new IllegalArgumentException(file + ": " + lines.size() + " ids for " + rows
            + " feature rows; expected one id per line, in the rows' order");
      Map<String, Integer> seen = new HashMap<>();
      for (int i = 0; i < lines.size(); i++) {
        String id = lines.get(i).endsWith("\r") ? lines.get(i).substring(0, lines.get(i).length() - 1) : lines.get(i);
        if (id.isEmpty()) throw new IllegalArgumentException(file + " line " + (i + 1) + ": an empty id");
        Integer before = seen.putIfAbsent(id, i + 1);
        if (before != null)
          throw new IllegalArgumentException(file + " line " + (i + 1) + ": id \"" + id + "\" repeats line "
              + before + "; ids must be unique");
        lines.set(i, id);
      }
      return lines;
    }

    static int[] labels(Path file, String what, int rows) throws IOException {
      int[] v = Npy.read(file).asInts();
      if (v.length != rows)
        throw new IllegalArgumentException(file + ": " + v.length + " " + what + " for " + rows + " feature rows");
      return v;
    }
  }

  /** {@code gallery info}: counts, dimension, metric and what opening it found. */
  @Command(name = "info", mixinStandardHelpOptions = true,
      description = "Describe a gallery: items, dimension, metric, segments, deleted rows, log, and what the last "
          + "open's recovery found.")
  static final class Info implements Callable<Integer> {
    @Parameters(paramLabel = "DIR", description = "The gallery's folder.")
    Path dir;

    @Option(names = "--json", description = "Print JSON instead of lines.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      try (Gallery g = Gallery.open(dir)) {
        Gallery.Stats s = g.stats();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("folder", dir.toString());
        m.put("items", s.items());
        m.put("dimension", s.dimension());
        m.put("metric", s.metric().name().toLowerCase(Locale.ROOT));
        m.put("segments", s.segments());
        m.put("segment_rows", s.segmentRows());
        m.put("deleted_rows", s.deletedRows());
        m.put("log_rows", s.logRows());
        m.put("log_bytes", s.logBytes());
        m.put("recovery", g.recoveryReport().toString());
        if (json) {
          System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(m));
        } else {
          for (var e : m.entrySet()) System.out.printf(Locale.ROOT, "%-13s %s%n", e.getKey(), e.getValue());
        }
      }
      return 0;
    }
  }
}
