// Internal helpers shared by the CUDA sources of reid4j: error reporting, device selection, RAII
// wrappers, and the building blocks (row norms, distance tiles, per-row top-k selection) that the
// public r4j_cuda_* functions are made of. Not part of the public API.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"
#include "reid4j.h"

namespace r4j {
namespace cu {

// Turns a failed CUDA call into R4J_ECUDA (R4J_ENOMEM for an allocation failure) with a message
// "<fn>: <call> failed: <error string> (<error name>)". Clears the non-sticky error state.
int cuda_fail(cudaError_t err, const char *fn, const char *call);

// Checks that a CUDA device is usable and makes this thread's device current. Returns R4J_OK, or
// R4J_ECUDA with "no CUDA device: <fn>: ..." when there is no driver or no device.
int prepare_device(const char *fn);
// This thread's precision of the distance passes (r4j_cuda_set_precision) into *precision; fails when
// a TF32 setting meets a device without TF32 tensor cores (compute capability below 8.0).
int distance_precision(const char *fn, int *precision);

// Evaluates a CUDA runtime call; on failure returns the status from cuda_fail (needs `FN` in scope).
#define R4J_CU(call)                                                              \
  do {                                                                            \
    cudaError_t r4j_err_ = (call);                                                \
    if (r4j_err_ != cudaSuccess) return ::r4j::cu::cuda_fail(r4j_err_, FN, #call); \
  } while (0)

// Checks the launch of the kernel just issued.
#define R4J_CU_LAUNCH(name)                                                            \
  do {                                                                                 \
    cudaError_t r4j_err_ = cudaGetLastError();                                         \
    if (r4j_err_ != cudaSuccess) return ::r4j::cu::cuda_fail(r4j_err_, FN, "launch of " name); \
  } while (0)

// Evaluates an expression returning a reid4j status; returns it when it is not R4J_OK.
#define R4J_TRY(expr)               \
  do {                              \
    int r4j_st_ = (expr);           \
    if (r4j_st_ != R4J_OK) return r4j_st_; \
  } while (0)

// Does the current device have the stream-ordered allocator? When it does, its default pool is set
// (once per device) to keep up to kPoolKeepBytes cached between calls, so that repeated calls do
// not map and unmap their buffers each time.
bool use_memory_pool();
constexpr uint64_t kPoolKeepBytes = uint64_t(4) << 30;

// Device buffer owned by this object (freed on every path). Allocated and freed in the order of
// the call's stream (cudaMallocAsync / cudaFreeAsync) where the device has memory pools, so that
// freeing never waits for the whole device (the JVM may run libtorch on it at the same time);
// plain cudaMalloc / cudaFree otherwise. Declare the Stream before the buffers: they are freed
// first, on the stream, which its destructor then synchronises.
template <typename T>
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
  ~DevBuf() { reset(); }
  // Allocates n elements on stream s (n == 0 gives a null pointer); frees what was held before.
  cudaError_t alloc(int64_t n, cudaStream_t s) {
    reset();
    if (n <= 0) return cudaSuccess;
    void *p = nullptr;
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    async_ = use_memory_pool();
    cudaError_t e = async_ ? cudaMallocAsync(&p, bytes, s) : cudaMalloc(&p, bytes);
    if (e == cudaSuccess) {
      ptr_ = static_cast<T *>(p);
      s_ = s;
    }
    return e;
  }
  void reset() {
    if (ptr_) async_ ? cudaFreeAsync(ptr_, s_) : cudaFree(ptr_);
    ptr_ = nullptr;
  }
  T *get() const { return ptr_; }
  // Whether the buffer came from the stream-ordered allocator (then free it with cudaFreeAsync).
  bool async() const { return async_; }
  // Gives up ownership: the caller frees the pointer (cudaFreeAsync when async(), else cudaFree).
  T *release() {
    T *p = ptr_;
    ptr_ = nullptr;
    return p;
  }

 private:
  T *ptr_ = nullptr;
  cudaStream_t s_ = nullptr;
  bool async_ = false;
};

// A stream owned by this object, synchronised and destroyed on every path.
class Stream {
 public:
  Stream() = default;
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;
  ~Stream() {
    if (s_) {
      cudaStreamSynchronize(s_);
      cudaStreamDestroy(s_);
    }
  }
  cudaError_t create() { return cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking); }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// Events owned by this object, destroyed on every path (a record still pending completes on its own).
class Events {
 public:
  explicit Events(size_t n) : e_(n, nullptr) {}
  Events(const Events &) = delete;
  Events &operator=(const Events &) = delete;
  ~Events() {
    for (cudaEvent_t e : e_)
      if (e) cudaEventDestroy(e);
  }
  cudaError_t create() {
    for (cudaEvent_t &e : e_) {
      const cudaError_t r = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
      if (r != cudaSuccess) return r;
    }
    return cudaSuccess;
  }
  cudaEvent_t operator[](size_t i) const { return e_[i]; }

