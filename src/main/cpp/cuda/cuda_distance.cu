// Distance building blocks of the CUDA backend (row norms, tiled distance kernel) and
// r4j_cuda_pairwise.
#include <algorithm>
#include <string>

#include <mma.h>

#include "cuda_common.cuh"

namespace r4j {
namespace cu {
namespace {

// One thread per row: sum of squares as one fma chain over k = 0..d-1 (sqrt for cosine), the same
// chain as the CPU kernels and as the dot products of distance_kernel, so that the distances agree
// with the CPU's bit for bit and dist(x, x) is exactly 0 for the squared metrics.
__global__ void row_norms_kernel(const float *__restrict__ x, int64_t n, int64_t d, int metric,
                                 float *__restrict__ out) {
  const int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= n) return;
  const float *p = x + row * d;
  float s = 0.f;
  for (int64_t k = 0; k < d; ++k) s = fmaf(p[k], p[k], s);
  out[row] = metric == R4J_COSINE ? sqrtf(s) : s;
}

// Tile of the distance kernel: BM x BN outputs per block of 256 threads, TM x TN per thread,
// BK-deep slices of the shared dimension, double-buffered in shared memory.
constexpr int BM = 128, BN = 128, BK = 8, TM = 8, TN = 8, THREADS = 256;
constexpr int PAD = 4;  // keeps the transposed stores free of bank conflicts; rows stay 16B-aligned
static_assert(BM == kDistanceTile && BN == kDistanceTile, "the tile callers align symmetric bands to");

__device__ __forceinline__ float finish_distance(float dot, float an, float bn, int metric) {
  if (metric == R4J_COSINE) {
    if (an == 0.f || bn == 0.f) return 1.f;
    return fminf(2.f, fmaxf(0.f, 1.f - dot / (an * bn)));  // clamped to [0, 2], as the CPU code
  }
  // (an + bn) - 2 dot with one rounding, written out so that it does not depend on contraction;
  // the CPU kernels compute the same.
  const float s = fmaxf(0.f, fmaf(-2.f, dot, an + bn));
  return metric == R4J_EUCLIDEAN ? sqrtf(s) : s;
}

// Loads 4 consecutive elements (k .. k+3) of row `row` of x: [rows, d]; zero outside.
template <bool VEC>
__device__ __forceinline__ void load4(const float *__restrict__ x, int64_t rows, int64_t d, int64_t row,
                                      int64_t k, float r[4]) {
  if (row >= rows) {
    r[0] = r[1] = r[2] = r[3] = 0.f;
    return;
  }
  const float *p = x + row * d;
  if (VEC) {  // d % 4 == 0 and k % 4 == 0: either all four are inside or none
    if (k < d) {
      float4 v = __ldg(reinterpret_cast<const float4 *>(p + k));
      r[0] = v.x;
      r[1] = v.y;
      r[2] = v.z;
      r[3] = v.w;
    } else {
      r[0] = r[1] = r[2] = r[3] = 0.f;
    }
  } else {
#pragma unroll
    for (int t = 0; t < 4; ++t) r[t] = (k + t < d) ? __ldg(p + k + t) : 0.f;
  }
}

// Offset in the tile of the t-th row (or column) a thread owns: its two 4-wide groups, 64 apart.
__device__ __forceinline__ int tile_off(int owner, int t) { return owner * 4 + (t & 3) + (t >> 2) * 64; }

// row[c0 .. c0 + 3] = v0..v3, the entries at or beyond `len` left out; one 16-byte store when vec
// allows it (c0 is a multiple of 4) and all four are inside.
__device__ __forceinline__ void store4(float *row, int64_t c0, int64_t len, bool vec, float v0, float v1, float v2,
                                       float v3) {
  if (vec && c0 + 4 <= len) {
    *reinterpret_cast<float4 *>(row + c0) = make_float4(v0, v1, v2, v3);
    return;
  }
  if (c0 < len) row[c0] = v0;
  if (c0 + 1 < len) row[c0 + 1] = v1;
  if (c0 + 2 < len) row[c0 + 2] = v2;
  if (c0 + 3 < len) row[c0 + 3] = v3;
}

// out[i * ldo + j] = dist(a_i, b_j). Grid: x over column tiles of b, y over row tiles of a.
// sym (b is rows col0 .. col0 + n of a, m = col0 + n, col0 a multiple of the tile): the columns are
// stored at col0 + j, only the tiles on and above the diagonal of the whole matrix run, and each one
// above it also stores its transpose (col0 = 0: a is b; col0 > 0: one band of columns of a larger
// symmetric matrix). Every dot product is the same fma chain either way round, so the result is the
// full matrix bit for bit, for half the arithmetic.
template <bool VEC>
__global__ void __launch_bounds__(THREADS, 2)
    distance_kernel(const float *__restrict__ a, const float *__restrict__ an, int64_t m,
                    const float *__restrict__ b, const float *__restrict__ bn, int64_t n, int64_t d,
                    int metric, float *__restrict__ out, int64_t ldo, bool vec_out, bool sym, int64_t col0_sym) {
  __shared__ __align__(16) float As[2][BK][BM + PAD];
  __shared__ __align__(16) float Bs[2][BK][BN + PAD];

  const int64_t gx = col0_sym / BN + blockIdx.x;  // the block's column tile in the whole matrix
  if (sym && gx < blockIdx.y) return;  // the whole block: its mirror image writes this tile
  const int tid = threadIdx.x;
  const int64_t row0 = (int64_t)blockIdx.y * BM;
  const int64_t col0 = (int64_t)blockIdx.x * BN;

  // Global -> shared mapping: thread loads 4 consecutive k of one row of each tile.
  const int lrow = tid >> 1;       // 0..127
  const int lk = (tid & 1) * 4;    // 0 or 4
  // Compute mapping: thread (ty, tx) owns tile rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, and the
  // columns likewise. Two 4-wide groups 64 apart (rather than 8 consecutive) keep the 16-byte
  // shared-memory reads of a quarter-warp on distinct banks. Row i of acc is tile row roff(i).
  const int ty = tid / 16, tx = tid % 16;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  float ra[4], rb[4];
  const int64_t ktiles = (d + BK - 1) / BK;

  load4<VEC>(a, m, d, row0 + lrow, lk, ra);
  load4<VEC>(b, n, d, col0 + lrow, lk, rb);
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    As[0][lk + t][lrow] = ra[t];
    Bs[0][lk + t][lrow] = rb[t];
  }
  __syncthreads();

