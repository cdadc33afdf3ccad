package org.reid4j.config;

/**
 * A configuration value that cannot be used: an unknown group or key, a value of the wrong type, an
 * enum value outside its choices, a value out of range or a file that cannot be read or parsed. The
 * message always says where the value came from ({@link #source()}: a file path, {@code --set} or the
 * built-in defaults), which key ({@link #key()}, e.g. {@code SOLVER.BASE_LR}) and what was expected.
 */
public final class ConfigException extends IllegalArgumentException {
  private final String source;
  private final String key;

  public ConfigException(String source, String key, String problem) {
    this(source, key, problem, null);
  }

  public ConfigException(String source, String key, String problem, Throwable cause) {
    super(source + (key == null || key.isEmpty() ? "" : ": " + key) + ": " + problem, cause);
    this.source = source;
    this.key = key;
  }

  /** Where the offending value came from: a file path, {@code --set}, or the defaults resource. */
  public String source() {
    return source;
  }

  /** The dotted key path (e.g. {@code SOLVER.BASE_LR}); empty when the whole file is at fault. */
  public String key() {
    return key == null ? "" : key;
  }
}
