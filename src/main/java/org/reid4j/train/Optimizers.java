package org.reid4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OptimizerOptions;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * Builds the model's optimiser with BoT's two parameter groups: biases (any parameter whose name
 * ends in "bias", as BoT's {@code 'bias' in key}) get {@code lr * BIAS_LR_FACTOR} and
 * {@code WEIGHT_DECAY_BIAS}; all other parameters get {@code BASE_LR} and {@code WEIGHT_DECAY}.
 * Parameters that do not require a gradient when the optimiser is built (the BNNeck's frozen
 * bias) are left out. Weight decay is the coupled L2 term (added to the gradient), as in
 * PyTorch's Adam and SGD, which is what BoT used. Adam is {@link MultiTensorAdam}; SGD is libtorch's.
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

  /**
   * The optimiser and the base learning rate of each of its groups (weights first, then biases):
   * Adam is {@link MultiTensorAdam} (multi-tensor kernels on the GPU), SGD is libtorch's.
   */
  public static final class Groups {
    private final Optimizer sgd; // SGD: libtorch's optimiser; null for Adam
    private final MultiTensorAdam adam; // Adam; null for SGD
    private final double[] baseLrs;
    private final String[] names;
    private final int[] sizes;
    private final List<Object> keepAlive; // SGD: the native vectors and options libtorch's optimiser points into

    Groups(Optimizer sgd, MultiTensorAdam adam, double[] baseLrs, String[] names, int[] sizes, List<Object> keepAlive) {
      this.sgd = sgd;
      this.adam = adam;
      this.baseLrs = baseLrs;
      this.names = names;
      this.sizes = sizes;
      this.keepAlive = keepAlive;
    }

    public int size() {
      return baseLrs.length;
    }

    public double baseLr(int group) {
      return baseLrs[group];
    }

    /** The learning rate the optimiser holds for the group now. */
    public double lr(int group) {
      return adam != null ? adam.lr(group) : sgd.param_groups().get(group).options().get_lr();
    }

    /** Sets every group's learning rate to its base rate times {@code factor}. */
    public void setFactor(double factor) {
      for (int i = 0; i < baseLrs.length; i++) {
        if (adam != null) {
          adam.setLr(i, baseLrs[i] * factor);
        } else {
          OptimizerOptions o = sgd.param_groups().get(i).options();
          o.set_lr(baseLrs[i] * factor);
        }
      }
    }

    /** The tensors of group {@code group}. */
    public List<Tensor> params(int group) {
      if (adam != null) return adam.params(group);
      TensorVector tv = sgd.param_groups().get(group).params();
      List<Tensor> out = new ArrayList<>();
      for (long i = 0; i < tv.size(); i++) out.add(tv.get(i));
      return out;
    }

    /** The gradients that are defined, all groups. */
    public List<Tensor> grads() {
      if (adam != null) return adam.grads();
      List<Tensor> out = new ArrayList<>();
      for (int g = 0; g < size(); g++)
        for (Tensor p : params(g))
          if (p.grad().defined()) out.add(p.grad());
      return out;
    }

    /** Gradients to none. */
    public void zeroGrad() {
      if (adam != null) adam.zeroGrad();
      else sgd.zero_grad();
    }

    /** One optimiser step over the parameters that have gradients. */
    public void step() {
      if (adam != null) adam.step();
      else sgd.step();
    }

    /**
     * One step decided on the device: skipped there when {@code skip} (AMP's overflow flag, a float32 on the
     * parameters' device) is non-zero; Adam on reid4j's kernels only ({@link #multiTensorKernels}).
     */
    public void stepOnDevice(Tensor skip) {
      if (adam == null) throw new IllegalStateException("a step decided on the device needs Adam (SGD is libtorch's)");
      adam.stepOnDevice(skip);
    }

    /** Whether a step runs as reid4j's multi-tensor device kernels (Adam on CUDA). */
    public boolean multiTensorKernels() {
      return adam != null && adam.usesNativeKernels();
    }

    public void save(OutputArchive out) {
      if (adam != null) adam.save(out);
      else sgd.save(out);
    }

    /**
     * As {@link #save(OutputArchive)}, writing {@code take.apply(t)} in place of each state tensor t
     * (a host copy, say). Only Adam's state is reid4j's own and can be written so ({@link #canCopyState});
     * libtorch's SGD writes its momentum buffers itself.
     */
    public void save(OutputArchive out, java.util.function.UnaryOperator<Tensor> take) {
      if (adam == null) throw new IllegalStateException("SGD's state is libtorch's: it cannot be written from copies");
      adam.save(out, take);
    }

    /** Whether {@link #save(OutputArchive, java.util.function.UnaryOperator)} can write this state from copies. */
    public boolean canCopyState() {
      return adam != null;
    }

    public void load(InputArchive in) {
      if (adam != null) adam.load(in);
      else sgd.load(in);
    }

    /** "weights: 14 tensors lr 3.5e-4, biases: 9 tensors lr 3.5e-4". */
    public String describe() {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < baseLrs.length; i++) {
        if (i > 0) b.append(", ");
        b.append(String.format(Locale.ROOT, "%s: %d tensors base lr %.3g", names[i], sizes[i], baseLrs[i]));
      }
      if (adam != null && adam.usesNativeKernels()) b.append("; Adam steps as reid4j's multi-tensor CUDA kernels");
      return b.toString();
    }
  }

  /** {@link #create} over a model's named parameters. */
  public static Groups forModel(Settings s, org.reid4j.model.ReidModel model) {
    return forModel(s, model, false);
  }

  /** As {@link #forModel(Settings, org.reid4j.model.ReidModel)}, Adam on the CUDA emulator when {@code emulatedDevice}. */
  static Groups forModel(Settings s, org.reid4j.model.ReidModel model, boolean emulatedDevice) {
    List<Param> params = new ArrayList<>();
    for (org.reid4j.model.ReidModel.NamedParam p : model.namedParams())
      params.add(new Param(p.name(), p.tensor(), p.isBias()));
    return create(s, params, emulatedDevice);
  }

  /** Adam or SGD (with momentum) over {@code params}, split into weight and bias groups. */
  public static Groups create(Settings s, List<Param> params) {
    return create(s, params, false);
  }

  /**
   * As {@link #create(Settings, List)}; {@code emulatedDevice}: Adam runs the CUDA kernels on CPU tensors (tests on
   * the CUDA emulator).
   */
  static Groups create(Settings s, List<Param> params, boolean emulatedDevice) {
    List<Tensor> weights = new ArrayList<>(), biases = new ArrayList<>();
    for (Param p : params) {
      if (!p.tensor().requires_grad()) continue;
      (p.isBias() ? biases : weights).add(p.tensor());
    }
    if (weights.isEmpty() && biases.isEmpty()) throw new IllegalArgumentException("the model has no trainable parameters");
    String kind = s.optimizer().trim().toLowerCase(Locale.ROOT);
    if (!kind.equals("adam") && !kind.equals("sgd"))
      throw new IllegalArgumentException("unknown SOLVER.OPTIMIZER '" + s.optimizer() + "': expected adam or sgd");
    List<Object> keep = new ArrayList<>();
    List<Double> lrs = new ArrayList<>();
    List<Double> wds = new ArrayList<>();
    List<String> names = new ArrayList<>();
    List<Integer> sizes = new ArrayList<>();
    // The first non-empty group goes to the constructor, the other one is added.
    List<List<Tensor>> groups = new ArrayList<>();
    if (!weights.isEmpty()) {
      groups.add(weights);
      lrs.add(s.baseLr());
      wds.add(s.weightDecay());
      names.add("weights");
    }
    if (!biases.isEmpty()) {
      groups.add(biases);
      lrs.add(s.baseLr() * s.biasLrFactor());
      wds.add(s.weightDecayBias());
      names.add("biases");
    }
    for (List<Tensor> g : groups) sizes.add(g.size());
    double[] lr = lrs.stream().mapToDouble(Double::doubleValue).toArray();
    String[] nm = names.toArray(new String[0]);
    int[] sz = sizes.stream().mapToInt(Integer::intValue).toArray();
    if (kind.equals("adam"))
      return new Groups(null, new MultiTensorAdam(groups, lr, wds.stream().mapToDouble(Double::doubleValue).toArray(),
          emulatedDevice),
          lr, nm, sz, keep);
    Optimizer opt = null;
    for (int g = 0; g < groups.size(); g++) {
      TensorVector tv = new TensorVector(groups.get(g).toArray(new Tensor[0]));
      SGDOptions o = new SGDOptions(lr[g]);
      o.weight_decay().put(wds.get(g));
      o.momentum().put(s.momentum());
      keep.add(tv);
      keep.add(o);
      if (opt == null) {
        opt = new SGD(tv, o);
      } else {
        OptimizerParamGroup pg = new OptimizerParamGroup(tv, o);
        keep.add(pg);
        opt.add_param_group(pg);
      }
    }
    return new Groups(opt, null, lr, nm, sz, keep);
  }

  /**
   * BoT's centre optimiser: plain SGD (no momentum, no decay) at {@code SOLVER.CENTER_LR}, never scheduled. It
   * holds no state tensors, only options (a checkpoint written in the background relies on that: see
   * {@link CheckpointWriter}).
   */
  public static Optimizer centers(TensorVector centerParams, double centerLr) {
    return new SGD(centerParams, new SGDOptions(centerLr));
  }
}
