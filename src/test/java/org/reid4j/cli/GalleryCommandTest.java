package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.gallery.Gallery;
import org.reid4j.gallery.Hit;
import org.reid4j.gallery.Item;
import org.reid4j.gallery.SearchOptions;
import org.reid4j.io.FeatureDir;
import org.reid4j.io.Npy;

/** {@code reid4j gallery import|info} on files the test writes. */
class GalleryCommandTest {
  @TempDir Path tmp;

  @Test
  void importsAnEvalFolderAndDescribesIt() throws Exception {
    Path d = tmp.resolve("eval");
    EvalCommandTest.Run r = EvalCommandTest.cli("synth", "--out", d.toString(), "--preset", "small");
    assertEquals(0, r.code(), r.err());
    LabelledFeatures gal = FeatureDir.readGallery(d), q = FeatureDir.readQuery(d);
    Path g = tmp.resolve("g");
    r = EvalCommandTest.cli("gallery", "import", "--dir", d.toString(), "--out", g.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("imported " + String.format("%,d", gal.size()) + " items"), r.out());

    r = EvalCommandTest.cli("gallery", "info", g.toString(), "--json");
    assertEquals(0, r.code(), r.err());
    JsonNode info = new ObjectMapper().readTree(r.out());
    assertEquals(gal.size(), info.get("items").asInt());
    assertEquals(gal.features().cols(), info.get("dimension").asInt());
    assertEquals("sqeuclidean", info.get("metric").asText());
    assertEquals(0, info.get("log_rows").asInt(), "the import ends with a checkpoint");

    // Items are the gallery rows: ids are row numbers, with pids and camids; search finds row 5 first for row 5.
    try (Gallery opened = Gallery.open(g)) {
      Item five = opened.get("5").orElseThrow();
      assertArrayEquals(gal.features().row(5), five.feature());
      assertEquals(gal.pids()[5], five.pid());
      assertEquals(gal.camids()[5], five.camid());
      List<Hit> hits = opened.search(gal.features().row(5), SearchOptions.top(3));
      assertEquals("5", hits.get(0).id());
      assertEquals(0f, hits.get(0).distance(), 1e-3f);
      assertEquals(3, opened.search(q.features().row(0), SearchOptions.top(3)).size());
    }

    // A second import into the same folder is refused and changes nothing.
    long before = Files.getLastModifiedTime(g.resolve("MANIFEST.json")).toMillis();
    r = EvalCommandTest.cli("gallery", "import", "--dir", d.toString(), "--out", g.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("already holds a gallery"), r.err());
    assertEquals(before, Files.getLastModifiedTime(g.resolve("MANIFEST.json")).toMillis());
  }

  @Test
  void importsFeaturesWithAnIdListAndRefusesBadListsBeforeWriting() throws Exception {
    Path f = tmp.resolve("f.npy"), ids = tmp.resolve("ids.txt"), cams = tmp.resolve("cams.npy");
    Npy.writeFloat32(f, new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
    Npy.writeInt32(cams, new int[] {4, 5, 6});
    Files.writeString(ids, "shoe-a\r\nshoe-b\r\nbag\r\n");
    Path g = tmp.resolve("g");
    EvalCommandTest.Run r = EvalCommandTest.cli("gallery", "import", "--features", f.toString(), "--ids",
        ids.toString(), "--camids", cams.toString(), "--metric", "cosine", "--out", g.toString());
    assertEquals(0, r.code(), r.err());
    try (Gallery opened = Gallery.open(g)) {
      assertEquals(3, opened.size());
      assertEquals(6, opened.get("bag").orElseThrow().camid());
      assertEquals("shoe-a", opened.search(new float[] {2, 0}, SearchOptions.top(1)).get(0).id());
    }

    Path g2 = tmp.resolve("g2");
    Files.writeString(ids, "a\nb\na\n");
    r = EvalCommandTest.cli("gallery", "import", "--features", f.toString(), "--ids", ids.toString(), "--out",
        g2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("ids.txt line 3: id \"a\" repeats line 1"), r.err());
    Files.writeString(ids, "a\nb\n");
    r = EvalCommandTest.cli("gallery", "import", "--features", f.toString(), "--ids", ids.toString(), "--out",
        g2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("2 ids for 3 feature rows"), r.err());
    Npy.writeFloat32(f, new float[] {1, 0, Float.NaN, 1, 1, 1}, 3, 2);
    Files.writeString(ids, "a\nb\nc\n");
    r = EvalCommandTest.cli("gallery", "import", "--features", f.toString(), "--ids", ids.toString(), "--out",
        g2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("f.npy") && r.err().contains("row 1"), r.err());
    assertFalse(Files.exists(g2), "a refused import makes no folder");
    r = EvalCommandTest.cli("gallery", "info", g2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("no gallery"), r.err());
  }
}
