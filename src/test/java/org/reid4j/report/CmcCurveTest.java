package org.reid4j.report;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.eval.EvalResult;

class CmcCurveTest {
  @TempDir Path dir;

  static double[] cmc(double r1) {
    double[] c = new double[EvalResult.MAX_RANK];
    for (int r = 0; r < c.length; r++) c[r] = Math.min(1, r1 + (1 - r1) * (1 - Math.exp(-r / 5.0)));
    return c;
  }

  static EvalResult result(double r1, double mAP) {
    double[] c = cmc(r1);
    return new EvalResult(c[0], c[4], c[9], mAP, mAP / 2, c, 100, 0);
  }

  @Test
  void oneEvaluation() throws IOException {
    Path png = dir.resolve("cmc.png");
    CmcCurve.render(result(0.85, 0.7), "market1501", png);
    BufferedImage img = TrainingCurvesTest.readPng(png, CmcCurve.WIDTH, CmcCurve.HEIGHT);
    assertTrue(img.getWidth() == 800 && img.getHeight() == 600);
    assertTrue(TrainingCurvesTest.hasContent(img, 4));
  }

  @Test
  void severalNamedCurvesAndBareArrays() throws IOException {
    Path png = dir.resolve("cmc-rerank.png");
    CmcCurve.render(List.of(CmcCurve.Curve.of("baseline", result(0.85, 0.7)),
        CmcCurve.Curve.of("+ re-ranking", result(0.88, 0.82))), "with and without re-ranking", png);
    TrainingCurvesTest.readPng(png, 800, 600);
    // A short CMC without mAP, and a perfect one.
    CmcCurve.render(new double[] {0.5, 0.7, 0.8, 0.9, 1.0}, "short", png);
    TrainingCurvesTest.readPng(png, 800, 600);
    CmcCurve.render(new double[] {1, 1, 1}, "perfect", png);
    TrainingCurvesTest.readPng(png, 800, 600);
  }

  @Test
  void badCurves() {
    Path png = dir.resolve("x.png");
    assertThrows(IllegalArgumentException.class, () -> CmcCurve.render(List.of(), "t", png));
    assertThrows(IllegalArgumentException.class, () -> CmcCurve.render(new double[0], "t", png));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CmcCurve.render(new double[] {0.5, 1.5}, "t", png));
    assertTrue(e.getMessage().contains("cmc[1] = 1.5"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> CmcCurve.render(
        List.of(new CmcCurve.Curve("a", cmc(0.5), 0.4), new CmcCurve.Curve("a", cmc(0.6), 0.5)), "t", png));
    assertTrue(e.getMessage().contains("two CMC curves named 'a'"), e.getMessage());
  }
}
