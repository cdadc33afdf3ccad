package org.reid4j.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * The hand-written native kernels (C++ CPU or CUDA) behind the {@link Kernels} interface. Every
 * argument is checked here, in Java, before the native call, so that no input reachable from the
 * API can crash the process. Inputs are copied once into native memory (freed when the call's
 * {@link PointerScope} closes) and the result is copied back into a heap array.
 */
public final class NativeKernels implements Kernels {
  private final boolean cuda;
  private final Precision precision;

  NativeKernels(boolean cuda) {
    this(cuda, Precision.FP32);
  }

  private NativeKernels(boolean cuda, Precision precision) {
    this.cuda = cuda;
    this.precision = precision;
  }

  @Override
  public Precision precision() {
    return precision;
  }

  /** On CUDA, a copy whose calls run their distance passes at {@code p}; on the CPU as the interface says. */
  @Override
  public Kernels withPrecision(Precision p) {
    if (!cuda || p == null) return Kernels.super.withPrecision(p);
    return p == precision ? this : new NativeKernels(true, p);
  }

  /**
   * Runs one r4j_cuda_* call at this object's precision: the calling thread's setting (reid4j.h keeps
   * it per thread) is set around the call and put back to FP32 after it, so that no other caller on
   * this thread inherits it.
   */
  private int onCuda(java.util.function.IntSupplier call) {
    if (precision == Precision.FP32) return call.getAsInt();
    check(NativeApi.r4j_cuda_set_precision(precision.code), "setPrecision");
    try {
      return call.getAsInt();
    } finally {
      NativeApi.r4j_cuda_set_precision(Precision.FP32.code);
    }
  }

  @Override
  public Backend backend() {
    return cuda ? Backend.CUDA : Backend.CPU;
  }

  /** A C string read from a fixed-size buffer: up to its first NUL (the buffer's tail is NUL padding). */
  static String cString(String buffer) {
    int end = buffer.indexOf('\0');
    return end < 0 ? buffer : buffer.substring(0, end);
  }

  @Override
  public String describe() {
    if (cuda) {
      try (BytePointer name = new BytePointer(256)) {
        NativeApi.r4j_cuda_device_name(name, 256);
        return "cuda (" + cString(name.getString())
            + (precision == Precision.FP32 ? "" : ", " + precision.label() + " distances") + ")";
      }
    }
    return "cpu (" + NativeApi.r4j_cpu_isa().getString() + ", " + NativeApi.r4j_cpu_threads() + " threads)";
  }

  /**
   * How the native kernels library was built, for {@code reid4j -V}: "native kernels 0.1.0 (CPU
   * avx512; CUDA compiled in)", or why the library did not load. Never throws.
   */
  public static String buildInfo() {
    String err = Backends.nativeError();
    if (err != null) return "native kernels: not loaded: " + err;
    return "native kernels " + NativeApi.r4j_version().getString() + " (CPU " + NativeApi.r4j_cpu_isa().getString()
        + "; CUDA " + (NativeApi.r4j_cuda_compiled() != 0 ? "compiled in" : "not compiled in") + ")";
  }

  /** Threads the native CPU kernels use; n <= 0 restores the default (all cores). */
  public static void setCpuThreads(int n) {
    Backends.requireNative();
    NativeApi.r4j_cpu_set_threads(n);
  }

  /**
   * Bytes of scratch memory the native CPU kernels keep between calls (packed galleries, distance
   * blocks; at most {@code R4J_CPU_SCRATCH_MB} MiB, default 256), so that repeated calls do not fault
   * in fresh pages each time.
   */
  public static long cpuScratchBytes() {
    Backends.requireNative();
    return NativeApi.r4j_cpu_scratch_bytes();
  }

  /** Frees the scratch memory the native CPU kernels keep between calls (see {@link #cpuScratchBytes}). */
  public static void releaseCpuScratch() {
    Backends.requireNative();
    NativeApi.r4j_cpu_scratch_release();
  }

  static void check(int status, String fn) {
    if (status != NativeApi.R4J_OK)
      throw new IllegalStateException(fn + " failed (status " + status + "): " + Backends.lastError());
  }

  private static FloatPointer in(FloatMatrix m) {
    FloatPointer p = new FloatPointer(Math.max(1L, m.data().length));
    p.put(m.data());
    return p;
  }

  private static IntPointer in(int[] a) {
    IntPointer p = new IntPointer(Math.max(1L, a.length));
    p.put(a);
    return p;
  }

  private static FloatMatrix out(FloatPointer p, int rows, int cols) {
    FloatMatrix m = FloatMatrix.zeros(rows, cols);
    p.get(m.data());
    return m;
  }