 private:
  std::vector<cudaEvent_t> e_;
};

// Wall time of each stage of one call, printed to stderr as "<fn>: <stage> <ms>" when the
// environment variable R4J_CUDA_PROFILE is set. Each mark synchronises the stream, so this is for
// diagnosis only (scripts/gpu-check.sh prints one profiled call after the timed ones).
class StageClock {
 public:
  StageClock(const char *fn, cudaStream_t s) : fn_(fn), s_(s), on_(std::getenv("R4J_CUDA_PROFILE") != nullptr) {
    if (on_) t_ = std::chrono::steady_clock::now();
  }
  void mark(const char *stage) {
    if (!on_) return;
    cudaStreamSynchronize(s_);
    const auto t = std::chrono::steady_clock::now();
    std::fprintf(stderr, "%s: %-34s %9.2f ms\n", fn_, stage, std::chrono::duration<double, std::milli>(t - t_).count());
    t_ = t;
  }

 private:
  const char *fn_;
  cudaStream_t s_;
  bool on_;
  std::chrono::steady_clock::time_point t_;
};

// Page-locks a caller's host buffer for the lifetime of this object when R4J_CUDA_PIN_HOST=1, so that
// the large copies run as direct DMA instead of through the driver's pageable staging. Off by
// default: registering costs time of its own, and whether it pays is measured by gpu_check (it
// times rerank and pairwise both ways). A failed registration leaves the copy pageable.
class HostPin {
 public:
  HostPin(const void *p, size_t bytes) {
    const char *e = std::getenv("R4J_CUDA_PIN_HOST");
    if (!e || e[0] != '1' || !p || bytes == 0) return;
    if (cudaHostRegister(const_cast<void *>(p), bytes, cudaHostRegisterDefault) == cudaSuccess)
      p_ = const_cast<void *>(p);
    else
      cudaGetLastError();  // e.g. already registered by the caller: nothing to undo
  }
  HostPin(const HostPin &) = delete;
  HostPin &operator=(const HostPin &) = delete;
  ~HostPin() {
    if (p_) cudaHostUnregister(p_);
  }

