package org.reid4j.kernels;

/**
 * The retrieval kernels: one interface, three implementations with the same semantics (those of
 * {@code src/main/cpp/include/reid4j.h}): {@link JavaKernels} (plain Java, always available),
 * and {@link NativeKernels} on the C++ CPU code or on CUDA. Get one with {@link #create(Backend)}.
 *
 * <p>All matrices are row-major float32 {@link FloatMatrix}; features must be finite (every
 * implementation checks and names the first bad row). Row counts may be zero. Implementations are
 * thread-safe.
 */
public interface Kernels {

  /** Which backend this is (never AUTO). */
  Backend backend();

  /** A one-line description for logs, e.g. "cpu (avx512, 2 threads)". */
  String describe();

  /** The arithmetic of this object's distance passes ({@link Precision#FP32} unless asked otherwise). */
  default Precision precision() {
    return Precision.FP32;
  }

  /**
   * These kernels with the distance passes in another {@link Precision}: on CUDA the tensor-core
   * passes ({@code r4j_cuda_set_precision}, applied around each call of the returned object, which
   * then leaves the thread at FP32); FP32 returns kernels of FP32 arithmetic on every backend. Rows
   * kept resident ({@link #deviceRows}, {@link #residentRows}) are searched in FP32 whatever this says.
   *
   * @throws IllegalArgumentException for TF32 or TF32X3 on a backend other than CUDA (the host
   *     backends have no such arithmetic), or a null precision
   */
  default Kernels withPrecision(Precision precision) {
    if (precision == null) throw new IllegalArgumentException("precision is null");
    if (precision == Precision.FP32) return this;
    throw new IllegalArgumentException("precision " + precision.label() + " needs the cuda backend (these kernels: "
        + backend().name().toLowerCase(java.util.Locale.ROOT) + "); use fp32");
  }

  /** Pairwise distances: q [nq, d], g [ng, d] -> [nq, ng]. */
  FloatMatrix pairwise(FloatMatrix q, FloatMatrix g, Metric metric);

  /** The k smallest of each row of dist (0 <= k <= cols), ascending by (value, column). */
  TopK topk(FloatMatrix dist, int k);

  /** The k nearest gallery rows of every query row, without holding the [nq, ng] matrix. */
  TopK pairwiseTopk(FloatMatrix q, FloatMatrix g, Metric metric, int k);

  /**
   * {@link #pairwiseTopk} and, for every query row, its largest distance to the gallery: what one
   * tile of a k-nearest-neighbour graph for k-reciprocal re-ranking needs. The native CPU backend
   * does it in one pass without holding the [nq, ng] matrix; the default computes the matrix and
   * takes both from it (the same values: the top-k is {@link #topk} of {@link #pairwise}).
   */
  default TopKWithMax pairwiseTopkWithMax(FloatMatrix q, FloatMatrix g, Metric metric, int k) {
    FloatMatrix d = pairwise(q, g, metric);
    TopK top = topk(d, k);
    int ng = g.rows();
    float[] max = new float[q.rows()];
    float[] v = d.data();
    for (int i = 0; i < max.length; i++) {
      float m = Float.NEGATIVE_INFINITY;
      for (int j = i * ng; j < (i + 1) * ng; j++) m = Math.max(m, v[j]);
      max[i] = m;
    }
    return new TopKWithMax(top, max);
  }

  /**
   * One tile of a k-nearest-neighbour graph cut into blocks of items, for both of its blocks: each
   * row of a with its min(k, rows of b) nearest rows of b and its largest distance to b, and each row
   * of b likewise against a; exactly {@link #pairwiseTopkWithMax}(a, b) and (b, a). A graph then needs
   * only the tiles on and above its diagonal. The native CPU backend computes every distance once and
   * offers it to both lists ({@code r4j_cpu_knn_pair}: half the arithmetic, the same values bit for
   * bit); the default makes the two calls.
   *
   * @throws IllegalArgumentException if k < 1, or as {@link #pairwise}
   */
  default PairLists pairLists(FloatMatrix a, FloatMatrix b, Metric metric, int k) {
    Checks.pairListsInputs(a, b, metric, k);
    return new PairLists(pairwiseTopkWithMax(a, b, metric, Math.min(k, b.rows())),
        pairwiseTopkWithMax(b, a, metric, Math.min(k, a.rows())));
  }

