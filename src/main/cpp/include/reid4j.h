/*
 * reid4j.h -- the whole native API of reid4j.
 *
 * Every kernel exists twice behind this header: r4j_cpu_* (C++, OpenMP, runtime SIMD dispatch) and
 * r4j_cuda_* (CUDA). Both take HOST pointers, allocate whatever scratch they need, and are
 * thread-safe. A library built without nvcc still exports the r4j_cuda_* symbols; they return
 * R4J_ENOTBUILT. Matrices are dense, row-major float32; "[n, d]" below means n rows of d floats.
 *
 * Every function returns a status code (R4J_OK on success). On failure nothing is promised about
 * the output buffers and r4j_last_error() gives a message for the calling thread.
 *
 * Semantics shared by all backends (and by the plain-Java baseline):
 *  - metric R4J_SQEUCLIDEAN: sum_k (a_k - b_k)^2, computed as |a|^2 + |b|^2 - 2 a.b and clamped at 0.
 *    R4J_EUCLIDEAN: sqrt of that. R4J_COSINE: 1 - a.b / (|a| |b|), clamped to [0, 2] (rounding
 *    puts parallel vectors a little below 0 otherwise); a zero vector has similarity 0 with
 *    everything, so its cosine distance is 1.
 *  - ordering: "nearest" means smallest distance; equal distances are ordered by smaller index.
 *  - sizes are int64_t, but every row count must be < 2^31 (indices are int32_t). d >= 1.
 *    Zero-row inputs are valid and produce empty outputs.
 *  - inputs must be finite: the kernels do not check, and NaN or infinite values make orders and
 *    choices unspecified (the Java API rejects them with a message naming the row and column).
 *
 * The r4j_cuda_* functions check their arguments first (R4J_EINVAL), then the device (R4J_ECUDA).
 * They allocate device buffers in stream order from the device's default memory pool, which keeps
 * up to 4 GiB cached between calls. Environment: R4J_CUDA_CHUNK_BYTES caps the largest scratch
 * buffer (default: half the free device memory, at least 1 GiB, at most 16 GiB);
 * R4J_CUDA_PIN_HOST=1 page-locks the caller's buffers during pairwise and rerank (then concurrent
 * calls must not share a host buffer: the first to finish unlocks it);
 * the large host copies of pairwise, rerank and their _evaluate twins (q and g in, the result out) go
 * through two page-locked staging buffers kept between calls (16 MiB each per device,
 * R4J_CUDA_STAGING_BYTES to change; up to 8 threads, kept for the process once started, fill or empty
 * one while the DMA engine moves the other, R4J_CUDA_COPY_THREADS to change), R4J_CUDA_STAGING=0 for the driver's own pageable copies
 * (on an H200: 37 ms instead of 20 for the Market-shaped pairwise with its result);
 * R4J_CUDA_PROFILE prints the time of each stage of pairwise and rerank to stderr.
 */
#ifndef REID4J_H
#define REID4J_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define R4J_OK 0
#define R4J_EINVAL 1    /* bad argument: null pointer, negative size, unknown metric, k out of range */
#define R4J_ENOMEM 2    /* host or device allocation failed */
#define R4J_ECUDA 3     /* a CUDA call failed (message names it) */
#define R4J_ENOTBUILT 4 /* the library was built without this backend */

/* Metrics. */
#define R4J_SQEUCLIDEAN 0
#define R4J_EUCLIDEAN 1
#define R4J_COSINE 2

/* Message for the last failing call on this thread ("" if none). Valid until the next call. */
const char *r4j_last_error(void);

/* Library version string, e.g. "0.1.0". */
const char *r4j_version(void);

/* Which SIMD path the CPU kernels use on this machine: "avx512", "avx2" or "scalar". */
const char *r4j_cpu_isa(void);

/* Threads the CPU kernels use (OpenMP). n <= 0 restores the default (all cores). */
void r4j_cpu_set_threads(int n);
int r4j_cpu_threads(void);

/* Scratch memory the CPU kernels keep between calls (packed galleries, distance blocks), so that a
 * repeated call does not fault in fresh pages again: at most R4J_CPU_SCRATCH_MB MiB (environment,
 * read once; default 256, 0 keeps nothing). r4j_cpu_scratch_bytes: bytes kept now (not in use);
 * r4j_cpu_scratch_release: frees them (buffers in use by running calls are not affected). */
