package org.reid4j.io;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

public class IdxTest {
  @TempDir Path tmp;

  /** Writes an unsigned-byte IDX file (gzip or plain) with the given shape and values. */
  public static void write(Path p, int[] shape, byte[] values, boolean gzip) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    out.writeInt(0x0800 | shape.length);
    for (int s : shape) out.writeInt(s);
    out.write(values);
    out.flush();
    try (OutputStream f = gzip ? new GZIPOutputStream(Files.newOutputStream(p)) : Files.newOutputStream(p)) {
      f.write(bytes.toByteArray());
    }
  }

  @Test
  void readsGzipAndPlain() throws IOException {
    byte[] v = new byte[2 * 3 * 4];
    for (int i = 0; i < v.length; i++) v[i] = (byte) (i * 11);
    for (boolean gz : new boolean[] {true, false}) {
      Path p = tmp.resolve("t" + gz);
      write(p, new int[] {2, 3, 4}, v, gz);
      Idx.ByteTensor t = Idx.read(p);
      assertArrayEquals(new int[] {2, 3, 4}, t.shape());
      assertArrayEquals(v, t.data());
      assertEquals(253, t.unsigned(23)); // 23 * 11 = 253, stored as a negative byte
    }
  }

  @Test
  void truncatedDataIsAnErrorNamingTheFile() throws IOException {
    Path p = tmp.resolve("short.gz");
    write(p, new int[] {10, 28, 28}, new byte[100], true);
    IOException e = assertThrows(IOException.class, () -> Idx.read(p));
    assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void badMagicAndEmptyFile() throws IOException {
    Path p = tmp.resolve("bad");
    Files.write(p, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
    IOException e = assertThrows(IOException.class, () -> Idx.read(p));
    assertTrue(e.getMessage().contains("not an unsigned-byte IDX"), e.getMessage());
    Path empty = tmp.resolve("empty");
    Files.write(empty, new byte[0]);
    e = assertThrows(IOException.class, () -> Idx.read(empty));
    assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
    assertThrows(java.nio.file.NoSuchFileException.class, () -> Idx.read(tmp.resolve("missing")));
  }
}
