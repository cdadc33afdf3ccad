// Per-row top-k selection of the CUDA backend (radix select + bitonic sort of the selected
// entries), the fused distance + selection shared by the copying and the resident paths,
// r4j_cuda_topk and r4j_cuda_pairwise_topk.
#include <algorithm>
#include <string>

#include "cuda_common.cuh"

namespace r4j {
namespace cu {
namespace {

constexpr int SEL_THREADS = 256;
constexpr int SEL_WARPS = SEL_THREADS / 32;

// Order-preserving map of a float to an unsigned key; -0 and +0 get the same key.
__device__ __forceinline__ unsigned order_key(float v) {
  unsigned u = __float_as_uint(v == 0.f ? 0.f : v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}


// Key of column j of the row: from the cached copy in shared memory, or computed from global memory.
template <bool CACHED>
__device__ __forceinline__ unsigned key_at(const unsigned *keys, const float *__restrict__ r, int64_t j) {
  if (CACHED) return keys[j];
  return order_key(r[j]);
}

// One block per row. Radix select (4 passes of 8 bits) finds the key T of the k-th smallest value
// and how many entries equal to T are needed; one ordered pass then gathers the entries below T
// and the first needed entries equal to T (by column); the k gathered (key, column) words are
// sorted with a bitonic network in `buf` (shared memory, or gscratch + row * P when given).
// CACHED: the row's keys are computed once into shared memory (after the P sort words), so the
// five passes read global memory once. Histogram updates are aggregated per warp: lanes with the
// same bin add their count with one atomic (the first pass has nearly all keys in one or two bins).
template <bool CACHED>
__global__ void __launch_bounds__(SEL_THREADS)
    select_kernel(const float *__restrict__ dist, int64_t ld, int64_t cols, int k,
                  float *__restrict__ out_val, int32_t *__restrict__ out_idx,
                  unsigned long long *__restrict__ gscratch, int64_t P) {
  extern __shared__ unsigned long long sbuf[];
  __shared__ unsigned hist[256];
  __shared__ unsigned s_prefix, s_need, s_lt, s_eq;
  __shared__ unsigned s_warp[SEL_WARPS];

  const int tid = threadIdx.x;
  const int lane = tid & 31, warp = tid >> 5;
  const int64_t row = blockIdx.x;
  const float *r = dist + row * ld;
  unsigned long long *buf = gscratch ? gscratch + row * P : sbuf;
  unsigned *keys = reinterpret_cast<unsigned *>(sbuf + P);
  if (CACHED) {
    for (int64_t j = tid; j < cols; j += SEL_THREADS) keys[j] = order_key(r[j]);
    // (the barrier after the histogram reset below orders these writes before any read)
  }

  // 1. radix select, most significant byte first.
  unsigned prefix = 0, mask = 0, need = (unsigned)k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = tid; i < 256; i += SEL_THREADS) hist[i] = 0;
    __syncthreads();
    for (int64_t base = 0; base < cols; base += SEL_THREADS) {  // uniform trip count: whole warps below
      const int64_t j = base + tid;
      unsigned bin = 256;  // none
      if (j < cols) {
        const unsigned u = key_at<CACHED>(keys, r, j);
        if ((u & mask) == prefix) bin = (u >> shift) & 255u;
      }
      if (__ballot_sync(0xffffffffu, bin < 256) == 0) continue;
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (bin < 256 && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], (unsigned)__popc(peers));
    }
    __syncthreads();
    if (tid == 0) {
      unsigned cum = 0;
      int bsel = 255;
      for (int bb = 0; bb < 256; ++bb) {
        const unsigned h = hist[bb];
        if (cum + h >= need) {
          bsel = bb;
          break;
        }
        cum += h;
      }
      s_prefix = prefix | ((unsigned)bsel << shift);
      s_need = need > cum ? need - cum : 1u;
    }
    __syncthreads();
    prefix = s_prefix;
    need = s_need;
    mask |= 255u << shift;
  }

  // 2. gather: all entries below T (any order), then the first `need` entries equal to T.
  const unsigned T = prefix;
  const unsigned n_lt = (unsigned)k - need;
  if (tid == 0) {
    s_lt = 0;
    s_eq = 0;
  }
  __syncthreads();
  for (int64_t base = 0; base < cols; base += SEL_THREADS) {
    const int64_t j = base + tid;
    unsigned u = 0;
    bool lt = false, eq = false;
    if (j < cols) {
      u = key_at<CACHED>(keys, r, j);
      lt = u < T;
      eq = u == T;
    }
    const unsigned long long word = ((unsigned long long)u << 32) | (unsigned long long)(uint32_t)j;
    if (lt) {
      const unsigned p = atomicAdd(&s_lt, 1u);
      if (p < n_lt) buf[p] = word;
    }
    const unsigned ball = __ballot_sync(0xffffffffu, eq);
    if (lane == 0) s_warp[warp] = __popc(ball);
    __syncthreads();
    unsigned before = s_eq + __popc(ball & ((1u << lane) - 1u));
    unsigned total = 0;
    for (int w = 0; w < SEL_WARPS; ++w) {
      if (w < warp) before += s_warp[w];
      total += s_warp[w];
    }
    if (eq && before < need) buf[n_lt + before] = word;
    __syncthreads();
    if (tid == 0) s_eq += total;
    __syncthreads();
  }

