package org.reid4j.train;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.kernels.NativeApi;
import org.reid4j.model.Tensors;

/**
 * Adam (with libtorch's coupled L2 weight decay) over parameter groups, holding its own state so
 * that a step can run as a few multi-tensor kernels on the GPU.
 *
 * <p>libtorch's C++ Adam updates one tensor at a time, about nine small kernels per tensor: for a
 * ResNet-50 (161 tensors) some 1,400 launches per step, each paid in CPU time while the GPU waits.
 * Here, when every parameter is a dense float32 CUDA tensor and reid4j's native library has its CUDA
 * kernels, a step is {@code r4j_cuda_adam_step} once per group (a launch per 24 tensors) on the
 * current CUDA stream, with no synchronisation. Everywhere else (the CPU, a build without CUDA
 * kernels, or {@code REID4J_ADAM_KERNELS=0}) it is libtorch's own sequence of tensor operations,
 * so CPU results are those of libtorch's Adam bit for bit.
 *
 * <p>As in libtorch: a parameter without a gradient is skipped (no state, no step count); each
 * parameter counts its own steps; betas (0.9, 0.999), eps 1e-8, no AMSGrad. {@link #zeroGrad} sets
 * gradients to none. State is written by {@link #save} (step counts and both moments per
 * parameter, in group order) and read by {@link #load}, which also reads the state of libtorch's
 * own Adam as earlier reid4j checkpoints hold it.
 */
final class MultiTensorAdam {
  static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;
  /**
   * Environment variable: 0 turns the trainer's multi-tensor kernels off, Adam's and AMP's unscaling
   * (libtorch's tensor operations on the GPU too).
   */
  static final String KERNELS_ENV = "REID4J_ADAM_KERNELS";
  private static final String FORMAT_KEY = "reid4j_adam";
  private static final long FORMAT = 1;

  private final List<List<Tensor>> groups;
  private final double[] lrs, weightDecays;
  private final List<Tensor[]> state = new ArrayList<>(); // per parameter (group order): {exp_avg, exp_avg_sq} or null
  private final List<long[]> steps = new ArrayList<>(); // per parameter: {step}
  private final boolean emulatedDevice;
  private Boolean nativeUsable; // decided at the first step
  /**
   * {@link #stepOnDevice}: every parameter's step count as int64 on the parameters' device (index order), the truth
   * while {@link #hostStepsStale}; null until the first such step, and again after a host step or a load.
   */
  private Tensor deviceSteps;
  private boolean hostStepsStale;

  /**
   * @param groups parameters of each group (kept by reference: the optimiser holds no copies)
   * @param lrs learning rate of each group, changed by {@link #setLr}
   * @param weightDecays L2 coefficient of each group
   */
  MultiTensorAdam(List<List<Tensor>> groups, double[] lrs, double[] weightDecays) {
    this(groups, lrs, weightDecays, false);
  }

  /**
   * {@code emulatedDevice}: tests on the CUDA emulator, whose "device" pointers are host memory,
   * run the native kernels on CPU tensors.
   */
  MultiTensorAdam(List<List<Tensor>> groups, double[] lrs, double[] weightDecays, boolean emulatedDevice) {
    if (groups.size() != lrs.length || groups.size() != weightDecays.length)
      throw new IllegalArgumentException("groups, learning rates and weight decays differ in number: "
          + groups.size() + ", " + lrs.length + ", " + weightDecays.length);
    this.groups = groups;
    this.lrs = lrs.clone();
    this.weightDecays = weightDecays.clone();
    this.emulatedDevice = emulatedDevice;
    for (List<Tensor> g : groups)
      for (int i = 0; i < g.size(); i++) {
        state.add(null);
        steps.add(new long[1]);
      }
  }

  int groupCount() {
    return groups.size();
  }

  List<Tensor> params(int group) {
    return groups.get(group);
  }

  double lr(int group) {
    return lrs[group];
  }

  void setLr(int group, double lr) {
    lrs[group] = lr;
  }

