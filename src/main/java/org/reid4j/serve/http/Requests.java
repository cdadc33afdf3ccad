package org.reid4j.serve.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads request bodies into checked values. Every problem is an {@link ApiException} (400) whose
 * message names the field and says what was expected; unknown fields are refused rather than
 * ignored, so a misspelt {@code "exclude_camid"} is not silently a search without the exclusion.
 */
final class Requests {
  // The fast double parser and writer: a 512-value feature is 512 number parses per request, which the
  // JDK's parser made the largest share of a search's Java time; an embed answer is as many floats
  // written, and Java 17's Float.toString was the largest share of an embed's Java time (14% of the
  // server's samples). The fast writer gives the shortest text that reads back as the same float.
  static final ObjectMapper JSON = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
      .enable(com.fasterxml.jackson.core.StreamReadFeature.USE_FAST_DOUBLE_PARSER)
      .enable(com.fasterxml.jackson.core.StreamWriteFeature.USE_FAST_DOUBLE_WRITER).build())
      .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private Requests() {}

  /** A feature given directly, or an image to embed first (exactly one of them is set). */
  record Input(float[] feature, byte[] image) {}

  /** One search: what to look for and how ({@code rerank} null: plain search). */
  record Query(Input input, int k, RerankRequest rerank, Integer excludeCamid, Map<String, String> filter) {}

  /** {@code "rerank": true} (all null) or an object naming some of k1, k2, lambda, candidates. */
  record RerankRequest(Integer k1, Integer k2, Double lambda, Integer candidates) {}

  /** The body as a JSON object. */
  static JsonNode object(byte[] body) {
    if (body == null || body.length == 0)
      throw ApiException.badRequest("the request body is empty; expected a JSON object");
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      com.fasterxml.jackson.core.JsonLocation at = e.getLocation();
      throw ApiException.badRequest("malformed JSON: " + e.getOriginalMessage()
          + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"));
    } catch (IOException e) {
      throw ApiException.badRequest("unreadable request body: " + e.getMessage());
    }
    if (n == null || !n.isObject())
      throw ApiException.badRequest("expected a JSON object, got " + (n == null ? "nothing" : kind(n)));
    return n;
  }

  /** Refuses fields of {@code o} outside {@code allowed}. */
  static void onlyFields(JsonNode o, String where, Set<String> allowed) {
    for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!allowed.contains(f))
        throw ApiException.badRequest(where + "unknown field '" + f + "'; expected " + String.join(", ",
            allowed.stream().sorted().toList()));
    }
  }

  /** {@code "feature": [...]} or {@code "image": base64}, exactly one. */
  static Input input(JsonNode o, String where, int dim) {
    JsonNode f = o.get("feature"), img = o.get("image");
    if ((f == null) == (img == null))
      throw ApiException.badRequest(where + "give exactly one of 'feature' (an array of " + dim
          + " numbers) or 'image' (a base64 JPEG or PNG)");
    if (f != null) return new Input(feature(f, where + "feature", dim), null);
    if (!img.isTextual()) throw ApiException.badRequest(where + "image: expected a base64 string, got " + kind(img));
    try {
      return new Input(null, Base64.getMimeDecoder().decode(img.asText()));
    } catch (IllegalArgumentException e) {
      throw ApiException.badRequest(where + "image: not valid base64 (" + e.getMessage() + ")");
    }
  }

  /** An array of exactly {@code dim} finite numbers that fit a float32. */
  static float[] feature(JsonNode a, String field, int dim) {
    if (!a.isArray()) throw ApiException.badRequest(field + ": expected an array of " + dim + " numbers, got " + kind(a));
    if (a.size() != dim)
      throw ApiException.badRequest(field + ": expected " + dim + " numbers (the gallery's dimension), got " + a.size());
    float[] v = new float[dim];
    for (int i = 0; i < dim; i++) {
      JsonNode x = a.get(i);
      if (!x.isNumber()) throw ApiException.badRequest(field + "[" + i + "]: expected a number, got " + kind(x));
      v[i] = (float) x.doubleValue();
      if (!Float.isFinite(v[i]))
        throw ApiException.badRequest(field + "[" + i + "]: " + x.asText() + " does not fit a float32 (NaN and"
            + " infinite values are not features)");
    }
    return v;
  }

  static Integer optionalInt(JsonNode o, String field, String where) {
    JsonNode x = o.get(field);
    if (x == null || x.isNull()) return null;
    if (!x.isIntegralNumber() || !x.canConvertToInt())
      throw ApiException.badRequest(where + field + ": expected a 32-bit integer, got " + x);
    return x.intValue();
  }

  static boolean optionalBoolean(JsonNode o, String field, String where, boolean dflt) {
    JsonNode x = o.get(field);
    if (x == null || x.isNull()) return dflt;
    if (!x.isBoolean()) throw ApiException.badRequest(where + field + ": expected true or false, got " + x);
    return x.booleanValue();
  }

  static String requiredString(JsonNode o, String field, String where) {
    JsonNode x = o.get(field);
    if (x == null || x.isNull()) throw ApiException.badRequest(where + "'" + field + "' is missing");
    if (!x.isTextual()) throw ApiException.badRequest(where + field + ": expected a string, got " + kind(x));
    return x.asText();
  }

  /** An object of string values (attributes, filters); empty when absent. */
  static Map<String, String> stringMap(JsonNode o, String field, String where) {
    JsonNode x = o.get(field);
    Map<String, String> m = new LinkedHashMap<>();
    if (x == null || x.isNull()) return m;
    if (!x.isObject()) throw ApiException.badRequest(where + field + ": expected an object of strings, got " + kind(x));
    for (Iterator<Map.Entry<String, JsonNode>> it = x.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual())
        throw ApiException.badRequest(where + field + "." + e.getKey() + ": expected a string, got " + kind(e.getValue()));
      m.put(e.getKey(), e.getValue().asText());
    }
    return m;
  }

  static final Set<String> QUERY_FIELDS = Set.of("feature", "image", "k", "rerank", "exclude_camid", "filter");

  /** A search request body (or one element of a batch's "queries"). */
  static Query query(JsonNode o, String where, int dim, int maxK) {
    onlyFields(o, where, QUERY_FIELDS);
    Input in = input(o, where, dim);
    Integer k = optionalInt(o, "k", where);
    int kk = k == null ? 10 : k;
    if (kk < 1 || kk > maxK) throw ApiException.badRequest(where + "k: expected 1 to " + maxK + ", got " + kk);
    return new Query(in, kk, rerank(o, where), optionalInt(o, "exclude_camid", where), stringMap(o, "filter", where));
  }

  static RerankRequest rerank(JsonNode o, String where) {
    JsonNode r = o.get("rerank");
    if (r == null || r.isNull() || (r.isBoolean() && !r.booleanValue())) return null;
    if (r.isBoolean()) return new RerankRequest(null, null, null, null);
    if (!r.isObject())
      throw ApiException.badRequest(where + "rerank: expected true, false or an object of k1, k2, lambda, candidates;"
          + " got " + kind(r));
    onlyFields(r, where + "rerank.", Set.of("k1", "k2", "lambda", "candidates"));
    JsonNode l = r.get("lambda");
    if (l != null && !l.isNull() && !l.isNumber())
      throw ApiException.badRequest(where + "rerank.lambda: expected a number in [0, 1], got " + kind(l));
    return new RerankRequest(optionalInt(r, "k1", where + "rerank."), optionalInt(r, "k2", where + "rerank."),
        l == null || l.isNull() ? null : l.doubleValue(), optionalInt(r, "candidates", where + "rerank."));
  }

  /** The queries of a batch search: {@code {"queries": [...]}}, 1 to {@code maxQueries} of them. */
  static List<Query> queries(JsonNode o, int dim, int maxK, int maxQueries) {
    onlyFields(o, "", Set.of("queries"));
    JsonNode a = o.get("queries");
    if (a == null || !a.isArray())
      throw ApiException.badRequest("queries: expected an array of search requests, got " + (a == null ? "nothing" : kind(a)));
    if (a.isEmpty()) throw ApiException.badRequest("queries: the array is empty");
    if (a.size() > maxQueries)
      throw new ApiException(413, "queries: " + a.size() + " queries in one request; at most " + maxQueries);
    java.util.ArrayList<Query> out = new java.util.ArrayList<>(a.size());
    for (int i = 0; i < a.size(); i++) {
      JsonNode q = a.get(i);
      String where = "queries[" + i + "].";
      if (!q.isObject()) throw ApiException.badRequest(where.substring(0, where.length() - 1) + ": expected an object");
      out.add(query(q, where, dim, maxK));
    }
    return out;
  }

  static String kind(JsonNode n) {
    if (n.isObject()) return "an object";
    if (n.isArray()) return "an array";
    if (n.isTextual()) return "a string";
    if (n.isNumber()) return "the number " + n.asText();
    if (n.isBoolean()) return n.asText();
    if (n.isNull()) return "null";
    return n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
  }
}
