package org.reid4j.serve;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.model.Tensors;

/**
 * The native memory an embedder feeds its model from: one buffer, grown when a larger batch comes
 * and reused otherwise, so inference allocates nothing per batch on the input side. Not thread-safe.
 */
final class InputBuffer implements AutoCloseable {
  private FloatPointer buffer;
  private long capacity;

  /**
   * Copies NCHW images in. Call it outside any PointerScope: a buffer allocated inside one would be
   * freed when that scope closes.
   */
  void put(float[] images) {
    int len = images.length;
    if (len > capacity) {
      if (buffer != null) buffer.close();
      buffer = new FloatPointer(len);
      capacity = len;
    }
    buffer.position(0).put(images, 0, len);
  }

  /** A tensor over the images last put (valid until the next put or close); make it inside the batch's scope. */
  Tensor tensor(int n, int c, int h, int w) {
    return Tensors.hostView(buffer, (long) n, c, h, w);
  }

  /** A [n, d] feature tensor copied into a heap matrix (call before the tensor's scope closes). */
  static FloatMatrix toMatrix(Tensor features, int n, int d) {
    float[] out = new float[n * d];
    features.to(torch.ScalarType.Float).cpu().contiguous().data_ptr_float().get(out, 0, out.length); // host copy
    return new FloatMatrix(n, d, out);
  }

  @Override
  public void close() {
    if (buffer != null) buffer.close();
    buffer = null;
    capacity = 0;
  }
}