  for (int64_t kt = 0; kt < ktiles; ++kt) {
    const int cur = (int)(kt & 1);
    const bool more = kt + 1 < ktiles;
    if (more) {
      const int64_t k = (kt + 1) * BK + lk;
      load4<VEC>(a, m, d, row0 + lrow, k, ra);
      load4<VEC>(b, n, d, col0 + lrow, k, rb);
    }
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float fa[TM], fb[TN];
      const float4 a0 = *reinterpret_cast<const float4 *>(&As[cur][kk][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4 *>(&As[cur][kk][64 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4 *>(&Bs[cur][kk][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4 *>(&Bs[cur][kk][64 + tx * 4]);
      fa[0] = a0.x; fa[1] = a0.y; fa[2] = a0.z; fa[3] = a0.w;
      fa[4] = a1.x; fa[5] = a1.y; fa[6] = a1.z; fa[7] = a1.w;
      fb[0] = b0.x; fb[1] = b0.y; fb[2] = b0.z; fb[3] = b0.w;
      fb[4] = b1.x; fb[5] = b1.y; fb[6] = b1.z; fb[7] = b1.w;
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(fa[i], fb[j], acc[i][j]);
    }
    if (more) {
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        As[cur ^ 1][lk + t][lrow] = ra[t];
        Bs[cur ^ 1][lk + t][lrow] = rb[t];
      }
    }
    __syncthreads();
  }

  // Epilogue: norms -> distances, stored as 4-wide pieces (16-byte stores where they fit).
  float nb[TN];
#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int64_t c = col0 + tile_off(tx, j);
    nb[j] = c < n ? bn[c] : 0.f;
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t r = row0 + tile_off(ty, i);
    const float na = r < m ? an[r] : 0.f;
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = finish_distance(acc[i][j], na, nb[j], metric);
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t r = row0 + tile_off(ty, i);  // increases with i
    if (r >= m) break;
#pragma unroll
    for (int h = 0; h < 2; ++h)
      store4(out + r * ldo + col0_sym, col0 + tile_off(tx, 4 * h), n, vec_out, acc[i][4 * h], acc[i][4 * h + 1],
             acc[i][4 * h + 2], acc[i][4 * h + 3]);
  }
  if (sym && gx > blockIdx.y) {  // the transposed tile: out[c, r] = dist(r, c)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t c = col0 + tile_off(tx, j);
      if (c >= n) break;
#pragma unroll
      for (int h = 0; h < 2; ++h)
        store4(out + (col0_sym + c) * ldo, row0 + tile_off(ty, 4 * h), m, vec_out, acc[4 * h][j], acc[4 * h + 1][j],
               acc[4 * h + 2][j], acc[4 * h + 3][j]);
    }
  }
}

// ---- the tensor-core pass (R4J_TF32, R4J_TF32X3) ----
// The same 128 x 128 output tile per block of 256 threads, the same grid and the same symmetric
// mode as distance_kernel, but the dot products come from TF32 tensor-core products
// (16 x 16 x 8 WMMA fragments, FP32 accumulation). The 8 warps form 4 x 2: each owns 32 rows x 64
// columns of the tile, 2 x 4 fragments. A and B slices of TC_BK along k sit in shared memory with
// rows along k (B read as a column-major 8 x 16 operand). With SPLIT each value x is taken as hi + lo, hi = tf32(x),
// lo = tf32(x - hi), and a.b as lo.hi + hi.lo + hi.hi (lo.lo, ~2^-22 of the product, left out).
namespace wmma = nvcuda::wmma;
constexpr int TC_BK = 32, TC_LD = TC_BK + 4;  // row stride: a multiple of 4 floats, and 16 rows = 72 x 32 B
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

template <class Frag>
__device__ __forceinline__ void round_tf32(Frag &f) {
#pragma unroll
  for (int t = 0; t < f.num_elements; ++t) f.x[t] = wmma::__float_to_tf32(f.x[t]);
}

template <class Frag>
__device__ __forceinline__ void split_tf32(Frag &hi, Frag &lo) {
#pragma unroll
  for (int t = 0; t < hi.num_elements; ++t) {
    const float v = hi.x[t], h = wmma::__float_to_tf32(v);
    hi.x[t] = h;
    lo.x[t] = wmma::__float_to_tf32(v - h);
  }
}

// One operand fragment from shared memory, made TF32: rounded, or split into head (f) and tail (lo).
template <bool SPLIT, class Frag>
__device__ __forceinline__ void load_operand(Frag &f, Frag &lo, const float *p) {
  wmma::load_matrix_sync(f, p, TC_LD);
  if (SPLIT)
    split_tf32(f, lo);
  else
    round_tf32(f);
}

template <bool VEC, bool SPLIT>
__global__ void __launch_bounds__(THREADS, 2)
    distance_tc_kernel(const float *__restrict__ a, const float *__restrict__ an, int64_t m,
                       const float *__restrict__ b, const float *__restrict__ bn, int64_t n, int64_t d,
                       int metric, float *__restrict__ out, int64_t ldo, bool sym, int64_t col0_sym) {
  __shared__ __align__(32) float As[BM][TC_LD];
  __shared__ __align__(32) float Bs[BN][TC_LD];

  const int64_t gx = col0_sym / BN + blockIdx.x;  // the block's column tile in the whole matrix
  if (sym && gx < blockIdx.y) return;  // the whole block: its mirror image writes this tile
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 2, wn = warp % 2;  // rows wm*32.., columns wn*64.. of the tile
  const int64_t row0 = (int64_t)blockIdx.y * BM;
  const int64_t col0 = (int64_t)blockIdx.x * BN;

  FragC acc[2][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  // Global -> shared, one slice of TC_BK along k at a time: each thread moves 4 pieces of 4
  // consecutive k of A and of B (rows idx / 8, k offsets (idx % 8) * 4 for idx = tid + 256 p);
  // zeros outside the matrices. No prefetch into registers: the fragments and accumulators take
  // them (two blocks per multiprocessor hide each other's loads instead).
  const int64_t ktiles = (d + TC_BK - 1) / TC_BK;
  for (int64_t kt = 0; kt < ktiles; ++kt) {
#pragma unroll
    for (int p = 0; p < 4; ++p) {
      const int idx = tid + THREADS * p;
      float r[4];
      load4<VEC>(a, m, d, row0 + idx / 8, kt * TC_BK + (idx % 8) * 4, r);
      *reinterpret_cast<float4 *>(&As[idx / 8][(idx % 8) * 4]) = make_float4(r[0], r[1], r[2], r[3]);
      load4<VEC>(b, n, d, col0 + idx / 8, kt * TC_BK + (idx % 8) * 4, r);
      *reinterpret_cast<float4 *>(&Bs[idx / 8][(idx % 8) * 4]) = make_float4(r[0], r[1], r[2], r[3]);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TC_BK; kk += 8) {
      FragA fa[2], fa_lo[2];
      FragB fb[4], fb_lo[4];
#pragma unroll
      for (int i = 0; i < 2; ++i) load_operand<SPLIT>(fa[i], fa_lo[i], &As[wm * 32 + i * 16][kk]);
#pragma unroll
      for (int j = 0; j < 4; ++j) load_operand<SPLIT>(fb[j], fb_lo[j], &Bs[wn * 64 + j * 16][kk]);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (SPLIT) {  // the small terms first
            wmma::mma_sync(acc[i][j], fa_lo[i], fb[j], acc[i][j]);
            wmma::mma_sync(acc[i][j], fa[i], fb_lo[j], acc[i][j]);
          }
          wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
    }
    __syncthreads();
  }

  // Epilogue, one fragment at a time through this warp's 16 x 16 corner of As (free after the last
  // barrier): lane l finishes row l / 2, columns (l % 2) * 8 .. + 7 of the fragment.
  float *stage = &As[0][0] + warp * 256;
  const int fr = lane / 2, fc = (lane % 2) * 8;
  const bool mirror = sym && gx > blockIdx.y;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const int64_t r = row0 + wm * 32 + i * 16 + fr;
      const int64_t c0 = col0 + wn * 64 + j * 16 + fc;
      if (r < m) {
        const float na = an[r];
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          const int64_t c = c0 + t;
          if (c < n) {
            const float v = finish_distance(stage[fr * 16 + fc + t], na, bn[c], metric);
            out[r * ldo + col0_sym + c] = v;
            if (mirror) out[(col0_sym + c) * ldo + r] = v;  // the transposed tile: out[c, r] = dist(r, c)
          }
        }
      }
      __syncwarp();
    }
}

}  // namespace

int launch_row_norms(const char *FN, const float *x, int64_t n, int64_t d, int metric, float *out,
                     cudaStream_t s) {
  if (n <= 0) return R4J_OK;
  const int threads = 128;
  const int64_t blocks = (n + threads - 1) / threads;
  row_norms_kernel<<<(unsigned)blocks, threads, 0, s>>>(x, n, d, metric, out);
  R4J_CU_LAUNCH("row_norms_kernel");
  return R4J_OK;
}

int launch_distance(const char *FN, const float *a, const float *an, int64_t m, const float *b,
                    const float *bn, int64_t n, int64_t d, int metric, float *out, int64_t ldo,
                    cudaStream_t s, bool sym, int64_t col0) {
  if (m <= 0 || n <= 0) return R4J_OK;
  if (sym && (col0 < 0 || col0 % BN != 0 || b != a + col0 * d || bn != an + col0 || m != col0 + n))
    return fail(R4J_EINVAL, std::string(FN) + ": internal: symmetric distance of a band that is not rows " +
                                std::to_string(col0) + ".. of the same matrix");
  if (!sym) col0 = 0;
  const int64_t gy = (m + BM - 1) / BM, gx = (n + BN - 1) / BN;
  if (gy > 65535) return fail(R4J_EINVAL, std::string(FN) + ": internal: distance chunk too tall");
  dim3 grid((unsigned)gx, (unsigned)gy);
  // 16-byte loads need d % 4 == 0 and 16-byte aligned row starts.
  const bool vec = (d % 4 == 0) && (reinterpret_cast<uintptr_t>(a) % 16 == 0) &&
                   (reinterpret_cast<uintptr_t>(b) % 16 == 0);
  int precision = R4J_FP32;
  R4J_TRY(distance_precision(FN, &precision));
  if (precision != R4J_FP32) {
    if (vec && precision == R4J_TF32X3)
      distance_tc_kernel<true, true><<<grid, THREADS, 0, s>>>(a, an, m, b, bn, n, d, metric, out, ldo, sym, col0);
    else if (vec)
      distance_tc_kernel<true, false><<<grid, THREADS, 0, s>>>(a, an, m, b, bn, n, d, metric, out, ldo, sym, col0);
    else if (precision == R4J_TF32X3)
      distance_tc_kernel<false, true><<<grid, THREADS, 0, s>>>(a, an, m, b, bn, n, d, metric, out, ldo, sym, col0);
    else
      distance_tc_kernel<false, false><<<grid, THREADS, 0, s>>>(a, an, m, b, bn, n, d, metric, out, ldo, sym, col0);
    R4J_CU_LAUNCH("distance_tc_kernel");
    return R4J_OK;
  }
  const bool vec_out = (ldo % 4 == 0) && (reinterpret_cast<uintptr_t>(out) % 16 == 0);
  if (vec)
    distance_kernel<true><<<grid, THREADS, 0, s>>>(a, an, m, b, bn, n, d, metric, out, ldo, vec_out, sym, col0);
  else
    distance_kernel<false><<<grid, THREADS, 0, s>>>(a, an, m, b, bn, n, d, metric, out, ldo, vec_out, sym, col0);
  R4J_CU_LAUNCH("distance_kernel");
  return R4J_OK;
}

}  // namespace cu
}  // namespace r4j

