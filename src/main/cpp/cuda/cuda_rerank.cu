// k-reciprocal re-ranking on the GPU (same semantics as r4j_cpu_rerank, see reid4j.h).
//
// Pipeline, on one stream (and, for the copy of X when D fits whole, a second one):
//  1. X = [q; g] on the device, row norms. When all of D fits: X copied in bands of rows, each band's
//     column band of D (on and above the diagonal, mirrored) computed as soon as the band is there
//     (upload_with_distances). Otherwise X first, then row chunks of D against all of X. Then for the
//     row chunks of D: distance chunk [rows, N] (the whole of D when it fits), row max
//     (divisor of `original`), top-K selection by original value (K = max(k1 + 1, k2)), and for
//     query rows the [nq, ng] block of original, kept in the device output buffer.
//  2. R_half of every row once, then expanded k-reciprocal sets per row (one thread per row, count
//     pass + fill pass) -> CSR of V.
//  3. Weights exp(-original(i, e)) from pair distances (one warp per row), normalised per row.
//  4. Local query expansion (k2 > 1): per-row k-way merge of the sparse V rows -> CSR.
//  5. Inverted index of the gallery rows of V; per query row, scatter-add of min(V(i,c), V(j,c))
//     into a [rows, ng] accumulator; out = (1 - lambda) Jaccard + lambda original.
// Device memory: X, O(N * (K + nnz per row)), one distance chunk, the accumulator chunk, the output.
#include <algorithm>
#include <string>
#include <vector>

#include "cuda_common.cuh"
#include "cuda_rerank_logic.cuh"

namespace r4j {
namespace cu {
namespace {

__device__ __forceinline__ float pair_finish(float dot, float an, float bn, int metric) {
  if (metric == R4J_COSINE) {
    if (an == 0.f || bn == 0.f) return 1.f;
    return fminf(2.f, fmaxf(0.f, 1.f - dot / (an * bn)));  // clamped to [0, 2], as the CPU code
  }
  const float s = fmaxf(0.f, fmaf(-2.f, dot, an + bn));  // as distance_kernel
  return metric == R4J_EUCLIDEAN ? sqrtf(s) : s;
}

// div[r0 + row] = max of the row of S (1 when the max is not positive, so that original stays finite).
__global__ void row_max_kernel(const float *__restrict__ S, int64_t ld, int64_t cols, float *__restrict__ div) {
  __shared__ float sm[32];
  const int64_t row = blockIdx.x;
  const float *r = S + row * ld;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, r[j]);
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); ++w) m = fmaxf(m, sm[w]);
    div[row] = m > 0.f ? m : 1.f;
  }
}

// out[i, j] = S[i - r0, nq + j] / div[i] for query rows i in [r0, r0 + qrows).
__global__ void original_block_kernel(const float *__restrict__ S, int64_t ld, int64_t r0, int64_t qrows,
                                      int64_t nq, int64_t ng, const float *__restrict__ div,
                                      float *__restrict__ out) {
  const int64_t total = qrows * ng;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t li = e / ng, j = e - li * ng;
    out[(r0 + li) * ng + j] = S[li * ld + nq + j] / div[r0 + li];
  }
}

// R_half(c) of every row c: half[c * fh ...], its size in half_n[c].
__global__ void half_kernel(const int32_t *__restrict__ rank, int64_t K, int64_t N, int64_t fh,
                            int32_t *__restrict__ half, int32_t *__restrict__ half_n) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= N) return;
  half_n[c] = (int32_t)rr::reciprocal(rank, K, (int32_t)c, fh, half + c * fh);
}

// Expanded sets of rows [r0, r0 + rows): sizes into cnt (vcol null) or the sets into vcol at vptr.
__global__ void expand_kernel(const int32_t *__restrict__ rank, int64_t K, int64_t r0, int64_t rows, int64_t f1,
                              const int32_t *__restrict__ half, const int32_t *__restrict__ half_n, int64_t fh,
                              int32_t *__restrict__ scratch, int64_t stride, int64_t *__restrict__ cnt,
                              const int64_t *__restrict__ vptr, int32_t *__restrict__ vcol) {
  const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= rows) return;
  const int64_t i = r0 + t;
  int32_t *rbuf = scratch + t * stride;
  int32_t *ebuf = rbuf + f1;
  const int64_t ne = rr::expanded_set(rank, K, (int32_t)i, f1, half, half_n, fh, rbuf, ebuf);
  if (vcol) {
    int32_t *dst = vcol + vptr[i];
    for (int64_t u = 0; u < ne; ++u) dst[u] = ebuf[u];
  } else {
    cnt[i] = ne;
  }
}

