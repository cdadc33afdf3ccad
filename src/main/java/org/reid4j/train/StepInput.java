package org.reid4j.train;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.data.Batch;
import org.reid4j.model.Tensors;

/**
 * The batch's images through reusable host buffers (no allocation per step). On the CPU the
 * tensor views the buffer ({@code from_blob}: valid until the next load). For a GPU there are two
 * page-locked buffers used in turn, each copied to the device asynchronously: {@link #prefetch}
 * loads the next batch into one while the device still computes the step that read the other,
 * and a buffer is rewritten only after the step that copied from it has been waited for (each step
 * reads its losses on the host once, which waits for all of the step's device work).
 */
final class StepInput implements AutoCloseable {
  private final Device device;
  private final FloatPointer[] bufs = new FloatPointer[2]; // CPU: owned native buffer; GPU: views of the pinned tensors
  private final Tensor[] pinned = new Tensor[2];          // GPU: page-locked host tensors
  private final long[] capacity = new long[2];
  private final Tensor[] pinnedLabels = new Tensor[2];    // GPU: page-locked int64 labels, next to the images
  private final long[] labelCapacity = new long[2];
  private int cur;                                         // the buffer the last load filled
  private Batch prefetchedBatch;                           // GPU: the batch whose copy prefetch started
  private Tensor prefetched;                               // GPU: its images on the device (one reference held)
  private Tensor prefetchedLabels;                         // GPU: its labels on the device (one reference held)

  StepInput(Device device) {
    this.device = device;
  }

  /** Copies the batch's pixels into the current buffer (growing it first). */
  void load(Batch b) {
    long n = (long) b.size() * b.channels() * b.height() * b.width();
    if (n > capacity[cur]) {
      free(cur);
      // The buffer lives until close(), whatever scope the caller is in: one extra reference
      // outlives this scope, and close() releases it.
      try (PointerScope own = new PointerScope()) {
        if (device.is_cpu()) {
          bufs[cur] = new FloatPointer(n);
        } else {
          pinned[cur] = Tensors.pinnedHost(n);
          pinned[cur].retainReference();
          bufs[cur] = pinned[cur].data_ptr_float(); // host: page-locked CPU memory
        }
        bufs[cur].retainReference();
      }
      capacity[cur] = n;
    }
    // straight from the loader's images into the buffer, in parallel: no joined array on this thread
    b.copyImagesTo(new FloatPointer(bufs[cur]).position(0).limit(n).asBuffer());
    if (device.is_cpu()) return;
    if (b.size() > labelCapacity[cur]) {
      if (pinnedLabels[cur] != null) pinnedLabels[cur].close();
      try (PointerScope own = new PointerScope()) {
        pinnedLabels[cur] = Tensors.pinnedHostLongs(b.size());
        pinnedLabels[cur].retainReference();
      }
      labelCapacity[cur] = b.size();
    }
    try (PointerScope own = new PointerScope()) {
      org.bytedeco.javacpp.LongPointer lp = pinnedLabels[cur].data_ptr_long(); // host: page-locked CPU memory
      int[] pids = b.pids();
      for (int i = 0; i < pids.length; i++) lp.put(i, pids[i]);
    }
  }

  /**
   * The labels of {@code b} as int64 on the device: on a GPU the asynchronous copy {@link #prefetch}
   * started (or one from the page-locked buffer {@link #load} filled), so that no step waits for a
   * blocking host-to-device copy (which would wait for all the device's queued work first).
   */
  Tensor labels(Batch b) {
    if (prefetchedLabels != null && prefetchedBatch == b) {
      Tensor y = prefetchedLabels;
      prefetchedLabels = null;
      return handOver(y);
    }
    if (device.is_cpu()) return Tensors.longs(b.pids(), device);
    return pinnedLabels[cur].narrow(0, 0, b.size()).to(device, torch.ScalarType.Long, true, false,
        new org.bytedeco.pytorch.MemoryFormatOptional());
  }

  /**
   * The images of {@code b} as an [N, C, H, W] float32 tensor on the device: the copy {@link #prefetch}
   * started when it was given {@code b}, else those last {@link #load}ed.
   */
  Tensor images(Batch b) {
    if (prefetched != null && prefetchedBatch == b) {
      Tensor x = prefetched;
      prefetched = null; // prefetchedBatch stays until the labels are taken too
      return handOver(x);
    }
    long[] shape = {b.size(), b.channels(), b.height(), b.width()};
    if (device.is_cpu()) return Tensors.hostView(bufs[cur], shape);
    long n = shape[0] * shape[1] * shape[2] * shape[3];
    return pinned[cur].narrow(0, 0, n).view(shape).to(device, torch.ScalarType.Float, true, false,
        new org.bytedeco.pytorch.MemoryFormatOptional());
  }

  /**
   * Loads {@code next} into the other buffer and, on a GPU, starts its copy to the device, queued
   * behind the work already issued. Call while the device computes a step that has not been waited
   * for yet; the buffer it rewrites was last copied from two steps ago. (On the CPU the step is done
   * by then, and the prefetched images are a view of the other buffer.)
   */
  /** The caller's scope takes over the one reference held here (without a scope the garbage collector frees it). */
  private static Tensor handOver(Tensor t) {
    PointerScope caller = PointerScope.getInnerScope();
    if (caller != null) {
      caller.attach(t);
      t.releaseReference();
    }
    return t;
  }

  boolean isPrefetched(Batch b) {
    return prefetchedBatch == b && (prefetched != null || prefetchedLabels != null);
  }

  void prefetch(Batch next) {
    if (prefetched != null) prefetched.releaseReference();
    if (prefetchedLabels != null) prefetchedLabels.releaseReference();
    prefetched = prefetchedLabels = null;
    prefetchedBatch = null;
    cur ^= 1;
    load(next);
    try (PointerScope own = new PointerScope()) {
      prefetched = images(next);
      prefetched.retainReference();
      prefetchedLabels = labels(next);
      prefetchedLabels.retainReference();
    }
    prefetchedBatch = next;
  }

  private void free(int i) {
    if (bufs[i] != null) bufs[i].close();
    if (pinned[i] != null) pinned[i].close();
    pinned[i] = null;
    bufs[i] = null;
    capacity[i] = 0;
  }

  @Override
  public void close() {
    if (prefetched != null) prefetched.releaseReference();
    if (prefetchedLabels != null) prefetchedLabels.releaseReference();
    prefetched = prefetchedLabels = null;
    prefetchedBatch = null;
    free(0);
    free(1);
    for (int i = 0; i < 2; i++) {
      if (pinnedLabels[i] != null) pinnedLabels[i].close();
      pinnedLabels[i] = null;
      labelCapacity[i] = 0;
    }
  }
}
