package org.reid4j.model;

import java.nio.FloatBuffer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Small conveniences around the bytedeco libtorch binding shared by the model and loss packages:
 * scalars, shapes, copies between Java arrays and tensors. Every helper allocates native handles,
 * so call them inside the caller's {@link org.bytedeco.javacpp.PointerScope} during training.
 */
public final class Tensors {
  private Tensors() {}

  /** A libtorch scalar holding {@code v}. */
  public static Scalar scalar(double v) {
    return new Scalar(v);
  }

  /** A float32 tensor of zeros. */
  public static Tensor zeros(long... shape) {
    return torch.empty(shape).zero_();
  }

  /** A float32 tensor filled with {@code v}. */
  public static Tensor full(double v, long... shape) {
    return torch.empty(shape).fill_(new Scalar(v));
  }

  /** A float32 tensor copied from {@code data} with the given shape. */
  public static Tensor fromFloats(float[] data, long... shape) {
    return Tensor.create(data, shape);
  }

  /** An int64 vector copied from int labels (the dtype cross-entropy and index_select need). */
  public static Tensor longs(int[] values) {
    long[] l = new long[values.length];
    for (int i = 0; i < l.length; i++) l[i] = values[i];
    return Tensor.create(l, l.length);
  }

  /** The values of a tensor as float32, row-major (copied; the tensor is detached and made contiguous). */
  public static float[] toFloats(Tensor t) {
    Tensor c = t.detach().to(torch.ScalarType.Float).contiguous();
    float[] out = new float[Math.toIntExact(c.numel())];
    FloatBuffer b = c.createBuffer();
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