  /** The step count of parameter {@code index} (group order), 0 before its first step. */
  long step(int index) {
    syncSteps();
    return steps.get(index)[0];
  }

  /** Brings the host's step counts up to date after steps counted on the device (waits for the device). */
  private void syncSteps() {
    if (!hostStepsStale) return;
    long[] all;
    try (PointerScope scope = new PointerScope()) {
      all = Tensors.toLongs(deviceSteps.cpu());
    }
    for (int i = 0; i < all.length; i++) steps.get(i)[0] = all[i];
    hostStepsStale = false;
  }

  /** Drops the device's step counts (the host's are current): the next {@link #stepOnDevice} uploads them again. */
  private void dropDeviceSteps() {
    syncSteps();
    if (deviceSteps != null) deviceSteps.releaseReference();
    deviceSteps = null;
  }

  /** The defined gradients of all groups, in group order. */
  List<Tensor> grads() {
    List<Tensor> out = new ArrayList<>();
    for (List<Tensor> g : groups)
      for (Tensor p : g) {
        Tensor grad = p.grad();
        if (grad.defined()) out.add(grad);
      }
    return out;
  }

  /** Sets every gradient to none (undefined), as libtorch's {@code zero_grad()} does. */
  void zeroGrad() {
    for (List<Tensor> g : groups)
      for (Tensor p : g)
        if (p.grad().defined()) p.mutable_grad().reset();
  }

  /** Whether the next {@link #step} runs the native multi-tensor kernels. */
  boolean usesNativeKernels() {
    if (nativeUsable == null) nativeUsable = nativeUsable();
    return nativeUsable;
  }

  private boolean nativeUsable() {
    List<Tensor> all = new ArrayList<>();
    for (List<Tensor> g : groups) all.addAll(g);
    return kernelsTake(all, emulatedDevice);
  }

  /**
   * Whether reid4j's multi-tensor CUDA kernels (Adam here, AMP's unscaling in {@link AmpScaler}) can
   * take {@code tensors}: the library built with them, {@value #KERNELS_ENV} not 0, and every tensor
   * dense float32 on one CUDA device ({@code emulatedDevice}: on the CPU, for the CUDA emulator).
   */
  static boolean kernelsTake(List<Tensor> tensors, boolean emulatedDevice) {
    if ("0".equals(System.getenv(KERNELS_ENV))) return false; // libtorch's per-tensor arithmetic on the device too
    if (tensors.isEmpty() || NativeApi.loadError() != null || NativeApi.r4j_cuda_compiled() != 1) return false;
    int index = tensors.get(0).device().index();
    for (Tensor t : tensors) {
      boolean device = emulatedDevice ? !t.is_cuda() : t.is_cuda() && t.device().index() == index;
      if (!device || t.scalar_type().intern() != torch.ScalarType.Float || !t.is_contiguous()) return false;
    }
    return true;
  }