int64_t r4j_cpu_scratch_bytes(void);
void r4j_cpu_scratch_release(void);

/* ---------------------------------------------------------------------------------------------
 * 1. Pairwise distances. q: [nq, d], g: [ng, d] -> out: [nq, ng].
 */
int r4j_cpu_pairwise(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                     float *out);

/* 2. Top-k smallest per row of a dense matrix dist: [rows, cols], 0 <= k <= cols.
 *    out_val, out_idx: [rows, k], ascending by (value, column index). No full sort.
 *    NaN values are not allowed (undefined order). */
int r4j_cpu_topk(const float *dist, int64_t rows, int64_t cols, int64_t k, float *out_val,
                 int32_t *out_idx);

/* 1+2 fused: the k nearest gallery rows for every query row, streaming the distance matrix in
 * tiles so that [nq, ng] is never held. 0 <= k <= ng. Outputs as in r4j_cpu_topk. */
int r4j_cpu_pairwise_topk(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                          int metric, int64_t k, float *out_val, int32_t *out_idx);

/* 1+2 fused, with each row's largest distance too: r4j_cpu_pairwise_topk's outputs, plus
 * out_max: [nq], the largest of each row's ng distances (-infinity when ng == 0); k may be 0.
 * What one tile of a k-nearest-neighbour graph for k-reciprocal re-ranking needs (the lists and
 * the row maxima). The same distances as r4j_cpu_pairwise, bit for bit. */
int r4j_cpu_pairwise_topk_max(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                              int metric, int64_t k, float *out_val, int32_t *out_idx, float *out_max);

/* 3. Batch-hard triplet mining. x: [n, d], labels: [n].
 *    For each anchor i: pos = argmax_{j != i, labels[j] == labels[i]} dist(i, j)   (hardest positive)
 *                       neg = argmin_{j: labels[j] != labels[i]} dist(i, j)        (hardest negative)
 *    Ties go to the smaller index. With no candidate the index is -1 and the distance NaN.
 *    Outputs: [n] each. */
int r4j_cpu_batch_hard(const float *x, const int32_t *labels, int64_t n, int64_t d, int metric,
                       int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist);

/* 3b. Anchors against a feature memory (cross-batch memory, XBM). a: [na, d], m: [nm, d].
 *    As above with j ranging over the memory; no entry is excluded (if the memory holds a copy
 *    of the anchor, that copy is an ordinary positive). Outputs: [na] each, indices into m. */
int r4j_cpu_batch_hard_memory(const float *a, const int32_t *a_labels, int64_t na, const float *m,
                              const int32_t *m_labels, int64_t nm, int64_t d, int metric,
                              int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist);

/* 3c. A resident mining memory on the CPU (XBM): `capacity` rows of d floats kept packed for the
 *    distance engine and overwritten in place, so that mining against it neither copies nor packs
 *    the memory per call (a FIFO writes its oldest slots; the caller keeps the order and labels).
 *    r4j_cpu_memory_batch_hard(h, nm, m_labels, a, a_labels, na, ...) gives, bit for bit, what
 *    r4j_cpu_batch_hard_memory gives with the memory's rows [0, nm) as m. Rows never written are 0.
 *    A handle is written (create, write, batch_hard, free) by one thread at a time and never while it is
 *    searched; searches (r4j_cpu_memory_topk) only read it. Memory: about capacity * d floats, held until free. */
int r4j_cpu_memory_create(int64_t capacity, int64_t d, int metric, void **out);
/* Overwrites rows [row0, row0 + n) with rows: [n, d] (0 <= row0, row0 + n <= capacity). */
int r4j_cpu_memory_write(void *h, int64_t row0, const float *rows, int64_t n);
/* Mining of a: [na, d] against rows [0, nm) (0 <= nm <= capacity) with labels m_labels: [nm]. */
int r4j_cpu_memory_batch_hard(void *h, int64_t nm, const int32_t *m_labels, const float *a,
                              const int32_t *a_labels, int64_t na, int32_t *pos_idx, float *pos_dist,
                              int32_t *neg_idx, float *neg_dist);
