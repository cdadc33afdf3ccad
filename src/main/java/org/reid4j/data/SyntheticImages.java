package org.reid4j.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * A synthetic image data set in the Market-1501 layout ({@code bounding_box_train/}, {@code query/},
 * {@code bounding_box_test/}, names like {@code 0002_c1s1_000451_03.jpg}) that {@link Market1501}
 * reads: for training and throughput checks where the real data set is not at hand.
 *
 * <p>Each identity is a fixed random "outfit" drawn from the seed and the pid: top and bottom colours,
 * a top pattern (plain, stripes, a band or a logo block), trousers or shorts, skin, hair and shoe
 * colours, an optional bag. Each image draws the person at a random position and scale (and mirrored
 * half of the time) in front of a camera-specific background, then applies the camera's brightness and
 * colour cast and pixel noise; so identity is learnable and camera is a nuisance, as in real ReID.
 *
 * <p>Pids: training 1..trainIds, test trainIds+1..trainIds+testIds. Query: one image per test
 * identity and camera; gallery: {@code perCam} images per test identity and camera, plus distractors
 * (pid 0, people of no listed identity) and junk (pid -1, background crops). Training:
 * {@code perCam} images per identity and camera. The output is a function of the spec alone (each
 * image has its own seed), whatever the number of threads; images are written in parallel.
 */
public final class SyntheticImages {
  private SyntheticImages() {}

  /**
   * @param trainIds training identities (>= 1)
   * @param testIds query/gallery identities (>= 1)
   * @param cams cameras (>= 2, so that each query has a match from another camera)
   * @param perCam images per identity and camera (training and gallery)
   * @param width image width in pixels (Market: 64)
   * @param height image height in pixels (Market: 128)
   * @param distractors gallery images of pid 0
   * @param junk gallery images of pid -1
   */
  public record Spec(int trainIds, int testIds, int cams, int perCam, int width, int height, int distractors, int junk,
      long seed) {
    public Spec {
      if (trainIds < 1) throw new IllegalArgumentException("train identities must be >= 1, got " + trainIds);
      if (testIds < 1) throw new IllegalArgumentException("test identities must be >= 1, got " + testIds);
      if (trainIds + testIds > 9999)
        throw new IllegalArgumentException("train + test identities must be <= 9999 (4-digit pids), got "
            + (trainIds + testIds));
      if (cams < 2 || cams > 9) throw new IllegalArgumentException("cameras must be in 2..9, got " + cams);
      if (perCam < 1) throw new IllegalArgumentException("images per identity and camera must be >= 1, got " + perCam);
      if (width < 8 || height < 16 || width > 4096 || height > 4096)
        throw new IllegalArgumentException("image size must be at least 8 x 16 and at most 4096 x 4096, got "
            + width + " x " + height);
      if (distractors < 0 || junk < 0) throw new IllegalArgumentException("distractors and junk must be >= 0");
    }

    /** Market-sized images (64 x 128), 4 cameras, distractors = test ids, junk = test ids / 4. */
    public static Spec of(int trainIds, int testIds, int cams, int perCam, long seed) {
      return new Spec(trainIds, testIds, cams, perCam, 64, 128, testIds, testIds / 4, seed);
    }
  }

  /** What {@link #write} wrote: image counts per split and the identities. */
  public record Counts(int train, int query, int gallery, int trainIds, int testIds, int distractors, int junk) {
    public String summary() {
      return String.format(Locale.ROOT, "bounding_box_train %,d images / %d ids, query %,d images / %d ids, "
          + "bounding_box_test %,d images (%d ids, %d distractors pid 0, %d junk pid -1)", train, trainIds, query,
          testIds, gallery, testIds, distractors, junk);
    }
  }

  private enum Kind { PERSON, DISTRACTOR, JUNK }

  private record Job(Path file, Kind kind, int pid, int cam, long seed) {}

