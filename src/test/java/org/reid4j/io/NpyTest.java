package org.reid4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.kernels.FloatMatrix;

class NpyTest {
  @TempDir Path dir;

  // ------------------------------------------------------------------------ hand-made files

  /** A .npy file built byte by byte: prelude of the given version, the dict padded to 64 bytes, the data. */
  static byte[] npy(int major, String dict, byte[] data) {
    int pre = major == 1 ? 10 : 12;
    int total = (pre + dict.length() + 1 + 63) / 64 * 64;
    String header = dict + " ".repeat(total - pre - dict.length() - 1) + "\n";
    ByteBuffer b = ByteBuffer.allocate(total + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
    if (major == 1) b.putShort((short) header.length());
    else b.putInt(header.length());
    b.put(header.getBytes(StandardCharsets.ISO_8859_1)).put(data);
    return b.array();
  }

  static String dict(String descr, String shape) {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  }

  static ByteBuffer data(int bytes, ByteOrder order) {
    return ByteBuffer.allocate(bytes).order(order);
  }

  Path file(String name, byte[] bytes) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, bytes);
    return p;
  }

  // ---------------------------------------------------------------------------- round trips

  @Test
  void float32MatrixRoundTrip() throws IOException {
    FloatMatrix m = new FloatMatrix(3, 4, new float[] {1, -2, 3.5f, Float.MIN_VALUE, 0, -0f, 1e30f, 7, 8, 9, 10,
        Float.MAX_VALUE});
    Path p = dir.resolve("m.npy");
    Npy.writeFloat32(p, m);
    NpyArray a = Npy.read(p);
    assertEquals(NpyArray.Dtype.FLOAT32, a.dtype());
    assertArrayEquals(new long[] {3, 4}, a.shape());
    assertEquals(m, a.asMatrix());
    assertNoTempFiles();
  }

  @Test
  void zeroRowArraysRoundTrip() throws IOException {
    Path p = dir.resolve("empty.npy");
    Npy.writeFloat32(p, FloatMatrix.zeros(0, 5));
    FloatMatrix m = Npy.read(p).asMatrix();
    assertEquals(0, m.rows());
    assertEquals(5, m.cols());
    Path q = dir.resolve("empty_ids.npy");
    Npy.writeInt32(q, new int[0]);
    assertEquals(0, Npy.read(q).asInts().length);
    assertArrayEquals(new long[] {0}, Npy.read(q).shape());
  }

  @Test
  void otherDtypesRoundTrip() throws IOException {
    Path f = dir.resolve("f.npy");
    Npy.writeFloat32(f, new float[] {1, 2, 3, 4, 5, 6}, 1, 2, 3);
    assertArrayEquals(new long[] {1, 2, 3}, Npy.read(f).shape());
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, Npy.read(f).asFloats());

    Path d = dir.resolve("d.npy");
    Npy.writeFloat64(d, new double[] {0.1, 1e300, -2}, 3, 1);
    NpyArray da = Npy.read(d);
    assertEquals(NpyArray.Dtype.FLOAT64, da.dtype());
    assertArrayEquals(new double[] {0.1, 1e300, -2}, da.asDoubles());
    FloatMatrix dm = da.asMatrix(); // converted to float32
    assertEquals(0.1f, dm.get(0, 0));
    assertEquals(Float.POSITIVE_INFINITY, dm.get(1, 0));

    Path i = dir.resolve("i.npy");
    Npy.writeInt32(i, new int[] {Integer.MIN_VALUE, -1, 0, 7, Integer.MAX_VALUE});
    assertEquals(NpyArray.Dtype.INT32, Npy.read(i).dtype());
    assertArrayEquals(new int[] {Integer.MIN_VALUE, -1, 0, 7, Integer.MAX_VALUE}, Npy.read(i).asInts());

    Path l = dir.resolve("l.npy");
    Npy.writeInt64(l, new long[] {-5, 0, 1L << 40});
    assertEquals(NpyArray.Dtype.INT64, Npy.read(l).dtype());
    assertArrayEquals(new long[] {-5, 0, 1L << 40}, Npy.read(l).asLongs());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(l).asInts());
    assertTrue(e.getMessage().contains(l.toString()) && e.getMessage().contains("1099511627776"), e.getMessage());
    Npy.writeInt64(l, new long[] {-5, 0, 12});
    assertArrayEquals(new int[] {-5, 0, 12}, Npy.read(l).asInts());
  }

  @Test
  void writtenHeaderFollowsTheFormat() throws IOException {
    Path p = dir.resolve("h.npy");
    Npy.writeInt32(p, new int[] {1, 2, 3});
    byte[] b = Files.readAllBytes(p);
    assertEquals((byte) 0x93, b[0]);
    assertEquals("NUMPY", new String(b, 1, 5, StandardCharsets.ISO_8859_1));
    assertEquals(1, b[6]);
    assertEquals(0, b[7]);
    int len = (b[8] & 0xff) | (b[9] & 0xff) << 8;
    assertEquals(0, (10 + len) % 64);
    String header = new String(b, 10, len, StandardCharsets.ISO_8859_1);
    assertTrue(header.startsWith("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"), header);
    assertTrue(header.endsWith("\n"));
    assertEquals(10 + len + 12, b.length);
  }

  @Test
  void readsBigEndianFilesOfEveryDtype() throws IOException {
    ByteBuffer f4 = data(8, ByteOrder.BIG_ENDIAN).putFloat(1.5f).putFloat(-2f);
    assertArrayEquals(new float[] {1.5f, -2f}, Npy.read(file("f4.npy", npy(1, dict(">f4", "(1, 2)"), f4.array())))
        .asMatrix().data());
    ByteBuffer f8 = data(16, ByteOrder.BIG_ENDIAN).putDouble(0.25).putDouble(1e-3);
    assertArrayEquals(new double[] {0.25, 1e-3}, Npy.read(file("f8.npy", npy(1, dict(">f8", "(2,)"), f8.array())))
        .asDoubles());
    ByteBuffer i4 = data(12, ByteOrder.BIG_ENDIAN).putInt(1).putInt(-2).putInt(300000);
    assertArrayEquals(new int[] {1, -2, 300000}, Npy.read(file("i4.npy", npy(1, dict(">i4", "(3,)"), i4.array())))
        .asInts());
    ByteBuffer i8 = data(16, ByteOrder.BIG_ENDIAN).putLong(-7).putLong(1L << 33);
    assertArrayEquals(new long[] {-7, 1L << 33}, Npy.read(file("i8.npy", npy(1, dict(">i8", "(2,)"), i8.array())))
        .asLongs());
  }

  @Test
  void readsLittleEndianHandMadeFilesAndVersion2Headers() throws IOException {
    ByteBuffer f4 = data(24, ByteOrder.LITTLE_ENDIAN);
    for (int k = 0; k < 6; k++) f4.putFloat(k * 0.5f);
    FloatMatrix m = Npy.read(file("v2.npy", npy(2, dict("<f4", "(2, 3)"), f4.array()))).asMatrix();
    assertEquals(2, m.rows());
    assertEquals(2.5f, m.get(1, 2));
    ByteBuffer i8 = data(16, ByteOrder.BIG_ENDIAN).putLong(5).putLong(6);
    assertArrayEquals(new int[] {5, 6}, Npy.read(file("v2be.npy", npy(2, dict(">i8", "(2,)"), i8.array()))).asInts());
    // Header variants numpy has written over the years: key order, double quotes, no trailing comma, 'L' suffix.
    ByteBuffer i4 = data(8, ByteOrder.LITTLE_ENDIAN).putInt(3).putInt(4);
    String odd = "{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"<i4\"}";
    assertArrayEquals(new int[] {3, 4}, Npy.read(file("odd.npy", npy(1, odd, i4.array()))).asInts());
  }

  // ------------------------------------------------------------------------------------ errors

  NpyFormatException readFails(String name, byte[] bytes, String... fragments) throws IOException {
    Path p = file(name, bytes);
    NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.read(p));
    assertTrue(e.getMessage().contains(p.toString()), "message should name the file: " + e.getMessage());
    for (String f : fragments) assertTrue(e.getMessage().contains(f), e.getMessage() + " should mention " + f);
    return e;
  }

  @Test
  void rejectsFilesThatAreNotNpy() throws IOException {
    readFails("text.npy", "hello, this is not numpy".getBytes(StandardCharsets.US_ASCII), "magic");
    readFails("tiny.npy", new byte[] {(byte) 0x93, 'N'}, "magic");
    readFails("empty.npy", new byte[0], "magic");
  }

  @Test
  void rejectsUnsupportedVersions() throws IOException {
    byte[] b = npy(1, dict("<f4", "(1,)"), new byte[4]);
    b[6] = 3;
    readFails("v3.npy", b, "version 3.0");
    b[6] = 1;
    b[7] = 1;
    readFails("v11.npy", b, "version 1.1");
  }

  @Test
  void rejectsFortranOrder() throws IOException {
    readFails("fortran.npy", npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new byte[16]),
        "fortran_order");
  }

  @Test
  void rejectsUnsupportedDtypes() throws IOException {
    for (String descr : new String[] {"<f2", "|b1", "<c8", "|O", "<u4", "|u1", "<M8[ns]", "<U3"})
      readFails("dtype" + Math.abs(descr.hashCode()) + ".npy", npy(1, dict(descr, "(1,)"), new byte[16]),
          "unsupported dtype", descr);
    readFails("structured.npy", npy(1, "{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, "
        + "'shape': (1,), }", new byte[8]), "unsupported dtype");
  }

  @Test
  void rejectsTruncatedAndOverlongData() throws IOException {
    readFails("short.npy", npy(1, dict("<f4", "(3, 4)"), new byte[40]), "truncated", "48", "40");
    readFails("long.npy", npy(1, dict("<f4", "(3, 4)"), new byte[52]), "trailing");
    byte[] whole = npy(1, dict("<f4", "(3,)"), new byte[12]);
    readFails("header_cut.npy", Arrays.copyOf(whole, 30), "header");
  }

  @Test
  void rejectsMalformedHeaders() throws IOException {
    readFails("nokey.npy", npy(1, "{'descr': '<f4', 'shape': (1,), }", new byte[4]), "fortran_order");
    readFails("extra.npy", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", new byte[4]),
        "unexpected key");
    readFails("garbage.npy", npy(1, "{'descr': '<f4', 'fortran_order': Fals", new byte[4]), "malformed");
    readFails("notdict.npy", npy(1, "[1, 2, 3]", new byte[4]), "malformed");
    readFails("badshape.npy", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", new byte[8]),
        "shape");
    readFails("strshape.npy", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 'a', }", new byte[8]),
        "shape");
    readFails("unterminated.npy", npy(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", new byte[4]),
        "malformed");
  }

  @Test
  void rejectsShapesTooLargeForAJavaArray() throws IOException {
    readFails("huge.npy", npy(1, dict("<f4", "(100000, 100000)"), new byte[0]), "(100000, 100000)", "Java array");
    readFails("hugedim.npy", npy(1, dict("<f4", "(0, 3000000000)"), new byte[0]), "Java array");
  }

  @Test
  void accessorsCheckShapeAndType() throws IOException {
    Path ids = dir.resolve("ids.npy");
    Npy.writeInt32(ids, new int[] {1, 2, 3});
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(ids).asMatrix());
    assertTrue(e.getMessage().contains(ids.toString()) && e.getMessage().contains("2-D")
        && e.getMessage().contains("(3,)"), e.getMessage());
    Path vec = dir.resolve("vec.npy");
    Npy.writeFloat32(vec, new float[] {1, 2, 3}, 3);
    e = assertThrows(IllegalArgumentException.class, () -> Npy.read(vec).asMatrix());
    assertTrue(e.getMessage().contains(vec.toString()), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Npy.read(vec).asInts());
    assertTrue(e.getMessage().contains(vec.toString()) && e.getMessage().contains("int"), e.getMessage());
    Path mat = dir.resolve("mat.npy");
    Npy.writeInt32(mat, new int[] {1, 2, 3, 4}, 2, 2);
    e = assertThrows(IllegalArgumentException.class, () -> Npy.read(mat).asInts());
    assertTrue(e.getMessage().contains("1-D"), e.getMessage());
  }

  @Test
  void missingFileIsAnIOException() {
    assertThrows(IOException.class, () -> Npy.read(dir.resolve("nope.npy")));
  }

  // ------------------------------------------------------------------------------ atomicity

  @Test
  void failedWriteLeavesTheOldFileAndNoTemporaryFiles() throws IOException {
    Path p = dir.resolve("keep.npy");
    Npy.writeInt32(p, new int[] {4, 5});
    assertThrows(IllegalArgumentException.class, () -> Npy.writeFloat32(p, new float[] {1, 2, 3}, 2, 2));
    assertArrayEquals(new int[] {4, 5}, Npy.read(p).asInts());
    Path blocked = dir.resolve("sub");
    Files.createDirectories(blocked.resolve("child")); // a non-empty folder where the file should go
    assertThrows(IOException.class, () -> Npy.writeInt32(blocked, new int[] {1}));
    assertTrue(Files.isDirectory(blocked));
    assertNoTempFiles();
  }

  @Test
  void largeHeaderSwitchesToVersion2() throws IOException {
    byte[] h = Npy.header(NpyArray.Dtype.FLOAT32, new long[0]);
    assertEquals(1, h[6]);
    // 25000 dimensions of 1 make a dict longer than 65535 bytes.
    long[] shape = new long[25000];
    Arrays.fill(shape, 1L);
    Path p = dir.resolve("manydims.npy");
    Npy.writeFloat32(p, new float[] {42f}, shape);
    assertEquals(2, Files.readAllBytes(p)[6]);
    NpyArray a = Npy.read(p);
    assertEquals(25000, a.shape().length);
    assertArrayEquals(new float[] {42f}, a.asFloats());
  }

  void assertNoTempFiles() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      assertFalse(s.anyMatch(f -> f.getFileName().toString().endsWith(".tmp")), "temporary file left behind");
    }
  }

  // ---- readMatrix: straight into native memory, the same values and errors as read().asMatrix() ----

  void assertReadMatrixEqualsRead(Path f) throws IOException {
    FloatMatrix want = Npy.read(f).asMatrix();
    try (org.reid4j.kernels.NativeMatrix got = Npy.readMatrix(f)) {
      assertEquals(want.rows(), got.rows(), f.toString());
      assertEquals(want.cols(), got.cols(), f.toString());
      assertArrayEquals(want.data(), got.toHeap().data(), f.toString());
    }
  }

  @Test
  void readMatrixGivesWhatReadGivesForEveryFloatLayout() throws IOException {
    java.util.Random r = new java.util.Random(41);
    for (int[] shape : new int[][] {{1, 1}, {3, 7}, {0, 5}, {257, 129}, {4099, 300}}) { // the last spans chunks
      float[] v = new float[shape[0] * shape[1]];
      double[] d = new double[v.length];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) r.nextGaussian();
        d[i] = r.nextGaussian() * 1e3;
      }
      Path f4 = dir.resolve("m" + shape[0] + ".npy"), f8 = dir.resolve("d" + shape[0] + ".npy");
      Npy.writeFloat32(f4, v, shape[0], shape[1]);
      Npy.writeFloat64(f8, d, shape[0], shape[1]);
      assertReadMatrixEqualsRead(f4);
      assertReadMatrixEqualsRead(f8);
    }
    ByteBuffer be = data(24, ByteOrder.BIG_ENDIAN);
    for (int k = 0; k < 6; k++) be.putFloat(k * 0.5f - 1f);
    assertReadMatrixEqualsRead(file("be.npy", npy(1, dict(">f4", "(2, 3)"), be.array())));
    ByteBuffer v2 = data(24, ByteOrder.LITTLE_ENDIAN);
    for (int k = 0; k < 6; k++) v2.putFloat(k * 0.25f);
    assertReadMatrixEqualsRead(file("v2m.npy", npy(2, dict("<f4", "(3, 2)"), v2.array())));
  }

  @Test
  void readMatrixRefusesWhatAsMatrixRefuses() throws IOException {
    Path oneD = dir.resolve("v.npy"), ints = dir.resolve("i.npy");
    Npy.writeFloat32(oneD, new float[] {1, 2, 3}, 3);
    Npy.writeInt32(ints, new int[] {1, 2, 3, 4}, 2, 2);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.readMatrix(oneD));
    assertTrue(e.getMessage().contains(oneD.toString()) && e.getMessage().contains("2-D"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Npy.readMatrix(ints));
    assertTrue(e.getMessage().contains(ints.toString()) && e.getMessage().contains("float32 or float64"), e.getMessage());
    Path whole = dir.resolve("w.npy");
    Npy.writeFloat32(whole, new float[12], 3, 4);
    byte[] b = Files.readAllBytes(whole);
    Path cut = file("cut.npy", java.util.Arrays.copyOf(b, b.length - 5));
    NpyFormatException t = assertThrows(NpyFormatException.class, () -> Npy.readMatrix(cut));
    assertEquals(assertThrows(NpyFormatException.class, () -> Npy.read(cut)).getMessage(), t.getMessage());
    assertTrue(t.getMessage().contains("truncated"), t.getMessage());
  }
}