/* Top-k search of q: [nq, d] against rows [row0, row0 + nrows) of the memory (0 <= k <= nrows,
 *    row0 + nrows <= capacity, row0 a multiple of R4J_CPU_MEMORY_ROW_ALIGN, so that the rows start a
 *    packed panel): bit for bit what r4j_cpu_pairwise_topk gives with those rows as g, without packing
 *    them per call (a gallery searched many times is written once). out_val, out_idx: [nq, k], as
 *    there, indices relative to row0. Unlike the other calls on a handle, searches only read it: any
 *    number may run at once, but none while the handle is written or freed. */
#define R4J_CPU_MEMORY_ROW_ALIGN 32
int r4j_cpu_memory_topk(void *h, int64_t row0, int64_t nrows, const float *q, int64_t nq, int64_t k,
                        float *out_val, int32_t *out_idx);
/* Frees the handle. A null handle is a no-op. */
void r4j_cpu_memory_free(void *h);

/* 4. k-reciprocal re-ranking (Zhong et al., CVPR 2017), as the widely used reference code does it.
 *    q: [nq, d], g: [ng, d] -> out: [nq, ng] final distance.
 *    All N = nq + ng items; D = metric distance over them; original(i, j) = D(i, j) / max_k D(k, i)
 *    (divided by 1 instead when that maximum is not positive);
 *    nearest = ascending by (D, index), the order of original except where the division rounds two
 *    distances to one value (every backend orders by D, so such a pair is not reordered by index);
 *    R(i, k1) from the k1+1 nearest, expanded with R(c, round_half_even(k1/2)) of each
 *    candidate c when |R(c) & R(i)| > 2/3 |R(c)|; V(i, .) = exp(-original(i, .)) on the expanded set,
 *    normalised to sum 1; if k2 > 1, V(i) = mean of V over the k2 nearest of i; Jaccard distance
 *    1 - s / (2 - s), s = sum_c min(V(i, c), V(j, c)); out = (1 - lambda) Jaccard + lambda original.
 *    Memory is O(N * k1) besides the [nq, ng] output: the N x N distance is streamed.
 *    Requires k1 >= 1, k2 >= 1, 0 <= lambda <= 1. */
int r4j_cpu_rerank(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                   int32_t k1, int32_t k2, float lambda, float *out);

/* 4b. Exact neighbour lists of a whole set: step 1 of r4j_cpu_rerank on its own, in steps that a
 *    caller can report progress between (at a million items the pass takes about an hour of two
 *    cores). The N = nq + ng items are q's rows, then g's ([nq, d] and [ng, d]; either may be
 *    empty). For every item: its k nearest among all N (itself included), ascending by (distance,
 *    index), and its largest distance to any of the N. Only the tiles on and above the diagonal of
 *    the N x N distance matrix are computed, each feeding its rows and, transposed, its columns:
 *    half the work of r4j_cpu_pairwise_topk_max of every item against all, with the same distances
 *    and lists bit for bit. Memory: about N * (2k + 4) * 4 bytes besides the inputs.
 *
 *    r4j_cpu_knn_create: 1 <= k <= N < 2^31. q and g are read by every r4j_cpu_knn_run and must
 *      stay valid and unchanged until r4j_cpu_knn_free. *out: the handle (null on failure).
 *    r4j_cpu_knn_run: computes the tiles of the next row bands, at least one band, and no further
 *      band once this call has computed max_tiles tiles (max_tiles <= 0: all that remain); a call
 *      after the last band does nothing. done, total (each may be null): tiles computed so far and
 *      in all (all tiles cost about the same, so done / total is the share of the work done).
 *    r4j_cpu_knn_result: out_val, out_idx: [N, k]; out_max: [N]. R4J_EINVAL until every tile
 *      has been computed.
 *    r4j_cpu_knn_free: frees the handle; a null handle is a no-op.
 *    A handle is used by one thread at a time. No CUDA twin: the CUDA backend makes the same lists
 *    from r4j_cuda_pairwise and r4j_cuda_topk of blocks of items against chunks of rows. */
int r4j_cpu_knn_create(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric, int64_t k,
                       void **out);
int r4j_cpu_knn_run(void *h, int64_t max_tiles, int64_t *done, int64_t *total);
int r4j_cpu_knn_result(void *h, float *out_val, int32_t *out_idx, float *out_max);
void r4j_cpu_knn_free(void *h);

