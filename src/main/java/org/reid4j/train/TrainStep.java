package org.reid4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.Batch;
import org.reid4j.data.DataLoader;
import org.reid4j.loss.CenterLoss;
import org.reid4j.loss.CrossEntropyLabelSmooth;
import org.reid4j.loss.CrossBatchMemory;
import org.reid4j.loss.TripletLoss;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;
import org.reid4j.train.dist.ProcessGroupSession;

/**
 * One training step: forward (under autocast with AMP), the losses, backward and, when
 * {@code update}, the optimiser steps. Returns [total, id, triplet, centre, accuracy,
 * active-triplet fraction, AMP overflow, XBM loss (0 when off)], copied to the host in one copy
 * (an FP32 update step's one step later, see {@link #deferRead}).
 */
final class TrainStep {
  /** An epoch's sums of its steps' numbers (see {@link TrainStep#run}), and how many steps they hold. */
  static final class EpochSums {
    double loss, id, tri, cen, acc, active, xbm;
    int steps;

    /** Adds the next step's numbers; a loss that is not finite stops the run with a message. */
    void add(float[] v, int epoch, double baseLr) {
      if (!Double.isFinite(v[0]))
        throw new IllegalStateException(String.format(Locale.ROOT, "the loss is %s at epoch %d iteration %d "
            + "(id %.4g, triplet %.4g, centre %.4g): training diverged; lower SOLVER.BASE_LR (now %.3g)", v[0],
            epoch + 1, steps + 1, v[1], v[2], v[3], baseLr));
      steps++;
      loss += v[0];
      id += v[1];
      tri += v[2];
      cen += v[3];
      acc += v[4];
      active += v[5];
      xbm += v[7];
    }

    /** The progress line at iteration {@code it}: the means of the steps whose numbers are in. */
    ProgressBar.Status status(int epoch, int planned, int it, int n, double lr, double rate, double eta) {
      return new ProgressBar.Status(epoch, planned, it, n, loss / steps, id / steps, tri / steps, cen / steps,
          acc / steps, lr, rate, eta);
    }
  }

  private final ReidModel model;
  private final Device device;
  private final TrainConfig.Solver s;
  private final CrossEntropyLabelSmooth ce;
  private final TripletLoss triplet;
  private final CenterLoss center;
  private final Optimizers.Groups groups;
  private final Optimizer centerOpt;
  private final AmpScaler amp;
  private final StepInput input;
  private final CrossBatchMemory xbm;
  /** Whether this epoch fills and uses the cross-batch memory (off while the time budget is probed). */
  boolean xbmOn;
  /** Data parallel: the group whose ranks average the gradients of {@link #synced} after each backward. */
  ProcessGroupSession group;
  final List<Tensor> synced = new ArrayList<>();
  /** Seconds spent in the gradient all-reduce so far (waiting for the slowest rank included). */
  double syncSeconds;

  /** The model's and the centres' gradients that are defined. */
  private List<Tensor> grads() {
    List<Tensor> out = groups.grads();
    if (centerOpt != null)
      for (Tensor c : Trainer.toList(center.parameters()))
        if (c.grad().defined()) out.add(c.grad());
    return out;
  }

  private void syncGradients() {
    long t0 = System.nanoTime();
    group.allReduceGradients(synced);
    syncSeconds += (System.nanoTime() - t0) / 1e9;
  }

  TrainStep(ReidModel model, Device device, TrainConfig.Solver s, CrossEntropyLabelSmooth ce, TripletLoss triplet,
      CenterLoss center, Optimizers.Groups groups, Optimizer centerOpt, AmpScaler amp, StepInput input,
      CrossBatchMemory xbm, boolean deferRead) {
    this.xbm = xbm;
    this.model = model;
    this.device = device;
    this.s = s;
    this.ce = ce;
    this.triplet = triplet;
    this.center = center;
    this.groups = groups;
    this.centerOpt = centerOpt;
    this.amp = amp;
    this.input = input;
    this.deferRead = deferRead && (amp == null || amp.onDevice());
  }