  // 3. bitonic sort of P words (padding sorts last).
  for (int64_t i = k + tid; i < P; i += SEL_THREADS) buf[i] = ~0ull;
  __syncthreads();
  for (int64_t size = 2; size <= P; size <<= 1) {
    for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
      for (int64_t i = tid; i < (P >> 1); i += SEL_THREADS) {
        const int64_t lo = 2 * i - (i & (stride - 1));
        const int64_t hi = lo + stride;
        const bool asc = (lo & size) == 0;
        const unsigned long long x = buf[lo], y = buf[hi];
        if ((x > y) == asc) {
          buf[lo] = y;
          buf[hi] = x;
        }
      }
      __syncthreads();
    }
  }

  // 4. write out (values re-read so they are bit-identical to the input).
  for (int64_t i = tid; i < k; i += SEL_THREADS) {
    const uint32_t j = (uint32_t)(buf[i] & 0xffffffffull);
    if (out_val) out_val[row * k + i] = r[j];
    out_idx[row * k + i] = (int32_t)j;
  }
}

}  // namespace

int launch_select(const char *FN, const float *dist, int64_t ld, int64_t rows, int64_t cols, int64_t k,
                  float *out_val, int32_t *out_idx, unsigned long long *gscratch,
                  cudaStream_t s) {
  if (rows <= 0 || k <= 0) return R4J_OK;
  if (k > cols) return fail(R4J_EINVAL, std::string(FN) + ": internal: k > cols in selection");
  const int64_t P = select_pad(k);
  if (P > kSelectSharedMax) {  // sort buffer in global memory, keys read from the row each pass
    if (!gscratch) return fail(R4J_EINVAL, std::string(FN) + ": internal: selection scratch missing");
    select_kernel<false><<<(unsigned)rows, SEL_THREADS, 0, s>>>(dist, ld, cols, (int)k, out_val, out_idx,
                                                                  gscratch, P);
    R4J_CU_LAUNCH("select_kernel");
    return R4J_OK;
  }
  // Sort buffer in shared memory, and the row's keys too when they fit the block's opt-in limit.
  const size_t sort_bytes = (size_t)P * sizeof(unsigned long long);
  const size_t cached_bytes = sort_bytes + (size_t)cols * sizeof(unsigned);
  static std::atomic<bool> raised[kMaxDevices];
  size_t limit = 0;  // the kernel's own __shared__ variables take about 1.1 KB: 2 KB reserved
  R4J_TRY(dynamic_smem_limit(FN, reinterpret_cast<const void *>(select_kernel<true>), raised, 2048, &limit));
  if (cached_bytes <= limit) {
    select_kernel<true><<<(unsigned)rows, SEL_THREADS, cached_bytes, s>>>(dist, ld, cols, (int)k, out_val,
                                                                          out_idx, nullptr, P);
  } else {
    select_kernel<false><<<(unsigned)rows, SEL_THREADS, sort_bytes, s>>>(dist, ld, cols, (int)k, out_val,
                                                                         out_idx, nullptr, P);
  }
  R4J_CU_LAUNCH("select_kernel");
  return R4J_OK;
}

int device_pairwise_topk(const char *FN, const float *dq, const float *qn, int64_t nq, const float *dg,
                         const float *gn, int64_t ng, int64_t d, int metric, int64_t k, float *out_val,
                         int32_t *out_idx, cudaStream_t s) {
  if (nq <= 0 || k <= 0) return R4J_OK;
  const int64_t P = select_pad(k);
  const int64_t gwords = P > kSelectSharedMax ? P : 0;
  const int64_t per_row = ng * 4 + gwords * 8 + k * 8;
  const int64_t crow = std::min<int64_t>(chunk_rows(nq, per_row), 65535 * 128);
  DevBuf<float> dd, dval;
  DevBuf<int32_t> didx;
  DevBuf<unsigned long long> scratch;
  R4J_CU(dd.alloc(crow * ng, s));
  R4J_CU(dval.alloc(crow * k, s));
  R4J_CU(didx.alloc(crow * k, s));
  R4J_CU(scratch.alloc(crow * gwords, s));
  for (int64_t r0 = 0; r0 < nq; r0 += crow) {
    const int64_t r = std::min(crow, nq - r0);
    R4J_TRY(launch_distance(FN, dq + r0 * d, qn + r0, r, dg, gn, ng, d, metric, dd.get(), ng, s));
    R4J_TRY(launch_select(FN, dd.get(), ng, r, ng, k, dval.get(), didx.get(), scratch.get(), s));
    R4J_CU(cudaMemcpyAsync(out_val + r0 * k, dval.get(), sizeof(float) * r * k, cudaMemcpyDeviceToHost, s));
    R4J_CU(cudaMemcpyAsync(out_idx + r0 * k, didx.get(), sizeof(int32_t) * r * k, cudaMemcpyDeviceToHost, s));
  }
  // The scratch buffers are freed in stream order after the copies; the caller synchronises s.
  return R4J_OK;
}

}  // namespace cu
}  // namespace r4j

