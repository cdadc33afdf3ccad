package org.reid4j.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads {@link TrainConfig}: the schema (groups, keys, types) comes from the record components by
 * reflection, the values from defaults.yml, a YAML file and {@code --set} overrides, each value
 * remembering where it came from so that errors can name it. Package-private: use TrainConfig.
 */
final class ConfigLoader {
  static final String DEFAULTS_RESOURCE = "org/reid4j/config/defaults.yml";
  static final String DEFAULTS_SOURCE = "defaults.yml (built-in)";
  static final String SET_SOURCE = "--set";

  private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
      .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
      .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
      .enable(YAMLGenerator.Feature.INDENT_ARRAYS_WITH_INDICATOR)
      .build()).enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /**
   * One configurable value: its dotted path, Java type and the accessor that reads it back. A key
   * whose type is a record (SOLVER.XBM) is a sub-group: its own keys are leaves one level down
   * (SOLVER.XBM.SIZE, with {@code parent} the sub-group's component) and it holds no value itself.
   */
  private record Leaf(String path, Class<?> type, RecordComponent group, RecordComponent component,
      RecordComponent parent) {}

  /** Group name (MODEL, ...) -> its keys in record order; top-level scalars (OUTPUT_DIR) map to null. */
  private static final Map<String, Map<String, Leaf>> GROUPS = new LinkedHashMap<>();
  private static final Map<String, Leaf> LEAVES = new LinkedHashMap<>();
  /** Sub-group path (SOLVER.XBM) -> its keys in record order. */
  private static final Map<String, Map<String, Leaf>> SUBGROUPS = new LinkedHashMap<>();

  static {
    for (RecordComponent g : TrainConfig.class.getRecordComponents()) {
      String gName = upperSnake(g.getName());
      if (g.getType().isRecord()) {
        Map<String, Leaf> keys = new LinkedHashMap<>();
        for (RecordComponent c : g.getType().getRecordComponents()) {
          String path = gName + "." + upperSnake(c.getName());
          Leaf leaf = new Leaf(path, c.getType(), g, c, null);
          keys.put(upperSnake(c.getName()), leaf);
          if (c.getType().isRecord()) {
            Map<String, Leaf> sub = new LinkedHashMap<>();
            for (RecordComponent sc : c.getType().getRecordComponents()) {
              Leaf sl = new Leaf(path + "." + upperSnake(sc.getName()), sc.getType(), g, sc, c);
              sub.put(upperSnake(sc.getName()), sl);
              LEAVES.put(sl.path, sl);
            }
            SUBGROUPS.put(path, sub);
          } else {
            LEAVES.put(leaf.path, leaf);
          }
        }
        GROUPS.put(gName, keys);
      } else {
        GROUPS.put(gName, null);
        LEAVES.put(gName, new Leaf(gName, g.getType(), null, g, null));
      }
    }
  }

  private ConfigLoader() {}

  /** baseLr -> BASE_LR, gemP -> GEM_P, p -> P. */
  static String upperSnake(String camel) {
    StringBuilder sb = new StringBuilder();
    for (char ch : camel.toCharArray()) {
      if (Character.isUpperCase(ch) && sb.length() > 0) sb.append('_');
      sb.append(Character.toUpperCase(ch));
    }
    return sb.toString();
  }

  /** Every key path, in schema order (MODEL.BACKBONE, ..., OUTPUT_DIR). */
  static List<String> keys() {
    return List.copyOf(LEAVES.keySet());
  }

  // ---- loading ----

  private static final class Values {
    final Map<String, Object> value = new HashMap<>();
    final Map<String, String> source = new HashMap<>();
  }

  static TrainConfig load(Path file, List<String> overrides) {
    Values v = defaults();
    if (file != null) {
      String text;
      try {
        text = Files.readString(file, StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        throw new ConfigException(file.toString(), "", "config file not found (expected a YAML file such as "
            + "configs/quickstart.yml)");
      } catch (IOException e) {
        throw new ConfigException(file.toString(), "", "cannot read the config file: " + e, e);
      }
      apply(v, parse(text, file.toString()), file.toString());
    }
    return finish(v, overrides);
  }

  static TrainConfig fromString(String yaml, String source, List<String> overrides) {
    Values v = defaults();
    apply(v, parse(yaml, source), source);
    return finish(v, overrides);
  }

  private static TrainConfig finish(Values v, List<String> overrides) {
    for (String o : overrides) override(v, o);
    return build(v);
  }

  private static Values defaults() {
    Values v = new Values();
    try (InputStream in = ConfigLoader.class.getClassLoader().getResourceAsStream(DEFAULTS_RESOURCE)) {
      if (in == null) throw new IllegalStateException("classpath resource " + DEFAULTS_RESOURCE + " is missing");
      apply(v, parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), DEFAULTS_SOURCE), DEFAULTS_SOURCE);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + DEFAULTS_RESOURCE, e);
    }
    for (String key : LEAVES.keySet())
      if (!v.value.containsKey(key))
        throw new ConfigException(DEFAULTS_SOURCE, key, "no default value (every key needs one in " + DEFAULTS_RESOURCE + ")");
    return v;
  }

  private static JsonNode parse(String text, String source) {
    try (com.fasterxml.jackson.core.JsonParser parser = YAML.createParser(text)) {
      JsonNode first = YAML.readTree(parser);
      if (parser.nextToken() != null)
        throw new ConfigException(source, "", "holds more than one YAML document (the second begins at line "
            + parser.currentTokenLocation().getLineNr() + ", after a '---'): a config is one document; merge them");
      return first;
    } catch (JsonProcessingException e) {
      throw new ConfigException(source, "", "malformed YAML: " + e.getOriginalMessage().lines().findFirst().orElse("")
          + locationOf(e), e);
    } catch (java.io.IOException e) {
      throw new ConfigException(source, "", "cannot read the YAML: " + e.getMessage(), e);
    }
  }

  private static String locationOf(JsonProcessingException e) {
    return e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
        + e.getLocation().getColumnNr() + ")";
  }

  private static void apply(Values v, JsonNode root, String source) {
    if (root == null || root.isMissingNode() || root.isNull()) return; // an empty file changes nothing
    if (!root.isObject())
      throw new ConfigException(source, "", "expected a mapping with the groups " + String.join(", ", GROUPS.keySet())
          + " at the top level, got " + describe(root));
    for (var it = root.fields(); it.hasNext(); ) {
      var group = it.next();
      String g = group.getKey();
      if (!GROUPS.containsKey(g))
        throw new ConfigException(source, g, "unknown group; expected one of " + String.join(", ", GROUPS.keySet())
            + suggest(g, GROUPS.keySet()));
      Map<String, Leaf> keys = GROUPS.get(g);
      if (keys == null) {
        set(v, LEAVES.get(g), group.getValue(), source);
        continue;
      }
      JsonNode body = group.getValue();
      if (body.isNull() || (body.isTextual() && body.asText().isEmpty())) continue; // "SOLVER:" with nothing under it
      if (!body.isObject())
        throw new ConfigException(source, g, "expected a mapping of keys (" + String.join(", ", keys.keySet())
            + "), got " + describe(body));
      for (var kit = body.fields(); kit.hasNext(); ) {
        var kv = kit.next();
        Leaf leaf = keys.get(kv.getKey());
        if (leaf == null)
          throw new ConfigException(source, g + "." + kv.getKey(), "unknown key" + suggest(kv.getKey(), keys.keySet())
              + "; " + g + " has " + String.join(", ", keys.keySet()));
        if (SUBGROUPS.containsKey(leaf.path)) applySubgroup(v, leaf.path, kv.getValue(), source);
        else set(v, leaf, kv.getValue(), source);
      }
    }
  }

  /** The keys of a sub-group such as SOLVER.XBM: {SIZE: 16384, WEIGHT: 1.0}; keys left out keep their values. */
  private static void applySubgroup(Values v, String path, JsonNode body, String source) {
    Map<String, Leaf> sub = SUBGROUPS.get(path);
    if (body.isNull() || (body.isTextual() && body.asText().isEmpty())) return;
    if (!body.isObject())
      throw new ConfigException(source, path, "expected a mapping of keys (" + String.join(", ", sub.keySet())
          + "), got " + describe(body));
    for (var kit = body.fields(); kit.hasNext(); ) {
      var kv = kit.next();
      Leaf leaf = sub.get(kv.getKey());
      if (leaf == null)
        throw new ConfigException(source, path + "." + kv.getKey(), "unknown key" + suggest(kv.getKey(), sub.keySet())
            + "; " + path + " has " + String.join(", ", sub.keySet()));
      set(v, leaf, kv.getValue(), source);
    }
  }

  private static void override(Values v, String assignment) {
    int eq = assignment.indexOf('=');
    if (eq <= 0)
      throw new ConfigException(SET_SOURCE, assignment, "expected KEY=VALUE, e.g. SOLVER.BASE_LR=0.001 or "
          + "INPUT.SIZE_TRAIN=[256,128]");
    String key = assignment.substring(0, eq).trim(), text = assignment.substring(eq + 1).trim();
    Leaf leaf = LEAVES.get(key);
    if (leaf == null) {
      int dot = key.indexOf('.');
      String g = dot < 0 ? key : key.substring(0, dot);
      Map<String, Leaf> keys = GROUPS.get(g);
      if (!GROUPS.containsKey(g) || (keys == null) != (dot < 0)) {
        throw new ConfigException(SET_SOURCE, key, "unknown key; expected GROUP.KEY with GROUP one of "
            + String.join(", ", GROUPS.keySet().stream().filter(k -> !k.equals("OUTPUT_DIR")).toList())
            + ", or OUTPUT_DIR" + suggest(key, LEAVES.keySet()));
      }
      throw new ConfigException(SET_SOURCE, key, "unknown key" + suggest(key, LEAVES.keySet()) + "; " + g + " has "
          + String.join(", ", keys.keySet()));
    }
    JsonNode node;
    if (text.isEmpty()) {
      node = JsonNodeFactory.instance.nullNode();
    } else {
      try {
        node = YAML.readTree(text);
      } catch (JsonProcessingException e) {
        throw new ConfigException(SET_SOURCE, key, "cannot parse the value '" + text + "' as a YAML scalar or list: "
            + e.getOriginalMessage().lines().findFirst().orElse(""), e);
      }
    }
    set(v, leaf, node, SET_SOURCE);
  }

  private static void set(Values v, Leaf leaf, JsonNode node, String source) {
    v.value.put(leaf.path, convert(leaf, node, source));
    v.source.put(leaf.path, source);
  }

  /** The node as the leaf's Java type, or a ConfigException saying what was expected. */
  private static Object convert(Leaf leaf, JsonNode n, String source) {
    Class<?> t = leaf.type;
    if (t == int.class) {
      if (n.isIntegralNumber() && n.canConvertToInt()) return n.intValue();
      throw bad(source, leaf, "an integer", n);
    }
    if (t == long.class) {
      if (n.isIntegralNumber() && n.canConvertToLong()) return n.longValue();
      throw bad(source, leaf, "an integer", n);
    }
    if (t == double.class) {
      if (n.isNumber() && Double.isFinite(n.doubleValue())) return n.doubleValue();
      throw bad(source, leaf, "a finite number", n);
    }
    if (t == boolean.class) {
      if (n.isBoolean()) return n.booleanValue();
      throw bad(source, leaf, "true or false", n);
    }
    if (t == String.class) {
      String s;
      if (n.isNull() || n.isMissingNode()) s = "";
      else if (n.isTextual() || n.isNumber()) s = n.asText();
      else throw bad(source, leaf, "a string (quote values such as 'yes' or 'on')", n);
      List<String> choices = TrainConfig.CHOICES.get(leaf.path.replaceAll("\\[\\d+]", "")); // STAGES[1].X: STAGES.X
      if (choices != null && !choices.contains(s))
        throw bad(source, leaf, "one of " + String.join(", ", choices), n);
      return s;
    }
    if (t == int[].class || t == double[].class) {
      boolean ints = t == int[].class;
      String what = ints ? "a list of integers, e.g. [256, 128]" : "a list of numbers, e.g. [0.5, 0.5]";
      if (!n.isArray()) throw bad(source, leaf, what, n);
      int[] iv = new int[n.size()];
      double[] dv = new double[n.size()];
      for (int i = 0; i < n.size(); i++) {
        JsonNode e = n.get(i);
        if (ints ? !(e.isIntegralNumber() && e.canConvertToInt()) : !(e.isNumber() && Double.isFinite(e.doubleValue())))
          throw bad(source, leaf, what, n);
        iv[i] = e.intValue();
        dv[i] = e.doubleValue();
      }
      return ints ? iv : dv;
    }
    if (t == List.class) return stages(leaf, n, source);
    throw new IllegalStateException("no reader for " + leaf.path + " of type " + t);
  }

  /** The keys of one SOLVER.STAGES element (EPOCHS, SAMPLER, LR_FACTOR), from TrainConfig.Stage. */
  private static final Map<String, RecordComponent> STAGE_KEYS = new LinkedHashMap<>();

  static {
    for (RecordComponent c : TrainConfig.Stage.class.getRecordComponents()) STAGE_KEYS.put(upperSnake(c.getName()), c);
  }

  /**
   * SOLVER.STAGES: a list of mappings, each with EPOCHS and optionally SAMPLER (null here, resolved to
   * DATALOADER.SAMPLER in {@link #build}) and LR_FACTOR (1.0). Nothing or "" is the empty list. An
   * unknown or missing key names the stage: SOLVER.STAGES[1].LR_FACTR.
   */
  private static List<TrainConfig.Stage> stages(Leaf leaf, JsonNode n, String source) {
    if (n == null || n.isNull() || n.isMissingNode() || (n.isTextual() && n.asText().isEmpty())) return List.of();
    String example = "a list of stages, e.g. [{EPOCHS: 40, SAMPLER: pk}, {EPOCHS: 10, SAMPLER: pk_balanced, "
        + "LR_FACTOR: 0.1}]";
    if (!n.isArray()) throw bad(source, leaf, example, n);
    List<TrainConfig.Stage> out = new ArrayList<>();
    for (int i = 0; i < n.size(); i++) {
      String at = leaf.path + "[" + i + "]";
      JsonNode e = n.get(i);
      if (!e.isObject())
        throw new ConfigException(source, at, "expected a mapping with " + String.join(", ", STAGE_KEYS.keySet())
            + " (" + example + "), got " + describe(e));
      Map<String, Object> got = new HashMap<>();
      for (var it = e.fields(); it.hasNext(); ) {
        var kv = it.next();
        RecordComponent c = STAGE_KEYS.get(kv.getKey());
        if (c == null)
          throw new ConfigException(source, at + "." + kv.getKey(), "unknown key" + suggest(kv.getKey(),
              STAGE_KEYS.keySet()) + "; a stage has " + String.join(", ", STAGE_KEYS.keySet()));
        got.put(kv.getKey(), convert(new Leaf(at + "." + kv.getKey(), c.getType(), null, c, null), kv.getValue(), source));
      }
      if (!got.containsKey("EPOCHS"))
        throw new ConfigException(source, at + ".EPOCHS", "missing: every stage needs EPOCHS (SAMPLER defaults to "
            + "DATALOADER.SAMPLER, LR_FACTOR to 1.0)");
      out.add(new TrainConfig.Stage((Integer) got.get("EPOCHS"), (String) got.get("SAMPLER"),
          (Double) got.getOrDefault("LR_FACTOR", 1.0)));
    }
    return List.copyOf(out);
  }

  /**
   * With SOLVER.STAGES given: stages without a SAMPLER take DATALOADER.SAMPLER, and SOLVER.MAX_EPOCHS,
   * when no file or --set gave it, becomes the stages' sum (given, it must equal the sum: validate).
   */
  @SuppressWarnings("unchecked")
  private static void resolveStages(Values v) {
    List<TrainConfig.Stage> stages = (List<TrainConfig.Stage>) v.value.get(STAGES);
    if (stages.isEmpty()) return;
    String sampler = (String) v.value.get("DATALOADER.SAMPLER");
    List<TrainConfig.Stage> resolved = new ArrayList<>();
    long sum = 0;
    for (TrainConfig.Stage s : stages) {
      resolved.add(s.sampler() != null ? s : new TrainConfig.Stage(s.epochs(), sampler, s.lrFactor()));
      sum += s.epochs();
    }
    v.value.put(STAGES, List.copyOf(resolved));
    if (DEFAULTS_SOURCE.equals(v.source.get(MAX_EPOCHS)) && sum >= 1 && sum <= Integer.MAX_VALUE) {
      v.value.put(MAX_EPOCHS, (int) sum);
      v.source.put(MAX_EPOCHS, v.source.get(STAGES));
    }
  }

  private static final String STAGES = "SOLVER.STAGES", MAX_EPOCHS = "SOLVER.MAX_EPOCHS";

  private static ConfigException bad(String source, Leaf leaf, String expected, JsonNode got) {
    return new ConfigException(source, leaf.path, "expected " + expected + ", got " + describe(got));
  }

  private static String describe(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) return "nothing (null)";
    if (n.isTextual()) return "\"" + n.asText() + "\"";
    if (n.isArray()) return "the list " + n;
    if (n.isObject()) return "a mapping " + n;
    return n.asText();
  }

  /** " (did you mean X?)" for the closest candidate within a small edit distance, else "". */
  static String suggest(String wrong, Iterable<String> candidates) {
    String best = null;
    int bestD = Integer.MAX_VALUE;
    for (String c : candidates) {
      int d = editDistance(wrong.toUpperCase(Locale.ROOT), c);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    return best != null && bestD <= Math.max(2, best.length() / 4) ? " (did you mean " + best + "?)" : "";
  }

  private static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) prev[j] = j;
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++)
        cur[j] = Math.min(Math.min(cur[j - 1], prev[j]) + 1, prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  private static TrainConfig build(Values v) {
    resolveStages(v);
    Object[] groups = new Object[GROUPS.size()];
    int gi = 0;
    for (var g : GROUPS.entrySet()) {
      if (g.getValue() == null) {
        groups[gi++] = v.value.get(g.getKey());
        continue;
      }
      List<Object> args = new ArrayList<>();
      Class<?>[] types = new Class<?>[g.getValue().size()];
      int i = 0;
      for (Leaf leaf : g.getValue().values()) {
        args.add(SUBGROUPS.containsKey(leaf.path) ? buildSubgroup(v, leaf) : v.value.get(leaf.path));
        types[i++] = leaf.type;
      }
      Class<?> rec = g.getValue().values().iterator().next().group.getType();
      groups[gi++] = construct(rec, types, args.toArray());
    }
    Class<?>[] types = new Class<?>[groups.length];
    int i = 0;
    for (RecordComponent c : TrainConfig.class.getRecordComponents()) types[i++] = c.getType();
    TrainConfig cfg = (TrainConfig) construct(TrainConfig.class, types, groups);
    cfg.validate((key, expected, got) -> {
      String valueKey = key.replaceAll("\\[\\d+].*", ""); // SOLVER.STAGES[1].EPOCHS came with SOLVER.STAGES
      throw new ConfigException(v.source.getOrDefault(valueKey, DEFAULTS_SOURCE), key, "expected " + expected + ", got "
          + got);
    });
    return cfg;
  }

  private static Object buildSubgroup(Values v, Leaf group) {
    Map<String, Leaf> sub = SUBGROUPS.get(group.path);
    Object[] args = new Object[sub.size()];
    Class<?>[] types = new Class<?>[sub.size()];
    int i = 0;
    for (Leaf leaf : sub.values()) {
      args[i] = v.value.get(leaf.path);
      types[i++] = leaf.type;
    }
    return construct(group.type, types, args);
  }

  private static Object construct(Class<?> rec, Class<?>[] types, Object[] args) {
    try {
      return rec.getDeclaredConstructor(types).newInstance(args);
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException("cannot build " + rec.getSimpleName(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot build " + rec.getSimpleName(), e);
    }
  }

  // ---- writing ----

  static String toYaml(TrainConfig cfg) {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    for (var g : GROUPS.entrySet()) {
      if (g.getValue() == null) {
        put(root, g.getKey(), read(LEAVES.get(g.getKey()).component, cfg));
        continue;
      }
      ObjectNode group = root.putObject(g.getKey());
      for (var kv : g.getValue().entrySet()) {
        Leaf leaf = kv.getValue();
        Object value = read(leaf.component, read(leaf.group, cfg));
        if (SUBGROUPS.containsKey(leaf.path)) {
          ObjectNode sub = group.putObject(kv.getKey());
          for (var skv : SUBGROUPS.get(leaf.path).entrySet()) put(sub, skv.getKey(), read(skv.getValue().component, value));
        } else {
          put(group, kv.getKey(), value);
        }
      }
    }
    try {
      return YAML.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write the config as YAML", e);
    }
  }

  private static Object read(RecordComponent c, Object owner) {
    try {
      return c.getAccessor().invoke(owner);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot read " + c.getName(), e);
    }
  }

  private static void put(ObjectNode node, String key, Object value) {
    if (value instanceof Integer i) node.put(key, i);
    else if (value instanceof Long l) node.put(key, l);
    else if (value instanceof Double d) node.put(key, d);
    else if (value instanceof Boolean b) node.put(key, b);
    else if (value instanceof String s) node.put(key, s);
    else if (value instanceof int[] a) {
      ArrayNode arr = node.putArray(key);
      for (int x : a) arr.add(x);
    } else if (value instanceof double[] a) {
      ArrayNode arr = node.putArray(key);
      for (double x : a) arr.add(x);
    } else if (value instanceof List<?> l) {
      ArrayNode arr = node.putArray(key);
      for (Object o : l) {
        TrainConfig.Stage st = (TrainConfig.Stage) o;
        ObjectNode e = arr.addObject();
        for (var kv : STAGE_KEYS.entrySet()) put(e, kv.getKey(), read(kv.getValue(), st));
      }
    } else {
      throw new IllegalStateException("cannot write " + key + " of type " + value.getClass());
    }
  }
}
