package org.reid4j.model;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * The one place where reid4j creates tensors from nothing or from Java data: every factory takes the
 * device the tensor is meant for (CUDA training needs labels, indices and masks beside the features
 * they meet), and host copies go through {@link #toFloats}, which takes CPU tensors only.
 * {@code DeviceDisciplineTest} fails when code elsewhere calls libtorch's factories directly. Also:
 * scalars, shapes, named parameters. Every helper allocates native handles, so call them inside the
 * caller's {@link org.bytedeco.javacpp.PointerScope} during training.
 */
public final class Tensors {
  private Tensors() {}

  /**
   * The CPU device, for tensors that are host-side by design (module parameters are built on the CPU
   * and moved with the module; checkpoint metadata; views of host buffers).
   */
  public static final Device CPU = new Device(torch.DeviceType.CPU);

  static {
    // One reference more than any PointerScope releases: this class may first be touched inside a
    // training step's scope, which would otherwise free the shared device when it closes.
    CPU.retainReference();
  }

  /** A libtorch scalar holding {@code v} (not a tensor: it takes the device of the tensor it meets). */
  public static Scalar scalar(double v) {
    return new Scalar(v);
  }

  /** Options for a float32 tensor on {@code device}. */
  public static TensorOptions floats(Device device) {
    return new TensorOptions(device).dtype(new ScalarTypeOptional(torch.ScalarType.Float));
  }

  /** An uninitialised float32 tensor on {@code device}. */
  public static Tensor empty(Device device, long... shape) {
    return torch.empty(shape, floats(device), new MemoryFormatOptional());
  }

  /** A float32 tensor of zeros on {@code device}. */
  public static Tensor zeros(Device device, long... shape) {
    return empty(device, shape).zero_();
  }

  /** A float32 tensor filled with {@code v} on {@code device}. */
  public static Tensor full(double v, Device device, long... shape) {
    return empty(device, shape).fill_(new Scalar(v));
  }

  /** A float32 tensor of standard normal values on {@code device} (libtorch's generator for that device). */
  public static Tensor randn(Device device, long... shape) {
    return torch.randn(shape, floats(device));
  }

  /** A float32 tensor with the given shape copied from {@code data}, on {@code device}. */
  public static Tensor fromFloats(float[] data, Device device, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    if (n != data.length)
      throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " holds " + n + " values, got "
          + data.length);
    return onDevice(Tensor.create(data, shape), device);
  }

  /** An int64 vector copied from int labels (the dtype cross-entropy and index_select need), on {@code device}. */
  public static Tensor longs(int[] values, Device device) {
    long[] l = new long[values.length];
    for (int i = 0; i < l.length; i++) l[i] = values[i];
    return longs(l, device);
  }

  /** An int64 vector copied from {@code values}, on {@code device} (step counts, say). */
  public static Tensor longs(long[] values, Device device) {
    return onDevice(Tensor.create(values, values.length), device);
  }

  /** 0, 1, ..., n - 1 as int64 on {@code device}. */
  public static Tensor arange(long n, Device device) {
    return torch.arange(new Scalar(n), new TensorOptions(device).dtype(new ScalarTypeOptional(torch.ScalarType.Long)));
  }

  /**
   * An uninitialised float32 vector of {@code n} values in page-locked host memory (needs libtorch's
   * CUDA natives): copies from it to a GPU can run asynchronously.
   */
  public static Tensor pinnedHost(long n) {
    return pinnedHost(n, torch.ScalarType.Float);
  }

  /** As {@link #pinnedHost}, of int64 values (labels copied to a GPU asynchronously). */
  public static Tensor pinnedHostLongs(long n) {
    return pinnedHost(n, torch.ScalarType.Long);
  }

  private static Tensor pinnedHost(long n, torch.ScalarType type) {
    return torch.empty(new long[] {n}, new TensorOptions(CPU).dtype(new ScalarTypeOptional(type))
        .pinned_memory(new org.bytedeco.pytorch.BoolOptional(true)), new MemoryFormatOptional());
  }

  /**
   * An uninitialised host tensor of {@code t}'s shape and dtype (contiguous), page-locked when
   * {@code pinned} (needs libtorch's CUDA natives): host-side by design, the copies a checkpoint is
   * written from while training goes on.
   */
  public static Tensor hostLike(Tensor t, boolean pinned) {
    return torch.empty(t.shape(), new TensorOptions(CPU).dtype(new ScalarTypeOptional(t.scalar_type()))
        .pinned_memory(new org.bytedeco.pytorch.BoolOptional(pinned)), new MemoryFormatOptional());
  }

  /** A float64 CPU vector copied from {@code data} (host-side by design: metric sums reduced over ranks). */
  public static Tensor hostDoubles(double[] data) {
    return Tensor.create(data, data.length);
  }

  /** An int64 CPU tensor with the given shape copied from {@code data} (host-side: weight files). */
  public static Tensor hostLongs(long[] data, long... shape) {
    return Tensor.create(data, shape);
  }

  /** A uint8 vector on the CPU holding {@code bytes} (host-side by design: checkpoint metadata). */
  public static Tensor hostBytes(byte[] bytes) {
    return Tensor.create(bytes, new long[] {bytes.length});
  }

  /**
   * A CPU float32 tensor that views {@code buffer} without copying (valid while the buffer lives and
   * is not rewritten); {@code .to(device)} copies it to where it is needed.
   */
  public static Tensor hostView(FloatPointer buffer, long... shape) {
    return torch.from_blob(buffer, shape);
  }

  private static Tensor onDevice(Tensor cpu, Device device) {
    return device.is_cpu() ? cpu : cpu.to(device, cpu.scalar_type(), false, false, new MemoryFormatOptional());
  }

  /**
   * The values of a CPU tensor as float32, row-major (copied; detached and made contiguous). A tensor
   * on another device is refused: the host copy must be explicit at the call site ({@code t.cpu()}).
   */
  public static float[] toFloats(Tensor t) {
    requireCpu(t, "toFloats");
    Tensor c = t.detach().to(torch.ScalarType.Float).contiguous();
    float[] out = new float[Math.toIntExact(c.numel())];
    FloatBuffer b = c.createBuffer();
    b.get(out);
    return out;
  }

  /**
   * The address of a dense tensor's memory on its own device, for native calls that take device
   * pointers (reid4j.h section 6). Java never reads through it.
   */
  public static long address(Tensor t) {
    if (!t.is_contiguous())
      throw new IllegalArgumentException("address of a non-contiguous tensor " + shapeString(t));
    return t.data_ptr().address();
  }

  private static void requireCpu(Tensor t, String reader) {
    if (!t.device().is_cpu())
      throw new IllegalArgumentException(reader + " needs a CPU tensor, got one on " + t.device().str().getString()
          + ": copy it explicitly with .cpu() where a host copy is meant");
  }

  /** The values of a CPU tensor as float64 (copied; detached and made contiguous); see {@link #toFloats}. */
  public static double[] toDoubles(Tensor t) {
    requireCpu(t, "toDoubles");
    Tensor c = t.detach().to(torch.ScalarType.Double).contiguous();
    double[] out = new double[Math.toIntExact(c.numel())];
    java.nio.DoubleBuffer b = c.createBuffer();
    b.get(out);
    return out;
  }

  /** The values of a CPU tensor as int64 (copied; detached and made contiguous); see {@link #toFloats}. */
  public static long[] toLongs(Tensor t) {
    requireCpu(t, "toLongs");
    Tensor c = t.detach().to(torch.ScalarType.Long).contiguous();
    long[] out = new long[Math.toIntExact(c.numel())];
    java.nio.LongBuffer b = c.createBuffer();
    b.get(out);
    return out;
  }

  /** "[2, 3, 4]" for a tensor's shape. */
  public static String shapeString(Tensor t) {
    return java.util.Arrays.toString(t.shape());
  }

  /**
   * A module's parameters (recursive, registration order) as name -> owning tensor handle. The
   * handles libtorch's dictionaries hand out point into the dictionary itself, so each is copied into
   * its own at::Tensor (sharing the TensorImpl: same storage, same .grad()) before the dictionary can
   * be freed.
   */
  public static java.util.Map<String, Tensor> namedParameters(org.bytedeco.pytorch.Module m) {
    return copy(m.named_parameters(true));
  }

  /** A module's buffers (recursive) as name -> owning tensor handle; see {@link #namedParameters}. */
  public static java.util.Map<String, Tensor> namedBuffers(org.bytedeco.pytorch.Module m) {
    return copy(m.named_buffers(true));
  }

  private static java.util.Map<String, Tensor> copy(org.bytedeco.pytorch.StringTensorDict d) {
    java.util.Map<String, Tensor> out = new java.util.LinkedHashMap<>();
    try {
      for (long i = 0, n = d.size(); i < n; i++) {
        org.bytedeco.pytorch.StringTensorDictItem item = d.get(i);
        out.put(item.key().getString(), new Tensor(item.value()));
      }
    } finally {
      java.lang.ref.Reference.reachabilityFence(d);
    }
    return out;
  }

  /** An owning handle for a tensor reference returned by register_parameter/register_buffer. */
  static Tensor own(Tensor registered) {
    return new Tensor(registered);
  }

  /** An absent optional tensor argument (e.g. no bias). */
  static TensorOptional none() {
    return new TensorOptional();
  }
}
