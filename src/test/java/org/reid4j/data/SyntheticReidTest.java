package org.reid4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SyntheticReidTest {
  @Test
  void marketPresetHasMarketsShape() {
    SyntheticReid.Spec s = SyntheticReid.Spec.market(3);
    // Build a low-dimensional twin to keep the test light: the counts do not depend on dim.
    SyntheticReid.Case c = SyntheticReid.build(new SyntheticReid.Spec(s.identities(), s.cameras(),
        s.galleryPerCamera(), 8, s.distractors(), s.junk(), s.noise(), s.cameraBias(), s.queryLimit(),
        s.galleryLimit(), s.seed()));
    assertEquals(3368, c.query().size());
    assertEquals(15913, c.gallery().size());
    assertEquals(2793, Arrays.stream(c.gallery().pids()).filter(p -> p == 0).count());
    assertEquals(3819, Arrays.stream(c.gallery().pids()).filter(p -> p == -1).count());
    assertTrue(Arrays.stream(c.query().pids()).allMatch(p -> p >= 1 && p <= 750));
    assertEquals(2048, s.dim());
  }

  @Test
  void everyQueryHasAMatchInAnotherCameraAndSomeSameCameraEntriesExist() {
    SyntheticReid.Case c = SyntheticReid.build(SyntheticReid.Spec.small(11));
    int sameCam = 0;
    for (int i = 0; i < c.query().size(); i++) {
      boolean other = false;
      for (int j = 0; j < c.gallery().size(); j++) {
        if (c.gallery().pids()[j] != c.query().pids()[i]) continue;
        if (c.gallery().camids()[j] != c.query().camids()[i]) other = true;
        else sameCam++;
      }
      assertTrue(other, "query " + i + " has a valid match");
    }
    assertTrue(sameCam > 0, "the same-camera rule has something to exclude");
  }

  @Test
  void sameSeedSameCase() {
    var a = SyntheticReid.build(SyntheticReid.Spec.small(5));
    var b = SyntheticReid.build(SyntheticReid.Spec.small(5));
    var c = SyntheticReid.build(SyntheticReid.Spec.small(6));
    assertEquals(a.gallery().features(), b.gallery().features());
    assertNotEquals(a.gallery().features(), c.gallery().features());
  }
}