  /**
   * Training steps read their numbers one step late: {@link #run} issues the optimiser step at once, starts the copy
   * of the step's numbers to the host and hands back the previous step's, so that the host issues the next step
   * while the device still computes this one instead of draining the device every step. FP32 steps, and AMP steps
   * whose loss scale and overflow verdict stay on the device ({@link AmpScaler#onDevice}: the optimiser step is
   * skipped there and the scale updated there); otherwise an AMP step must know whether its gradients overflowed
   * before its optimiser step, so it waits, as PyTorch's GradScaler does.
   */
  private final boolean deferRead;
  /** The numbers of the last update step not yet handed back: the tensor itself (CPU) or its host copy (GPU). */
  private Tensor pending;
  /** GPU: two page-locked host copies of the numbers and the events recorded after the copies into them. */
  private final Tensor[] hostNumbers = new Tensor[2];
  private final DeviceEvent[] copied = new DeviceEvent[2];
  private int slot;

  /** The batch {@link #run} fetched from the loader and started copying (null: none, or the loader is done). */
  private Batch next;
  /** Seconds {@link #run} spent waiting for the loader's next batch, in its last call. */
  double loaderWait;

  float[] run(Batch b, boolean update) {
    return run(b, update, null);
  }

  /** The batch the last {@link #run} with a loader fetched (null at the end of the epoch). */
  Batch takeNext() {
    Batch n = next;
    next = null;
    return n;
  }

  /**
   * One step on {@code b}; its numbers (total, id, triplet, centre and XBM losses, accuracy, the triplet's active
   * fraction, AMP's overflow flag). With {@code loader} (GPU only), the next batch is taken from it and its copy
   * to the device started while the device computes this step, after the step's one wait; {@link #takeNext} then
   * hands it over. An FP32 update step ({@link #deferRead}) returns the previous update step's numbers instead
   * (null for the first), and {@link #drain} the last one's.
   */
  float[] run(Batch b, boolean update, DataLoader loader) {
    loaderWait = 0;
    next = null;
    if (!input.isPrefetched(b)) input.load(b);
    try (PointerScope scope = new PointerScope()) {
      Tensor x = input.images(b);
      Tensor y = input.labels(b); // on a GPU: copied asynchronously with the images
      ReidModel.Output o;
      if (amp != null) {
        try (AmpScaler.Autocast ac = amp.autocast()) {
          o = model.forward(x, y);
        }
      } else {
        o = model.forward(x, y);
      }
      Tensor logits = amp != null ? o.logits().to(torch.ScalarType.Float) : o.logits();
      Tensor gfeat = amp != null ? o.globalFeat().to(torch.ScalarType.Float) : o.globalFeat();
      Tensor id = ce.forward(logits, y);
      TripletLoss.Result tr = triplet.forward(gfeat, y);
      Tensor total = id.mul(new Scalar(s.idLossWeight())).add(tr.loss().mul(new Scalar(s.tripletWeight())));
      Tensor cen = null;
      if (center != null) {
        cen = center.forward(gfeat, y);
        total = total.add(cen.mul(new Scalar(s.centerWeight())));
      }
      Tensor xl = null;
      if (xbmOn && update) { // the memory is filled by training steps only
        xl = (xbm.tensorMode() ? xbm.step(gfeat, y) : xbm.step(gfeat, b.pids())).loss(); // on a GPU: no host copy
        total = total.add(xl.mul(new Scalar(s.xbm().weight())));
      }
      groups.zeroGrad();
      if (centerOpt != null) centerOpt.zero_grad();
      Tensor overflow = null;
      if (amp != null) {
        amp.scale(total).backward();
        // averaged while still scaled, so that every rank sees the same overflow verdict
        if (update && group != null) syncGradients();
        if (update) overflow = amp.unscale(grads());
      } else {
        total.backward();
        if (update && group != null) syncGradients();
      }
      // The step's numbers, gathered on the device and copied to the host at once: the one
      // synchronisation of a step (with AMP it must come before the optimiser step).
      Tensor correct = logits.argmax(new org.bytedeco.pytorch.LongOptional(1), false).eq(y)
          .to(torch.ScalarType.Float).mean();
      Tensor[] row = {total, id, tr.loss(), cen != null ? cen : total.mul(new Scalar(0)), correct,
          tr.activeFraction(), overflow != null ? overflow : correct.mul(new Scalar(0)),
          xl != null ? xl : correct.mul(new Scalar(0))};
      TensorVector parts = new TensorVector();
      for (Tensor t : row) parts.push_back(t.detach().to(torch.ScalarType.Float).reshape(1));
      Tensor numbers = torch.cat(parts);
      if (deferRead && update) {
        if (amp != null) {
          stepOnDevice(overflow);
        } else {
          groups.step();
          stepCenter(null);
        }
        Tensor staged = stage(numbers);
        // The wait for the previous step, which is done with the image buffer that the prefetch below rewrites
        float[] previous = drain();
        pending = staged;
        fetchNext(loader);
        return previous;
      }
      fetchNext(loader);
      float[] v = Tensors.toFloats(numbers.cpu());
      if (!update) {
        groups.zeroGrad();
        if (centerOpt != null) centerOpt.zero_grad();
        return v;
      }
      if (amp != null && amp.onDevice()) { // numbers read at once (REID4J_DEFER_READ=0), the step still on the device
        stepOnDevice(overflow);
        amp.noteRead(v[6] != 0);
        return v;
      }
      boolean stepOk = amp == null || v[6] == 0;
      if (stepOk) {
        groups.step();
        stepCenter(null);
      }
      if (amp != null) amp.update(stepOk);
      return v;
    }
  }