// One warp per row, one lane per entry: vval = exp(-D(i, e) / div[i]) normalised over the row. D is
// recomputed as one fma chain over k, so it equals the distance the neighbour lists were built from
// bit for bit (and the CPU's); the normalising sum is taken in double in entry order, as on the CPU.
__global__ void weights_kernel(const float *__restrict__ X, const float *__restrict__ nrm, int64_t N, int64_t d,
                               int metric, const float *__restrict__ div, const int64_t *__restrict__ vptr,
                               const int32_t *__restrict__ vcol, float *__restrict__ vval) {
  const int lane = threadIdx.x & 31;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= N) return;
  const float *xi = X + row * d;
  const float ni = nrm[row], dv = div[row];
  const int64_t b = vptr[row], e_end = vptr[row + 1];
  for (int64_t t = b + lane; t < e_end; t += 32) {
    const int32_t e = vcol[t];
    const float *xe = X + (int64_t)e * d;
    float dot = 0.f;
    for (int64_t k = 0; k < d; ++k) dot = fmaf(xi[k], xe[k], dot);
    vval[t] = expf(-(pair_finish(dot, ni, nrm[e], metric) / dv));
  }
  __syncwarp();
  double sum = 0.0;
  if (lane == 0)
    for (int64_t t = b; t < e_end; ++t) sum += vval[t];
  sum = __shfl_sync(0xffffffffu, sum, 0);  // lane 0 has read every weight before it gets here
  if (sum > 0.0)
    for (int64_t t = b + lane; t < e_end; t += 32) vval[t] = (float)((double)vval[t] / sum);
}

// Query expansion of rows [r0, r0 + rows): sizes into cnt (qcol null) or the rows into qcol/qval at qptr.
__global__ void qe_kernel(const int64_t *__restrict__ vptr, const int32_t *__restrict__ vcol,
                          const float *__restrict__ vval, const int32_t *__restrict__ rank, int64_t K, int64_t f2,
                          int64_t r0, int64_t rows, int64_t *__restrict__ heads, int64_t *__restrict__ cnt,
                          const int64_t *__restrict__ qptr, int32_t *__restrict__ qcol, float *__restrict__ qval) {
  const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= rows) return;
  const int64_t i = r0 + t;
  const int32_t *nbr = rank + i * K;
  if (qcol) {
    rr::qe_row(vptr, vcol, vval, nbr, f2, heads + t * f2, qcol + qptr[i], qval + qptr[i]);
  } else {
    cnt[i] = rr::qe_row(vptr, vcol, vval, nbr, f2, heads + t * f2, nullptr, nullptr);
  }
}

// Exclusive prefix sum of cnt[0, n) into out[0, n] (out[n] = total). One block of 1024 threads.
constexpr int SCAN_THREADS = 1024;
__global__ void __launch_bounds__(SCAN_THREADS) scan_kernel(const int64_t *__restrict__ cnt, int64_t n,
                                                            int64_t *__restrict__ out) {
  __shared__ int64_t part[SCAN_THREADS];
  const int tid = threadIdx.x;
  const int64_t seg = (n + SCAN_THREADS - 1) / SCAN_THREADS;
  const int64_t b = tid * seg, e = min(n, b + seg);
  int64_t s = 0;
  for (int64_t i = b; i < e; ++i) s += cnt[i];
  part[tid] = s;
  __syncthreads();
  for (int off = 1; off < SCAN_THREADS; off <<= 1) {
    const int64_t v = tid >= off ? part[tid - off] : 0;
    __syncthreads();
    part[tid] += v;
    __syncthreads();
  }
  int64_t run = part[tid] - s;
  for (int64_t i = b; i < e; ++i) {
    out[i] = run;
    run += cnt[i];
  }
  if (tid == SCAN_THREADS - 1) out[n] = part[SCAN_THREADS - 1];
}

