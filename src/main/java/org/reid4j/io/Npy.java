package org.reid4j.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.reid4j.io.NpyArray.Dtype;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.NativeMatrix;

/**
 * NumPy {@code .npy} files, the format the Python side of a ReID pipeline saves features and labels
 * in. Reads format versions 1.0 and 2.0 with dtypes float32, float64, int32 and int64 in either byte
 * order, C order only; writes little-endian version 1.0 (2.0 if the header would not fit).
 *
 * <p>Reading is one header parse plus bulk transfers through a 4 MiB buffer into the result array
 * (memory: the result plus that buffer; about disk speed). Every format problem is an
 * {@link NpyFormatException} whose message names the file and what was expected. Writes go through
 * {@link AtomicFiles}: a failure never leaves a half-written file behind.
 */
public final class Npy {
  private Npy() {}

  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final int CHUNK = 1 << 22;
  private static final String SUPPORTED = "'<f4', '<f8', '<i4', '<i8' or their '>' big-endian forms";

  // ------------------------------------------------------------------------------------------- read

  public static NpyArray read(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      Opened o = open(ch, file);
      return new NpyArray(file, o.header().shape, o.header().dtype, readData(ch, o.dataStart(), o.header()));
    }
  }

  /**
   * A 2-D float32 or float64 array in native memory (float64 converted to float32), with the checks
   * and messages of {@link #read} and {@code asMatrix()}. Little-endian float32, what features are
   * saved as, is read straight into the matrix: the heap never holds it. Other layouts go through
   * {@link #read}.
   */
  public static NativeMatrix readMatrix(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      Opened o = open(ch, file);
      Header h = o.header();
      if (h.shape.length != 2 || h.dtype != Dtype.FLOAT32 || h.order != ByteOrder.nativeOrder())
        return NativeMatrix.of(new NpyArray(file, h.shape, h.dtype, readData(ch, o.dataStart(), h)).asMatrix());
      NativeMatrix m = NativeMatrix.allocate((int) h.shape[0], (int) h.shape[1]);
      try {
        long pos = o.dataStart(), done = 0, n = m.size();
        while (done < n) {
          int k = (int) Math.min(n - done, 1 << 28);
          ByteBuffer dst = m.bytes(done, k);
          readFully(ch, dst, pos);
          if (dst.hasRemaining()) throw new IOException(file + ": the file shrank while being read");
          pos += (long) k * Float.BYTES;
          done += k;
        }
        return m;
      } catch (IOException | RuntimeException e) {
        m.close();
        throw e;
      }
    }
  }

  private record Opened(Header header, long dataStart) {}

  /** Reads and checks the preamble and header; the data's size is checked against the file's. */
  private static Opened open(FileChannel ch, Path file) throws IOException {
    long fileSize = ch.size();
    ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, pre, 0);
    if (pre.position() < 10 || !startsWithMagic(pre.array()))
      throw new NpyFormatException(file, "not a NumPy .npy file (bad magic bytes)");
    int major = pre.get(6) & 0xff, minor = pre.get(7) & 0xff;
    long headerLen;
    int preLen;
    if (major == 1 && minor == 0) {
      headerLen = pre.getShort(8) & 0xffff;
      preLen = 10;
    } else if (major == 2 && minor == 0) {
      if (pre.position() < 12) throw new NpyFormatException(file, "file ends inside the .npy header");
      headerLen = pre.getInt(8) & 0xffffffffL;
      preLen = 12;
    } else {
      throw new NpyFormatException(file, "unsupported .npy format version " + major + "." + minor
          + " (expected 1.0 or 2.0)");
    }
    if (preLen + headerLen > fileSize) throw new NpyFormatException(file, "file ends inside the .npy header");
    if (headerLen > 1 << 20) throw new NpyFormatException(file, "implausibly long .npy header (" + headerLen + " bytes)");
    ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
    readFully(ch, hb, preLen);
    Header h = parseHeader(file, new String(hb.array(), StandardCharsets.ISO_8859_1));

    long dataStart = preLen + headerLen;
    long need = (long) h.count * h.dtype.bytes;
    long have = fileSize - dataStart;
    if (have < need)
      throw new NpyFormatException(file, "truncated: shape " + NpyArray.shapeString(h.shape) + " of "
          + h.descr + " needs " + need + " data bytes but only " + have + " follow the header");
    if (have > need)
      throw new NpyFormatException(file, "size mismatch: shape " + NpyArray.shapeString(h.shape) + " of "
          + h.descr + " needs " + need + " data bytes but " + have + " follow the header (trailing data)");
    return new Opened(h, dataStart);
  }

  private static boolean startsWithMagic(byte[] b) {
    for (int i = 0; i < MAGIC.length; i++) if (b[i] != MAGIC[i]) return false;
    return true;
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int r = ch.read(buf, pos);
      if (r < 0) break;
      pos += r;
    }
  }

  private static Object readData(FileChannel ch, long pos, Header h) throws IOException {
    int n = h.count;
    Object out = switch (h.dtype) {
      case FLOAT32 -> new float[n];
      case FLOAT64 -> new double[n];
      case INT32 -> new int[n];
      case INT64 -> new long[n];
    };
    int item = h.dtype.bytes;
    ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK).order(h.order);
    int done = 0;
    while (done < n) {
      int m = Math.min(n - done, CHUNK / item);
      buf.clear().limit(m * item);
      readFully(ch, buf, pos);
      if (buf.hasRemaining()) throw new IOException("file shrank while being read");
      pos += (long) m * item;
      buf.flip();
      switch (h.dtype) {
        case FLOAT32 -> buf.asFloatBuffer().get((float[]) out, done, m);
        case FLOAT64 -> buf.asDoubleBuffer().get((double[]) out, done, m);
        case INT32 -> buf.asIntBuffer().get((int[]) out, done, m);
        case INT64 -> buf.asLongBuffer().get((long[]) out, done, m);
      }
      done += m;
    }
    return out;
  }

  private record Header(String descr, Dtype dtype, ByteOrder order, long[] shape, int count) {}

  /** Parses and checks the header dict: descr, fortran_order and shape, nothing else. */
  private static Header parseHeader(Path file, String text) throws NpyFormatException {
    Map<String, Object> dict;
    try {
      Object v = new DictParser(text).parseHeader();
      if (!(v instanceof Map<?, ?>)) throw new IllegalArgumentException("the header is not a dict");
      @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) v;
      dict = m;
    } catch (IllegalArgumentException e) {
      throw new NpyFormatException(file, "malformed .npy header (" + e.getMessage() + "): " + text.strip());
    }
    for (String key : dict.keySet()) {
      if (!key.equals("descr") && !key.equals("fortran_order") && !key.equals("shape"))
        throw new NpyFormatException(file, "malformed .npy header: unexpected key '" + key + "'");
    }
    if (!dict.containsKey("descr") || !dict.containsKey("fortran_order") || !dict.containsKey("shape"))
      throw new NpyFormatException(file, "malformed .npy header: expected keys 'descr', 'fortran_order' and 'shape', got "
          + dict.keySet());

    Object fo = dict.get("fortran_order");
    if (!(fo instanceof Boolean)) throw new NpyFormatException(file, "malformed .npy header: fortran_order is " + fo);
    if ((Boolean) fo)
      throw new NpyFormatException(file, "fortran_order is True: only C-order arrays are supported (save with "
          + "np.ascontiguousarray)");

    Object d = dict.get("descr");
    if (!(d instanceof String descr))
      throw new NpyFormatException(file, "unsupported dtype " + d + " (structured arrays are not supported; expected "
          + SUPPORTED + ")");
    Dtype dtype = null;
    ByteOrder order = null;
    if (descr.length() == 3 && (descr.charAt(0) == '<' || descr.charAt(0) == '>')) {
      order = descr.charAt(0) == '<' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN;
      for (Dtype t : Dtype.values()) if (descr.substring(1).equals(t.descr().substring(1))) dtype = t;
    }
    if (dtype == null) throw new NpyFormatException(file, "unsupported dtype '" + descr + "' (expected " + SUPPORTED + ")");

    Object s = dict.get("shape");
    if (!(s instanceof List<?> dims)) throw new NpyFormatException(file, "malformed .npy header: shape is " + s);
    long[] shape = new long[dims.size()];
    for (int i = 0; i < shape.length; i++) {
      if (!(dims.get(i) instanceof Long dim) || dim < 0)
        throw new NpyFormatException(file, "malformed .npy header: shape " + s + " is not a tuple of non-negative ints");
      shape[i] = dim;
    }
    for (long dim : shape) {
      if (dim > Integer.MAX_VALUE - 8)
        throw new NpyFormatException(file, "shape " + NpyArray.shapeString(shape) + " does not fit in a Java array");
    }
    long count = 1;
    for (long dim : shape) {
      count *= dim;
      if (count > Integer.MAX_VALUE - 8)
        throw new NpyFormatException(file, "shape " + NpyArray.shapeString(shape) + " has more than 2^31 - 9 elements,"
            + " too many for a Java array");
    }
    return new Header(descr, dtype, order, shape, (int) count);
  }

  /**
   * A recursive-descent reader for the Python literal subset numpy writes in headers: dicts, tuples,
   * lists, quoted strings, integers (an old 'L' suffix allowed), True, False and None.
   */
  private static final class DictParser {
    private final String s;
    private int p;

    DictParser(String s) {
      this.s = s;
    }

    Object parseHeader() {
      Object v = value();
      skipSpace();
      if (p != s.length()) throw error("unexpected text after the dict");
      return v;
    }

    private Object value() {
      skipSpace();
      if (p >= s.length()) throw error("unexpected end");
      char c = s.charAt(p);
      if (c == '{') return dict();
      if (c == '(') return sequence('(', ')');
      if (c == '[') return sequence('[', ']');
      if (c == '\'' || c == '"') return string();
      if (c == '-' || Character.isDigit(c)) return integer();
      for (String word : new String[] {"True", "False", "None"}) {
        if (s.startsWith(word, p)) {
          p += word.length();
          return word.equals("None") ? null : Boolean.valueOf(word.equals("True"));
        }
      }
      throw error("unexpected '" + c + "'");
    }

    private Map<String, Object> dict() {
      Map<String, Object> m = new LinkedHashMap<>();
      p++;
      while (true) {
        skipSpace();
        if (peek() == '}') {
          p++;
          return m;
        }
        Object k = value();
        if (!(k instanceof String key)) throw error("dict key is not a string");
        skipSpace();
        expect(':');
        if (m.put(key, value()) != null) throw error("duplicate key '" + key + "'");
        skipSpace();
        if (peek() == ',') p++;
        else if (peek() != '}') throw error("expected ',' or '}'");
      }
    }

    private List<Object> sequence(char open, char close) {
      List<Object> list = new ArrayList<>();
      p++;
      while (true) {
        skipSpace();
        if (peek() == close) {
          p++;
          return list;
        }
        list.add(value());
        skipSpace();
        if (peek() == ',') p++;
        else if (peek() != close) throw error("expected ',' or '" + close + "'");
      }
    }

    private String string() {
      char q = s.charAt(p++);
      int end = s.indexOf(q, p);
      if (end < 0) throw error("unterminated string");
      String r = s.substring(p, end);
      p = end + 1;
      return r;
    }

    private Long integer() {
      int start = p;
      if (peek() == '-') p++;
      while (p < s.length() && Character.isDigit(s.charAt(p))) p++;
      String digits = s.substring(start, p);
      if (p < s.length() && s.charAt(p) == 'L') p++;
      try {
        return Long.parseLong(digits);
      } catch (NumberFormatException e) {
        throw error("bad integer '" + digits + "'");
      }
    }

    private char peek() {
      if (p >= s.length()) throw error("unexpected end");
      return s.charAt(p);
    }

    private void expect(char c) {
      if (peek() != c) throw error("expected '" + c + "'");
      p++;
    }

    private void skipSpace() {
      while (p < s.length() && Character.isWhitespace(s.charAt(p))) p++;
    }

    private IllegalArgumentException error(String what) {
      return new IllegalArgumentException(what + " at offset " + p);
    }
  }

  // ------------------------------------------------------------------------------------------ write

  /** A [rows, cols] float32 file. */
  public static void writeFloat32(Path file, FloatMatrix m) throws IOException {
    writeFloat32(file, m.data(), m.rows(), m.cols());
  }

  /** A float32 file of the given shape (the product of the shape must equal values.length). */
  public static void writeFloat32(Path file, float[] values, long... shape) throws IOException {
    write(file, Dtype.FLOAT32, values.length, shape, (buf, from, n) -> buf.asFloatBuffer().put(values, from, n));
  }

  /** A float64 file of the given shape. */
  public static void writeFloat64(Path file, double[] values, long... shape) throws IOException {
    write(file, Dtype.FLOAT64, values.length, shape, (buf, from, n) -> buf.asDoubleBuffer().put(values, from, n));
  }

  /** A 1-D int32 file. */
  public static void writeInt32(Path file, int[] values) throws IOException {
    writeInt32(file, values, values.length);
  }

  /** An int32 file of the given shape. */
  public static void writeInt32(Path file, int[] values, long... shape) throws IOException {
    write(file, Dtype.INT32, values.length, shape, (buf, from, n) -> buf.asIntBuffer().put(values, from, n));
  }

  /** A 1-D int64 file. */
  public static void writeInt64(Path file, long[] values) throws IOException {
    writeInt64(file, values, values.length);
  }

  /** An int64 file of the given shape. */
  public static void writeInt64(Path file, long[] values, long... shape) throws IOException {
    write(file, Dtype.INT64, values.length, shape, (buf, from, n) -> buf.asLongBuffer().put(values, from, n));
  }

  /** Copies values [from, from + n) into a little-endian buffer (through a typed view). */
  private interface Encoder {
    void put(ByteBuffer buf, int from, int n);
  }

  private static void write(Path file, Dtype dtype, int length, long[] shape, Encoder enc) throws IOException {
    long count = 1;
    for (long dim : shape) {
      if (dim < 0) throw new IllegalArgumentException(file + ": negative dimension in shape " + NpyArray.shapeString(shape));
      count *= dim;
    }
    if (count != length)
      throw new IllegalArgumentException(file + ": shape " + NpyArray.shapeString(shape) + " needs " + count
          + " values, got " + length);
    byte[] header = header(dtype, shape);
    AtomicFiles.write(file, out -> {
      out.write(header);
      writeData(out, dtype, length, enc);
    });
  }

  private static void writeData(OutputStream out, Dtype dtype, int length, Encoder enc) throws IOException {
    int per = (1 << 16) / dtype.bytes;
    ByteBuffer buf = ByteBuffer.allocate(per * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
    for (int from = 0; from < length; from += per) {
      int n = Math.min(per, length - from);
      buf.clear();
      enc.put(buf, from, n);
      out.write(buf.array(), 0, n * dtype.bytes);
    }
  }

  /** Magic, version, header length and the space-padded dict, 64-byte aligned, ending in '\n'. */
  static byte[] header(Dtype dtype, long[] shape) {
    String dict = "{'descr': '" + dtype.descr() + "', 'fortran_order': False, 'shape': "
        + NpyArray.shapeString(shape) + ", }";
    int total = (10 + dict.length() + 1 + 63) / 64 * 64;
    int version = total - 10 > 65535 ? 2 : 1;
    int pre = version == 1 ? 10 : 12;
    if (version == 2) total = (pre + dict.length() + 1 + 63) / 64 * 64;
    String padded = dict + " ".repeat(total - pre - dict.length() - 1) + "\n";
    ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
    b.put(MAGIC).put((byte) version).put((byte) 0);
    if (version == 1) b.putShort((short) padded.length());
    else b.putInt(padded.length());
    b.put(padded.getBytes(StandardCharsets.ISO_8859_1));
    return b.array();
  }
}