/* 4c. Two sets' lists against each other: one tile of a k-nearest-neighbour graph cut into blocks
 *    of items, computed once for both of its blocks. a: [na, d], b: [nb, d] (either may be empty).
 *    a's rows: their ka = min(k, nb) nearest rows of b, ascending by (distance, row of b), and their
 *    largest distance to b (a_val, a_idx: [na, ka]; a_max: [na]); b's rows likewise against a
 *    (kb = min(k, na); b_val, b_idx: [nb, kb]; b_max: [nb]); -inf maxima against an empty set. The
 *    same lists and values bit for bit as r4j_cpu_pairwise_topk_max(a, b, ka) and (b, a, kb), for half
 *    the arithmetic: each distance is computed once and offered to its row's and its column's list.
 *    Requires k >= 1 and na, nb < 2^31. */
int r4j_cpu_knn_pair(const float *a, int64_t na, const float *b, int64_t nb, int64_t d, int metric, int64_t k,
                     float *a_val, int32_t *a_idx, float *a_max, float *b_val, int32_t *b_idx, float *b_max);

/* ---------------------------------------------------------------------------------------------
 * CUDA twins: same arguments (host pointers), same results up to float rounding.
 */
/* 1 if the library was compiled with CUDA kernels, else 0. */
int r4j_cuda_compiled(void);
/* Number of usable CUDA devices into *count (0 with no driver or no device; status still OK). */
int r4j_cuda_device_count(int *count);
/* Device the CUDA kernels of this thread use (default 0). */
int r4j_cuda_set_device(int device);
/* Name of the current device into buf (NUL-terminated, at most len bytes). */
int r4j_cuda_device_name(char *buf, int len);

/* Precision of the distance passes (the a.b products) of this thread's CUDA calls: pairwise,
 * pairwise_topk, rows_topk, batch_hard_memory, rerank and the *_evaluate pair. Row norms, the
 * k-reciprocal stages and the selection stay in FP32 whatever the setting.
 *  R4J_FP32   (default) the FP32 fma chains: the CPU kernels' distances to float rounding, and
 *             dist(x, x) is exactly 0 for the squared metrics.
 *  R4J_TF32X3 tensor cores, each input split into a TF32 head and a TF32 tail and a.b taken as
 *             head.head + head.tail + tail.head (three products, the tail.tail one dropped): error
 *             of the FP32 order, about 2x the FP32 pass's speed where tensor cores outrun FP32.
 *  R4J_TF32   tensor cores on inputs rounded to TF32 (10-bit mantissa): relative error of the dot
 *             products up to ~1e-3 of |a| |b|, dist(x, x) small but not 0; the fastest.
 * Needs compute capability 8.0 or newer for the two TF32 settings (the call then fails with
 * R4J_EINVAL, naming the device's capability). Set per host thread, like the device. */
#define R4J_FP32 0
#define R4J_TF32X3 1
#define R4J_TF32 2
int r4j_cuda_set_precision(int precision);
/* This thread's precision (R4J_FP32 unless set). */
int r4j_cuda_precision(void);

int r4j_cuda_pairwise(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                      float *out);
int r4j_cuda_topk(const float *dist, int64_t rows, int64_t cols, int64_t k, float *out_val,
                  int32_t *out_idx);
int r4j_cuda_pairwise_topk(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                           int metric, int64_t k, float *out_val, int32_t *out_idx);
int r4j_cuda_batch_hard(const float *x, const int32_t *labels, int64_t n, int64_t d, int metric,
                        int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist);
int r4j_cuda_batch_hard_memory(const float *a, const int32_t *a_labels, int64_t na, const float *m,
                               const int32_t *m_labels, int64_t nm, int64_t d, int metric,
                               int32_t *pos_idx, float *pos_dist, int32_t *neg_idx,
                               float *neg_dist);
int r4j_cuda_rerank(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                    int32_t k1, int32_t k2, float lambda, float *out);

