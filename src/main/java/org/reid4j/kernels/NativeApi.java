package org.reid4j.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * One-to-one JavaCPP binding of {@code src/main/cpp/include/reid4j.h}; see that header for the
 * semantics of each call. No logic lives here: {@link NativeKernels} checks every size before it
 * calls in, so that no bad argument can reach native code from the Java API.
 *
 * <p>Loading costs one extraction of the libraries from the jar into {@code ~/.javacpp/cache} on first use.
 */
@Platform(include = "reid4j.h", link = "reid4j_kernels")
public final class NativeApi {
  private NativeApi() {}

  private static final Throwable LOAD_ERROR;

  static {
    Throwable error = null;
    try {
      Loader.load();
    } catch (Throwable t) {
      error = t;
    }
    LOAD_ERROR = error;
  }

  /** Why the native library could not be loaded, or null if it loaded. */
  public static Throwable loadError() {
    return LOAD_ERROR;
  }

  public static final int R4J_OK = 0, R4J_EINVAL = 1, R4J_ENOMEM = 2, R4J_ECUDA = 3, R4J_ENOTBUILT = 4;

  public static native @Cast("const char*") BytePointer r4j_last_error();

  public static native @Cast("const char*") BytePointer r4j_version();

  public static native @Cast("const char*") BytePointer r4j_cpu_isa();

  public static native void r4j_cpu_set_threads(int n);

  public static native int r4j_cpu_threads();

  public static native long r4j_cpu_scratch_bytes();

  public static native void r4j_cpu_scratch_release();

  // ---- CPU ----
  public static native int r4j_cpu_pairwise(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, FloatPointer out);

  public static native int r4j_cpu_topk(@Cast("const float*") FloatPointer dist, long rows, long cols, long k,
      FloatPointer outVal, @Cast("int32_t*") IntPointer outIdx);

  public static native int r4j_cpu_pairwise_topk(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, long k, FloatPointer outVal,
      @Cast("int32_t*") IntPointer outIdx);

  public static native int r4j_cpu_pairwise_topk_max(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, long k, FloatPointer outVal,
      @Cast("int32_t*") IntPointer outIdx, FloatPointer outMax);

  public static native int r4j_cpu_batch_hard(@Cast("const float*") FloatPointer x,
      @Cast("const int32_t*") IntPointer labels, long n, long d, int metric, @Cast("int32_t*") IntPointer posIdx,
      FloatPointer posDist, @Cast("int32_t*") IntPointer negIdx, FloatPointer negDist);

  public static native int r4j_cpu_batch_hard_memory(@Cast("const float*") FloatPointer a,
      @Cast("const int32_t*") IntPointer aLabels, long na, @Cast("const float*") FloatPointer m,
      @Cast("const int32_t*") IntPointer mLabels, long nm, long d, int metric, @Cast("int32_t*") IntPointer posIdx,
      FloatPointer posDist, @Cast("int32_t*") IntPointer negIdx, FloatPointer negDist);

  public static native int r4j_cpu_rerank(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, int k1, int k2, float lambda,
      FloatPointer out);

  // 4b. Exact neighbour lists of a whole set, in steps (an opaque handle).
  public static native int r4j_cpu_knn_create(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, long k,
      @Cast("void**") PointerPointer<Pointer> out);

  public static native int r4j_cpu_knn_run(Pointer h, long maxTiles, @Cast("int64_t*") LongPointer done,
      @Cast("int64_t*") LongPointer total);

  public static native int r4j_cpu_knn_result(Pointer h, FloatPointer outVal, @Cast("int32_t*") IntPointer outIdx,
      FloatPointer outMax);

  public static native void r4j_cpu_knn_free(Pointer h);

  // 4c. Two sets' lists against each other (one tile of a blocked graph, computed once for both blocks).
  public static native int r4j_cpu_knn_pair(@Cast("const float*") FloatPointer a, long na,
      @Cast("const float*") FloatPointer b, long nb, long d, int metric, long k, FloatPointer aVal,
      @Cast("int32_t*") IntPointer aIdx, FloatPointer aMax, FloatPointer bVal, @Cast("int32_t*") IntPointer bIdx,
      FloatPointer bMax);

  // ---- CUDA ----
  public static native int r4j_cuda_compiled();

  public static native int r4j_cuda_device_count(IntPointer count);

  public static native int r4j_cuda_set_device(int device);

  public static native int r4j_cuda_device_name(@Cast("char*") BytePointer buf, int len);

  public static native int r4j_cuda_set_precision(int precision);

  public static native int r4j_cuda_precision();

  public static native int r4j_cuda_pairwise(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, FloatPointer out);

  public static native int r4j_cuda_topk(@Cast("const float*") FloatPointer dist, long rows, long cols, long k,
      FloatPointer outVal, @Cast("int32_t*") IntPointer outIdx);

  public static native int r4j_cuda_pairwise_topk(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, long k, FloatPointer outVal,
      @Cast("int32_t*") IntPointer outIdx);

  public static native int r4j_cuda_batch_hard(@Cast("const float*") FloatPointer x,
      @Cast("const int32_t*") IntPointer labels, long n, long d, int metric, @Cast("int32_t*") IntPointer posIdx,
      FloatPointer posDist, @Cast("int32_t*") IntPointer negIdx, FloatPointer negDist);

