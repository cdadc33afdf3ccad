package org.reid4j.train;

import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.kernels.NativeApi;
import org.reid4j.model.Tensors;

/**
 * Mixed precision for CUDA: float16 autocast around the forward pass and dynamic loss scaling.
 * libtorch's C++ API has no GradScaler, so this is a small one with PyTorch's defaults: scale the
 * loss by S (initially 2^16), unscale the gradients on the device, skip the optimiser step and halve
 * S when any gradient is not finite, double S after 2,000 steps without one.
 *
 * <p>The non-finite check runs on the device ({@link #unscale} returns a 0-dim tensor, 1 when some
 * gradient overflowed); the trainer reads it together with the step's losses, in the one host copy of
 * the step, before the optimiser step (as PyTorch's GradScaler does). With the state on the device
 * ({@link #onDevice}, {@value #DEVICE_ENV}=1) S is a device value too, the optimiser kernels skip an
 * overflowed step there ({@link MultiTensorAdam#stepOnDevice}) and {@link #updateOnDevice} halves or grows S
 * there, so that no step waits for the device; the host counts the skipped steps when it reads the
 * flags, later. Autocast's weight cache is switched off: libtorch only clears it when asked, which the
 * bindings cannot, and a stale float16 copy of a weight would survive the optimiser step.
 */
final class AmpScaler {
  /**
   * Environment variable: 1 keeps the loss scale, the overflow verdict and Adam's step counts on the device, so
   * that an AMP step does not wait for the device before its optimiser step ({@link #onDevice}); 0 or unset: the
   * host reads the verdict every step, as PyTorch's GradScaler does.
   */
  static final String DEVICE_ENV = "REID4J_AMP_ON_DEVICE";
  static final int GROWTH_INTERVAL = 2000;
  private double scale = 65536.0;
  private long goodSteps;
  private long skipped;
  private final boolean emulatedDevice, onDeviceWanted;
  /** On-device state ({@link #onDevice}): the scale S (float32) and the steps since the last change (int64). */
  private Tensor scaleDev, goodStepsDev;

  AmpScaler() {
    this(false, false);
  }

  /**
   * {@code onDevice}: the scale lives on the device and is updated there ({@link #updateOnDevice}), the host
   * learning of skipped steps when it reads the step's numbers ({@link #noteRead}); needs reid4j's CUDA kernels.
   * {@code emulatedDevice}: tests on the CUDA emulator, whose "device" is host memory.
   */
  AmpScaler(boolean onDevice, boolean emulatedDevice) {
    this.emulatedDevice = emulatedDevice;
    if (onDevice) {
      if (NativeApi.loadError() != null || NativeApi.r4j_cuda_compiled() != 1)
        throw new IllegalStateException("AMP state on the device needs reid4j's CUDA kernels ("
            + (NativeApi.loadError() != null ? NativeApi.loadError() : "built without CUDA") + ")");
    }
    onDeviceWanted = onDevice;
  }

  /** Tests: the loss scale to start from. */
  AmpScaler initialScale(double s) {
    if (scaleDev != null) throw new IllegalStateException("the scale is already on the device");
    scale = s;
    return this;
  }

  /**
   * Tests on the CUDA emulator: the {@link #scale(Tensor)} calls (counted from 0) whose scaled loss is made infinite,
   * so that their gradients overflow as float16 ones do (float32 on the CPU hardly ever does).
   */
  AmpScaler poison(java.util.function.LongPredicate calls) {
    if (!emulatedDevice) throw new IllegalStateException("poisoned steps are for tests on the CUDA emulator");
    poisoned = calls;
    return this;
  }

  private java.util.function.LongPredicate poisoned;
  private long scaleCalls;

  /** Whether the loss scale and the step's verdict stay on the device (see {@link #DEVICE_ENV}). */
  boolean onDevice() {
    return onDeviceWanted;
  }

  /** The setting of {@value #DEVICE_ENV} (null: unset). */
  static boolean wanted(String v) {
    String s = v == null ? "0" : v.trim().toLowerCase(java.util.Locale.ROOT);
    return switch (s) {
      case "1", "true", "on" -> true;
      case "0", "false", "off", "" -> false;
      default -> throw new IllegalArgumentException(DEVICE_ENV + " must be 1 or 0, got '" + v + "'");
    };
  }

  /** Closes autocast on close. */
  interface Autocast extends AutoCloseable {
    @Override
    void close();
  }

  Autocast autocast() {
    if (emulatedDevice) return () -> {}; // CPU tensors standing in for a GPU's: float32 throughout
    torch.set_autocast_cache_enabled(false);
    torch.set_autocast_dtype(torch.DeviceType.CUDA, torch.ScalarType.Half);
    torch.set_autocast_enabled(torch.DeviceType.CUDA, true);
    return () -> torch.set_autocast_enabled(torch.DeviceType.CUDA, false);
  }

  /** The loss scale now (on-device state: read from the device, which waits for it). */
  double scale() {
    return scaleDev != null ? deviceValue(scaleDev) : scale;
  }

  /** The one value of a device tensor, as a double (waits for the device). */
  private static double deviceValue(Tensor t) {
    try (PointerScope scope = new PointerScope()) {
      return Tensors.toDoubles(t.cpu())[0];
    }
  }

  /** The state a checkpoint keeps (on-device state: read from the device, which waits for it). */
  Checkpoints.AmpState state() {
    if (scaleDev == null) return new Checkpoints.AmpState(scale, goodSteps, skipped);
    long good;
    try (PointerScope scope = new PointerScope()) {
      good = Tensors.toLongs(goodStepsDev.cpu())[0];
    }
    return new Checkpoints.AmpState(deviceValue(scaleDev), good, skipped);
  }

