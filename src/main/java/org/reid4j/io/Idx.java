package org.reid4j.io;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Reader for the IDX format of (Fashion-)MNIST: unsigned-byte tensors, optionally gzip-compressed
 * (detected from the content, not the name). Memory: the whole tensor as one byte array.
 */
public final class Idx {
  private Idx() {}

  /** A tensor of unsigned bytes: {@code data.length == product(shape)}. */
  public record ByteTensor(int[] shape, byte[] data) {
    public int unsigned(int i) {
      return data[i] & 0xff;
    }
  }

  /** Reads an unsigned-byte IDX file; errors name the file and what was wrong. */
  public static ByteTensor read(Path file) throws IOException {
    if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "IDX file not found");
    try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
      raw.mark(2);
      int b0 = raw.read(), b1 = raw.read();
      raw.reset();
      InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(raw, 1 << 16) : raw;
      DataInputStream data = new DataInputStream(in);
      int magic;
      try {
        magic = data.readInt();
      } catch (EOFException e) {
        throw new IOException(file + ": empty or truncated IDX file (no header)");
      }
      int type = (magic >>> 8) & 0xff, rank = magic & 0xff;
      if ((magic >>> 16) != 0 || type != 0x08)
        throw new IOException(file + ": not an unsigned-byte IDX file (magic 0x" + Integer.toHexString(magic)
            + ", expected 0x0000080N)");
      if (rank < 1 || rank > 4) throw new IOException(file + ": IDX rank " + rank + " is not in 1..4");
      int[] shape = new int[rank];
      long n = 1;
      for (int i = 0; i < rank; i++) {
        shape[i] = data.readInt();
        if (shape[i] < 0) throw new IOException(file + ": negative IDX dimension " + shape[i]);
        n = Math.min(n * shape[i], Integer.MAX_VALUE); // both factors < 2^31 after the clamp: no overflow
      }
      if (n > Integer.MAX_VALUE - 8) throw new IOException(file + ": IDX tensor of " + n + " bytes is too large");
      // readNBytes grows its buffer as bytes arrive, so a header that promises gigabytes allocates no
      // more than the file really holds
      byte[] bytes = data.readNBytes((int) n);
      if (bytes.length < n)
        throw new IOException(file + ": truncated IDX data (expected " + n + " bytes of values, found " + bytes.length
            + ")");
      return new ByteTensor(shape, bytes);
    }
  }
}
