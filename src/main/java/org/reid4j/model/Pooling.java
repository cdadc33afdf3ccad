package org.reid4j.model;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Global pooling of a feature map [N, C, H, W] to [N, C]: average, max, or generalised mean
 * (GeM, Radenovic et al.): (mean over H, W of clamp(x, eps)^p)^(1/p) with a learnable scalar p
 * (entry "p", shape [1]) and eps 1e-6. p = 1 is average pooling; p -> infinity approaches max.
 */
public final class Pooling extends Module {
  /** GeM's clamp floor. */
  public static final double GEM_EPS = 1e-6;
  private static final long[] HW = {2, 3};

  private final String kind;
  private final Tensor p;

  /** kind: avg | max | gem; gemP: GeM's initial p (ignored otherwise). */
  public Pooling(String kind, double gemP) {
    super("Pooling");
    this.kind = kind;
    switch (kind) {
      case "avg", "max" -> p = null;
      case "gem" -> p = Tensors.own(register_parameter("p", Tensors.full(gemP, Tensors.CPU, 1)));
      default -> throw new IllegalArgumentException("unknown pooling '" + kind + "': expected avg, max or gem");
    }
  }

  public String kind() {
    return kind;
  }

  /** GeM's p, or null for avg/max. */
  public Tensor p() {
    return p;
  }

  /** x [N, C, H, W] -> [N, C]. */
  public Tensor forward(Tensor x) {
    return switch (kind) {
      case "avg" -> x.mean(HW);
      case "max" -> x.amax(HW, false);
      default -> x.clamp_min(Tensors.scalar(GEM_EPS)).pow(p).mean(HW).pow(p.reciprocal());
    };
  }
}