  /** Goes on from a checkpoint's state (before the first step). */
  void restore(Checkpoints.AmpState st) {
    if (scaleDev != null) throw new IllegalStateException("the scale is already on the device");
    if (!(st.lossScale() >= 1) || !Double.isFinite(st.lossScale()) || st.goodSteps() < 0 || st.skippedSteps() < 0)
      throw new IllegalArgumentException("the checkpoint's AMP state is not valid: " + st);
    scale = st.lossScale();
    goodSteps = st.goodSteps();
    skipped = st.skippedSteps();
  }

  /** Steps skipped so far because a gradient was not finite (over the resumed runs too). */
  long skippedSteps() {
    return skipped;
  }

  Tensor scale(Tensor loss) {
    if (poisoned != null && poisoned.test(scaleCalls++)) loss = loss.mul(new Scalar(Double.POSITIVE_INFINITY));
    if (!onDeviceWanted) return loss.mul(new Scalar(scale));
    if (scaleDev == null) {
      try (PointerScope scope = new PointerScope()) {
        scaleDev = Tensors.full(scale, loss.device());
        goodStepsDev = Tensors.longs(new long[] {goodSteps}, loss.device());
        scaleDev.retainReference();
        goodStepsDev.retainReference();
      }
    }
    return loss.mul(scaleDev);
  }

  /**
   * Divides every gradient by S in place and returns a 0-dim float tensor on the gradients' device:
   * 1 when some gradient holds a NaN or an infinity (then do not step), else 0. No synchronisation.
   * Dense float32 CUDA gradients go through one multi-tensor kernel ({@code r4j_cuda_unscale_grads})
   * where reid4j's library has its CUDA kernels (and {@code REID4J_ADAM_KERNELS} is not 0); otherwise a
   * multiplication per gradient and one finiteness check over all of them. With the state on the device
   * ({@link #onDevice}) the kernel reads 1/S there ({@code r4j_cuda_unscale_grads_dev}).
   */
  Tensor unscale(List<Tensor> grads) {
    if (grads.isEmpty()) throw new IllegalStateException("no gradients to unscale: was backward() called?");
    if (scaleDev != null) {
      if (!MultiTensorAdam.kernelsTake(grads, emulatedDevice))
        throw new IllegalStateException("AMP state on the device needs dense float32 gradients on one device");
      Tensor found = Tensors.zeros(grads.get(0).device());
      int rc = NativeApi.r4j_cuda_unscale_grads_dev(grads.size(), addresses(grads), numels(grads),
          Tensors.address(scaleDev), Tensors.address(found), stream(grads.get(0)));
      if (rc != NativeApi.R4J_OK)
        throw new IllegalStateException("unscaling the gradients on the device failed: " + NativeApi.r4j_last_error().getString());
      return found;
    }
    if (MultiTensorAdam.kernelsTake(grads, false)) {
      Tensor found = Tensors.zeros(grads.get(0).device());
      int rc = NativeApi.r4j_cuda_unscale_grads(grads.size(), addresses(grads), numels(grads), (float) (1.0 / scale),
          Tensors.address(found), stream(grads.get(0)));
      if (rc != NativeApi.R4J_OK)
        throw new IllegalStateException("unscaling the gradients on the device failed: " + NativeApi.r4j_last_error().getString());
      return found;
    }
    Scalar inv = new Scalar(1.0 / scale);
    TensorVector flat = new TensorVector();
    for (Tensor grad : grads) {
      grad.mul_(inv);
      flat.push_back(grad.reshape(-1).to(torch.ScalarType.Float));
    }
    // One check over all gradients at once.
    return torch.isfinite(torch.cat(flat)).all().logical_not().to(torch.ScalarType.Float);
  }

  private long stream(Tensor t) {
    return emulatedDevice ? 0 : Devices.currentStream(t.device());
  }

  private static long[] addresses(List<Tensor> ts) {
    long[] out = new long[ts.size()];
    for (int i = 0; i < out.length; i++) out[i] = Tensors.address(ts.get(i));
    return out;
  }

  private static long[] numels(List<Tensor> ts) {
    long[] out = new long[ts.size()];
    for (int i = 0; i < out.length; i++) out[i] = ts.get(i).numel();
    return out;
  }

  /**
   * On-device state: S halved (not below 1) when {@code found} (from {@link #unscale}) is non-zero, else doubled
   * after {@value #GROWTH_INTERVAL} steps in a row without one, on the device and without waiting for it.
   */
  void updateOnDevice(Tensor found) {
    if (scaleDev == null) throw new IllegalStateException("no loss scale on the device: scale() was not called");
    int rc = NativeApi.r4j_cuda_amp_update_scale(Tensors.address(scaleDev), Tensors.address(goodStepsDev),
        Tensors.address(found), GROWTH_INTERVAL, stream(found));
    if (rc != NativeApi.R4J_OK)
      throw new IllegalStateException("updating the loss scale on the device failed: " + NativeApi.r4j_last_error().getString());
  }

  /** On-device state: the host has read a step's verdict (the steps skipped are counted here). */
  void noteRead(boolean overflowed) {
    if (overflowed) skipped++;
  }

  /** After the step's host copy: whether the step was taken (no overflow) updates S. */
  void update(boolean stepped) {
    if (!stepped) {
      scale = Math.max(1.0, scale / 2);
      goodSteps = 0;
      skipped++;
    } else if (++goodSteps % GROWTH_INTERVAL == 0) {
      scale *= 2;
    }
  }
}