namespace r4j {
namespace cu {
namespace {

// The [nq, ng] distances of the device rows dq against dg into host memory out: in row chunks (at least 4 of whole
// distance tiles when nq allows, at most `rows`) computed on s into two device buffers in turn, each chunk's copy
// out running on a copy stream while s computes the next one, so that the copy hides all but one chunk's
// arithmetic. A buffer is rewritten only after the copy that read it (an event), and the copy of a chunk starts
// only after its distances (another).
int distances_to_host(const char *FN, const float *dq, const float *nqv, int64_t nq, const float *dg, const float *ngv,
                      int64_t ng, int64_t d, int metric, int64_t rows, float *out, cudaStream_t s) {
  int64_t step = rows;
  if (nq >= 4 * kDistanceTile) {
    const int64_t quarter = (nq / 4 + kDistanceTile - 1) / kDistanceTile * kDistanceTile;
    step = std::max<int64_t>(1, std::min(quarter, rows / 2));
  }
  const int64_t chunks = (nq + step - 1) / step;
  DevBuf<float> buf[2];
  R4J_CU(buf[0].alloc(step * ng, s));
  if (chunks > 1) R4J_CU(buf[1].alloc(step * ng, s));
  Stream copy;
  R4J_CU(copy.create());
  Events computed(2), copied(2);
  R4J_CU(computed.create());
  R4J_CU(copied.create());
  auto compute = [&](int64_t c) -> int {
    const int64_t i0 = c * step, r = std::min(step, nq - i0);
    if (c >= 2) R4J_CU(cudaStreamWaitEvent(s, copied[c & 1], 0));  // the copy of chunk c - 2 has read the buffer
    R4J_TRY(launch_distance(FN, dq + i0 * d, nqv + i0, r, dg, ngv, ng, d, metric, buf[c & 1].get(), ng, s));
    R4J_CU(cudaEventRecord(computed[c & 1], s));
    return R4J_OK;
  };
  R4J_TRY(compute(0));
  for (int64_t c = 0; c < chunks; ++c) {
    if (c + 1 < chunks) R4J_TRY(compute(c + 1));  // queued before this chunk's copy, which may block the host
    const int64_t i0 = c * step, r = std::min(step, nq - i0);
    R4J_CU(cudaStreamWaitEvent(copy.get(), computed[c & 1], 0));
    R4J_TRY(download(FN, out + i0 * ng, buf[c & 1].get(), sizeof(float) * r * ng, copy.get()));
    R4J_CU(cudaEventRecord(copied[c & 1], copy.get()));
  }
  R4J_CU(cudaStreamSynchronize(copy.get()));
  return R4J_OK;
}

// r4j_cuda_pairwise into out (host), or, with ev, scored on the device chunk by chunk.
int pairwise_impl(const char *FN, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                  float *out, const EvalLabels *labels, const EvalScores *scores) {
  HostPin pin_q(q, sizeof(float) * nq * d), pin_g(g, sizeof(float) * ng * d),
      pin_out(out, out ? sizeof(float) * nq * ng : 0);
  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  StageClock clock(FN, s);
  DevBuf<float> dq, dg, nqv, ngv, dout;
  EvalOnDevice ev;
  R4J_CU(dq.alloc(nq * d, s));
  R4J_CU(dg.alloc(ng * d, s));
  R4J_CU(nqv.alloc(nq, s));
  R4J_CU(ngv.alloc(ng, s));
  R4J_TRY(upload(FN, dq.get(), q, sizeof(float) * nq * d, s));
  R4J_TRY(upload(FN, dg.get(), g, sizeof(float) * ng * d, s));
  if (labels) R4J_TRY(ev.upload(FN, labels, nq, ng, s));
  clock.mark("allocate, copy q and g to the device");
  R4J_TRY(launch_row_norms(FN, dq.get(), nq, d, metric, nqv.get(), s));
  R4J_TRY(launch_row_norms(FN, dg.get(), ng, d, metric, ngv.get(), s));
  clock.mark("row norms");

  const int64_t rows = std::min<int64_t>(chunk_rows(nq, ng * (int64_t)sizeof(float), scratch_budget()), 65535 * 128);
  if (labels) {
    R4J_CU(dout.alloc(rows * ng, s));
    for (int64_t i0 = 0; i0 < nq; i0 += rows) {
      const int64_t r = std::min(rows, nq - i0);
      R4J_TRY(launch_distance(FN, dq.get() + i0 * d, nqv.get() + i0, r, dg.get(), ngv.get(), ng, d, metric,
                              dout.get(), ng, s));
      R4J_TRY(ev.rows(FN, dout.get(), r, ng, i0, s));
    }
    R4J_TRY(ev.download(FN, scores, s));
  } else {
    R4J_TRY(distances_to_host(FN, dq.get(), nqv.get(), nq, dg.get(), ngv.get(), ng, d, metric, rows, out, s));
  }
  R4J_CU(cudaStreamSynchronize(s));
  clock.mark(labels ? "distances, scores, scores to the host" : "distances, copies to the host");
  return R4J_OK;
}

// The argument checks r4j_cuda_pairwise and r4j_cuda_pairwise_evaluate share.
int check_pairwise_args(const char *FN, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                        int metric) {
  R4J_TRY(r4j::check_rows(FN, "q", q, nq, d));
  R4J_TRY(r4j::check_rows(FN, "g", g, ng, d));
  return r4j::check_metric(FN, metric);
}

}  // namespace
}  // namespace cu
}  // namespace r4j

