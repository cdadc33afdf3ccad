package org.reid4j.gallery;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * An append-only log of records, each {@code int32 length, int32 CRC-32C of the payload, payload}
 * (little-endian). A write is durable once {@link #sync} has returned for its end offset.
 *
 * <p>Group commit: writers {@link #append} under a short lock and then {@link #sync}. The first
 * waiter becomes the leader and forces the file once, covering every record appended so far;
 * writers whose records that force covered return without forcing again, the others wait for
 * the next leader. Under load one force serves many writers.
 *
 * <p>{@link #open} replays the good records and cuts a torn or damaged tail (see {@link RecoveryReport}).
 */
final class WriteAheadLog implements Closeable {
  static final int HEADER = 8;
  static final int MAX_RECORD = 64 << 20;

  private final Path file;
  private final FileChannel ch;
  private final Force force; // null: fsync off
  private final AtomicLong forces;
  private long end; // guarded by this

  private final ReentrantLock syncLock = new ReentrantLock();
  private final Condition forcedMoved = syncLock.newCondition();
  private long forced; // guarded by syncLock
  private boolean forcing; // guarded by syncLock

  private WriteAheadLog(Path file, FileChannel ch, long end, Force force, AtomicLong forces) {
    this.file = file;
    this.ch = ch;
    this.end = end;
    this.forced = end;
    this.force = force;
    this.forces = forces;
  }

  /** A log plus what its replay found. */
  record Opened(WriteAheadLog log, RecoveryReport report) {}

  /**
   * Opens (creating if absent) the log, hands every good payload to {@code replay} in order, and
   * truncates at the first record that is short, has an impossible length, a bad checksum, or a
   * payload {@code replay} rejects with IllegalArgumentException (it must not have applied it).
   * {@code force} null: writes are not forced (fsync off).
   */
  static Opened open(Path file, Force force, AtomicLong forces, Consumer<ByteBuffer> replay) throws IOException {
    FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
        StandardOpenOption.WRITE);
    try {
      long size = ch.size(), pos = 0, records = 0;
      String reason = null;
      ByteBuffer head = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
      CRC32C crc = new CRC32C();
      while (pos < size) {
        if (size - pos < HEADER) {
          reason = "short record header: " + (size - pos) + " of " + HEADER + " bytes";
          break;
        }
        head.clear();
        readFully(ch, head, pos);
        int len = head.getInt(0), sum = head.getInt(4);
        if (len < 1 || len > MAX_RECORD) {
          reason = "bad record length " + len;
          break;
        }
        if (size - pos - HEADER < len) {
          reason = "short record: " + (size - pos - HEADER) + " of " + len + " payload bytes";
          break;
        }
        ByteBuffer payload = ByteBuffer.allocate(len);
        readFully(ch, payload, pos + HEADER);
        crc.reset();
        crc.update(payload.array());
        if ((int) crc.getValue() != sum) {
          reason = "checksum mismatch";
          break;
        }
        try {
          replay.accept(payload.flip());
        } catch (IllegalArgumentException | java.nio.BufferUnderflowException e) {
          reason = "undecodable record: " + e.getMessage();
          break;
        }
        pos += HEADER + len;
        records++;
      }
      String name = file.getFileName().toString();
      RecoveryReport report = reason == null ? RecoveryReport.clean(name, records)
          : new RecoveryReport(name, records, pos, size - pos, reason);
      if (reason != null) {
        ch.truncate(pos);
        ch.force(true);
      }
      return new Opened(new WriteAheadLog(file, ch, pos, force, forces), report);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /**
   * How the log makes its bytes durable: {@link #FSYNC} in a gallery; a test may slow it down (a
   * force on a fast disk or tmpfs can be over before a second writer arrives, so how much group
   * commit shares would depend on timing).
   */
  @FunctionalInterface
  interface Force {
    void force(FileChannel ch) throws IOException;

    Force FSYNC = ch -> ch.force(false);
  }

  /** Appends one record (not yet durable) and returns the offset just past it. */
  synchronized long append(byte[] payload) throws IOException {
    CRC32C crc = new CRC32C();
    crc.update(payload);
    ByteBuffer b = ByteBuffer.allocate(HEADER + payload.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(payload.length).putInt((int) crc.getValue()).put(payload).flip();
    long at = end;
    while (b.hasRemaining()) at += ch.write(b, at);
    end = at;
    return end;
  }

  /** Returns once every byte before {@code upTo} is on disk (at once when fsync is off). */
  void sync(long upTo) throws IOException {
    syncLock.lock();
    try {
      while (forced < upTo) {
        if (forcing) {
          forcedMoved.awaitUninterruptibly();
          continue;
        }
        forcing = true;
        long target = size();
        syncLock.unlock();
        boolean ok = false;
        try {
          if (force != null) {
            force.force(ch);
            forces.incrementAndGet();
          }
          ok = true;
        } finally {
          syncLock.lock();
          forcing = false;
          if (ok) forced = Math.max(forced, target);
          forcedMoved.signalAll();
        }
      }
    } finally {
      syncLock.unlock();
    }
  }

  /** Every byte before this offset is on disk. */
  long forcedOffset() {
    syncLock.lock();
    try {
      return forced;
    } finally {
      syncLock.unlock();
    }
  }

  synchronized long size() {
    return end;
  }

  Path file() {
    return file;
  }

  @Override
  public void close() throws IOException {
    ch.close();
  }

  private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    while (b.hasRemaining()) {
      int n = ch.read(b, pos);
      if (n < 0) throw new IOException("unexpected end of " + ch);
      pos += n;
    }
  }
}