  /**
   * Every item's k nearest among all N = nq + ng items (q's rows, then g's; itself included),
   * ascending by (distance, item), and its largest distance to any of the N: the exact pass of
   * k-reciprocal re-ranking without its N x N matrix (rows of the answer are items, indices are
   * items). {@code progress}, if not null, is told now and then how much of the work is done, in
   * items' worth (up to N, the last call N). The native CPU backend computes only the tiles on and
   * above the diagonal ({@code r4j_cpu_knn_*}); the default compares blocks of items with chunks of
   * rows ({@link NeighbourBlocks}): twice the work, the same lists where the distances are the same.
   *
   * @throws IllegalArgumentException if there are no items, k is not in [1, N], or as {@link #pairwise}
   */
  default TopKWithMax neighbourLists(FloatMatrix q, FloatMatrix g, Metric metric, int k,
      java.util.function.LongConsumer progress) {
    return NeighbourBlocks.lists(this, q, g, metric, k, progress, NeighbourBlocks.BLOCK, NeighbourBlocks.CHUNK);
  }

  /**
   * {@link #pairwiseTopk} against {@code rows} gallery rows of {@code q.cols()} floats held in a
   * buffer from its position on (a memory-mapped gallery segment, say). The native backends read a
   * direct buffer in place, without copying it and without checking its rows: the caller vouches
   * that they are finite and of usable norm (the gallery checks every row when it is added). The
   * default copies the rows into a matrix, checks them and calls {@link #pairwiseTopk}.
   *
   * @throws IllegalArgumentException if the buffer holds fewer than {@code rows * q.cols()} floats
   *     from its position, or as {@link #pairwiseTopk}
   */
  default TopK pairwiseTopk(FloatMatrix q, java.nio.FloatBuffer g, int rows, Metric metric, int k) {
    Checks.bufferRows(g, rows, q.cols(), "gallery features");
    float[] a = new float[Math.multiplyExact(rows, q.cols())];
    g.duplicate().get(a);
    return pairwiseTopk(q, new FloatMatrix(rows, q.cols(), a), metric, k);
  }

  /**
   * New, empty {@link ResidentRows} of {@code dimension} floats searched with {@code metric}, kept on
   * this backend's device: present on the CUDA backend only, empty on the others (which have no
   * device memory to keep rows in). The caller closes it.
   *
   * @throws IllegalArgumentException if dimension < 1 or metric is null
   * @throws IllegalStateException on CUDA, if the device failed
   */
  default java.util.Optional<ResidentRows> deviceRows(int dimension, Metric metric) {
    if (dimension < 1) throw new IllegalArgumentException("dimension must be at least 1, got " + dimension);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    return java.util.Optional.empty();
  }

  /**
   * Rows kept between searches for at most {@code capacity} rows: on CUDA the device copy of
   * {@link #deviceRows}; on the native CPU backend the rows packed in native memory; empty elsewhere
   * (the plain-Java backend reads rows where they lie).
   */
  default java.util.Optional<ResidentRows> residentRows(int dimension, Metric metric, int capacity) {
    if (capacity < 0) throw new IllegalArgumentException("capacity must be at least 0, got " + capacity);
    return deviceRows(dimension, metric);
  }

  /** Batch-hard triplet mining within one batch x [n, d] with labels [n]. */
  HardMining batchHard(FloatMatrix x, int[] labels, Metric metric);

  /** Batch-hard mining of anchors [na, d] against a feature memory [nm, d] (cross-batch memory). */
  HardMining batchHardMemory(FloatMatrix anchors, int[] anchorLabels, FloatMatrix memory, int[] memoryLabels,
      Metric metric);

