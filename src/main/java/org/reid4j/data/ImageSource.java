package org.reid4j.data;

import java.io.IOException;

/**
 * An indexed, labelled set of images (one split of a data set): the loaders and the evaluation read
 * images through it by index. Labels are held in memory; images are decoded on each {@link #load}
 * call (implementations must allow concurrent calls from loader threads).
 *
 * <p>The pids of a training source are contiguous class labels {@code 0..numClasses()-1} (the readers
 * relabel the data set's identities in ascending order; {@link #originalPid} keeps the data set's own
 * id). In query and gallery sources pids are the data set's own ids (-1 = junk, 0 = distractor in
 * Market-1501) and {@link #numClasses()} is the number of distinct pids. Camera ids are 0-based
 * (Market/Duke/MSMT17 names count cameras from 1, so "c1" is camid 0); CSV camids are stored as given.
 */
public interface ImageSource {
  int size();

  int pid(int i);

  int camid(int i);

  /** Decodes image i; a missing, corrupt or empty file is an IOException naming it. */
  FloatImage load(int i) throws IOException;

  /** Where image i comes from, for messages: a file path or "fashion-mnist train #123". */
  String describe(int i);

  int numClasses();

  /** The identity as the data set names it (before relabelling); the pid itself where not relabelled. */
  default int originalPid(int i) {
    return pid(i);
  }

  /** All pids in index order (a new array). */
  default int[] pids() {
    int[] out = new int[size()];
    for (int i = 0; i < out.length; i++) out[i] = pid(i);
    return out;
  }

  /** All camids in index order (a new array). */
  default int[] camids() {
    int[] out = new int[size()];
    for (int i = 0; i < out.length; i++) out[i] = camid(i);
    return out;
  }
}