  /**
   * Writes the three split folders under {@code dir} (created if needed). A split folder that already
   * holds files is an error: the generator never mixes its images with others.
   */
  public static Counts write(Path dir, Spec spec) throws IOException {
    Path train = dir.resolve(PidCamFolders.TRAIN), query = dir.resolve(PidCamFolders.QUERY),
        gallery = dir.resolve(PidCamFolders.GALLERY);
    for (Path p : List.of(train, query, gallery)) {
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          if (s.findAny().isPresent())
            throw new IOException(p + " is not empty: write the synthetic data set into a new or empty folder");
        }
      }
      Files.createDirectories(p);
    }
    List<Job> jobs = new ArrayList<>();
    int frame = 0;
    for (int pid = 1; pid <= spec.trainIds(); pid++)
      for (int c = 1; c <= spec.cams(); c++)
        for (int k = 0; k < spec.perCam(); k++)
          jobs.add(job(train, Kind.PERSON, pid, c, ++frame, k + 1, spec.seed()));
    int nTrain = jobs.size();
    for (int pid = spec.trainIds() + 1; pid <= spec.trainIds() + spec.testIds(); pid++)
      for (int c = 1; c <= spec.cams(); c++) jobs.add(job(query, Kind.PERSON, pid, c, ++frame, 0, spec.seed()));
    int nQuery = jobs.size() - nTrain;
    for (int pid = spec.trainIds() + 1; pid <= spec.trainIds() + spec.testIds(); pid++)
      for (int c = 1; c <= spec.cams(); c++)
        for (int k = 0; k < spec.perCam(); k++)
          jobs.add(job(gallery, Kind.PERSON, pid, c, ++frame, k + 1, spec.seed()));
    for (int i = 0; i < spec.distractors(); i++)
      jobs.add(job(gallery, Kind.DISTRACTOR, 0, 1 + i % spec.cams(), ++frame, 1, spec.seed()));
    for (int i = 0; i < spec.junk(); i++)
      jobs.add(job(gallery, Kind.JUNK, -1, 1 + i % spec.cams(), ++frame, 1, spec.seed()));
    int nGallery = jobs.size() - nTrain - nQuery;
    try {
      jobs.parallelStream().forEach(j -> {
        try {
          BufferedImage img = render(j, spec);
          if (!ImageIO.write(img, "jpg", j.file().toFile())) throw new IOException("no JPEG writer in javax.imageio");
        } catch (IOException e) {
          throw new UncheckedIOException(j.file() + ": " + e.getMessage(), e);
        }
      });
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    return new Counts(nTrain, nQuery, nGallery, spec.trainIds(), spec.testIds(), spec.distractors(), spec.junk());
  }

  private static Job job(Path folder, Kind kind, int pid, int cam, int frame, int box, long seed) {
    String name = String.format(Locale.ROOT, "%s_c%ds1_%06d_%02d.jpg", pid < 0 ? "-1" : String.format(Locale.ROOT,
        "%04d", pid), cam, frame, box);
    // the image's own seed: depends on the spec's seed, the split, the identity, the camera and the frame only
    long s = mix(mix(mix(seed ^ 0x5EED_1A6E_5L, folder.getFileName().toString().hashCode()), pid * 31L + cam), frame);
    return new Job(folder.resolve(name), kind, pid, cam, s);
  }

  private static long mix(long a, long b) {
    long z = a * 0x9E3779B97F4A7C15L + b;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** An identity's fixed appearance, drawn from the spec's seed and the pid (or the image seed for distractors). */
  private record Outfit(int top, int top2, int bottom, int skin, int hair, int shoes, int bag, int pattern, int stripes,
      boolean shorts, boolean bagLeft, float bagSize, float logoY, float build) {
    static Outfit draw(SplittableRandom r) {
      int top = colour(r), bottom = colour(r);
      int top2 = colour(r);
      int[] skins = {0xF1C27D, 0xE0AC69, 0xC68642, 0x8D5524, 0xFFDBAC};
      int[] hairs = {0x090806, 0x2C222B, 0x71635A, 0xB7A69E, 0xD6C4C2, 0x6A4E42, 0xA7856A};
      int bag = r.nextInt(3) == 0 ? colour(r) : -1;
      return new Outfit(top, top2, bottom, skins[r.nextInt(skins.length)], hairs[r.nextInt(hairs.length)],
          r.nextBoolean() ? 0x202020 : colour(r), bag, r.nextInt(4), 2 + r.nextInt(4), r.nextInt(4) == 0,
          r.nextBoolean(), 0.12f + 0.1f * (float) r.nextDouble(), 0.3f + 0.4f * (float) r.nextDouble(),
          0.8f + 0.35f * (float) r.nextDouble());
    }

    /** A saturated random colour (HSV with s, v in [0.35, 1]) or, one time in five, a grey. */
    static int colour(SplittableRandom r) {
      if (r.nextInt(5) == 0) {
        int g = 20 + r.nextInt(216);
        return g << 16 | g << 8 | g;
      }
      return java.awt.Color.HSBtoRGB((float) r.nextDouble(), 0.35f + 0.65f * (float) r.nextDouble(),
          0.35f + 0.65f * (float) r.nextDouble()) & 0xFFFFFF;
    }
  }

  /** One image: background, person (or nothing for junk), camera cast and noise. */
  private static BufferedImage render(Job j, Spec spec) {
    int w = spec.width(), h = spec.height();
    SplittableRandom r = new SplittableRandom(j.seed());
    SplittableRandom camR = new SplittableRandom(mix(spec.seed() ^ 0xCA3E_A5L, j.cam()));
    // camera: background scene colours, brightness and colour cast
    int bg1 = Outfit.colour(camR), bg2 = Outfit.colour(camR);
    float bright = 0.75f + 0.5f * (float) camR.nextDouble();
    float[] cast = {0.85f + 0.3f * (float) camR.nextDouble(), 0.85f + 0.3f * (float) camR.nextDouble(),
        0.85f + 0.3f * (float) camR.nextDouble()};
    float[] px = new float[3 * w * h];
    // background: vertical gradient between the camera's two colours, a random horizon, some clutter blocks
    float horizon = 0.3f + 0.4f * (float) r.nextDouble();
    for (int y = 0; y < h; y++) {
      int c = y < horizon * h ? bg1 : bg2;
      float t = 0.8f + 0.4f * y / h;
      for (int x = 0; x < w; x++) put(px, w, h, x, y, c, t);
    }
    for (int b = r.nextInt(4); b > 0; b--) {
      int c = Outfit.colour(r);
      int bx = r.nextInt(w), by = r.nextInt(h), bw = 2 + r.nextInt(w / 2), bh = 2 + r.nextInt(h / 3);
      rect(px, w, h, bx, by, bw, bh, c);
    }
    if (j.kind() != Kind.JUNK) {
      Outfit o = Outfit.draw(j.kind() == Kind.DISTRACTOR ? new SplittableRandom(j.seed() ^ 0xD15_7AC7L)
          : new SplittableRandom(mix(spec.seed() ^ 0x1D_E47L, j.pid())));
      person(px, w, h, o, r);
    }
    // camera cast, brightness jitter per image, pixel noise
    float b = bright * (0.9f + 0.2f * (float) r.nextDouble());
    float sigma = 4 + 6 * (float) r.nextDouble();
    int[] rgb = new int[w * h];
    for (int i = 0; i < w * h; i++) {
      int v = 0;
      for (int ch = 0; ch < 3; ch++) {
        float f = px[ch * w * h + i] * b * cast[ch] + sigma * (float) gaussian(r);
        v = v << 8 | Math.max(0, Math.min(255, Math.round(f)));
      }
      rgb[i] = v;
    }
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    img.setRGB(0, 0, w, h, rgb, 0, w);
    return img;
  }

  /** Draws the outfit at a random position and scale, mirrored half of the time. */
  private static void person(float[] px, int w, int h, Outfit o, SplittableRandom r) {
    float scale = 0.78f + 0.2f * (float) r.nextDouble();
    float ph = scale * h, pw = Math.min(w * 0.95f, ph * 0.42f * o.build());
    float cx = w / 2f + (float) (r.nextDouble() - 0.5) * 0.25f * w;
    float top = (h - ph) * (float) r.nextDouble();
    boolean mirror = r.nextBoolean();
    int x0 = Math.round(cx - pw / 2);
    int iw = Math.max(2, Math.round(pw));
    // proportions of the body (fractions of ph)
    float headH = 0.14f, torsoH = 0.36f, legsH = 0.44f;
    int y = Math.round(top);
    int head = Math.round(headH * ph), torso = Math.round(torsoH * ph), legs = Math.round(legsH * ph);
    int shoe = Math.max(1, Math.round(0.04f * ph));
    int headW = Math.max(2, iw * 2 / 5), hx = x0 + (iw - headW) / 2;
    rect(px, w, h, hx, y, headW, head, o.skin());
    rect(px, w, h, hx, y, headW, Math.max(1, head / 3), o.hair());
    y += head;
    // torso with arms (the outer sixths), pattern
    rect(px, w, h, x0, y, iw, torso, o.top());
    switch (o.pattern()) {
      case 1 -> { // horizontal stripes
        int period = Math.max(2, torso / (2 * o.stripes()));
        for (int s = 0; s < torso; s += 2 * period) rect(px, w, h, x0, y + s, iw, period, o.top2());
      }
      case 2 -> rect(px, w, h, x0, y + torso / 3, iw, Math.max(1, torso / 4), o.top2()); // a band
      case 3 -> { // a logo block, off centre
        int lw = Math.max(2, iw / 3), lh = Math.max(2, torso / 4);
        int lx = x0 + (mirror ? iw - lw - iw / 5 : iw / 5);
        rect(px, w, h, lx, y + Math.round(o.logoY() * (torso - lh)), lw, lh, o.top2());
      }
      default -> {}
    }
    int armW = Math.max(1, iw / 6);
    rect(px, w, h, x0 - armW / 2, y + torso, armW, torso / 4, o.skin()); // hands below the sleeves
    rect(px, w, h, x0 + iw - armW / 2, y + torso, armW, torso / 4, o.skin());
    y += torso;
    // legs: trousers or shorts, a gap between the legs
    int legW = Math.max(1, iw * 2 / 5), gap = iw - 2 * legW - iw / 10;
    int lx1 = x0 + iw / 20, lx2 = lx1 + legW + Math.max(1, gap);
    int cloth = o.shorts() ? legs * 2 / 5 : legs - shoe;
    rect(px, w, h, x0 + iw / 20, y, iw - iw / 10, Math.max(1, legs / 6), o.bottom()); // hips
    rect(px, w, h, lx1, y, legW, cloth, o.bottom());
    rect(px, w, h, lx2, y, legW, cloth, o.bottom());
    if (o.shorts()) {
      rect(px, w, h, lx1, y + cloth, legW, legs - shoe - cloth, o.skin());
      rect(px, w, h, lx2, y + cloth, legW, legs - shoe - cloth, o.skin());
    }
    rect(px, w, h, lx1, y + legs - shoe, legW, shoe, o.shoes());
    rect(px, w, h, lx2, y + legs - shoe, legW, shoe, o.shoes());
    if (o.bag() >= 0) { // a bag at one side, at hip height
      int bw = Math.max(2, Math.round(o.bagSize() * w)), bh = Math.max(2, Math.round(o.bagSize() * 1.2f * w));
      boolean left = o.bagLeft() != mirror;
      rect(px, w, h, left ? x0 - bw / 2 : x0 + iw - bw / 2, y - torso / 4, bw, bh, o.bag());
    }
  }

  private static void rect(float[] px, int w, int h, int x, int y, int rw, int rh, int c) {
    int xa = Math.max(0, x), xb = Math.min(w, x + rw), ya = Math.max(0, y), yb = Math.min(h, y + rh);
    for (int yy = ya; yy < yb; yy++) for (int xx = xa; xx < xb; xx++) put(px, w, h, xx, yy, c, 1f);
  }

  private static void put(float[] px, int w, int h, int x, int y, int c, float t) {
    int i = y * w + x;
    px[i] = t * (c >> 16 & 255);
    px[w * h + i] = t * (c >> 8 & 255);
    px[2 * w * h + i] = t * (c & 255);
  }

  private static double gaussian(SplittableRandom r) {
    // Box-Muller, one value per call (deterministic for the generator's sequence)
    double u = 1 - r.nextDouble(), v = r.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