  @Override
  public FloatMatrix pairwise(FloatMatrix q, FloatMatrix g, Metric metric) {
    Checks.pairwiseInputs(q, g);
    FloatMatrix.requireSize(q.rows(), g.rows()); // before any native work
    try (PointerScope scope = new PointerScope()) {
      FloatPointer res = new FloatPointer(Math.max(1L, (long) q.rows() * g.rows()));
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_pairwise(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, res))
          : NativeApi.r4j_cpu_pairwise(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, res);
      check(s, "pairwise");
      return out(res, q.rows(), g.rows());
    }
  }

  @Override
  public TopK topk(FloatMatrix dist, int k) {
    Checks.requireK(k, dist.cols(), "topk");
    Checks.requireNoNaN(dist, "topk"); // not only where the first non-finite value is: an infinity may come first
    try (PointerScope scope = new PointerScope()) {
      long n = Math.max(1L, (long) dist.rows() * k);
      FloatPointer vals = new FloatPointer(n);
      IntPointer idx = new IntPointer(n);
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_topk(in(dist), dist.rows(), dist.cols(), k, vals, idx))
          : NativeApi.r4j_cpu_topk(in(dist), dist.rows(), dist.cols(), k, vals, idx);
      check(s, "topk");
      return topK(dist.rows(), k, vals, idx);
    }
  }

  private static TopK topK(int rows, int k, FloatPointer vals, IntPointer idx) {
    float[] v = new float[rows * k];
    int[] i = new int[rows * k];
    vals.get(v);
    idx.get(i);
    return new TopK(rows, k, v, i);
  }

  @Override
  public TopK pairwiseTopk(FloatMatrix q, FloatMatrix g, Metric metric, int k) {
    Checks.pairwiseInputs(q, g);
    Checks.requireK(k, g.rows(), "pairwiseTopk");
    try (PointerScope scope = new PointerScope()) {
      long n = Math.max(1L, (long) q.rows() * k);
      FloatPointer vals = new FloatPointer(n);
      IntPointer idx = new IntPointer(n);
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_pairwise_topk(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, k,
              vals, idx))
          : NativeApi.r4j_cpu_pairwise_topk(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, k, vals, idx);
      check(s, "pairwiseTopk");
      return topK(q.rows(), k, vals, idx);
    }
  }

  /** On the CPU one fused pass ({@code r4j_cpu_pairwise_topk_max}); on CUDA the default (pairwise, then top-k). */
  @Override
  public TopKWithMax pairwiseTopkWithMax(FloatMatrix q, FloatMatrix g, Metric metric, int k) {
    if (cuda) return Kernels.super.pairwiseTopkWithMax(q, g, metric, k);
    Checks.pairwiseInputs(q, g);
    Checks.requireK(k, g.rows(), "pairwiseTopkWithMax");
    try (PointerScope scope = new PointerScope()) {
      long n = Math.max(1L, (long) q.rows() * k);
      FloatPointer vals = new FloatPointer(n);
      IntPointer idx = new IntPointer(n);
      FloatPointer max = new FloatPointer(Math.max(1L, q.rows()));
      int s = NativeApi.r4j_cpu_pairwise_topk_max(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, k, vals, idx,
          max);
      check(s, "pairwiseTopkWithMax");
      float[] m = new float[q.rows()];
      max.get(m);
      return new TopKWithMax(topK(q.rows(), k, vals, idx), m);
    }
  }

  /** On the CPU one pass for both sides ({@code r4j_cpu_knn_pair}); on CUDA the default (two fused calls). */
  @Override
  public PairLists pairLists(FloatMatrix a, FloatMatrix b, Metric metric, int k) {
    if (cuda) return Kernels.super.pairLists(a, b, metric, k);
    Checks.pairListsInputs(a, b, metric, k);
    int ka = Math.min(k, b.rows()), kb = Math.min(k, a.rows());
    try (PointerScope scope = new PointerScope()) {
      FloatPointer aVal = new FloatPointer(Math.max(1L, (long) a.rows() * ka));
      IntPointer aIdx = new IntPointer(Math.max(1L, (long) a.rows() * ka));
      FloatPointer aMax = new FloatPointer(Math.max(1L, a.rows()));
      FloatPointer bVal = new FloatPointer(Math.max(1L, (long) b.rows() * kb));
      IntPointer bIdx = new IntPointer(Math.max(1L, (long) b.rows() * kb));
      FloatPointer bMax = new FloatPointer(Math.max(1L, b.rows()));
      check(NativeApi.r4j_cpu_knn_pair(in(a), a.rows(), in(b), b.rows(), a.cols(), metric.code, k, aVal, aIdx, aMax,
          bVal, bIdx, bMax), "pairLists");
      float[] ma = new float[a.rows()], mb = new float[b.rows()];
      aMax.get(ma);
      bMax.get(mb);
      return new PairLists(new TopKWithMax(topK(a.rows(), ka, aVal, aIdx), ma),
          new TopKWithMax(topK(b.rows(), kb, bVal, bIdx), mb));
    }
  }

  /** Calls of {@code r4j_cpu_knn_run} a pass is cut into, for its progress lines. */
  private static final int KNN_STEPS = 200;

  /**
   * On the CPU the symmetric pass ({@code r4j_cpu_knn_*}: only the tiles on and above the diagonal,
   * a few row bands per call so that progress can be told between them); on CUDA the default.
   */
  @Override
  public TopKWithMax neighbourLists(FloatMatrix q, FloatMatrix g, Metric metric, int k,
      java.util.function.LongConsumer progress) {
    if (cuda) return Kernels.super.neighbourLists(q, g, metric, k, progress);
    int n = NeighbourBlocks.check(q, g, metric, k);
    long nk = (long) n * k;
    try (PointerScope scope = new PointerScope()) {
      FloatPointer qp = in(q), gp = in(g);
      Pointer h;
      try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
        check(NativeApi.r4j_cpu_knn_create(qp, q.rows(), gp, g.rows(), q.cols(), metric.code, k, out),
            "neighbourLists");
        h = out.get(0);
      }
      try {
        LongPointer done = new LongPointer(1), total = new LongPointer(1);
        long step = 1; // the first call runs one band and tells the total
        do {
          check(NativeApi.r4j_cpu_knn_run(h, step, done, total), "neighbourLists");
          step = Math.max(1, total.get() / KNN_STEPS);
          if (progress != null) progress.accept(Math.round((double) n * done.get() / total.get()));
        } while (done.get() < total.get());
        FloatPointer vals = new FloatPointer(nk), max = new FloatPointer(n);
        IntPointer idx = new IntPointer(nk);
        check(NativeApi.r4j_cpu_knn_result(h, vals, idx, max), "neighbourLists");
        float[] m = new float[n];
        max.get(m);
        return new TopKWithMax(topK(n, k, vals, idx), m);
      } finally {
        NativeApi.r4j_cpu_knn_free(h);
      }
    }
  }

  /** Reads a direct buffer in place (see {@link Kernels#pairwiseTopk(FloatMatrix, java.nio.FloatBuffer, int, Metric, int)}). */
  @Override
  public TopK pairwiseTopk(FloatMatrix q, java.nio.FloatBuffer g, int rows, Metric metric, int k) {
    if (!g.isDirect()) return Kernels.super.pairwiseTopk(q, g, rows, metric, k);
    Checks.requireDim(q, "query features");
    Checks.bufferRows(g, rows, q.cols(), "gallery features");
    Checks.requireUsable(q, "query features");
    Checks.requireK(k, rows, "pairwiseTopk");
    try (PointerScope scope = new PointerScope()) {
      long n = Math.max(1L, (long) q.rows() * k);
      FloatPointer vals = new FloatPointer(n);
      IntPointer idx = new IntPointer(n);
      // The buffer's memory from its position, no copy. Sliced first: JavaCPP's Pointer(Buffer) misplaces
      // the address of a buffer whose position is not 0 (checked in KernelsContractTest).
      FloatPointer gp = new FloatPointer(g.slice());
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_pairwise_topk(in(q), q.rows(), gp, rows, q.cols(), metric.code, k, vals,
              idx))
          : NativeApi.r4j_cpu_pairwise_topk(in(q), q.rows(), gp, rows, q.cols(), metric.code, k, vals, idx);
      check(s, "pairwiseTopk");
      return topK(q.rows(), k, vals, idx);
    }
  }

  /** On CUDA, rows kept on the device (see {@link ResidentRows}); empty on the CPU backend. */
  @Override
  public java.util.Optional<ResidentRows> deviceRows(int dimension, Metric metric) {
    if (!cuda) return Kernels.super.deviceRows(dimension, metric);
    return java.util.Optional.of(ResidentRows.create(dimension, metric));
  }

  /** On CUDA the device copy; on the CPU the rows packed in native memory (see {@link ResidentRows}). */
  @Override
  public java.util.Optional<ResidentRows> residentRows(int dimension, Metric metric, int capacity) {
    if (cuda) return Kernels.super.residentRows(dimension, metric, capacity);
    return java.util.Optional.of(ResidentRows.createPacked(dimension, metric, capacity));
  }

  /** On the CPU backend the memory stays packed natively; on CUDA a host copy (see {@link MiningMemory}). */
  @Override
  public MiningMemory miningMemory(int capacity, int dimension, Metric metric) {
    return cuda ? Kernels.super.miningMemory(capacity, dimension, metric)
        : new NativeMiningMemory(capacity, dimension, metric);
  }

  @Override
  public HardMining batchHard(FloatMatrix x, int[] labels, Metric metric) {
    Checks.batchHardInputs(x, labels);
    try (PointerScope scope = new PointerScope()) {
      int n = x.rows();
      IntPointer pi = new IntPointer(Math.max(1, n)), ni = new IntPointer(Math.max(1, n));
      FloatPointer pd = new FloatPointer(Math.max(1, n)), nd = new FloatPointer(Math.max(1, n));
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_batch_hard(in(x), in(labels), n, x.cols(), metric.code, pi, pd, ni, nd))
          : NativeApi.r4j_cpu_batch_hard(in(x), in(labels), n, x.cols(), metric.code, pi, pd, ni, nd);
      check(s, "batchHard");
      return mining(n, pi, pd, ni, nd);
    }
  }

  static HardMining mining(int n, IntPointer pi, FloatPointer pd, IntPointer ni, FloatPointer nd) {
    int[] posIdx = new int[n], negIdx = new int[n];
    float[] posDist = new float[n], negDist = new float[n];
    pi.get(posIdx);
    pd.get(posDist);
    ni.get(negIdx);
    nd.get(negDist);
    return new HardMining(posIdx, posDist, negIdx, negDist);
  }

  @Override
  public HardMining batchHardMemory(FloatMatrix anchors, int[] anchorLabels, FloatMatrix memory, int[] memoryLabels,
      Metric metric) {
    Checks.batchHardMemoryInputs(anchors, anchorLabels, memory, memoryLabels);
    try (PointerScope scope = new PointerScope()) {
      int n = anchors.rows();
      IntPointer pi = new IntPointer(Math.max(1, n)), ni = new IntPointer(Math.max(1, n));
      FloatPointer pd = new FloatPointer(Math.max(1, n)), nd = new FloatPointer(Math.max(1, n));
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_batch_hard_memory(in(anchors), in(anchorLabels), n, in(memory),
              in(memoryLabels), memory.rows(), anchors.cols(), metric.code, pi, pd, ni, nd))
          : NativeApi.r4j_cpu_batch_hard_memory(in(anchors), in(anchorLabels), n, in(memory), in(memoryLabels),
              memory.rows(), anchors.cols(), metric.code, pi, pd, ni, nd);
      check(s, "batchHardMemory");
      return mining(n, pi, pd, ni, nd);
    }
  }

  @Override
  public FloatMatrix rerank(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params) {
    Checks.pairwiseInputs(q, g);
    FloatMatrix.requireSize(q.rows(), g.rows()); // before any native work
    RerankParams p = params.clampedTo((long) q.rows() + g.rows());
    try (PointerScope scope = new PointerScope()) {
      FloatPointer res = new FloatPointer(Math.max(1L, (long) q.rows() * g.rows()));
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_rerank(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, p.k1(),
              p.k2(), p.lambda(), res))
          : NativeApi.r4j_cpu_rerank(in(q), q.rows(), in(g), g.rows(), q.cols(), metric.code, p.k1(), p.k2(),
              p.lambda(), res);
      check(s, "rerank");
      return out(res, q.rows(), g.rows());
    }
  }

  @Override
  public java.util.Optional<QueryScores> pairwiseScores(FloatMatrix q, FloatMatrix g, Metric metric,
      QueryLabels labels) {
    if (!cuda) return java.util.Optional.empty();
    Checks.pairwiseInputs(q, g);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    labels.requireShape(q.rows(), g.rows());
    return java.util.Optional.of(scores(q.rows(), labels, (l, o) -> NativeApi.r4j_cuda_pairwise_evaluate(in(q),
        q.rows(), in(g), g.rows(), q.cols(), metric.code, l[0], l[1], l[2], l[3], o.first, o.ap, o.inp, o.nan)));
  }

  @Override
  public java.util.Optional<QueryScores> rerankScores(FloatMatrix q, FloatMatrix g, Metric metric,
      RerankParams params, QueryLabels labels) {
    if (!cuda) return java.util.Optional.empty();
    Checks.pairwiseInputs(q, g);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    labels.requireShape(q.rows(), g.rows());
    RerankParams p = params.clampedTo((long) q.rows() + g.rows());
    return java.util.Optional.of(scores(q.rows(), labels, (l, o) -> NativeApi.r4j_cuda_rerank_evaluate(in(q),
        q.rows(), in(g), g.rows(), q.cols(), metric.code, p.k1(), p.k2(), p.lambda(), l[0], l[1], l[2], l[3], o.first,
        o.ap, o.inp, o.nan)));
  }

  // ---- native matrices: the kernels read and write them in place, no copies ----

  @Override
  public NativeMatrix pairwise(NativeMatrix q, NativeMatrix g, Metric metric) {
    Checks.pairwiseInputs(q, g);
    NativeMatrix out = NativeMatrix.allocate(q.rows(), g.rows());
    try {
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_pairwise(q.pointer(), q.rows(), g.pointer(), g.rows(), q.cols(),
              metric.code, out.pointer()))
          : NativeApi.r4j_cpu_pairwise(q.pointer(), q.rows(), g.pointer(), g.rows(), q.cols(), metric.code,
              out.pointer());
      check(s, "pairwise");
      return out;
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
  }

  @Override
  public NativeMatrix rerank(NativeMatrix q, NativeMatrix g, Metric metric, RerankParams params) {
    Checks.pairwiseInputs(q, g);
    RerankParams p = params.clampedTo((long) q.rows() + g.rows());
    NativeMatrix out = NativeMatrix.allocate(q.rows(), g.rows());
    try {
      int s = cuda
          ? onCuda(() -> NativeApi.r4j_cuda_rerank(q.pointer(), q.rows(), g.pointer(), g.rows(), q.cols(),
              metric.code, p.k1(), p.k2(), p.lambda(), out.pointer()))
          : NativeApi.r4j_cpu_rerank(q.pointer(), q.rows(), g.pointer(), g.rows(), q.cols(), metric.code, p.k1(),
              p.k2(), p.lambda(), out.pointer());
      check(s, "rerank");
      return out;
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
  }

  @Override
  public java.util.Optional<QueryScores> pairwiseScores(NativeMatrix q, NativeMatrix g, Metric metric,
      QueryLabels labels) {
    if (!cuda) return java.util.Optional.empty();
    Checks.pairwiseInputs(q, g);
    labels.requireShape(q.rows(), g.rows());
    return java.util.Optional.of(scores(q.rows(), labels, (l, o) -> NativeApi.r4j_cuda_pairwise_evaluate(q.pointer(),
        q.rows(), g.pointer(), g.rows(), q.cols(), metric.code, l[0], l[1], l[2], l[3], o.first, o.ap, o.inp,
        o.nan)));
  }

  @Override
  public java.util.Optional<QueryScores> rerankScores(NativeMatrix q, NativeMatrix g, Metric metric,
      RerankParams params, QueryLabels labels) {
    if (!cuda) return java.util.Optional.empty();
    Checks.pairwiseInputs(q, g);
    labels.requireShape(q.rows(), g.rows());
    RerankParams p = params.clampedTo((long) q.rows() + g.rows());
    return java.util.Optional.of(scores(q.rows(), labels, (l, o) -> NativeApi.r4j_cuda_rerank_evaluate(q.pointer(),
        q.rows(), g.pointer(), g.rows(), q.cols(), metric.code, p.k1(), p.k2(), p.lambda(), l[0], l[1], l[2], l[3],
        o.first, o.ap, o.inp, o.nan)));
  }

  /** Native buffers of the per-query outputs. */
  private static final class ScoreBufs {
    final IntPointer first, nan;
    final DoublePointer ap, inp;

    ScoreBufs(int nq) {
      long n = Math.max(1L, nq);
      first = new IntPointer(n);
      nan = new IntPointer(n);
      ap = new DoublePointer(n);
      inp = new DoublePointer(n);
    }
  }

  private interface ScoreCall {
    int call(IntPointer[] labels, ScoreBufs out);
  }

  /** Runs call (inside one PointerScope, so that the inputs it copies are freed too) and reads its scores. */
  private QueryScores scores(int nq, QueryLabels labels, ScoreCall call) {
    try (PointerScope scope = new PointerScope()) {
      ScoreBufs o = new ScoreBufs(nq);
      IntPointer[] l = {in(labels.queryPids()), in(labels.queryCamids()), in(labels.galleryPids()),
          in(labels.galleryCamids())};
      check(onCuda(() -> call.call(l, o)), "evaluate on the device");
      int[] first = new int[nq], nan = new int[nq];
      double[] ap = new double[nq], inp = new double[nq];
      o.first.get(first);
      o.nan.get(nan);
      o.ap.get(ap);
      o.inp.get(inp);
      return new QueryScores(first, ap, inp, nan);
    }
  }
}