/* ---------------------------------------------------------------------------------------------
 * 5. Device-resident rows (CUDA only): a growable matrix [n, d] kept on the device with its row
 *    norms, for searching the same gallery many times without copying it each time. Only appended
 *    rows and the queries travel host -> device.
 *
 * A handle belongs to the device that was current for the calling thread when it was created
 * (r4j_cuda_set_device); every call on it uses that device. Concurrent r4j_cuda_rows_topk calls on
 * one handle are safe; r4j_cuda_rows_append and r4j_cuda_rows_free must not run at the same time
 * as any other call on the same handle (the caller serialises them, e.g. with a read/write lock).
 * Device memory: rows and norms live in one buffer each, allocated like the scratch buffers (see
 * above) and held until r4j_cuda_rows_free.
 */
/* A new, empty handle for rows of d floats (1 <= d < 2^31) searched with `metric` into *out
 * (*out is set to NULL on failure). No device memory is allocated until the first append. */
int r4j_cuda_rows_create(int64_t d, int metric, void **out);
/* Appends rows: [n, d] (host memory, 0 <= n, count + n < 2^31) after the rows already held; their
 * norms are computed on the device by the same kernel as r4j_cuda_pairwise_topk's, so results are
 * bit-identical to that function's on the same rows. The capacity grows geometrically (doubling;
 * exactly to the new count when doubling does not fit in device memory). On failure (R4J_ENOMEM:
 * the device is full) the handle is unchanged: same rows, same capacity, still usable. */
int r4j_cuda_rows_append(void *h, const float *rows, int64_t n);
/* r4j_cuda_pairwise_topk(q, nq, rows[row0 .. row0 + nrows), nrows, d, metric, k, ...) without
 * copying the rows: for each query of q: [nq, d] (host) the k nearest of rows row0 .. row0+nrows-1
 * (0 <= row0, 0 <= nrows, row0 + nrows <= count, 0 <= k <= nrows), indices relative to row0,
 * into out_val, out_idx: [nq, k] (host). Same ordering, ties and values as r4j_cuda_pairwise_topk
 * on those rows, bit for bit. */
int r4j_cuda_rows_topk(void *h, int64_t row0, int64_t nrows, const float *q, int64_t nq, int64_t k,
                       float *out_val, int32_t *out_idx);
/* Rows held, or -1 (and R4J_EINVAL in r4j_last_error) for a null handle. Needs no device. */
int64_t r4j_cuda_rows_count(void *h);
/* Frees the handle and its device memory. A null handle is a no-op. */
void r4j_cuda_rows_free(void *h);

/* ---------------------------------------------------------------------------------------------
 * 6. Optimiser arithmetic on tensors that already live on the device (CUDA only): the trainer's
 *    AMP unscaling and Adam update over all of a model's parameter tensors in a few launches
 *    instead of several small kernels per tensor.
 *
 * Unlike every call above, the tensor pointers here are DEVICE pointers (float32, dense) of the
 * current device (r4j_cuda_set_device), e.g. libtorch's parameters and gradients; the arrays
 * holding them (and numel, step_size, bc2_sqrt) are host memory, free to reuse once the call
 * returns. The work is queued on `stream` (a cudaStream_t of the current device; NULL is the legacy
 * default stream) and the call returns without waiting for it: the caller orders it with its other
 * device work by passing the stream that work runs on. count >= 0 tensors of numel[i] >= 0 floats;
 * a pointer may be NULL only where numel[i] == 0. Tensors must not overlap.
 */
/* grads[i][j] *= inv_scale for every element; *found_inf (a device float) is set to 1 when any
 * result is NaN or infinite and is otherwise left as it was (the caller zeroes it first). */
int r4j_cuda_unscale_grads(int64_t count, float *const *grads, const int64_t *numel, float inv_scale,
                           float *found_inf, void *stream);
/* One Adam step (Kingma & Ba) with coupled L2 weight decay, element by element in the order of
 * libtorch's Adam: g = grad + weight_decay * p; m = beta1 m + (1 - beta1) g;
 * v = beta2 v + (1 - beta2) g^2; p -= step_size[i] * m / (sqrt(v) / bc2_sqrt[i] + eps), where for
 * tensor i at its step t the caller gives step_size[i] = lr / (1 - beta1^t) and
 * bc2_sqrt[i] = sqrt(1 - beta2^t) (> 0). exp_avg (m) and exp_avg_sq (v) are updated in place. */
int r4j_cuda_adam_step(int64_t count, float *const *params, const float *const *grads, float *const *exp_avg,
                       float *const *exp_avg_sq, const int64_t *numel, const float *step_size,
                       const float *bc2_sqrt, float beta1, float beta2, float eps, float weight_decay,
                       void *stream);
