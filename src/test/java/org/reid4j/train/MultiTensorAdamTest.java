package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.kernels.NativeApi;
import org.reid4j.model.Tensors;

/**
 * {@link MultiTensorAdam} against libtorch's Adam: bit for bit on the CPU, state that loads from
 * either, and its device kernels (the CUDA emulator, or a GPU when there is one) against its CPU
 * arithmetic on the same inputs.
 */
class MultiTensorAdamTest {
  @TempDir Path tmp;

  /** Shapes with one-element, odd and empty-free sizes; the last tensor of group 0 gets no gradient. */
  static final long[][] SHAPES = {{7, 5}, {1}, {300}, {3, 3, 3, 2}, {1023}, {2, 1}, {64, 17}, {5}};

  static List<List<Tensor>> params(long seed, Device device) {
    torch.manual_seed(seed);
    List<List<Tensor>> groups = new ArrayList<>();
    for (int g = 0; g < 2; g++) {
      List<Tensor> ps = new ArrayList<>();
      for (int i = g; i < SHAPES.length; i += 2) {
        Tensor p = torch.randn(SHAPES[i]).to(device, torch.ScalarType.Float).requires_grad_(true);
        p.retainReference();
        ps.add(p);
      }
      groups.add(ps);
    }
    return groups;
  }

  /** Gradients from a fixed random stream (the same on every device), none for the skipped tensor. */
  static void grads(List<List<Tensor>> groups, Random r, boolean skipLast) {
    try (NoGradGuard ng = new NoGradGuard()) {
      for (int g = 0; g < groups.size(); g++)
        for (int i = 0; i < groups.get(g).size(); i++) {
          Tensor p = groups.get(g).get(i);
          if (skipLast && g == 0 && i == groups.get(g).size() - 1) continue;
          float[] v = new float[(int) p.numel()];
          for (int k = 0; k < v.length; k++) v[k] = (float) r.nextGaussian();
          Tensor grad = Tensors.fromFloats(v, Tensors.CPU, p.sizes().vec().get()).to(p.device(), torch.ScalarType.Float);
          p.mutable_grad().put(grad);
        }
    }
  }

  static Adam torchAdam(List<List<Tensor>> groups, double[] lrs, double[] wds) {
    Adam opt = null;
    for (int g = 0; g < groups.size(); g++) {
      AdamOptions o = new AdamOptions(lrs[g]);
      o.weight_decay().put(wds[g]);
      TensorVector tv = new TensorVector(groups.get(g).toArray(new Tensor[0]));
      if (opt == null) opt = new Adam(tv, o);
      else opt.add_param_group(new OptimizerParamGroup(tv, o));
    }
    return opt;
  }

  static float maxDiff(List<List<Tensor>> a, List<List<Tensor>> b) {
    float worst = 0;
    for (int g = 0; g < a.size(); g++)
      for (int i = 0; i < a.get(g).size(); i++)
        worst = Math.max(worst, a.get(g).get(i).cpu().sub(b.get(g).get(i).cpu()).abs().max().item_float());
    return worst;
  }

  static final double[] LRS = {1e-2, 2e-2}, WDS = {5e-4, 0};

  @Test
  void cpuStepsEqualLibtorchsAdamBitForBit() {
    List<List<Tensor>> a = params(1, Tensors.CPU), b = params(1, Tensors.CPU);
    MultiTensorAdam mine = new MultiTensorAdam(a, LRS, WDS);
    Adam theirs = torchAdam(b, LRS, WDS);
    assertFalse(mine.usesNativeKernels(), "CPU tensors: libtorch's arithmetic");
    Random ra = new Random(5), rb = new Random(5);
    for (int step = 0; step < 6; step++) {
      if (step == 3) { // a new learning rate mid-way, as the schedule sets one every iteration
        mine.setLr(0, 3e-3);
        theirs.param_groups().get(0).options().set_lr(3e-3);
      }
      grads(a, ra, true);
      grads(b, rb, true);
      mine.step();
      theirs.step();
      assertEquals(0f, maxDiff(a, b), "step " + step);
    }
    assertEquals(6, mine.step(0));
    assertEquals(0, mine.step(SHAPES.length / 2 - 1), "the tensor without a gradient never stepped");
    mine.zeroGrad();
    for (List<Tensor> g : a) for (Tensor p : g) assertFalse(p.grad().defined(), "zeroGrad sets gradients to none");
  }

  @Test
  void continuesLibtorchsSavedStateAndItsOwn() {
    List<List<Tensor>> a = params(2, Tensors.CPU), b = params(2, Tensors.CPU), c = params(2, Tensors.CPU);
    Adam theirs = torchAdam(a, LRS, WDS);
    Random r = new Random(9);
    for (int step = 0; step < 3; step++) {
      grads(a, r, true);
      theirs.step();
    }
    Path legacy = tmp.resolve("torch-adam.pt");
    OutputArchive out = new OutputArchive();
    theirs.save(out);
    out.save_to(legacy.toString());
    // b, c: the same weights as a now, and optimisers loaded from libtorch's state
    try (NoGradGuard ng = new NoGradGuard()) {
      for (int g = 0; g < a.size(); g++)
        for (int i = 0; i < a.get(g).size(); i++) {
          b.get(g).get(i).copy_(a.get(g).get(i));
          c.get(g).get(i).copy_(a.get(g).get(i));
        }
    }
    MultiTensorAdam fromTorch = new MultiTensorAdam(b, LRS, WDS);
    InputArchive in = new InputArchive();
    in.load_from(legacy.toString());
    fromTorch.load(in);
    assertEquals(3, fromTorch.step(0));
    // and through its own format
    Path own = tmp.resolve("own.pt");
    OutputArchive o2 = new OutputArchive();
    fromTorch.save(o2);
    o2.save_to(own.toString());
    MultiTensorAdam fromOwn = new MultiTensorAdam(c, LRS, WDS);
    InputArchive in2 = new InputArchive();
    in2.load_from(own.toString());
    fromOwn.load(in2);
    Random ra = new Random(11), rb = new Random(11), rc = new Random(11);
    for (int step = 0; step < 3; step++) {
      grads(a, ra, true);
      grads(b, rb, true);
      grads(c, rc, true);
      theirs.step();
      fromTorch.step();
      fromOwn.step();
      assertEquals(0f, maxDiff(a, b), "libtorch state, step " + step);
      assertEquals(0f, maxDiff(a, c), "own state, step " + step);
    }
  }

