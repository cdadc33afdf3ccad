package org.reid4j.gallery;

/**
 * What opening a gallery found in its write-ahead log. A clean log replays completely
 * ({@link #clean()}). Otherwise the log ended in a record that could not be read back (a write cut
 * short by a crash, or a damaged one): that record and everything after it were dropped, never
 * loaded, and the file was truncated to {@link #truncatedAt()}, the end of the last good record.
 * Records acknowledged to a caller are forced to disk before the acknowledgement, so a torn tail
 * only ever holds writes that were never acknowledged.
 *
 * @param logFile the log's file name inside the gallery folder
 * @param recordsReplayed how many good records were applied
 * @param truncatedAt byte offset of the first bad record (the new length of the file), or -1 when clean
 * @param droppedBytes bytes removed from the end of the log
 * @param reason why the record at {@code truncatedAt} was rejected, or null when clean
 */
public record RecoveryReport(String logFile, long recordsReplayed, long truncatedAt, long droppedBytes,
    String reason) {

  static RecoveryReport clean(String logFile, long records) {
    return new RecoveryReport(logFile, records, -1, 0, null);
  }

  public boolean clean() {
    return reason == null;
  }

  @Override
  public String toString() {
    return clean() ? logFile + ": " + recordsReplayed + " records replayed, clean"
        : logFile + ": " + recordsReplayed + " records replayed; dropped " + droppedBytes + " bytes from offset "
            + truncatedAt + " (" + reason + ")";
  }
}
