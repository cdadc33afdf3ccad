package org.reid4j.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import org.reid4j.eval.Verification;
import org.reid4j.kernels.Distances;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Metric;

/**
 * A fitted "same person?" decision: two embeddings are the same identity when their distance (the
 * given metric, on L2-normalised vectors if {@code normalize}) is at most {@code threshold}. Fitted
 * by {@link Verification} for a target false-positive rate and kept as {@value #FILE_NAME} in the
 * checkpoint folder of the model whose embeddings it judges; a threshold from another model (or
 * another metric) means nothing, so the file also records the feature dimension and is checked
 * against it. The distance has the semantics of {@link Distances} (the plain-Java kernels), so a
 * pair judged here gets exactly the distance the Java backend gave it while fitting.
 *
 * <p>Immutable and thread-safe; each call costs O(d) and allocates two small arrays when normalising.
 *
 * @param metric "sqeuclidean", "euclidean" or "cosine" (any case on input; stored lower case)
 * @param normalize L2-normalise both vectors before the distance
 * @param threshold the largest distance still judged "same" (finite)
 * @param targetFpr the false-positive rate the threshold was chosen for (NaN if unknown)
 * @param tprAtTarget the true-positive rate at the threshold on the fitting pairs (NaN if unknown)
 * @param fprAtThreshold the false-positive rate at the threshold on the fitting pairs (NaN if unknown)
 * @param auc ROC AUC on the fitting pairs (NaN if unknown)
 * @param dim feature dimension it was fitted on; 0 = not checked
 * @param genuinePairs genuine pairs it was fitted on (0 if unknown)
 * @param impostorPairs impostor pairs it was fitted on (0 if unknown)
 */