// Column counts of the gallery rows [nq, N) of the CSR (vptr, vcol).
__global__ void inv_count_kernel(const int64_t *__restrict__ vptr, const int32_t *__restrict__ vcol, int64_t nq,
                                 int64_t N, int64_t *__restrict__ ccnt) {
  const int64_t i = nq + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  for (int64_t t = vptr[i]; t < vptr[i + 1]; ++t) atomicAdd(reinterpret_cast<unsigned long long *>(&ccnt[vcol[t]]), 1ull);
}

// Inverted index: for every column c, the gallery rows holding it and their values (any order).
__global__ void inv_fill_kernel(const int64_t *__restrict__ vptr, const int32_t *__restrict__ vcol,
                                const float *__restrict__ vval, int64_t nq, int64_t N, const int64_t *__restrict__ cptr,
                                int64_t *__restrict__ cfill, int32_t *__restrict__ inv_row, float *__restrict__ inv_val) {
  const int64_t i = nq + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  for (int64_t t = vptr[i]; t < vptr[i + 1]; ++t) {
    const int32_t c = vcol[t];
    const unsigned long long p = atomicAdd(reinterpret_cast<unsigned long long *>(&cfill[c]), 1ull);
    const int64_t pos = cptr[c] + (int64_t)p;
    inv_row[pos] = (int32_t)i;
    inv_val[pos] = vval[t];
  }
}

// One block per query row i = q0 + blockIdx.x: acc[blockIdx.x, j] += min(V(i, c), V(nq + j, c)).
constexpr int JAC_THREADS = 256;
__global__ void __launch_bounds__(JAC_THREADS)
    jaccard_kernel(const int64_t *__restrict__ vptr, const int32_t *__restrict__ vcol, const float *__restrict__ vval,
                   const int64_t *__restrict__ cptr, const int32_t *__restrict__ inv_row,
                   const float *__restrict__ inv_val, int64_t q0, int64_t nq, int64_t ng, float *__restrict__ acc) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t i = q0 + blockIdx.x;
  float *a = acc + (int64_t)blockIdx.x * ng;
  for (int64_t t = vptr[i] + warp; t < vptr[i + 1]; t += JAC_THREADS / 32) {
    const int32_t c = vcol[t];
    const float v = vval[t];
    for (int64_t u = cptr[c] + lane; u < cptr[c + 1]; u += 32)
      atomicAdd(&a[inv_row[u] - nq], fminf(v, inv_val[u]));
  }
}

// The same for query row i = blockIdx.x with its accumulator row in shared memory (ng floats), then
// combined straight into out: no global accumulator to clear, fill and read back.
__global__ void __launch_bounds__(JAC_THREADS)
    jaccard_shared_kernel(const int64_t *__restrict__ vptr, const int32_t *__restrict__ vcol,
                          const float *__restrict__ vval, const int64_t *__restrict__ cptr,
                          const int32_t *__restrict__ inv_row, const float *__restrict__ inv_val, int64_t nq, int64_t ng,
                          float lambda, float *__restrict__ out) {
  extern __shared__ float sacc[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t i = blockIdx.x;
  for (int64_t j = threadIdx.x; j < ng; j += JAC_THREADS) sacc[j] = 0.f;
  __syncthreads();
  for (int64_t t = vptr[i] + warp; t < vptr[i + 1]; t += JAC_THREADS / 32) {
    const int32_t c = vcol[t];
    const float v = vval[t];
    for (int64_t u = cptr[c] + lane; u < cptr[c + 1]; u += 32) atomicAdd(&sacc[inv_row[u] - nq], fminf(v, inv_val[u]));
  }
  __syncthreads();
  float *o = out + i * ng;
  for (int64_t j = threadIdx.x; j < ng; j += JAC_THREADS) {
    const float s = sacc[j];
    o[j] = (1.f - s / (2.f - s)) * (1.f - lambda) + o[j] * lambda;
  }
}

// out[q0 + li, j] = (1 - lambda) * (1 - s / (2 - s)) + lambda * out[q0 + li, j], s = acc[li, j].
__global__ void combine_kernel(const float *__restrict__ acc, int64_t qrows, int64_t ng, int64_t q0, float lambda,
                               float *__restrict__ out) {
  const int64_t total = qrows * ng;
  float *o = out + q0 * ng;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const float s = acc[e];
    const float jac = 1.f - s / (2.f - s);
    o[e] = jac * (1.f - lambda) + o[e] * lambda;
  }
}