  public static native int r4j_cuda_batch_hard_memory(@Cast("const float*") FloatPointer a,
      @Cast("const int32_t*") IntPointer aLabels, long na, @Cast("const float*") FloatPointer m,
      @Cast("const int32_t*") IntPointer mLabels, long nm, long d, int metric, @Cast("int32_t*") IntPointer posIdx,
      FloatPointer posDist, @Cast("int32_t*") IntPointer negIdx, FloatPointer negDist);

  public static native int r4j_cuda_rerank(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, int k1, int k2, float lambda,
      FloatPointer out);

  // 7. Evaluation on the device (labels and per-query scores in host memory).
  public static native int r4j_cuda_pairwise_evaluate(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, @Cast("const int32_t*") IntPointer qPid,
      @Cast("const int32_t*") IntPointer qCam, @Cast("const int32_t*") IntPointer gPid,
      @Cast("const int32_t*") IntPointer gCam, @Cast("int32_t*") IntPointer first, DoublePointer ap, DoublePointer inp,
      @Cast("int32_t*") IntPointer nanCol);

  public static native int r4j_cuda_rerank_evaluate(@Cast("const float*") FloatPointer q, long nq,
      @Cast("const float*") FloatPointer g, long ng, long d, int metric, int k1, int k2, float lambda,
      @Cast("const int32_t*") IntPointer qPid, @Cast("const int32_t*") IntPointer qCam,
      @Cast("const int32_t*") IntPointer gPid, @Cast("const int32_t*") IntPointer gCam,
      @Cast("int32_t*") IntPointer first, DoublePointer ap, DoublePointer inp, @Cast("int32_t*") IntPointer nanCol);

  // ---- CPU resident mining memory (an opaque handle) ----
  public static native int r4j_cpu_memory_create(long capacity, long d, int metric,
      @Cast("void**") PointerPointer<Pointer> out);

  public static native int r4j_cpu_memory_write(Pointer h, long row0, @Cast("const float*") FloatPointer rows, long n);

  public static native int r4j_cpu_memory_batch_hard(Pointer h, long nm, @Cast("const int32_t*") IntPointer mLabels,
      @Cast("const float*") FloatPointer a, @Cast("const int32_t*") IntPointer aLabels, long na,
      @Cast("int32_t*") IntPointer posIdx, FloatPointer posDist, @Cast("int32_t*") IntPointer negIdx,
      FloatPointer negDist);

  /** R4J_CPU_MEMORY_ROW_ALIGN: a CPU memory's searches start at a multiple of this many rows. */
  public static final int CPU_MEMORY_ROW_ALIGN = 32;

  public static native int r4j_cpu_memory_topk(Pointer h, long row0, long nrows, @Cast("const float*") FloatPointer q,
      long nq, long k, FloatPointer outVal, @Cast("int32_t*") IntPointer outIdx);

  public static native void r4j_cpu_memory_free(Pointer h);

  // ---- CUDA device-resident rows (an opaque handle) ----
  public static native int r4j_cuda_rows_create(long d, int metric, @Cast("void**") PointerPointer<Pointer> out);

  public static native int r4j_cuda_rows_append(Pointer h, @Cast("const float*") FloatPointer rows, long n);

  public static native int r4j_cuda_rows_topk(Pointer h, long row0, long nrows, @Cast("const float*") FloatPointer q,
      long nq, long k, FloatPointer outVal, @Cast("int32_t*") IntPointer outIdx);

  public static native long r4j_cuda_rows_count(Pointer h);

  public static native void r4j_cuda_rows_free(Pointer h);

  // 6. Optimiser arithmetic on device tensors (device pointers as addresses; the arrays are host memory).
  public static native int r4j_cuda_unscale_grads(long count, @Cast("float*const*") long[] grads,
      @Cast("const int64_t*") long[] numel, float invScale, @Cast("float*") long foundInf, @Cast("void*") long stream);

  public static native int r4j_cuda_adam_step(long count, @Cast("float*const*") long[] params,
      @Cast("const float*const*") long[] grads, @Cast("float*const*") long[] expAvg,
      @Cast("float*const*") long[] expAvgSq, @Cast("const int64_t*") long[] numel, @Cast("const float*") float[] stepSize,
      @Cast("const float*") float[] bc2Sqrt, float beta1, float beta2, float eps, float weightDecay,
      @Cast("void*") long stream);

  // ... and their variants on device state (loss scale, step counts, overflow flag: device addresses)
  public static native int r4j_cuda_unscale_grads_dev(long count, @Cast("float*const*") long[] grads,
      @Cast("const int64_t*") long[] numel, @Cast("const float*") long scale, @Cast("float*") long foundInf,
      @Cast("void*") long stream);

  public static native int r4j_cuda_adam_step_dev(long count, @Cast("float*const*") long[] params,
      @Cast("const float*const*") long[] grads, @Cast("float*const*") long[] expAvg,
      @Cast("float*const*") long[] expAvgSq, @Cast("const int64_t*") long[] numel, @Cast("const double*") double[] lr,
      @Cast("int64_t*const*") long[] step, double beta1, double beta2, float eps, float weightDecay,
      @Cast("const float*") long skip, @Cast("void*") long stream);

  public static native int r4j_cuda_amp_update_scale(@Cast("float*") long scale, @Cast("int64_t*") long goodSteps,
      @Cast("const float*") long foundInf, long growthInterval, @Cast("void*") long stream);
}
