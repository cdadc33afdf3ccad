package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.io.AtomicFiles;
import org.reid4j.io.Npy;
import org.reid4j.kernels.FloatMatrix;

/** Defects a hostile-input probe found at the command line, each reproduced here first. */
class HostileInputCommandsTest {
  @TempDir Path tmp;

  private Path synth(String name) {
    Path dir = tmp.resolve(name);
    EvalCommandTest.Run r = EvalCommandTest.cli("synth", "--out", dir.toString(), "--ids", "20", "--cams", "3", "--dim",
        "8", "--distractors", "5", "--junk", "5", "--seed", "2");
    assertEquals(0, r.code(), r.err());
    return dir;
  }

  /** Features x1e19: the cpu backend used to answer R1 5.0% with exit 0; every backend now refuses alike. */
  @Test
  void overflowingFeaturesAreRefusedByEveryBackend() throws IOException {
    Path dir = synth("big");
    FloatMatrix g = Npy.read(dir.resolve("gallery_feats.npy")).asMatrix();
    float[] d = g.data().clone();
    for (int i = 0; i < d.length; i++) d[i] *= 1e19f;
    Npy.writeFloat32(dir.resolve("gallery_feats.npy"), new FloatMatrix(g.rows(), g.cols(), d));
    String first = null;
    for (String backend : new String[] {"java", "cpu"}) {
      EvalCommandTest.Run r = EvalCommandTest.cli("eval", "--dir", dir.toString(), "--backend", backend);
      assertEquals(2, r.code(), backend + ": " + r.out() + r.err());
      assertTrue(r.err().contains("squared norm") && r.err().contains("--normalize"), r.err());
      String msg = r.err().substring(r.err().indexOf("error:"));
      if (first == null) first = msg;
      else assertEquals(first, msg, "the same message on every backend");
    }
    EvalCommandTest.Run ok = EvalCommandTest.cli("eval", "--dir", dir.toString(), "--normalize", "--backend", "cpu");
    assertEquals(0, ok.code(), ok.err());
  }

  @Test
  void hugeK1IsBoundedByTheData() {
    Path dir = synth("k1");
    EvalCommandTest.Run java = EvalCommandTest.cli("eval", "--dir", dir.toString(), "--rerank", "--k1", "2147483647",
        "--backend", "java");
    EvalCommandTest.Run cpu = EvalCommandTest.cli("eval", "--dir", dir.toString(), "--rerank", "--k1", "2147483647",
        "--backend", "cpu");
    assertEquals(0, java.code(), java.err());
    assertEquals(0, cpu.code(), cpu.err());
    String jr = java.out().substring(java.out().indexOf("| Rank-1"), java.out().indexOf("queries evaluated"));
    String cr = cpu.out().substring(cpu.out().indexOf("| Rank-1"), cpu.out().indexOf("queries evaluated"));
    assertEquals(jr, cr);
  }

  @Test
  void aGalleryOfOnlyJunkIsAnError() throws IOException {
    Path dir = synth("junk");
    int n = Npy.read(dir.resolve("gallery_pids.npy")).asInts().length;
    int[] junk = new int[n];
    java.util.Arrays.fill(junk, -1);
    Npy.writeInt32(dir.resolve("gallery_pids.npy"), junk);
    EvalCommandTest.Run r = EvalCommandTest.cli("eval", "--dir", dir.toString());
    assertEquals(2, r.code(), r.out());
    assertTrue(r.err().contains("no query could be evaluated"), r.err());
  }

  @Test
  void jsonOverAnInputIsRefused() throws IOException {
    Path dir = synth("json");
    byte[] before = Files.readAllBytes(dir.resolve("query_pids.npy"));
    EvalCommandTest.Run r = EvalCommandTest.cli("eval", "--dir", dir.toString(), "--json",
        dir.resolve("query_pids.npy").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("is one of the inputs"), r.err());
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("query_pids.npy")));
  }

  @Test
  void sizesBeyondMemoryAreRefusedBeforeAllocating() {
    EvalCommandTest.Run r = EvalCommandTest.cli("synth", "--out", tmp.resolve("s").toString(), "--ids", "2000000000");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("Java array") || r.err().contains("MiB"), r.err());
    r = EvalCommandTest.cli("synth", "--out", tmp.resolve("s").toString(), "--dim", "100000", "--ids", "5000");
    assertEquals(2, r.code(), r.err());
    assertFalse(r.err().contains("OutOfMemoryError"), r.err());
    assertFalse(Files.exists(tmp.resolve("s")));
  }

  /** java.nio's exceptions carry a path but say little: the CLI says what is wrong with it. */
  @Test
  void fileErrorsSayWhatIsWrong() throws IOException {
    Path file = tmp.resolve("a-file");
    Files.writeString(file, "x");
    IOException e = assertThrows(IOException.class, () -> AtomicFiles.writeString(file.resolve("sub/r.json"), "{}"));
    assertTrue(e instanceof FileAlreadyExistsException, e.toString());
    String m = Main.message(e);
    assertTrue(m.contains(file.toString()) && m.contains("is a file"), m);
    assertEquals("file not found: /x/y.npy", Main.message(new NoSuchFileException("/x/y.npy")));
    m = Main.message(new AccessDeniedException("/x/out", null, "cannot write it: the folder /x is not writable"));
    assertTrue(m.startsWith("/x/out: permission denied, cannot write it"), m);
    m = Main.message(new java.nio.file.FileSystemException("/x/gallery_pids.npy", null, "Is a directory"));
    assertEquals("/x/gallery_pids.npy: Is a directory", m);
  }

  @Test
  void imageNamesWithALineBreakAreRefused() throws IOException {
    Path crops = tmp.resolve("crops");
    Files.createDirectories(crops);
    ReadmeTest.writeCrops(crops, 2);
    Files.move(crops.resolve("crop_1.png"), crops.resolve("bad\nname.png"));
    EvalCommandTest.Run r = EvalCommandTest.cli("extract", "--torchscript", tmp.resolve("none.ts").toString(),
        "--input-size", "28,28", "--images", crops.toString(), "--out", tmp.resolve("o").toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("line break"), r.err());
    assertFalse(Files.exists(tmp.resolve("o")));
  }
}
