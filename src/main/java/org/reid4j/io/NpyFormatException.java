package org.reid4j.io;

import java.io.IOException;
import java.nio.file.Path;

/** A file is not a .npy file reid4j can read; the message starts with the file's path. */
public class NpyFormatException extends IOException {
  public NpyFormatException(Path file, String problem) {
    super(file + ": " + problem);
  }
}