unsigned grid_for(int64_t items, int threads, int64_t cap = 65536 * 8) {
  int64_t b = (items + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return (unsigned)b;
}

// Reads vptr[n] (the total) back to the host.
int read_total(const char *FN, const int64_t *dptr, int64_t n, int64_t *total, cudaStream_t s) {
  R4J_CU(cudaMemcpyAsync(total, dptr + n, sizeof(int64_t), cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaStreamSynchronize(s));
  return R4J_OK;
}

// X = [q; g] copied to the device in bands of rows on a stream of its own while `s` computes, for
// each band as it arrives, its rows' norms and the column band of the symmetric distance matrix S
// ([N, N]) against every row before its end, mirrored below the diagonal (launch_distance's
// symmetric bands): the whole of S, bit for bit the one-launch symmetric pass, with the copy of X
// (its largest cost at the Market shape after the arithmetic) hidden behind the arithmetic.
// On return X, nrm and S are written in s's order.
int upload_with_distances(const char *FN, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                          int metric, float *X, float *nrm, float *S, cudaStream_t s) {
  const int64_t N = nq + ng;
  // About 8 bands, each a whole number of distance tiles.
  const int64_t band = std::max<int64_t>(kDistanceTile, (N / 8 + kDistanceTile - 1) / kDistanceTile * kDistanceTile);
  const int64_t bands = (N + band - 1) / band;
  Stream copy;
  R4J_CU(copy.create());
  Events up(bands + 1);
  R4J_CU(up.create());
  // X was allocated in s's order: the copy stream may write it only after that.
  R4J_CU(cudaEventRecord(up[bands], s));
  R4J_CU(cudaStreamWaitEvent(copy.get(), up[bands], 0));
  for (int64_t b = 0; b < bands; ++b) {
    const int64_t r0 = b * band, r1 = std::min(N, r0 + band);
    if (r0 < nq) {  // the rows of q in this band
      const int64_t e = std::min(r1, nq);
      R4J_TRY(upload(FN, X + r0 * d, q + r0 * d, sizeof(float) * (e - r0) * d, copy.get()));
    }
    if (r1 > nq) {  // the rows of g
      const int64_t f = std::max(r0, nq);
      R4J_TRY(upload(FN, X + f * d, g + (f - nq) * d, sizeof(float) * (r1 - f) * d, copy.get()));
    }
    R4J_CU(cudaEventRecord(up[b], copy.get()));
    R4J_CU(cudaStreamWaitEvent(s, up[b], 0));
    R4J_TRY(launch_row_norms(FN, X + r0 * d, r1 - r0, d, metric, nrm + r0, s));
    R4J_TRY(launch_distance(FN, X, nrm, r1, X + r0 * d, nrm + r0, r1 - r0, d, metric, S, N, s, true, r0));
  }
  return R4J_OK;
}

int rerank_impl(const char *FN, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                int64_t k1, int64_t k2, float lambda, float *out, const EvalLabels *labels = nullptr,
                const EvalScores *scores = nullptr) {
  const int64_t N = nq + ng;
  const int64_t f1 = std::min<int64_t>(k1 + 1, N);
  const int64_t fh = std::min<int64_t>(rr::half_k1(k1) + 1, N);
  const int64_t f2 = std::min<int64_t>(k2, N);
  const int64_t K = std::min<int64_t>(std::max<int64_t>(k1 + 1, k2), N);

  HostPin pin_q(q, sizeof(float) * nq * d), pin_g(g, sizeof(float) * ng * d), pin_out(out, out ? sizeof(float) * nq * ng : 0);
  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  StageClock clock(FN, s);

  // ---- 1. distances, row max, neighbour ranks, original block ----
  DevBuf<float> X, nrm, div, dout;
  DevBuf<int32_t> rank;
  EvalOnDevice ev;
  R4J_CU(X.alloc(N * d, s));
  R4J_CU(nrm.alloc(N, s));
  R4J_CU(div.alloc(N, s));
  R4J_CU(rank.alloc(N * K, s));
  R4J_CU(dout.alloc(nq * ng, s));
  if (labels) R4J_TRY(ev.upload(FN, labels, nq, ng, s));
  {
    const int64_t P = select_pad(K);
    const int64_t gwords = P > kSelectSharedMax ? P : 0;
    // All of D at once when it fits the budget (the Market-1501 shape needs 1.5 GB): then only the
    // tiles on and above the diagonal are computed, band by band as X arrives. Otherwise X first,
    // then row chunks of D against all of X.
    const int64_t crow = std::min<int64_t>(chunk_rows(N, N * 4 + gwords * 8, scratch_budget()), 65535 * 128);
    const bool sym = crow == N;
    DevBuf<float> S;
    DevBuf<unsigned long long> sel;
    R4J_CU(S.alloc(crow * N, s));
    R4J_CU(sel.alloc(crow * gwords, s));
    if (sym) {
      R4J_TRY(upload_with_distances(FN, q, nq, g, ng, d, metric, X.get(), nrm.get(), S.get(), s));
      clock.mark("copy X, distances (overlapped)");
    } else {
      R4J_TRY(upload(FN, X.get(), q, sizeof(float) * nq * d, s));
      R4J_TRY(upload(FN, X.get() + nq * d, g, sizeof(float) * ng * d, s));
      clock.mark("allocate, copy X to the device");
      R4J_TRY(launch_row_norms(FN, X.get(), N, d, metric, nrm.get(), s));
    }
    for (int64_t r0 = 0; r0 < N; r0 += crow) {
      const int64_t r = std::min(crow, N - r0);
      if (!sym)
        R4J_TRY(launch_distance(FN, X.get() + r0 * d, nrm.get() + r0, r, X.get(), nrm.get(), N, d, metric, S.get(),
                                N, s));
      row_max_kernel<<<(unsigned)r, 256, 0, s>>>(S.get(), N, N, div.get() + r0);
      R4J_CU_LAUNCH("row_max_kernel");
      // Neighbour lists by D itself, as on the CPU: D / div orders the same up to rounding, which can
      // merge two values 1 ulp apart and reorder them by index.
      R4J_TRY(launch_select(FN, S.get(), N, r, N, K, nullptr, rank.get() + r0 * K, sel.get(), s));
      const int64_t qrows = std::min(r0 + r, nq) - r0;
      if (qrows > 0) {
        original_block_kernel<<<grid_for(qrows * ng, 256), 256, 0, s>>>(S.get(), N, r0, qrows, nq, ng, div.get(),
                                                                         dout.get());
        R4J_CU_LAUNCH("original_block_kernel");
      }
    }
  }  // S and the selection scratch are freed here
  clock.mark("distances, row max, top-K, original");

  // ---- 2. expanded sets -> CSR structure of V ----
  DevBuf<int64_t> cnt, vptr;
  DevBuf<int32_t> vcol;
  DevBuf<float> vval;
  R4J_CU(cnt.alloc(N, s));
  R4J_CU(vptr.alloc(N + 1, s));
  int64_t nnz = 0;
  {
    const int64_t ecap = std::min<int64_t>(N, f1 * (fh + 1));
    const int64_t stride = f1 + ecap;
    const int64_t crow = chunk_rows(N, stride * 4, int64_t(256) << 20);
    DevBuf<int32_t> scratch, half, half_n;
    R4J_CU(scratch.alloc(crow * stride, s));
    R4J_CU(half.alloc(N * fh, s));
    R4J_CU(half_n.alloc(N, s));
    half_kernel<<<grid_for(N, 128, INT32_MAX), 128, 0, s>>>(rank.get(), K, N, fh, half.get(), half_n.get());
    R4J_CU_LAUNCH("half_kernel");
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t r0 = 0; r0 < N; r0 += crow) {
        const int64_t r = std::min(crow, N - r0);
        expand_kernel<<<grid_for(r, 64, INT32_MAX), 64, 0, s>>>(rank.get(), K, r0, r, f1, half.get(), half_n.get(), fh,
                                                                scratch.get(), stride, cnt.get(), vptr.get(),
                                                                pass ? vcol.get() : nullptr);
        R4J_CU_LAUNCH("expand_kernel");
      }
      if (pass == 0) {
        scan_kernel<<<1, SCAN_THREADS, 0, s>>>(cnt.get(), N, vptr.get());
        R4J_CU_LAUNCH("scan_kernel");
        R4J_TRY(read_total(FN, vptr.get(), N, &nnz, s));
        R4J_CU(vcol.alloc(std::max<int64_t>(nnz, 1), s));
        R4J_CU(vval.alloc(std::max<int64_t>(nnz, 1), s));
      }
    }
  }

  clock.mark("expanded k-reciprocal sets");
  // ---- 3. weights ----
  weights_kernel<<<grid_for(N, 8, INT32_MAX), 256, 0, s>>>(X.get(), nrm.get(), N, d, metric, div.get(), vptr.get(),
                                                          vcol.get(), vval.get());
  R4J_CU_LAUNCH("weights_kernel");
  clock.mark("weights");

  // ---- 4. local query expansion ----
  DevBuf<int64_t> qptr;
  DevBuf<int32_t> qcol;
  DevBuf<float> qval;
  const int64_t *Vp = vptr.get();
  const int32_t *Vc = vcol.get();
  const float *Vv = vval.get();
  if (k2 > 1) {
    R4J_CU(qptr.alloc(N + 1, s));
    const int64_t crow = chunk_rows(N, f2 * 8, int64_t(256) << 20);
    DevBuf<int64_t> heads;
    R4J_CU(heads.alloc(crow * f2, s));
    int64_t qnnz = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t r0 = 0; r0 < N; r0 += crow) {
        const int64_t r = std::min(crow, N - r0);
        qe_kernel<<<grid_for(r, 64, INT32_MAX), 64, 0, s>>>(vptr.get(), vcol.get(), vval.get(), rank.get(), K, f2, r0,
                                                            r, heads.get(), cnt.get(), qptr.get(),
                                                            pass ? qcol.get() : nullptr, qval.get());
        R4J_CU_LAUNCH("qe_kernel");
      }
      if (pass == 0) {
        scan_kernel<<<1, SCAN_THREADS, 0, s>>>(cnt.get(), N, qptr.get());
        R4J_CU_LAUNCH("scan_kernel");
        R4J_TRY(read_total(FN, qptr.get(), N, &qnnz, s));
        R4J_CU(qcol.alloc(std::max<int64_t>(qnnz, 1), s));
        R4J_CU(qval.alloc(std::max<int64_t>(qnnz, 1), s));
      }
    }
    Vp = qptr.get();
    Vc = qcol.get();
    Vv = qval.get();
  }
  rank.reset();
  clock.mark("local query expansion");

  // ---- 5. inverted index over the gallery rows, Jaccard, combination ----
  DevBuf<int64_t> ccnt, cptr;
  DevBuf<int32_t> inv_row;
  DevBuf<float> inv_val;
  R4J_CU(ccnt.alloc(N, s));
  R4J_CU(cptr.alloc(N + 1, s));
  R4J_CU(cudaMemsetAsync(ccnt.get(), 0, sizeof(int64_t) * N, s));
  inv_count_kernel<<<grid_for(ng, 128, INT32_MAX), 128, 0, s>>>(Vp, Vc, nq, N, ccnt.get());
  R4J_CU_LAUNCH("inv_count_kernel");
  scan_kernel<<<1, SCAN_THREADS, 0, s>>>(ccnt.get(), N, cptr.get());
  R4J_CU_LAUNCH("scan_kernel");
  int64_t inv_nnz = 0;
  R4J_TRY(read_total(FN, cptr.get(), N, &inv_nnz, s));
  R4J_CU(inv_row.alloc(std::max<int64_t>(inv_nnz, 1), s));
  R4J_CU(inv_val.alloc(std::max<int64_t>(inv_nnz, 1), s));
  R4J_CU(cudaMemsetAsync(ccnt.get(), 0, sizeof(int64_t) * N, s));
  inv_fill_kernel<<<grid_for(ng, 128, INT32_MAX), 128, 0, s>>>(Vp, Vc, Vv, nq, N, cptr.get(), ccnt.get(),
                                                               inv_row.get(), inv_val.get());
  R4J_CU_LAUNCH("inv_fill_kernel");
  clock.mark("inverted index");
  static std::atomic<bool> raised[kMaxDevices];
  size_t limit = 0;
  R4J_TRY(dynamic_smem_limit(FN, reinterpret_cast<const void *>(jaccard_shared_kernel), raised, 1024, &limit));
  const size_t acc_bytes = sizeof(float) * (size_t)ng;
  if (acc_bytes <= limit && nq <= INT32_MAX) {  // one query row's accumulator per block
    jaccard_shared_kernel<<<(unsigned)nq, JAC_THREADS, acc_bytes, s>>>(Vp, Vc, Vv, cptr.get(), inv_row.get(),
                                                                      inv_val.get(), nq, ng, lambda, dout.get());
    R4J_CU_LAUNCH("jaccard_shared_kernel");
  } else {  // galleries too large for shared memory: accumulator chunks in global memory
    const int64_t crow = std::min<int64_t>(chunk_rows(nq, ng * 4), INT32_MAX);
    DevBuf<float> acc;
    R4J_CU(acc.alloc(crow * ng, s));
    for (int64_t q0 = 0; q0 < nq; q0 += crow) {
      const int64_t r = std::min(crow, nq - q0);
      R4J_CU(cudaMemsetAsync(acc.get(), 0, sizeof(float) * r * ng, s));
      jaccard_kernel<<<(unsigned)r, JAC_THREADS, 0, s>>>(Vp, Vc, Vv, cptr.get(), inv_row.get(), inv_val.get(), q0, nq,
                                                         ng, acc.get());
      R4J_CU_LAUNCH("jaccard_kernel");
      combine_kernel<<<grid_for(r * ng, 256), 256, 0, s>>>(acc.get(), r, ng, q0, lambda, dout.get());
      R4J_CU_LAUNCH("combine_kernel");
    }
  }
  clock.mark("Jaccard, combination");
  if (labels) {
    R4J_TRY(ev.rows(FN, dout.get(), nq, ng, 0, s));
    R4J_TRY(ev.download(FN, scores, s));
  } else {
    R4J_TRY(download(FN, out, dout.get(), sizeof(float) * nq * ng, s));
  }
  R4J_CU(cudaStreamSynchronize(s));
  clock.mark(labels ? "scores, scores to the host" : "copy the result to the host");
  return R4J_OK;
}

}  // namespace
}  // namespace cu
}  // namespace r4j

