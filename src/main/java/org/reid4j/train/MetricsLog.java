package org.reid4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.reid4j.io.AtomicFiles;

/**
 * The per-epoch metrics file, {@code OUTPUT_DIR/metrics.jsonl}: one JSON object per line, written
 * and flushed at the end of every epoch, so a killed run keeps every finished epoch. Each line has
 * at least {@code "epoch"} (1-based, the number of epochs completed).
 *
 * <p>A fresh run starts the file anew; a resumed run keeps the lines up to the checkpoint's epoch
 * and drops later ones (they belong to the epoch that was interrupted or to a run that went
 * further than the checkpoint), so the file always tells one consistent history.
 */
public final class MetricsLog implements Closeable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path file;
  private final BufferedWriter out;

  /**
   * @param keepUpToEpoch lines whose epoch is at most this are kept (a resumed run); 0 starts empty
   */
  public MetricsLog(Path file, int keepUpToEpoch) throws IOException {
    this.file = file;
    Path dir = file.toAbsolutePath().getParent();
    if (dir != null) Files.createDirectories(dir);
    StringBuilder kept = new StringBuilder();
    if (keepUpToEpoch > 0 && Files.exists(file)) {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (line.isBlank()) continue;
        try {
          JsonNode n = JSON.readTree(line);
          if (n.path("epoch").asInt(Integer.MAX_VALUE) <= keepUpToEpoch) kept.append(line).append('\n');
        } catch (IOException e) {
          // a line cut short by a kill: drop it
        }
      }
    }
    // The kept history replaces the file in one rename, so a kill at this moment leaves either the old
    // file or the new one, never a truncated one; then lines are appended.
    AtomicFiles.writeString(file, kept.toString());
    out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
  }

  public Path file() {
    return file;
  }

  /** Appends one line (the map in insertion order) and flushes it. */
  public void append(Map<String, ?> record) throws IOException {
    out.write(JSON.writeValueAsString(record));
    out.write('\n');
    out.flush();
  }

  /** Reads all lines of a metrics file (for tests and tools). */
  public static List<JsonNode> read(Path file) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8))
      if (!line.isBlank()) rows.add(JSON.readTree(line));
    return rows;
  }

  @Override
  public void close() throws IOException {
    out.close();
  }
}
