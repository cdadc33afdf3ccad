package org.reid4j.gallery;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * One gallery entry: a unique string id, a float32 feature of the gallery's dimension, and
 * optionally a person id ({@code pid}), a camera id ({@code camid}) and string attributes.
 * The feature is copied on the way in and out, so an Item never changes after it is made.
 *
 * <p>Ids and attribute strings must be storable: non-empty ids of at most {@value #MAX_ID_BYTES}
 * UTF-8 bytes, no control characters, no unpaired surrogates (which have no UTF-8 form).
 */
public record Item(String id, float[] feature, Integer pid, Integer camid, Map<String, String> attributes) {

  /** The longest id, in UTF-8 bytes. */
  public static final int MAX_ID_BYTES = 1024;

  public Item {
    checkString(id, "id", "item id", MAX_ID_BYTES);
    if (feature == null) throw new IllegalArgumentException("item '" + id + "': feature is null");
    feature = feature.clone();
    TreeMap<String, String> attrs = new TreeMap<>();
    if (attributes != null) {
      for (Map.Entry<String, String> e : attributes.entrySet()) {
        checkString(e.getKey(), "attribute key", "item '" + id + "': attribute key", 1 << 16);
        if (e.getValue() == null)
          throw new IllegalArgumentException("item '" + id + "': attribute '" + e.getKey() + "' has a null value");
        checkValue(e.getValue(), "item '" + id + "': attribute '" + e.getKey() + "'");
        attrs.put(e.getKey(), e.getValue());
      }
    }
    attributes = java.util.Collections.unmodifiableMap(attrs);
  }

  /** An item with only an id and a feature. */
  public static Item of(String id, float[] feature) {
    return new Item(id, feature, null, null, Map.of());
  }

  public Item withPid(int pid) {
    return new Item(id, feature, pid, camid, attributes);
  }

  public Item withCamid(int camid) {
    return new Item(id, feature, pid, camid, attributes);
  }

  public Item withAttribute(String key, String value) {
    TreeMap<String, String> a = new TreeMap<>(attributes);
    a.put(key, value);
    return new Item(id, feature, pid, camid, a);
  }

  /** A copy of the feature. */
  @Override
  public float[] feature() {
    return feature.clone();
  }

  /** The feature without copying, for the package's own writers. */
  float[] featureRef() {
    return feature;
  }

  @Override
  public String toString() {
    return "Item[" + id + ", dim " + feature.length + ", pid " + pid + ", camid " + camid + ", " + attributes + "]";
  }

  static void checkString(String s, String what, String context, int maxBytes) {
    if (s == null) throw new IllegalArgumentException(context + " is null");
    if (s.isEmpty()) throw new IllegalArgumentException(context + " is empty");
    checkValue(s, context);
    int bytes = s.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > maxBytes)
      throw new IllegalArgumentException(context + " is " + bytes + " UTF-8 bytes long; at most " + maxBytes
          + " can be stored");
  }

  /** No control characters and no unpaired surrogates (they have no UTF-8 form and would not read back). */
  static void checkValue(String s, String context) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isISOControl(c))
        throw new IllegalArgumentException(context + " '" + printable(s) + "' has a control character (U+"
            + String.format("%04X", (int) c) + ") at index " + i + ", which cannot be stored");
      if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        throw new IllegalArgumentException(context + " '" + printable(s) + "' has an unpaired surrogate (U+"
            + String.format("%04X", (int) c) + ") at index " + i + ", which has no UTF-8 form and cannot be stored");
      }
    }
  }

  private static String printable(String s) {
    StringBuilder b = new StringBuilder();
    s.chars().limit(80).forEach(c -> b.append(Character.isISOControl(c) || Character.isSurrogate((char) c)
        ? String.format("\\u%04x", c) : String.valueOf((char) c)));
    return b.toString();
  }
}
