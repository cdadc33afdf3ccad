// Market-1501 scores of distance rows that live on the device (section 7 of reid4j.h): the rows
// are ranked without sorting them. For a match m at (distance v, column j), its 1-based rank among
// the valid entries is 1 + the number of valid entries ahead of it in the order (distance, column),
// and its position among the matches is 1 + the number of matches ahead of it. AP, the first-match
// rank and INP follow from those two counts, exactly as from a sorted list.
//
// One block per row. Pass 1 (all threads, strided): the first NaN column and the number of
// matches P. Then, for P up to EVAL_MAXP: the P matches' (distance, column) keys are gathered into
// shared memory and sorted there (bitonic), so that the s-th match has s matches ahead of it; one
// coalesced pass over the row finds, for each valid entry, how many of the sorted keys are not
// greater than its own (a binary search; entries ahead of every match or behind the last one need
// none) and counts it in that bin; the prefix sums of the bins are the valid entries ahead of each
// match. O(ng log P) per row. Rows with more matches take the sweep: each thread takes the matches
// among its own columns and, for each, sweeps the whole row counting what ranks ahead, O(P * ng)
// (the first implementation: 365 ms for 6,800 MSMT17-sized rows of 82,100 on an H200). Sums are in
// double.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <string>

#include "cuda_common.cuh"