  @Test
  void stateForAnotherModelIsRefusedWithBothCounts() {
    List<List<Tensor>> a = params(3, Tensors.CPU);
    MultiTensorAdam mine = new MultiTensorAdam(a, LRS, WDS);
    grads(a, new Random(1), false);
    mine.step();
    Path f = tmp.resolve("state.pt");
    OutputArchive out = new OutputArchive();
    mine.save(out);
    out.save_to(f.toString());
    List<List<Tensor>> fewer = List.of(a.get(0), a.get(1).subList(0, 2));
    MultiTensorAdam other = new MultiTensorAdam(fewer, LRS, WDS);
    InputArchive in = new InputArchive();
    in.load_from(f.toString());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> other.load(in));
    assertTrue(e.getMessage().contains(SHAPES.length + " parameters") && e.getMessage().contains("trains 6"),
        e.getMessage());
  }

  /**
   * The multi-tensor kernel against the CPU arithmetic on the same inputs: on a GPU when there is
   * one, else on the CUDA emulator (the surefire execution cuda-emulator, whose "device" pointers
   * are host memory).
   */
  @Test
  void deviceKernelMatchesTheCpuArithmetic() {
    boolean emulated = Boolean.getBoolean("reid4j.cuda.emulated");
    boolean gpu = !emulated && Devices.cudaAvailable() && NativeApi.loadError() == null
        && NativeApi.r4j_cuda_compiled() == 1;
    assumeTrue(emulated || gpu, "needs a GPU or the CUDA emulator");
    Device dev = gpu ? new Device(torch.DeviceType.CUDA) : Tensors.CPU;
    List<List<Tensor>> a = params(4, dev), b = params(4, Tensors.CPU);
    MultiTensorAdam kernel = new MultiTensorAdam(a, LRS, WDS, emulated);
    MultiTensorAdam cpu = new MultiTensorAdam(b, LRS, WDS);
    assertTrue(kernel.usesNativeKernels(), () -> "native kernels not used: load error " + NativeApi.loadError()
        + ", cuda compiled " + NativeApi.r4j_cuda_compiled());
    Random ra = new Random(21), rb = new Random(21);
    for (int step = 0; step < 5; step++) {
      grads(a, ra, true);
      grads(b, rb, true);
      kernel.step();
      cpu.step();
      float d = maxDiff(a, b);
      // float rounding only (fused multiply-adds on the GPU): a few ulps of values of order 1
      assertTrue(d < 2e-6f, "step " + step + ": max |diff| " + d);
    }
    assertEquals(cpu.step(0), kernel.step(0));
  }

  /** AMP's unscaling through r4j_cuda_unscale_grads on a GPU: the host path's values and verdicts. */
  @Test
  void ampUnscaleOnTheGpuMatchesTheHostPath() {
    assumeTrue(!Boolean.getBoolean("reid4j.cuda.emulated") && Devices.cudaAvailable() && NativeApi.loadError() == null
        && NativeApi.r4j_cuda_compiled() == 1, "needs a GPU");
    Device gpu = new Device(torch.DeviceType.CUDA);
    for (boolean poison : new boolean[] {false, true}) {
      List<List<Tensor>> a = params(6, gpu), b = params(6, Tensors.CPU);
      grads(a, new Random(8), true);
      grads(b, new Random(8), true);
      if (poison) {
        a.get(1).get(2).grad().fill_(new org.bytedeco.pytorch.Scalar(Float.POSITIVE_INFINITY));
        b.get(1).get(2).grad().fill_(new org.bytedeco.pytorch.Scalar(Float.POSITIVE_INFINITY));
      }
      List<Tensor> ga = new ArrayList<>(), gb = new ArrayList<>();
      for (int g = 0; g < 2; g++)
        for (int i = 0; i < a.get(g).size(); i++)
          if (a.get(g).get(i).grad().defined()) {
            ga.add(a.get(g).get(i).grad());
            gb.add(b.get(g).get(i).grad());
          }
      Tensor fa = new AmpScaler().unscale(ga), fb = new AmpScaler().unscale(gb);
      assertTrue(fa.is_cuda(), "the verdict stays on the device");
      assertEquals(fb.item_float(), fa.cpu().item_float(), "overflow verdict, poison " + poison);
      for (int i = 0; i < ga.size(); i++)
        assertTrue(ga.get(i).cpu().equal(gb.get(i)), "unscaled gradient " + i + " (a power-of-two scale is exact)");
    }
  }
}
