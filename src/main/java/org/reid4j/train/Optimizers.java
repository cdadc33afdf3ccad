package org.reid4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OptimizerOptions;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * Builds the model's optimiser with BoT's two parameter groups: biases (any parameter whose name
 * ends in "bias", as BoT's {@code 'bias' in key}) get {@code lr * BIAS_LR_FACTOR} and
 * {@code WEIGHT_DECAY_BIAS}; all other parameters get {@code BASE_LR} and {@code WEIGHT_DECAY}.
 * Parameters that do not require a gradient when the optimiser is built (the BNNeck's frozen
 * bias) are left out. Weight decay is libtorch's coupled L2 term (added to the gradient), as in
 * PyTorch's Adam and SGD, which is what BoT used.
 *
 * <p>The learning rate of group i is {@code baseLr(i) * factor}, set by {@link Groups#setFactor}
 * once per iteration from {@link LrSchedule}.
 */
public final class Optimizers {
  private Optimizers() {}

  /** One trainable tensor. */
  public record Param(String name, Tensor tensor, boolean isBias) {}

  /** SOLVER values that shape the optimiser. */
  public record Settings(String optimizer, double baseLr, double weightDecay, double weightDecayBias,
      double biasLrFactor, double momentum) {}

  /** The optimiser and the base learning rate of each of its groups (weights first, then biases). */
  public static final class Groups {
    private final Optimizer optimizer;
    private final double[] baseLrs;
    private final String[] names;
    private final int[] sizes;
    private final List<Object> keepAlive;

    Groups(Optimizer optimizer, double[] baseLrs, String[] names, int[] sizes, List<Object> keepAlive) {
      this.optimizer = optimizer;
      this.baseLrs = baseLrs;
      this.names = names;
      this.sizes = sizes;
      this.keepAlive = keepAlive;
    }

    public Optimizer optimizer() {
      return optimizer;
    }

    public int size() {
      return baseLrs.length;
    }

    public double baseLr(int group) {
      return baseLrs[group];
    }

    /** The learning rate libtorch holds for the group now. */
    public double lr(int group) {
      return optimizer.param_groups().get(group).options().get_lr();
    }

    /** Sets every group's learning rate to its base rate times {@code factor}. */
    public void setFactor(double factor) {
      for (int i = 0; i < baseLrs.length; i++) {
        OptimizerOptions o = optimizer.param_groups().get(i).options();
        o.set_lr(baseLrs[i] * factor);
      }
    }

    /** "weights: 14 tensors lr 3.5e-4, biases: 9 tensors lr 3.5e-4". */
    public String describe() {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < baseLrs.length; i++) {
        if (i > 0) b.append(", ");
        b.append(String.format(Locale.ROOT, "%s: %d tensors base lr %.3g", names[i], sizes[i], baseLrs[i]));
      }
      return b.toString();
    }

    int keepAliveCount() {
      return keepAlive.size();
    }
  }

  /** Adam or SGD (with momentum) over {@code params}, split into weight and bias groups. */
  public static Groups create(Settings s, List<Param> params) {
    List<Tensor> weights = new ArrayList<>(), biases = new ArrayList<>();
    for (Param p : params) {
      if (!p.tensor().requires_grad()) continue;
      (p.isBias() ? biases : weights).add(p.tensor());
    }
    if (weights.isEmpty() && biases.isEmpty()) throw new IllegalArgumentException("the model has no trainable parameters");
    String kind = s.optimizer().trim().toLowerCase(Locale.ROOT);
    List<Object> keep = new ArrayList<>();
    List<Double> lrs = new ArrayList<>();
    List<String> names = new ArrayList<>();
    List<Integer> sizes = new ArrayList<>();
    // The first non-empty group goes to the constructor, the other one is added.
    List<List<Tensor>> groups = new ArrayList<>();
    if (!weights.isEmpty()) {
      groups.add(weights);
      lrs.add(s.baseLr());
      names.add("weights");
    }
    if (!biases.isEmpty()) {
      groups.add(biases);
      lrs.add(s.baseLr() * s.biasLrFactor());
      names.add("biases");
    }
    Optimizer opt = null;
    for (int g = 0; g < groups.size(); g++) {
      boolean bias = names.get(g).equals("biases");
      double wd = bias ? s.weightDecayBias() : s.weightDecay();
      TensorVector tv = new TensorVector(groups.get(g).toArray(new Tensor[0]));
      OptimizerOptions options = switch (kind) {
        case "adam" -> {
          AdamOptions o = new AdamOptions(lrs.get(g));
          o.weight_decay().put(wd);
          yield o;
        }
        case "sgd" -> {
          SGDOptions o = new SGDOptions(lrs.get(g));
          o.weight_decay().put(wd);
          o.momentum().put(s.momentum());
          yield o;
        }
        default -> throw new IllegalArgumentException("unknown SOLVER.OPTIMIZER '" + s.optimizer()
            + "': expected adam or sgd");
      };
      keep.add(tv);
      keep.add(options);
      sizes.add(groups.get(g).size());
      if (opt == null) {
        opt = kind.equals("adam") ? new Adam(tv, (AdamOptions) options) : new SGD(tv, (SGDOptions) options);
      } else {
        OptimizerParamGroup pg = new OptimizerParamGroup(tv, options);
        keep.add(pg);
        opt.add_param_group(pg);
      }
    }
    return new Groups(opt, lrs.stream().mapToDouble(Double::doubleValue).toArray(), names.toArray(new String[0]),
        sizes.stream().mapToInt(Integer::intValue).toArray(), keep);
  }

  /** BoT's centre optimiser: plain SGD (no momentum, no decay) at {@code SOLVER.CENTER_LR}, never scheduled. */
  public static Optimizer centers(TensorVector centerParams, double centerLr) {
    return new SGD(centerParams, new SGDOptions(centerLr));
  }
}