  /** On-device AMP: the optimiser steps and the scale's update, decided on the device by the overflow flag. */
  private void stepOnDevice(Tensor overflow) {
    groups.stepOnDevice(overflow);
    stepCenter(overflow);
    amp.updateOnDevice(overflow);
  }

  /**
   * The centres' own step, on gradients that undo the loss weight (as the BoT recipe does). With {@code skip} (AMP's
   * overflow flag on the device) the gradients are set to 0 where it is non-zero, so that the plain SGD step
   * (no momentum, no decay) leaves the centres as they are, without the host reading the flag.
   */
  private void stepCenter(Tensor skip) {
    if (center == null) return;
    for (Tensor c : Trainer.toList(center.parameters()))
      if (c.grad().defined()) {
        c.grad().mul_(new Scalar(1.0 / s.centerWeight()));
        if (skip != null) c.grad().masked_fill_(skip.ne(new Scalar(0)), new Scalar(0));
      }
    centerOpt.step();
  }

  /** The next batch's host work and copy, overlapped with this step on the device. */
  private void fetchNext(DataLoader loader) {
    if (loader == null) return;
    long w0 = System.nanoTime();
    next = loader.hasNext() ? loader.next() : null;
    loaderWait = (System.nanoTime() - w0) / 1e9;
    if (next != null) input.prefetch(next);
  }

  /**
   * Keeps {@code numbers} to be read later, one reference held: on a GPU a copy into a page-locked host tensor,
   * queued behind the step, and an event after it; on the CPU the tensor itself.
   */
  private Tensor stage(Tensor numbers) {
    Tensor kept;
    if (device.is_cpu()) {
      kept = numbers;
    } else {
      if (hostNumbers[slot] == null) {
        try (PointerScope own = new PointerScope()) {
          hostNumbers[slot] = Tensors.pinnedHost(numbers.numel());
          hostNumbers[slot].retainReference();
        }
        copied[slot] = new DeviceEvent();
      }
      kept = hostNumbers[slot];
      kept.copy_(numbers, true);
      copied[slot].record();
      slot ^= 1;
    }
    kept.retainReference();
    return kept;
  }

  /** The numbers of the update step read late that {@link #run} has not handed back yet (waiting for them), or null. */
  float[] drain() {
    if (pending == null) return null;
    Tensor t = pending;
    pending = null;
    if (!device.is_cpu())
      for (int i = 0; i < 2; i++)
        if (hostNumbers[i] == t) copied[i].synchronize();
    float[] v = Tensors.toFloats(t);
    t.releaseReference();
    if (amp != null) amp.noteRead(v[6] != 0);
    return v;
  }

  /** Frees the page-locked copies and their events (the step's numbers must have been drained). */
  void close() {
    if (pending != null) pending.releaseReference();
    pending = null;
    for (int i = 0; i < 2; i++) {
      if (hostNumbers[i] != null) hostNumbers[i].releaseReference();
      if (copied[i] != null) copied[i].close();
      hostNumbers[i] = null;
      copied[i] = null;
    }
  }
}