/* Mixed precision without reading the overflow flag on the host each step: the loss scale, the
 * step counts and the decision to step stay on the device, so that the host queues the next step
 * without waiting for this one (as PyTorch's capturable Adam keeps its step counts on the device).
 * scale, skip, found_inf and good_steps are pointers to single device values; step[i] points to
 * tensor i's own device int64 step count. */
/* As r4j_cuda_unscale_grads, the factor being 1 / *scale (computed on the device in double, then
 * rounded to float, as the host does for r4j_cuda_unscale_grads). *scale must be > 0 and finite. */
int r4j_cuda_unscale_grads_dev(int64_t count, float *const *grads, const int64_t *numel, const float *scale,
                               float *found_inf, void *stream);
/* As r4j_cuda_adam_step, with the bias corrections taken from the device step counts: unless skip
 * is non-NULL and *skip != 0 (then nothing changes), tensor i takes its step t = *step[i] + 1 with
 * step_size = lr[i] / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t), computed in double and
 * rounded to float (the host's arithmetic for r4j_cuda_adam_step), and *step[i] becomes t, also for
 * tensors of numel 0. The moments use (float) beta1 and (float) beta2. step[i] may not be NULL;
 * lr[i] >= 0 and finite. */
int r4j_cuda_adam_step_dev(int64_t count, float *const *params, const float *const *grads, float *const *exp_avg,
                           float *const *exp_avg_sq, const int64_t *numel, const double *lr, int64_t *const *step,
                           double beta1, double beta2, float eps, float weight_decay, const float *skip,
                           void *stream);
/* Dynamic loss scaling's update, by one device thread: when *found_inf != 0, *scale = max(1, *scale / 2)
 * and *good_steps = 0; otherwise ++*good_steps, and each time it reaches a multiple of
 * growth_interval (> 0) *scale doubles (unless that would overflow float). */
int r4j_cuda_amp_update_scale(float *scale, int64_t *good_steps, const float *found_inf, int64_t growth_interval,
                              void *stream);

/* ---------------------------------------------------------------------------------------------
 * 7. Evaluation on the device (CUDA only): r4j_cuda_pairwise and r4j_cuda_rerank whose [nq, ng]
 *    result is scored where it was computed, under the Market-1501 protocol, so that only four
 *    numbers per query travel back to the host instead of the matrix.
 *
 * Protocol (the same as the Java evaluator, org.reid4j.eval.ReidEvaluator, the reference): for
 * query i with pid p and camera c, gallery entries with pid -1 (junk) and those with pid p AND
 * camera c are left out; the matches are the entries with pid p from another camera; the rest is
 * ranked ascending by (distance, gallery index). With P matches and rank_k the 1-based position of
 * the k-th match among the entries left: AP = (1/P) sum_k k / rank_k, INP = P / rank_P.
 *
 * Labels are host arrays: q_pid, q_cam [nq]; g_pid, g_cam [ng]. Per query i, into host arrays [nq]:
 *   nan_col[i] = the first column of row i whose distance is NaN, else -1 (the row is then not
 *                scored: the caller reports it, as the Java evaluator does);
 *   first[i]   = rank_1 (>= 1) when scored; 0 when not evaluated (pid -1, or a NaN in the row);
 *                -1 when the query has no match (a "skipped" query);
 *   ap[i], inp[i] = AP and INP when first[i] >= 1, else 0.
 * CMC(r) is then the share of evaluated queries with 1 <= first <= r. Every other argument as in
 * r4j_cuda_pairwise / r4j_cuda_rerank; nq, ng < 2^31. */
int r4j_cuda_pairwise_evaluate(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                               const int32_t *q_pid, const int32_t *q_cam, const int32_t *g_pid,
                               const int32_t *g_cam, int32_t *first, double *ap, double *inp, int32_t *nan_col);
int r4j_cuda_rerank_evaluate(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                             int32_t k1, int32_t k2, float lambda, const int32_t *q_pid, const int32_t *q_cam,
                             const int32_t *g_pid, const int32_t *g_cam, int32_t *first, double *ap, double *inp,
                             int32_t *nan_col);

#ifdef __cplusplus
}
#endif

#endif /* REID4J_H */