namespace {
int check_rerank_args(const char *FN, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                      int32_t k1, int32_t k2, float lambda) {
  R4J_TRY(r4j::check_rows(FN, "q", q, nq, d));
  R4J_TRY(r4j::check_rows(FN, "g", g, ng, d));
  R4J_TRY(r4j::check_metric(FN, metric));
  if (k1 < 1) return r4j::fail(R4J_EINVAL, std::string(FN) + ": k1 must be >= 1, got " + std::to_string(k1));
  if (k2 < 1) return r4j::fail(R4J_EINVAL, std::string(FN) + ": k2 must be >= 1, got " + std::to_string(k2));
  if (!(lambda >= 0.f && lambda <= 1.f))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": lambda must be in [0, 1], got " + std::to_string(lambda));
  if (nq + ng > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": nq + ng must be < 2^31");
  return R4J_OK;
}
}  // namespace

extern "C" int r4j_cuda_rerank(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                               int32_t k1, int32_t k2, float lambda, float *out) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_rerank";
  r4j::clear_error();
  R4J_TRY(check_rerank_args(FN, q, nq, g, ng, d, metric, k1, k2, lambda));
  if (nq > 0 && ng > 0 && out == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": out is null");
  R4J_TRY(prepare_device(FN));
  if (nq == 0 || ng == 0) return R4J_OK;
  return rerank_impl(FN, q, nq, g, ng, d, metric, k1, k2, lambda, out);
}

extern "C" int r4j_cuda_rerank_evaluate(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                                        int metric, int32_t k1, int32_t k2, float lambda, const int32_t *q_pid,
                                        const int32_t *q_cam, const int32_t *g_pid, const int32_t *g_cam,
                                        int32_t *first, double *ap, double *inp, int32_t *nan_col) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_rerank_evaluate";
  r4j::clear_error();
  R4J_TRY(check_rerank_args(FN, q, nq, g, ng, d, metric, k1, k2, lambda));
  R4J_TRY(check_eval_args(FN, nq, ng, q_pid, q_cam, g_pid, g_cam, first, ap, inp, nan_col));
  R4J_TRY(prepare_device(FN));
  if (nq == 0) return R4J_OK;
  const EvalLabels labels{q_pid, q_cam, g_pid, g_cam};
  const EvalScores scores{first, ap, inp, nan_col};
  return rerank_impl(FN, q, nq, g, ng, d, metric, k1, k2, lambda, nullptr, &labels, &scores);
}