 private:
  void *p_ = nullptr;
};

// Copies `bytes` of pageable host memory src to device memory dst on stream s, and returns once src
// may be reused (the caller still orders later work on s). The copy goes through two page-locked
// staging buffers kept between calls (one pair per device, 16 MiB each; R4J_CUDA_STAGING_BYTES
// changes the size): up to 8 threads (R4J_CUDA_COPY_THREADS; the caller and workers started once and
// kept, copy_pool.h) fill one while the DMA engine moves the other, so the transfer runs near
// page-locked speed without page-locking the caller's buffer (on an H200, the Market-shaped pairwise
// with its result: 20 ms, against 37 through the driver's own pageable copies and 58 with one filling
// thread). R4J_CUDA_STAGING=0, or no page-locked memory to be had: a plain cudaMemcpyAsync, which the
// driver stages itself.
int upload(const char *FN, void *dst, const void *src, size_t bytes, cudaStream_t s);

// Copies `bytes` of device memory src, once the work issued to s before is done, to pageable host
// memory dst: through the same staging halves (the DMA engine fills one while the CPU threads empty
// the other), dst filled on return; with R4J_CUDA_STAGING=0 a cudaMemcpyAsync on s, dst filled once
// s is synchronised.
int download(const char *FN, void *dst, const void *src, size_t bytes, cudaStream_t s);

// Dynamic shared memory a block of `kernel` may use on the current device: the device's opt-in
// maximum less `static_bytes` (the kernel's own __shared__ variables, rounded up), into *limit.
// The first call per device raises the kernel's limit to exactly that (raised: one flag per device,
// owned by the caller). The limit is never lowered and every thread sets the same value, so
// concurrent calls cannot invalidate each other's launches.
constexpr int kMaxDevices = 64;
int dynamic_smem_limit(const char *FN, const void *kernel, std::atomic<bool> *raised, int static_bytes, size_t *limit);

// Bytes of device scratch a streamed distance chunk may use.
constexpr int64_t kChunkBytes = int64_t(1) << 30;

// Rows per chunk so that rows * bytes_per_row <= budget (at least 1, at most total).
inline int64_t chunk_rows(int64_t total, int64_t bytes_per_row, int64_t budget = kChunkBytes) {
  if (bytes_per_row < 1) bytes_per_row = 1;
  int64_t r = budget / bytes_per_row;
  if (r < 1) r = 1;
  if (r > total) r = total;
  return r;
}

// ---- building blocks (all asynchronous on `s`; device pointers) ----

// out[i] = |x_i|^2 (sq/euclidean) or |x_i| (cosine), x: [n, d].
int launch_row_norms(const char *FN, const float *x, int64_t n, int64_t d, int metric, float *out,
                     cudaStream_t s);

// Rows and columns of one distance tile: symmetric bands start at multiples of it.
constexpr int64_t kDistanceTile = 128;

// out[i * ldo + j] = dist(a_i, b_j) for i < m, j < n, from the row norms of launch_row_norms.
// m must be < 2^31 and at most 65535 * 128 per call (callers chunk), n < 2^31. sym: a is b (and m
// is n); half the tiles are computed and mirrored, with the same result. sym with col0 > 0: b (and
// bn) are rows col0 .. col0 + n of a, m = col0 + n, col0 a multiple of kDistanceTile: the column band
// col0 .. col0 + n of the symmetric [m, m] matrix out, on and above its diagonal, is computed and
// mirrored into rows col0 .. col0 + n (the bands 0, b1, b2, ... in turn give the whole matrix).
int launch_distance(const char *FN, const float *a, const float *an, int64_t m, const float *b,
                    const float *bn, int64_t n, int64_t d, int metric, float *out, int64_t ldo,
                    cudaStream_t s, bool sym = false, int64_t col0 = 0);

// Bytes of device memory a call may use for its largest scratch buffer: R4J_CUDA_CHUNK_BYTES when
// set (tests force chunking with it, timings compare budgets), else half the free device memory,
// at least kChunkBytes and at most 16 GiB.
int64_t scratch_budget();

// Largest k handled with the sorting buffer in shared memory (beyond it a global buffer is used).
constexpr int64_t kSelectSharedMax = 4096;

// Power of two >= k (1 for k <= 1).
inline int64_t select_pad(int64_t k) {
  int64_t p = 1;
  while (p < k) p <<= 1;
  return p;
}

// Per-row k smallest of dist: [rows, cols] with leading dimension ld, ascending by (value, column).
// Writes out_val (may be null) and out_idx, [rows, k] contiguous. 1 <= k <= cols. When select_pad(k) > kSelectSharedMax, gscratch must hold
// rows * select_pad(k) 64-bit words.
int launch_select(const char *FN, const float *dist, int64_t ld, int64_t rows, int64_t cols, int64_t k,
                  float *out_val, int32_t *out_idx, unsigned long long *gscratch, cudaStream_t s);

// The k nearest of g for every row of q, all on the device: dq [nq, d] and dg [ng, d] with their
// row norms qn, gn from launch_row_norms; out_val, out_idx: HOST [nq, k], ascending by (distance,
// index into g), as r4j_cuda_pairwise_topk. 0 <= k <= ng. Streams the distance matrix in row chunks
// (scratch allocated and freed here, in the order of s); asynchronous: the caller synchronises s
// before reading the outputs. Shared by r4j_cuda_pairwise_topk (g copied per call) and
// r4j_cuda_rows_topk (g resident), so that both give the same bits.
int device_pairwise_topk(const char *FN, const float *dq, const float *qn, int64_t nq, const float *dg,
                         const float *gn, int64_t ng, int64_t d, int metric, int64_t k, float *out_val,
                         int32_t *out_idx, cudaStream_t s);

// ---- evaluation on the device (r4j_cuda_*_evaluate) ----

// Host arrays of the Market-1501 labels: q_pid, q_cam [nq]; g_pid, g_cam [ng].
struct EvalLabels {
  const int32_t *q_pid, *q_cam, *g_pid, *g_cam;
};
// Host arrays [nq] the per-query scores go to (see reid4j.h, section 7).
struct EvalScores {
  int32_t *first;
  double *ap, *inp;
  int32_t *nan_col;
};

// The labels on the device and the per-query scores computed there, for distance rows that never
// leave the device: upload once, rows() for each chunk of rows as it is computed, download at the
// end (all asynchronous on s; the caller synchronises before reading the host scores).
// Argument checks of r4j_cuda_*_evaluate: labels and outputs non-null where nq (and ng) > 0,
// ng >= 1 (nothing to rank otherwise), nq and ng < 2^31.
int check_eval_args(const char *FN, int64_t nq, int64_t ng, const int32_t *q_pid, const int32_t *q_cam,
                    const int32_t *g_pid, const int32_t *g_cam, const int32_t *first, const double *ap,
                    const double *inp, const int32_t *nan_col);

class EvalOnDevice {
 public:
  int upload(const char *FN, const EvalLabels *l, int64_t nq, int64_t ng, cudaStream_t s);
  // Scores of query rows row0 .. row0 + rows - 1 from dist: [rows, ng] (device).
  int rows(const char *FN, const float *dist, int64_t rows, int64_t ng, int64_t row0, cudaStream_t s);
  int download(const char *FN, const EvalScores *out, cudaStream_t s);

 private:
  int64_t nq_ = 0;
  DevBuf<int32_t> labels_, first_;  // first_: first ranks [nq], then the NaN columns [nq]
  DevBuf<double> scores_;           // AP [nq], then INP [nq]
};

}  // namespace cu
}  // namespace r4j
