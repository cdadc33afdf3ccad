package org.reid4j.train;

import org.bytedeco.pytorch.cuda.CUDAEvent;

/**
 * A CUDA event recorded on libtorch's current stream: {@link #synchronize} waits for the work queued before the last
 * {@link #record}, and nothing after it. Only made on a GPU, where libtorch's CUDA library is loaded.
 */
final class DeviceEvent implements AutoCloseable {
  private final CUDAEvent event = new CUDAEvent();

  void record() {
    event.record();
  }

  void synchronize() {
    event.synchronize();
  }

  @Override
  public void close() {
    event.close();
  }
}