extern "C" int r4j_cuda_pairwise(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                                 float *out) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_pairwise";
  r4j::clear_error();
  R4J_TRY(check_pairwise_args(FN, q, nq, g, ng, d, metric));
  if (nq > 0 && ng > 0 && out == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": out is null");
  R4J_TRY(prepare_device(FN));
  if (nq == 0 || ng == 0) return R4J_OK;
  return pairwise_impl(FN, q, nq, g, ng, d, metric, out, nullptr, nullptr);
}

extern "C" int r4j_cuda_pairwise_evaluate(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                                          int metric, const int32_t *q_pid, const int32_t *q_cam,
                                          const int32_t *g_pid, const int32_t *g_cam, int32_t *first, double *ap,
                                          double *inp, int32_t *nan_col) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_pairwise_evaluate";
  r4j::clear_error();
  R4J_TRY(check_pairwise_args(FN, q, nq, g, ng, d, metric));
  R4J_TRY(check_eval_args(FN, nq, ng, q_pid, q_cam, g_pid, g_cam, first, ap, inp, nan_col));
  R4J_TRY(prepare_device(FN));
  if (nq == 0) return R4J_OK;
  const EvalLabels labels{q_pid, q_cam, g_pid, g_cam};
  const EvalScores scores{first, ap, inp, nan_col};
  return pairwise_impl(FN, q, nq, g, ng, d, metric, nullptr, &labels, &scores);
}