namespace {
int check_k_outputs(const char *fn, int64_t rows, int64_t k, float *out_val, int32_t *out_idx) {
  if (rows > 0 && k > 0 && (out_val == nullptr || out_idx == nullptr))
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": out_val or out_idx is null");
  return R4J_OK;
}
}  // namespace

extern "C" int r4j_cuda_topk(const float *dist, int64_t rows, int64_t cols, int64_t k, float *out_val,
                             int32_t *out_idx) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_topk";
  r4j::clear_error();
  if (rows < 0 || rows > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": rows " + std::to_string(rows) + " is outside [0, 2^31)");
  if (cols < 0 || cols > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": cols " + std::to_string(cols) + " is outside [0, 2^31)");
  if (k < 0 || k > cols)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": k " + std::to_string(k) + " is outside [0, cols = " +
                                     std::to_string(cols) + "]");
  if (rows > 0 && cols > 0 && dist == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": dist is null");
  R4J_TRY(check_k_outputs(FN, rows, k, out_val, out_idx));
  R4J_TRY(prepare_device(FN));
  if (rows == 0 || k == 0) return R4J_OK;

  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  const int64_t P = select_pad(k);
  const int64_t gwords = P > kSelectSharedMax ? P : 0;
  const int64_t per_row = cols * 4 + gwords * 8 + k * 8;
  const int64_t crow = chunk_rows(rows, per_row);
  DevBuf<float> dd, dval;
  DevBuf<int32_t> didx;
  DevBuf<unsigned long long> scratch;
  R4J_CU(dd.alloc(crow * cols, s));
  R4J_CU(dval.alloc(crow * k, s));
  R4J_CU(didx.alloc(crow * k, s));
  R4J_CU(scratch.alloc(crow * gwords, s));
  for (int64_t r0 = 0; r0 < rows; r0 += crow) {
    const int64_t r = std::min(crow, rows - r0);
    R4J_CU(cudaMemcpyAsync(dd.get(), dist + r0 * cols, sizeof(float) * r * cols, cudaMemcpyHostToDevice, s));
    R4J_TRY(launch_select(FN, dd.get(), cols, r, cols, k, dval.get(), didx.get(), scratch.get(), s));
    R4J_CU(cudaMemcpyAsync(out_val + r0 * k, dval.get(), sizeof(float) * r * k, cudaMemcpyDeviceToHost, s));
    R4J_CU(cudaMemcpyAsync(out_idx + r0 * k, didx.get(), sizeof(int32_t) * r * k, cudaMemcpyDeviceToHost, s));
  }
  R4J_CU(cudaStreamSynchronize(s));
  return R4J_OK;
}

extern "C" int r4j_cuda_pairwise_topk(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                                      int metric, int64_t k, float *out_val, int32_t *out_idx) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_pairwise_topk";
  r4j::clear_error();
  R4J_TRY(r4j::check_rows(FN, "q", q, nq, d));
  R4J_TRY(r4j::check_rows(FN, "g", g, ng, d));
  R4J_TRY(r4j::check_metric(FN, metric));
  if (k < 0 || k > ng)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": k " + std::to_string(k) + " is outside [0, ng = " +
                                     std::to_string(ng) + "]");
  R4J_TRY(check_k_outputs(FN, nq, k, out_val, out_idx));
  R4J_TRY(prepare_device(FN));
  if (nq == 0 || k == 0) return R4J_OK;

  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  DevBuf<float> dq, dg, nqv, ngv;
  R4J_CU(dq.alloc(nq * d, s));
  R4J_CU(dg.alloc(ng * d, s));
  R4J_CU(nqv.alloc(nq, s));
  R4J_CU(ngv.alloc(ng, s));
  R4J_CU(cudaMemcpyAsync(dq.get(), q, sizeof(float) * nq * d, cudaMemcpyHostToDevice, s));
  R4J_CU(cudaMemcpyAsync(dg.get(), g, sizeof(float) * ng * d, cudaMemcpyHostToDevice, s));
  R4J_TRY(launch_row_norms(FN, dq.get(), nq, d, metric, nqv.get(), s));
  R4J_TRY(launch_row_norms(FN, dg.get(), ng, d, metric, ngv.get(), s));
  R4J_TRY(device_pairwise_topk(FN, dq.get(), nqv.get(), nq, dg.get(), ngv.get(), ng, d, metric, k, out_val, out_idx, s));
  R4J_CU(cudaStreamSynchronize(s));
  return R4J_OK;
}