public record VerificationThreshold(String metric, boolean normalize, double threshold, double targetFpr,
    double tprAtTarget, double fprAtThreshold, double auc, int dim, long genuinePairs, long impostorPairs) {

  /** The file name beside a model: {@code <checkpoint folder>/threshold.json}. */
  public static final String FILE_NAME = "threshold.json";

  /** The value of the "format" field, so that a stray JSON file is not mistaken for a threshold. */
  public static final String FORMAT = "reid4j.verification-threshold";

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public VerificationThreshold {
    if (metric == null) throw new IllegalArgumentException("metric is null");
    metric = Metric.parse(metric).name().toLowerCase(Locale.ROOT);
    if (!Double.isFinite(threshold))
      throw new IllegalArgumentException("threshold must be finite, got " + threshold
          + " (a fit that reaches no pair at the target FPR has no usable threshold: raise the target FPR)");
    if (!Double.isNaN(targetFpr) && !(targetFpr >= 0 && targetFpr <= 1))
      throw new IllegalArgumentException("targetFpr must lie in [0, 1] (or be NaN), got " + targetFpr);
    if (dim < 0) throw new IllegalArgumentException("dim must be >= 0, got " + dim);
    if (genuinePairs < 0 || impostorPairs < 0) throw new IllegalArgumentException("pair counts must be >= 0");
  }

  /** A bare threshold without fitting statistics (dimension not checked). */
  public static VerificationThreshold of(String metric, boolean normalize, double threshold) {
    return new VerificationThreshold(metric, normalize, threshold, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0,
        0, 0);
  }

  /**
   * The threshold of {@code result} for {@code targetFpr}: the largest pair distance whose FPR is at
   * most the target. Throws when no distance reaches it (every impostor rate is above the target).
   */
  public static VerificationThreshold fromResult(Verification.Result result, double targetFpr) {
    Verification.OperatingPoint p = result.atFpr(targetFpr);
    if (!p.reachable())
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "no threshold reaches FPR <= %g: the closest pair is an impostor pair (FPR resolution 1/%d); raise the"
              + " target FPR", targetFpr, result.impostorPairs()));
    return new VerificationThreshold(result.metric().name(), result.normalize(), p.threshold(), targetFpr, p.tpr(),
        p.fpr(), result.auc(), result.dim(), result.genuinePairs(), result.impostorPairs());
  }

  /** {@code checkpointDir/threshold.json}. */
  public static Path fileIn(Path checkpointDir) {
    return checkpointDir.resolve(FILE_NAME);
  }

  public Metric metricEnum() {
    return Metric.parse(metric);
  }

  /**
   * The distance between a and b under this threshold's metric and normalisation. Throws
   * IllegalArgumentException if either is null or empty, their lengths differ (or differ from
   * {@code dim} when set), or a value is NaN or infinite.
   */
  public double distance(float[] a, float[] b) {
    check(a, "a");
    check(b, "b");
    if (a.length != b.length)
      throw new IllegalArgumentException("embedding lengths differ: a has " + a.length + ", b has " + b.length);
    if (dim > 0 && a.length != dim)
      throw new IllegalArgumentException("embeddings have " + a.length + " values but this threshold was fitted on "
          + dim + "-dimensional features (another model?)");
    FloatMatrix x = new FloatMatrix(1, a.length, normalize ? unit(a) : a);
    FloatMatrix y = new FloatMatrix(1, b.length, normalize ? unit(b) : b);
    float xn = Distances.dot(x, 0, x, 0), yn = Distances.dot(y, 0, y, 0);
    return Distances.distance(x, 0, xn, y, 0, yn, metricEnum());
  }

  /** True when {@link #distance} is at most the threshold. Same checks. */
  public boolean sameIdentity(float[] a, float[] b) {
    return distance(a, b) <= threshold;
  }

  private static void check(float[] v, String name) {
    if (v == null) throw new IllegalArgumentException("embedding " + name + " is null");
    if (v.length == 0) throw new IllegalArgumentException("embedding " + name + " is empty");
    for (int k = 0; k < v.length; k++)
      if (!Float.isFinite(v[k]))
        throw new IllegalArgumentException("embedding " + name + " has a non-finite value (" + v[k] + ") at index " + k);
  }

  /** v / |v| as {@link org.reid4j.eval.Features#l2Normalize} computes it (zero stays zero). */
  private static float[] unit(float[] v) {
    double s = 0;
    for (float f : v) s += (double) f * f;
    float inv = s > 0 ? (float) (1.0 / Math.sqrt(s)) : 0f;
    float[] out = new float[v.length];
    for (int k = 0; k < v.length; k++) out[k] = v[k] * inv;
    return out;
  }

  /** The JSON text: an object with "format" and every component; NaN statistics are written as null. */
  public String toJson() {
    ObjectNode o = JSON.createObjectNode();
    o.put("format", FORMAT);
    o.put("metric", metric);
    o.put("normalize", normalize);
    o.put("threshold", threshold);
    putStat(o, "targetFpr", targetFpr);
    putStat(o, "tprAtTarget", tprAtTarget);
    putStat(o, "fprAtThreshold", fprAtThreshold);
    putStat(o, "auc", auc);
    o.put("dim", dim);
    o.put("genuinePairs", genuinePairs);
    o.put("impostorPairs", impostorPairs);
    try {
      return JSON.writeValueAsString(o) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void putStat(ObjectNode o, String key, double v) {
    if (Double.isNaN(v)) o.putNull(key);
    else o.put(key, v);
  }

  /** Parses {@link #toJson} output; {@code source} names it in errors. Unknown fields are ignored. */
  public static VerificationThreshold fromJson(String text, String source) throws IOException {
    JsonNode n;
    try {
      n = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new IOException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (n == null || !n.isObject()) throw new IOException(source + ": expected a JSON object");
    JsonNode format = n.get("format");
    if (format != null && !FORMAT.equals(format.asText()))
      throw new IOException(source + ": format is '" + format.asText() + "', expected '" + FORMAT + "'");
    String metric = required(n, "metric", source).asText();
    JsonNode norm = required(n, "normalize", source);
    if (!norm.isBoolean()) throw new IOException(source + ": 'normalize' must be true or false, got " + norm);
    JsonNode thr = required(n, "threshold", source);
    if (!thr.isNumber()) throw new IOException(source + ": 'threshold' must be a number, got " + thr);
    try {
      return new VerificationThreshold(metric, norm.asBoolean(), thr.asDouble(), stat(n, "targetFpr"),
          stat(n, "tprAtTarget"), stat(n, "fprAtThreshold"), stat(n, "auc"), n.path("dim").asInt(0),
          n.path("genuinePairs").asLong(0), n.path("impostorPairs").asLong(0));
    } catch (IllegalArgumentException e) {
      throw new IOException(source + ": " + e.getMessage(), e);
    }
  }

  private static JsonNode required(JsonNode n, String key, String source) throws IOException {
    JsonNode v = n.get(key);
    if (v == null || v.isNull()) throw new IOException(source + ": missing field '" + key + "'");
    return v;
  }

  private static double stat(JsonNode n, String key) {
    JsonNode v = n.get(key);
    return v == null || v.isNull() || !v.isNumber() ? Double.NaN : v.asDouble();
  }

  /** Writes the JSON atomically (readers see the old file or the whole new one); creates parent folders. */
  public void save(Path file) throws IOException {
    org.reid4j.io.AtomicFiles.writeString(file, toJson());
  }

  /** Reads a file written by {@link #save}; a missing or malformed file is an IOException naming it. */
  public static VerificationThreshold load(Path file) throws IOException {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new IOException("no verification threshold at " + file
          + " (fit one with Verification and VerificationThreshold.fromResult(...).save(...))", e);
    }
    return fromJson(text, file.toString());
  }
}