namespace r4j {
namespace cu {
namespace {

constexpr int EVAL_THREADS = 128;
constexpr int EVAL_MAXP = 2048;  // matches per row sorted in shared memory (16 KB of keys, 8 KB of bins)

// (v, j) ahead of (w, k) in the ranking order: smaller distance, then smaller column.
__device__ __forceinline__ bool ahead(float v, int j, float w, int k) { return v < w || (v == w && j < k); }

// The reduction of v over the block by op (identity: op's neutral value); every thread gets it.
template <typename T, typename Op>
__device__ T block_reduce(T v, T *shared, Op op, T identity) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  __syncthreads();  // `shared` may still be read from the previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? shared[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

struct AddI {
  __device__ long long operator()(long long a, long long b) const { return a + b; }
};
struct MinI {
  __device__ long long operator()(long long a, long long b) const { return a < b ? a : b; }
};
struct MaxI {
  __device__ long long operator()(long long a, long long b) const { return a > b ? a : b; }
};
struct AddD {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// Rows [0, rows) of D ([rows, ng], row r is query row0 + r). first: 1-based rank of the first
// match, 0 when not evaluated (pid -1 or a NaN in the row), -1 when the query has no valid match.
__global__ void __launch_bounds__(EVAL_THREADS) evaluate_rows_kernel(
    const float *__restrict__ D, int64_t rows, int64_t ng, int64_t row0, const int32_t *__restrict__ qpid,
    const int32_t *__restrict__ qcam, const int32_t *__restrict__ gpid, const int32_t *__restrict__ gcam,
    int32_t *__restrict__ first, double *__restrict__ ap, double *__restrict__ inp, int32_t *__restrict__ nan_col,
    int maxp) {
  __shared__ long long si[32];
  __shared__ double sd[32];
  __shared__ float kv[EVAL_MAXP];  // the matches' keys, sorted: distance ...
  __shared__ int kj[EVAL_MAXP];    // ... and column
  __shared__ int bins[EVAL_MAXP];  // bins[s]: valid entries with exactly s keys not greater than their own
  __shared__ int gathered;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *d = D + r * ng;
    const int64_t qi = row0 + r;
    const int32_t pid = qpid[qi], cam = qcam[qi];
    long long nan_at = LLONG_MAX, p = 0;
    for (int64_t j = threadIdx.x; j < ng; j += blockDim.x) {
      const float v = d[j];
      if (v != v) nan_at = nan_at < j ? nan_at : j;
      if (gpid[j] == pid && gcam[j] != cam) ++p;
    }
    nan_at = block_reduce(nan_at, si, MinI(), LLONG_MAX);
    p = block_reduce(p, si, AddI(), 0LL);
    if (nan_at != LLONG_MAX || pid == -1 || p == 0) {
      if (threadIdx.x == 0) {
        nan_col[qi] = nan_at == LLONG_MAX ? -1 : (int32_t)nan_at;
        first[qi] = (nan_at == LLONG_MAX && pid != -1) ? -1 : 0;
        ap[qi] = 0;
        inp[qi] = 0;
      }
      continue;  // uniform across the block
    }
    if (p <= maxp) {
      const int np = (int)p;
      int n2 = 1;
      while (n2 < np) n2 <<= 1;
      if (threadIdx.x == 0) gathered = 0;
      for (int i = threadIdx.x; i < n2; i += blockDim.x) {
        kv[i] = INFINITY;  // padding sorts behind every real key (its column is larger than any)
        kj[i] = INT_MAX;
        bins[i] = 0;
      }
      __syncthreads();
      for (int64_t j = threadIdx.x; j < ng; j += blockDim.x)
        if (gpid[j] == pid && gcam[j] != cam) {
          const int at = atomicAdd(&gathered, 1);
          kv[at] = d[j];
          kj[at] = (int)j;
        }
      __syncthreads();
      for (int k = 2; k <= n2; k <<= 1)  // bitonic sort of the n2 keys, ascending
        for (int h = k >> 1; h > 0; h >>= 1) {
          for (int i = threadIdx.x; i < n2; i += blockDim.x) {
            const int o = i ^ h;
            if (o <= i) continue;
            const bool up = (i & k) == 0;
            if (ahead(kv[o], kj[o], kv[i], kj[i]) == up) {
              const float tv = kv[i];
              const int tj = kj[i];
              kv[i] = kv[o], kj[i] = kj[o];
              kv[o] = tv, kj[o] = tj;
            }
          }
          __syncthreads();
        }
      const float v0 = kv[0], vl = kv[np - 1];
      const int j0 = kj[0], jl = kj[np - 1];
      long long before_all = 0;  // valid entries ahead of every match
      for (int64_t j = threadIdx.x; j < ng; j += blockDim.x) {
        const int32_t g = gpid[j];
        if (g == -1 || (g == pid && gcam[j] == cam)) continue;  // junk, or the query's own camera
        const float v = d[j];
        if (ahead(v, (int)j, v0, j0)) {
          ++before_all;
          continue;
        }
        if (!ahead(v, (int)j, vl, jl)) continue;  // behind the last match (or it): ahead of none
        int a = 1, b = np - 1;  // the first key behind (v, j): it exists, and it is not key 0
        while (a < b) {
          const int mid = (a + b) >> 1;
          if (ahead(v, (int)j, kv[mid], kj[mid]))
            b = mid;
          else
            a = mid + 1;
        }
        atomicAdd(&bins[a], 1);  // ahead of the matches a .. np - 1
      }
      before_all = block_reduce(before_all, si, AddI(), 0LL);
      if (threadIdx.x == 0) {
        double sum = 0;
        long long valid_ahead = before_all, lo = 0, hi = 0;
        for (int t = 0; t < np; ++t) {
          valid_ahead += bins[t];
          const long long rank = valid_ahead + 1;
          sum += (double)(t + 1) / (double)rank;
          if (t == 0) lo = rank;
          hi = rank;
        }
        nan_col[qi] = -1;
        first[qi] = (int32_t)lo;
        ap[qi] = sum / (double)p;
        inp[qi] = (double)p / (double)hi;
      }
      __syncthreads();  // the keys and bins are reused by the block's next row
      continue;
    }
    double sum = 0;
    long long lo = LLONG_MAX, hi = 0;
    for (int64_t m = threadIdx.x; m < ng; m += blockDim.x) {
      if (!(gpid[m] == pid && gcam[m] != cam)) continue;
      const float vm = d[m];
      long long valid_ahead = 0, matches_ahead = 0;
      for (int64_t j = 0; j < ng; ++j) {
        const float v = d[j];
        if (!(v < vm || (v == vm && j < m))) continue;
        const int32_t g = gpid[j];
        if (g == -1) continue;                 // junk
        if (g == pid) {
          if (gcam[j] == cam) continue;        // the query's own camera: not ranked
          ++matches_ahead;
        }
        ++valid_ahead;
      }
      const long long rank = valid_ahead + 1;
      sum += (double)(matches_ahead + 1) / (double)rank;
      lo = lo < rank ? lo : rank;
      hi = hi > rank ? hi : rank;
    }
    sum = block_reduce(sum, sd, AddD(), 0.0);
    lo = block_reduce(lo, si, MinI(), LLONG_MAX);
    hi = block_reduce(hi, si, MaxI(), 0LL);
    if (threadIdx.x == 0) {
      nan_col[qi] = -1;
      first[qi] = (int32_t)lo;
      ap[qi] = sum / (double)p;
      inp[qi] = (double)p / (double)hi;
    }
  }
}

}  // namespace

int check_eval_args(const char *FN, int64_t nq, int64_t ng, const int32_t *q_pid, const int32_t *q_cam,
                    const int32_t *g_pid, const int32_t *g_cam, const int32_t *first, const double *ap,
                    const double *inp, const int32_t *nan_col) {
  if (ng < 1) return fail(R4J_EINVAL, std::string(FN) + ": the gallery is empty: nothing to rank");
  if (nq > INT32_MAX || ng > INT32_MAX)
    return fail(R4J_EINVAL, std::string(FN) + ": nq and ng must be < 2^31, got " + std::to_string(nq) + " and " +
                                std::to_string(ng));
  if (!g_pid || !g_cam) return fail(R4J_EINVAL, std::string(FN) + ": g_pid or g_cam is null");
  if (nq > 0 && (!q_pid || !q_cam)) return fail(R4J_EINVAL, std::string(FN) + ": q_pid or q_cam is null");
  if (nq > 0 && (!first || !ap || !inp || !nan_col))
    return fail(R4J_EINVAL, std::string(FN) + ": an output (first, ap, inp, nan_col) is null");
  return R4J_OK;
}

int EvalOnDevice::upload(const char *FN, const EvalLabels *l, int64_t nq, int64_t ng, cudaStream_t s) {
  nq_ = nq;
  R4J_CU(labels_.alloc(2 * nq + 2 * ng, s));
  R4J_CU(first_.alloc(2 * nq, s));
  R4J_CU(scores_.alloc(2 * nq, s));
  int32_t *p = labels_.get();
  R4J_CU(cudaMemcpyAsync(p, l->q_pid, sizeof(int32_t) * nq, cudaMemcpyHostToDevice, s));
  R4J_CU(cudaMemcpyAsync(p + nq, l->q_cam, sizeof(int32_t) * nq, cudaMemcpyHostToDevice, s));
  R4J_CU(cudaMemcpyAsync(p + 2 * nq, l->g_pid, sizeof(int32_t) * ng, cudaMemcpyHostToDevice, s));
  R4J_CU(cudaMemcpyAsync(p + 2 * nq + ng, l->g_cam, sizeof(int32_t) * ng, cudaMemcpyHostToDevice, s));
  return R4J_OK;
}

int EvalOnDevice::rows(const char *FN, const float *dist, int64_t rows, int64_t ng, int64_t row0, cudaStream_t s) {
  if (rows <= 0) return R4J_OK;
  const int32_t *p = labels_.get();
  const unsigned grid = (unsigned)std::min<int64_t>(rows, 65535 * 8);
  int maxp = EVAL_MAXP;  // R4J_CUDA_EVAL_MAXP lowers it, for the tests of the sweep
  if (const char *e = std::getenv("R4J_CUDA_EVAL_MAXP")) maxp = std::max(0, std::min(EVAL_MAXP, std::atoi(e)));
  evaluate_rows_kernel<<<grid, EVAL_THREADS, 0, s>>>(dist, rows, ng, row0, p, p + nq_, p + 2 * nq_, p + 2 * nq_ + ng,
                                                     first_.get(), scores_.get(), scores_.get() + nq_,
                                                     first_.get() + nq_, maxp);
  R4J_CU_LAUNCH("evaluate_rows_kernel");
  return R4J_OK;
}

int EvalOnDevice::download(const char *FN, const EvalScores *out, cudaStream_t s) {
  R4J_CU(cudaMemcpyAsync(out->first, first_.get(), sizeof(int32_t) * nq_, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaMemcpyAsync(out->nan_col, first_.get() + nq_, sizeof(int32_t) * nq_, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaMemcpyAsync(out->ap, scores_.get(), sizeof(double) * nq_, cudaMemcpyDeviceToHost, s));
  R4J_CU(cudaMemcpyAsync(out->inp, scores_.get() + nq_, sizeof(double) * nq_, cudaMemcpyDeviceToHost, s));
  return R4J_OK;
}

}  // namespace cu
}  // namespace r4j
