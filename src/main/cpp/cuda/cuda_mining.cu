// Batch-hard triplet mining of the CUDA backend: streamed distance chunks + one block per anchor
// reducing to the hardest positive and negative with the smaller-index tie-break.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_common.cuh"

namespace r4j {
namespace cu {
namespace {

constexpr int MINE_THREADS = 256;

struct Best {
  float v;
  int32_t i;  // -1: none yet
};

// Is (v, i) a better positive than b (larger distance, then smaller index)?
__device__ __forceinline__ bool better_pos(float v, int32_t i, const Best &b) {
  return b.i < 0 || v > b.v || (v == b.v && i < b.i);
}
// Is (v, i) a better negative than b (smaller distance, then smaller index)?
__device__ __forceinline__ bool better_neg(float v, int32_t i, const Best &b) {
  return b.i < 0 || v < b.v || (v == b.v && i < b.i);
}

// One block per anchor row of dist: [rows, cols] (leading dimension ld). Column `self_base + row`
// is skipped when self_base >= 0 (in-batch form).
__global__ void __launch_bounds__(MINE_THREADS)
    hard_kernel(const float *__restrict__ dist, int64_t ld, int64_t cols, const int32_t *__restrict__ row_labels,
                const int32_t *__restrict__ col_labels, int64_t self_base, int32_t *__restrict__ pos_idx,
                float *__restrict__ pos_dist, int32_t *__restrict__ neg_idx, float *__restrict__ neg_dist) {
  __shared__ Best sp[MINE_THREADS / 32], sn[MINE_THREADS / 32];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t row = blockIdx.x;
  const float *r = dist + row * ld;
  const int32_t lab = row_labels[row];
  const int64_t self = self_base >= 0 ? self_base + row : -1;
  Best p{0.f, -1}, n{0.f, -1};
  for (int64_t j = tid; j < cols; j += MINE_THREADS) {
    const float v = r[j];
    if (col_labels[j] == lab) {
      if (j != self && better_pos(v, (int32_t)j, p)) p = Best{v, (int32_t)j};
    } else if (better_neg(v, (int32_t)j, n)) {
      n = Best{v, (int32_t)j};
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float pv = __shfl_down_sync(0xffffffffu, p.v, o);
    const int32_t pi = __shfl_down_sync(0xffffffffu, p.i, o);
    const float nv = __shfl_down_sync(0xffffffffu, n.v, o);
    const int32_t ni = __shfl_down_sync(0xffffffffu, n.i, o);
    if (pi >= 0 && better_pos(pv, pi, p)) p = Best{pv, pi};
    if (ni >= 0 && better_neg(nv, ni, n)) n = Best{nv, ni};
  }
  if (lane == 0) {
    sp[warp] = p;
    sn[warp] = n;
  }
  __syncthreads();
  if (tid == 0) {
    for (int w = 1; w < MINE_THREADS / 32; ++w) {
      if (sp[w].i >= 0 && better_pos(sp[w].v, sp[w].i, p)) p = sp[w];
      if (sn[w].i >= 0 && better_neg(sn[w].v, sn[w].i, n)) n = sn[w];
    }
    pos_idx[row] = p.i;
    pos_dist[row] = p.i >= 0 ? p.v : __int_as_float(0x7fc00000);
    neg_idx[row] = n.i;
    neg_dist[row] = n.i >= 0 ? n.v : __int_as_float(0x7fc00000);
  }
}

// Shared body of both public functions. self_exclude: m is a (the in-batch form).
int batch_hard_impl(const char *FN, const float *a, const int32_t *a_labels, int64_t na, const float *m,
                    const int32_t *m_labels, int64_t nm, int64_t d, int metric, bool self_exclude,
                    int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  DevBuf<float> da, dm, an, mn, dd, dpd, dnd;
  DevBuf<int32_t> dal, dml, dpi, dni;
  R4J_CU(da.alloc(na * d, s));
  R4J_CU(dal.alloc(na, s));
  R4J_CU(cudaMemcpyAsync(da.get(), a, sizeof(float) * na * d, cudaMemcpyHostToDevice, s));
  R4J_CU(cudaMemcpyAsync(dal.get(), a_labels, sizeof(int32_t) * na, cudaMemcpyHostToDevice, s));
  R4J_CU(an.alloc(na, s));
  R4J_TRY(launch_row_norms(FN, da.get(), na, d, metric, an.get(), s));
  const float *mp = da.get(), *mnp = an.get();
  const int32_t *mlp = dal.get();
  if (!self_exclude) {
    R4J_CU(dm.alloc(nm * d, s));
    R4J_CU(dml.alloc(nm, s));
    R4J_CU(mn.alloc(nm, s));
    R4J_CU(cudaMemcpyAsync(dm.get(), m, sizeof(float) * nm * d, cudaMemcpyHostToDevice, s));
    R4J_CU(cudaMemcpyAsync(dml.get(), m_labels, sizeof(int32_t) * nm, cudaMemcpyHostToDevice, s));
    R4J_TRY(launch_row_norms(FN, dm.get(), nm, d, metric, mn.get(), s));
    mp = dm.get();
    mnp = mn.get();
    mlp = dml.get();
  }
  R4J_CU(dpi.alloc(na, s));
  R4J_CU(dni.alloc(na, s));
  R4J_CU(dpd.alloc(na, s));
  R4J_CU(dnd.alloc(na, s));
  const int64_t crow = std::min<int64_t>(chunk_rows(na, nm * (int64_t)sizeof(float)), 65535 * 128);
  R4J_CU(dd.alloc(crow * nm, s));
  for (int64_t r0 = 0; r0 < na; r0 += crow) {
    const int64_t r = std::min(crow, na - r0);
    R4J_TRY(launch_distance(FN, da.get() + r0 * d, an.get() + r0, r, mp, mnp, nm, d, metric, dd.get(), nm, s));
    hard_kernel<<<(unsigned)r, MINE_THREADS, 0, s>>>(dd.get(), nm, nm, dal.get() + r0, mlp,
                                                     self_exclude ? r0 : -1, dpi.get() + r0, dpd.get() + r0,
                                                     dni.get() + r0, dnd.get() + r0);
    R4J_CU_LAUNCH("hard_kernel");
  }
  R4J_CU(cudaMemcpyAsync(pos_idx, dpi.get(), sizeof(int32_t) * na, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaMemcpyAsync(pos_dist, dpd.get(), sizeof(float) * na, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaMemcpyAsync(neg_idx, dni.get(), sizeof(int32_t) * na, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaMemcpyAsync(neg_dist, dnd.get(), sizeof(float) * na, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaStreamSynchronize(s));
  return R4J_OK;
}

int check_outputs(const char *fn, int64_t n, int32_t *pos_idx, float *pos_dist, int32_t *neg_idx,
                  float *neg_dist) {
  if (n > 0 && (!pos_idx || !pos_dist || !neg_idx || !neg_dist))
    return fail(R4J_EINVAL, std::string(fn) + ": an output pointer is null");
  return R4J_OK;
}

// Fills the outputs of anchors that have no candidates at all (empty memory).
void fill_none(int64_t n, int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  for (int64_t i = 0; i < n; ++i) {
    pos_idx[i] = -1;
    neg_idx[i] = -1;
    pos_dist[i] = std::nanf("");
    neg_dist[i] = std::nanf("");
  }
}

}  // namespace
}  // namespace cu
}  // namespace r4j

extern "C" int r4j_cuda_batch_hard(const float *x, const int32_t *labels, int64_t n, int64_t d, int metric,
                                   int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_batch_hard";
  r4j::clear_error();
  R4J_TRY(r4j::check_rows(FN, "x", x, n, d));
  R4J_TRY(r4j::check_rows(FN, "labels", labels, n, 1));
  R4J_TRY(r4j::check_metric(FN, metric));
  R4J_TRY(check_outputs(FN, n, pos_idx, pos_dist, neg_idx, neg_dist));
  R4J_TRY(prepare_device(FN));
  if (n == 0) return R4J_OK;
  return batch_hard_impl(FN, x, labels, n, x, labels, n, d, metric, true, pos_idx, pos_dist, neg_idx, neg_dist);
}

extern "C" int r4j_cuda_batch_hard_memory(const float *a, const int32_t *a_labels, int64_t na, const float *m,
                                          const int32_t *m_labels, int64_t nm, int64_t d, int metric,
                                          int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  using namespace r4j::cu;
  static const char *FN = "r4j_cuda_batch_hard_memory";
  r4j::clear_error();
  R4J_TRY(r4j::check_rows(FN, "a", a, na, d));
  R4J_TRY(r4j::check_rows(FN, "a_labels", a_labels, na, 1));
  R4J_TRY(r4j::check_rows(FN, "m", m, nm, d));
  R4J_TRY(r4j::check_rows(FN, "m_labels", m_labels, nm, 1));
  R4J_TRY(r4j::check_metric(FN, metric));
  R4J_TRY(check_outputs(FN, na, pos_idx, pos_dist, neg_idx, neg_dist));
  R4J_TRY(prepare_device(FN));
  if (na == 0) return R4J_OK;
  if (nm == 0) {
    fill_none(na, pos_idx, pos_dist, neg_idx, neg_dist);
    return R4J_OK;
  }
  return batch_hard_impl(FN, a, a_labels, na, m, m_labels, nm, d, metric, false, pos_idx, pos_dist, neg_idx,
                         neg_dist);
}
