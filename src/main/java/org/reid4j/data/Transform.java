package org.reid4j.data;

import java.util.SplittableRandom;

/**
 * One step of image preprocessing or augmentation. Implementations are stateless and thread-safe,
 * never modify their input, and draw all randomness from {@code rnd}, so a fixed seed gives a fixed
 * output whatever thread runs it. {@link Transforms} has the steps and the BoT pipelines.
 */
@FunctionalInterface
public interface Transform {
  FloatImage apply(FloatImage img, SplittableRandom rnd);

  /** This step, then next (both with the same random stream, in that order). */
  default Transform then(Transform next) {
    Transform first = this;
    return (img, rnd) -> next.apply(first.apply(img, rnd), rnd);
  }

  static Transform identity() {
    return (img, rnd) -> img;
  }
}