  /**
   * One Adam step over every parameter that has a gradient, decided on the device: skipped there, step counts
   * included, when {@code skip} (a 0-dim float32 on the parameters' device: AMP's overflow flag) is non-zero. The
   * step counts live on the device from here on ({@link #step(int)} and {@link #save} read them back), so nothing
   * waits for the device: mixed precision without the host reading the flag before the step. Needs the native
   * kernels ({@link #usesNativeKernels}).
   */
  void stepOnDevice(Tensor skip) {
    if (!usesNativeKernels())
      throw new IllegalStateException("Adam's step on device state needs reid4j's CUDA kernels on dense float32 "
          + "parameters of one device; " + whyNotNative());
    if (skip.numel() != 1 || skip.scalar_type().intern() != torch.ScalarType.Float
        || !skip.device().equals(groups.get(0).get(0).device()))
      throw new IllegalArgumentException("the skip flag must be one float32 value on the parameters' device, got "
          + skip.scalar_type() + " " + Tensors.shapeString(skip) + " on " + skip.device().str().getString());
    if (deviceSteps == null) {
      long[] all = new long[steps.size()];
      for (int i = 0; i < all.length; i++) all[i] = steps.get(i)[0];
      try (PointerScope scope = new PointerScope()) {
        deviceSteps = Tensors.longs(all, groups.get(0).get(0).device());
        deviceSteps.retainReference();
      }
    }
    long stepsBase = Tensors.address(deviceSteps), skipAt = Tensors.address(skip);
    int first = 0;
    try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
      for (int g = 0; g < groups.size(); first += groups.get(g).size(), g++) {
        Slots t = slots(g, first);
        if (t.k == 0) continue;
        double[] lr = new double[t.k];
        long[] st = new long[t.k];
        for (int j = 0; j < t.k; j++) {
          lr[j] = lrs[g];
          st[j] = stepsBase + (long) t.index[j] * Long.BYTES;
        }
        int rc = NativeApi.r4j_cuda_adam_step_dev(t.k, t.p, t.g, t.m, t.v, t.numel, lr, st, BETA1, BETA2, (float) EPS,
            (float) weightDecays[g], skipAt, stream(g));
        if (rc != NativeApi.R4J_OK)
          throw new IllegalStateException("Adam step on the device failed: " + NativeApi.r4j_last_error().getString());
      }
    }
    hostStepsStale = true;
  }

  /** Why the native kernels do not take this optimiser's parameters (for error messages). */
  private String whyNotNative() {
    if ("0".equals(System.getenv(KERNELS_ENV))) return KERNELS_ENV + " is 0";
    if (NativeApi.loadError() != null) return "the native library did not load: " + NativeApi.loadError();
    if (NativeApi.r4j_cuda_compiled() != 1) return "the native library was built without CUDA";
    int index = 0;
    for (List<Tensor> g : groups)
      for (Tensor t : g) {
        if (!kernelsTake(List.of(groups.get(0).get(0), t), emulatedDevice))
          return "parameter " + index + " is " + t.scalar_type() + " " + Tensors.shapeString(t) + " on "
              + t.device().str().getString() + (t.is_contiguous() ? "" : ", not contiguous");
        index++;
      }
    return "?";
  }

  /** One Adam step over every parameter that has a gradient. */
  void step() {
    dropDeviceSteps();
    boolean nat = usesNativeKernels();
    int first = 0;
    try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
      for (int g = 0; g < groups.size(); first += groups.get(g).size(), g++) {
        if (!nat) {
          List<Tensor> params = groups.get(g);
          for (int i = 0; i < params.size(); i++) {
            Tensor param = params.get(i);
            Tensor grad = param.grad();
            if (!grad.defined()) continue;
            Tensor[] st = stateOf(first + i, param);
            long t = ++steps.get(first + i)[0];
            torchStep(param, grad, st[0], st[1], lrs[g], weightDecays[g], 1 - Math.pow(BETA1, t),
                1 - Math.pow(BETA2, t));
          }
          continue;
        }
        Slots t = slots(g, first);
        if (t.k == 0) continue;
        float[] stepSize = new float[t.k], bc2 = new float[t.k];
        for (int j = 0; j < t.k; j++) {
          long step = ++steps.get(t.index[j])[0];
          stepSize[j] = (float) (lrs[g] / (1 - Math.pow(BETA1, step)));
          bc2[j] = (float) Math.sqrt(1 - Math.pow(BETA2, step));
        }
        int rc = NativeApi.r4j_cuda_adam_step(t.k, t.p, t.g, t.m, t.v, t.numel, stepSize, bc2, (float) BETA1,
            (float) BETA2, (float) EPS, (float) weightDecays[g], stream(g));
        if (rc != NativeApi.R4J_OK)
          throw new IllegalStateException("Adam step on the device failed: " + NativeApi.r4j_last_error().getString());
      }
    }
  }

  /**
   * The kernels' view of group {@code g}'s parameters that have a gradient (the first {@code k} entries): device
   * addresses of parameter, gradient and both moments (made on first use), sizes, and indices in group order.
   */
  private record Slots(int k, long[] p, long[] g, long[] m, long[] v, long[] numel, int[] index) {}

  /** {@link Slots} of group {@code g}, whose first parameter has index {@code first}. */
  private Slots slots(int g, int first) {
    List<Tensor> params = groups.get(g);
    int n = params.size(), k = 0;
    long[] p = new long[n], gr = new long[n], m = new long[n], v = new long[n], numel = new long[n];
    int[] index = new int[n];
    for (int i = 0; i < n; i++) {
      Tensor param = params.get(i);
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      Tensor[] st = stateOf(first + i, param);
      requireDense(grad, "gradient", param);
      p[k] = Tensors.address(param);
      gr[k] = Tensors.address(grad);
      m[k] = Tensors.address(st[0]);
      v[k] = Tensors.address(st[1]);
      numel[k] = param.numel();
      index[k++] = first + i;
    }
    return new Slots(k, p, gr, m, v, numel, index);
  }

  /** The stream group {@code g}'s kernels run on (0 on the emulator). */
  private long stream(int g) {
    return emulatedDevice ? 0 : Devices.currentStream(groups.get(g).get(0).device());
  }

  /** libtorch's Adam::step for one parameter, operation by operation. */
  private static void torchStep(Tensor p, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double wd,
      double bc1, double bc2) {
    if (wd != 0) grad = grad.add(p, new Scalar(wd));
    expAvg.mul_(new Scalar(BETA1)).add_(grad, new Scalar(1 - BETA1));
    expAvgSq.mul_(new Scalar(BETA2)).addcmul_(grad, grad, new Scalar(1 - BETA2));
    Tensor denom = expAvgSq.sqrt().div(new Scalar(Math.sqrt(bc2))).add_(new Scalar(EPS));
    p.addcdiv_(expAvg, denom, new Scalar(-(lr / bc1)));
  }

  private Tensor[] stateOf(int index, Tensor param) {
    Tensor[] st = state.get(index);
    if (st == null) {
      long[] shape = param.sizes().vec().get();
      st = new Tensor[] {Tensors.zeros(param.device(), shape), Tensors.zeros(param.device(), shape)};
      for (Tensor t : st) t.retainReference();
      state.set(index, st);
    }
    return st;
  }

  private static void requireDense(Tensor t, String what, Tensor param) {
    if (t.scalar_type().intern() != torch.ScalarType.Float || !t.is_contiguous() || t.numel() != param.numel()
        || !t.device().equals(param.device()))
      throw new IllegalStateException("Adam on the device needs a dense float32 " + what + " beside its parameter "
          + "(got " + t.scalar_type() + ", contiguous " + t.is_contiguous() + ", " + t.numel() + " elements for "
          + param.numel() + ")");
  }

  /** Step counts and moments of every parameter that has stepped, by index in group order. */
  void save(OutputArchive out) {
    save(out, java.util.function.UnaryOperator.identity());
  }

  /** As {@link #save(OutputArchive)}, writing {@code take.apply(moment)} in place of each moment (a host copy, say). */
  void save(OutputArchive out, java.util.function.UnaryOperator<Tensor> take) {
    syncSteps();
    out.write(FORMAT_KEY, new IValue(FORMAT));
    out.write("count", Tensors.hostLongs(new long[] {state.size()}));
    for (int i = 0; i < state.size(); i++) {
      Tensor[] st = state.get(i);
      if (st == null) continue;
      OutputArchive a = new OutputArchive(out.compilation_unit());
      a.write("step", new IValue(steps.get(i)[0]));
      a.write("exp_avg", take.apply(st[0]));
      a.write("exp_avg_sq", take.apply(st[1]));
      out.write("state/" + i, a);
    }
  }

  /**
   * Restores what {@link #save} wrote, or libtorch's Adam state (an archive with "state" and
   * "param_groups"), onto this optimiser's parameters (same groups, same order). Moments land on
   * their parameter's device.
   */
  void load(InputArchive in) {
    dropDeviceSteps();
    IValue format = new IValue();
    List<Tensor[]> loaded = new ArrayList<>();
    List<Long> loadedSteps = new ArrayList<>();
    if (in.try_read(FORMAT_KEY, format)) {
      if (!format.isInt() || format.toInt() != FORMAT)
        throw new IllegalArgumentException("optimiser state of format " + (format.isInt() ? format.toInt() : "?")
            + " (this build reads format " + FORMAT + ")");
      Tensor count = new Tensor();
      in.read("count", count);
      long n = count.cpu().item_long();
      requireCount(n);
      for (int i = 0; i < n; i++) {
        InputArchive a = new InputArchive();
        if (!in.try_read("state/" + i, a)) {
          loaded.add(null);
          loadedSteps.add(0L);
          continue;
        }
        readParamState(a, i, loaded, loadedSteps);
      }
    } else {
      readTorchAdam(in, loaded, loadedSteps);
    }
    int index = 0;
    for (List<Tensor> g : groups)
      for (Tensor p : g) {
        Tensor[] st = loaded.get(index);
        if (st != null) {
          for (int k = 0; k < 2; k++) {
            if (st[k].numel() != p.numel())
              throw new IllegalArgumentException("optimiser state of parameter " + index + " has " + st[k].numel()
                  + " elements, the parameter " + p.numel());
            st[k] = st[k].to(p.device(), p.scalar_type()).reshape(p.sizes()).contiguous();
            st[k].retainReference();
          }
        }
        Tensor[] old = state.set(index, st);
        if (old != null) for (Tensor t : old) t.releaseReference();
        steps.get(index)[0] = loadedSteps.get(index);
        index++;
      }
  }

  private void requireCount(long n) {
    if (n != state.size())
      throw new IllegalArgumentException("the optimiser state is for " + n + " parameters, this model trains "
          + state.size());
  }

  private static void readParamState(InputArchive a, int i, List<Tensor[]> loaded, List<Long> loadedSteps) {
    IValue step = new IValue();
    a.read("step", step);
    Tensor m = new Tensor(), v = new Tensor();
    a.read("exp_avg", m);
    a.read("exp_avg_sq", v);
    if (!step.isInt() || !m.defined() || !v.defined())
      throw new IllegalArgumentException("optimiser state of parameter " + i + " is incomplete");
    loaded.add(new Tensor[] {m, v});
    loadedSteps.add(step.toInt());
  }

  /** libtorch's Adam archive: "param_groups/i/params/j" name the state entries by tensor address. */
  private void readTorchAdam(InputArchive in, List<Tensor[]> loaded, List<Long> loadedSteps) {
    InputArchive st = new InputArchive(), pg = new InputArchive();
    if (!in.try_read("state", st) || !in.try_read("param_groups", pg))
      throw new IllegalArgumentException("not an Adam optimiser state (no reid4j_adam, state or param_groups entry)");
    Tensor size = new Tensor();
    pg.read("param_groups/size", size);
    long ngroups = size.cpu().item_long();
    if (ngroups != groups.size())
      throw new IllegalArgumentException("the optimiser state has " + ngroups + " parameter groups, this run "
          + groups.size());
    for (int g = 0; g < ngroups; g++) {
      InputArchive ga = new InputArchive();
      pg.read("param_groups/" + g, ga);
      Tensor ps = new Tensor();
      ga.read("params/size", ps);
      long np = ps.cpu().item_long();
      if (np != groups.get(g).size())
        throw new IllegalArgumentException("parameter group " + g + " of the optimiser state has " + np
            + " tensors, this run's " + groups.get(g).size());
      for (int j = 0; j < np; j++) {
        IValue key = new IValue();
        ga.read("params/" + j, key);
        String k = key.toStringRef().getString();
        int index = loaded.size();
        InputArchive a = new InputArchive();
        if (st.try_read(k, a)) {
          readParamState(a, index, loaded, loadedSteps);
        } else {
          loaded.add(null);
          loadedSteps.add(0L);
        }
      }
    }
  }
}