  /** k-reciprocal re-ranking: the final [nq, ng] distance of queries q against gallery g. */
  FloatMatrix rerank(FloatMatrix q, FloatMatrix g, Metric metric, RerankParams params);

  /**
   * The per-query scores of {@link #pairwise}'s matrix computed where it was made, without handing
   * the [nq, ng] matrix back; empty where this backend has no such path (the CPU and Java ones: there
   * the matrix is already in host memory, so compute it and score it with the evaluator).
   */
  default java.util.Optional<QueryScores> pairwiseScores(FloatMatrix q, FloatMatrix g, Metric metric,
      QueryLabels labels) {
    return java.util.Optional.empty();
  }

  /**
   * {@link #pairwise(FloatMatrix, FloatMatrix, Metric)} on native matrices, into a new one (the
   * caller closes it). The native backends read and write native memory directly; the default goes
   * through heap copies.
   */
  default NativeMatrix pairwise(NativeMatrix q, NativeMatrix g, Metric metric) {
    Checks.pairwiseInputs(q, g);
    return NativeMatrix.of(pairwise(q.toHeap(), g.toHeap(), metric));
  }

  /** {@link #rerank(FloatMatrix, FloatMatrix, Metric, RerankParams)} on native matrices (see above). */
  default NativeMatrix rerank(NativeMatrix q, NativeMatrix g, Metric metric, RerankParams params) {
    Checks.pairwiseInputs(q, g);
    return NativeMatrix.of(rerank(q.toHeap(), g.toHeap(), metric, params));
  }

  /** {@link #pairwiseScores(FloatMatrix, FloatMatrix, Metric, QueryLabels)} on native matrices. */
  default java.util.Optional<QueryScores> pairwiseScores(NativeMatrix q, NativeMatrix g, Metric metric,
      QueryLabels labels) {
    return java.util.Optional.empty();
  }

  /** {@link #rerankScores(FloatMatrix, FloatMatrix, Metric, RerankParams, QueryLabels)} on native matrices. */
  default java.util.Optional<QueryScores> rerankScores(NativeMatrix q, NativeMatrix g, Metric metric,
      RerankParams params, QueryLabels labels) {
    return java.util.Optional.empty();
  }

  /** As {@link #pairwiseScores}, of {@link #rerank}'s matrix. */
  default java.util.Optional<QueryScores> rerankScores(FloatMatrix q, FloatMatrix g, Metric metric,
      RerankParams params, QueryLabels labels) {
    return java.util.Optional.empty();
  }

  /**
   * A memory of {@code capacity} rows for mining anchors against across batches (XBM); see
   * {@link MiningMemory}. The caller closes it.
   */
  default MiningMemory miningMemory(int capacity, int dimension, Metric metric) {
    return new MiningMemory.OnHost(this, capacity, dimension, metric);
  }

  /** The argument checks of {@link #miningMemory}. */
  static void checkMemoryShape(int capacity, int dimension, Metric metric) {
    if (capacity < 0) throw new IllegalArgumentException("memory capacity must be 0 or more, got " + capacity);
    if (dimension < 1) throw new IllegalArgumentException("dimension must be at least 1, got " + dimension);
    if (metric == null) throw new IllegalArgumentException("metric is null");
    FloatMatrix.requireSize(capacity, dimension);
  }

  /**
   * The kernels for a backend. AUTO picks CUDA when a device is present, else the native CPU code,
   * else plain Java. Asking for CPU or CUDA where it is unavailable throws
   * {@link BackendUnavailableException} saying why; there is no silent fallback.
   */
  static Kernels create(Backend backend) {
    return Backends.create(backend);
  }

  /** Null if {@code backend} can run here, else why not (no native library, built without CUDA, no GPU). */
  static String unavailableReason(Backend backend) {
    return switch (backend) {
      case JAVA, AUTO -> null;
      case CPU -> Backends.nativeError();
      case CUDA -> Backends.cudaError();
    };
  }
}
