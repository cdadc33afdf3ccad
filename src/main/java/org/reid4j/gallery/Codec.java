package org.reid4j.gallery;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * The binary forms of log records and of a row's metadata, little-endian throughout.
 *
 * <pre>
 * put record:    0x01, meta, dimension x float32
 * remove record: 0x02, string id
 * meta:          string id, flags (bit 0: pid, bit 1: camid), [int32 pid], [int32 camid],
 *                int32 n, n x (string key, string value)
 * string:        int32 byte length, UTF-8 bytes
 * </pre>
 *
 * Decoding rejects anything out of place with IllegalArgumentException, which the log's recovery
 * treats like a bad checksum.
 */
final class Codec {
  private Codec() {}

  static final byte PUT = 1, REMOVE = 2;

  /** The decoded operation of one log record: a put (item set) or a remove (id set). */
  record Op(Item item, String removedId) {}

  static byte[] put(Item item) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(64 + item.featureRef().length * 4);
    out.write(PUT);
    writeMeta(out, RowMeta.of(item));
    float[] f = item.featureRef();
    ByteBuffer b = ByteBuffer.allocate(f.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(f);
    out.writeBytes(b.array());
    return out.toByteArray();
  }

  static byte[] remove(String id) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(REMOVE);
    writeString(out, id);
    return out.toByteArray();
  }

  static Op decode(ByteBuffer b, int dimension) {
    b.order(ByteOrder.LITTLE_ENDIAN);
    byte type = b.get();
    if (type == PUT) {
      RowMeta m = readMeta(b);
      if (b.remaining() != dimension * 4)
        throw new IllegalArgumentException("put record of '" + m.id() + "' holds " + b.remaining() / 4.0
            + " feature values, the gallery's dimension is " + dimension);
      float[] f = new float[dimension];
      b.asFloatBuffer().get(f);
      return new Op(new Item(m.id(), f, m.pid(), m.camid(), m.attributes()), null);
    }
    if (type == REMOVE) {
      String id = readString(b);
      if (b.hasRemaining()) throw new IllegalArgumentException("remove record has " + b.remaining() + " extra bytes");
      return new Op(null, id);
    }
    throw new IllegalArgumentException("unknown record type " + type);
  }

  static void writeMeta(ByteArrayOutputStream out, RowMeta m) {
    writeString(out, m.id());
    out.write((m.pid() != null ? 1 : 0) | (m.camid() != null ? 2 : 0));
    if (m.pid() != null) writeInt(out, m.pid());
    if (m.camid() != null) writeInt(out, m.camid());
    writeInt(out, m.attributes().size());
    for (Map.Entry<String, String> e : m.attributes().entrySet()) {
      writeString(out, e.getKey());
      writeString(out, e.getValue());
    }
  }

  static RowMeta readMeta(ByteBuffer b) {
    String id = readString(b);
    int flags = b.get();
    if ((flags & ~3) != 0) throw new IllegalArgumentException("bad flags " + flags);
    Integer pid = (flags & 1) != 0 ? b.getInt() : null;
    Integer camid = (flags & 2) != 0 ? b.getInt() : null;
    int n = b.getInt();
    if (n < 0 || n > b.remaining() / 8) throw new IllegalArgumentException("bad attribute count " + n);
    TreeMap<String, String> attrs = new TreeMap<>();
    for (int i = 0; i < n; i++) attrs.put(readString(b), readString(b));
    return new RowMeta(id, pid, camid, java.util.Collections.unmodifiableMap(attrs));
  }

  static void writeInt(ByteArrayOutputStream out, int v) {
    out.write(v);
    out.write(v >>> 8);
    out.write(v >>> 16);
    out.write(v >>> 24);
  }

  static void writeString(ByteArrayOutputStream out, String s) {
    byte[] u = s.getBytes(StandardCharsets.UTF_8);
    writeInt(out, u.length);
    out.writeBytes(u);
  }

  static String readString(ByteBuffer b) {
    int n = b.getInt();
    if (n < 0 || n > b.remaining()) throw new IllegalArgumentException("bad string length " + n);
    byte[] u = new byte[n];
    b.get(u);
    return new String(u, StandardCharsets.UTF_8);
  }
}
