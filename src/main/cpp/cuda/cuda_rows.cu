// Device-resident rows (r4j_cuda_rows_*): a growable [n, d] matrix and its row norms kept on the
// device between calls, searched with the same fused distance + selection as r4j_cuda_pairwise_topk
// (device_pairwise_topk), so that a resident search gives the bits of the copying one.
#include <algorithm>
#include <new>
#include <string>

#include "cuda_common.cuh"

namespace {

using namespace r4j::cu;

constexpr uint64_t kRowsMagic = 0x52344a524f575331ull;  // "R4JROWS1"

// The object behind a handle. rows: [cap, d], norms: [cap], the first n of each in use.
struct Rows {
  uint64_t magic = kRowsMagic;
  int device = 0;
  int64_t d = 0;
  int metric = 0;
  int64_t n = 0, cap = 0;
  float *rows = nullptr, *norms = nullptr;
  bool rows_async = false, norms_async = false;  // from the stream-ordered allocator
};

// Frees a buffer of the handle in the order of s (see DevBuf).
void free_on(void *p, bool async, cudaStream_t s) {
  if (p) async ? cudaFreeAsync(p, s) : cudaFree(p);
}

int check_handle(const char *FN, void *hv, Rows **out) {
  if (hv == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": handle is null");
  Rows *h = static_cast<Rows *>(hv);
  if (h->magic != kRowsMagic)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": not a handle from r4j_cuda_rows_create (or already freed)");
  *out = h;
  return R4J_OK;
}

// Makes the handle's device current for this thread (after checking there is a usable device).
int use_device(const char *FN, const Rows *h) {
  R4J_TRY(prepare_device(FN));
  R4J_CU(cudaSetDevice(h->device));
  return R4J_OK;
}

// Whether [cap, d] floats have a byte count that fits an int64_t.
bool fits(int64_t cap, int64_t d) { return cap <= (INT64_MAX / int64_t(sizeof(float))) / d; }

}  // namespace

extern "C" {

int r4j_cuda_rows_create(int64_t d, int metric, void **out) {
  static const char *FN = "r4j_cuda_rows_create";
  r4j::clear_error();
  if (out == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": out is null");
  *out = nullptr;
  if (d < 1 || d > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": dimension d " + std::to_string(d) + " is outside [1, 2^31)");
  R4J_TRY(r4j::check_metric(FN, metric));
  R4J_TRY(prepare_device(FN));
  int dev = 0;
  R4J_CU(cudaGetDevice(&dev));
  Rows *h = new (std::nothrow) Rows();
  if (h == nullptr) return r4j::fail(R4J_ENOMEM, std::string(FN) + ": out of host memory");
  h->device = dev;
  h->d = d;
  h->metric = metric;
  *out = h;
  return R4J_OK;
}

int r4j_cuda_rows_append(void *hv, const float *rows, int64_t n) {
  static const char *FN = "r4j_cuda_rows_append";
  r4j::clear_error();
  Rows *h = nullptr;
  R4J_TRY(check_handle(FN, hv, &h));
  if (n < 0 || n > int64_t(INT32_MAX) - h->n)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": " + std::to_string(n) + " rows after the " +
                                     std::to_string(h->n) + " held: the count must stay in [0, 2^31)");
  if (n > 0 && rows == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": rows is null");
  R4J_TRY(use_device(FN, h));
  if (n == 0) return R4J_OK;

  const int64_t d = h->d, need = h->n + n;
  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  if (need <= h->cap) {  // room left: the new rows go after the old ones, nothing else moves
    R4J_CU(cudaMemcpyAsync(h->rows + h->n * d, rows, sizeof(float) * n * d, cudaMemcpyHostToDevice, s));
    R4J_TRY(launch_row_norms(FN, h->rows + h->n * d, n, d, h->metric, h->norms + h->n, s));
    R4J_CU(cudaStreamSynchronize(s));
    h->n = need;
    return R4J_OK;
  }

  // Grow: new buffers of twice the capacity (or exactly `need` when that does not fit), the old
  // rows and norms copied over on the device, then the new rows. The handle changes only once all
  // of it has succeeded; on failure the new buffers are freed (DevBuf) and the old ones kept.
  DevBuf<float> nr, nn;
  int64_t cap = std::min<int64_t>(INT32_MAX, std::max<int64_t>({need, 2 * h->cap, 64}));
  cudaError_t e = cudaErrorMemoryAllocation;
  for (;;) {
    if (fits(cap, d)) {
      e = nr.alloc(cap * d, s);
      if (e == cudaSuccess) e = nn.alloc(cap, s);
      if (e == cudaSuccess) break;
      cudaGetLastError();  // clear the failed allocation before trying the smaller one
      nr.reset();
      nn.reset();
    }
    if (cap == need) break;
    cap = need;
  }
  if (e != cudaSuccess) {
    if (!fits(need, d))
      return r4j::fail(R4J_ENOMEM, std::string(FN) + ": " + std::to_string(need) + " rows of " + std::to_string(d) +
                                       " floats are more bytes than one buffer can hold");
    return cuda_fail(e, FN, "cudaMalloc of the grown rows and norms");
  }
  if (h->n > 0) {
    R4J_CU(cudaMemcpyAsync(nr.get(), h->rows, sizeof(float) * h->n * d, cudaMemcpyDeviceToDevice, s));
    R4J_CU(cudaMemcpyAsync(nn.get(), h->norms, sizeof(float) * h->n, cudaMemcpyDeviceToDevice, s));
  }
  R4J_CU(cudaMemcpyAsync(nr.get() + h->n * d, rows, sizeof(float) * n * d, cudaMemcpyHostToDevice, s));
  R4J_TRY(launch_row_norms(FN, nr.get() + h->n * d, n, d, h->metric, nn.get() + h->n, s));
  R4J_CU(cudaStreamSynchronize(s));
  free_on(h->rows, h->rows_async, s);
  free_on(h->norms, h->norms_async, s);
  h->rows_async = nr.async();
  h->norms_async = nn.async();
  h->rows = nr.release();
  h->norms = nn.release();
  h->cap = cap;
  h->n = need;
  return R4J_OK;
}

int r4j_cuda_rows_topk(void *hv, int64_t row0, int64_t nrows, const float *q, int64_t nq, int64_t k,
                       float *out_val, int32_t *out_idx) {
  static const char *FN = "r4j_cuda_rows_topk";
  r4j::clear_error();
  Rows *h = nullptr;
  R4J_TRY(check_handle(FN, hv, &h));
  if (row0 < 0 || nrows < 0 || row0 > h->n - nrows)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": rows [" + std::to_string(row0) + ", " + std::to_string(row0) +
                                     " + " + std::to_string(nrows) + ") are outside the " + std::to_string(h->n) +
                                     " rows held");
  R4J_TRY(r4j::check_rows(FN, "q", q, nq, h->d));
  if (k < 0 || k > nrows)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": k " + std::to_string(k) + " is outside [0, nrows = " +
                                     std::to_string(nrows) + "]");
  if (nq > 0 && k > 0 && (out_val == nullptr || out_idx == nullptr))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": out_val or out_idx is null");
  R4J_TRY(use_device(FN, h));
  if (nq == 0 || k == 0) return R4J_OK;

  const int64_t d = h->d;
  Stream st;
  R4J_CU(st.create());
  cudaStream_t s = st.get();
  DevBuf<float> dq, nqv;
  R4J_CU(dq.alloc(nq * d, s));
  R4J_CU(nqv.alloc(nq, s));
  R4J_CU(cudaMemcpyAsync(dq.get(), q, sizeof(float) * nq * d, cudaMemcpyHostToDevice, s));
  R4J_TRY(launch_row_norms(FN, dq.get(), nq, d, h->metric, nqv.get(), s));
  R4J_TRY(device_pairwise_topk(FN, dq.get(), nqv.get(), nq, h->rows + row0 * d, h->norms + row0, nrows, d, h->metric,
                               k, out_val, out_idx, s));
  R4J_CU(cudaStreamSynchronize(s));
  return R4J_OK;
}

int64_t r4j_cuda_rows_count(void *hv) {
  r4j::clear_error();
  Rows *h = nullptr;
  if (check_handle("r4j_cuda_rows_count", hv, &h) != R4J_OK) return -1;
  return h->n;
}

void r4j_cuda_rows_free(void *hv) {
  if (hv == nullptr) return;
  Rows *h = static_cast<Rows *>(hv);
  if (h->magic != kRowsMagic) return;  // not a live handle: touching its pointers would be worse
  h->magic = 0;
  if (h->rows || h->norms) {
    cudaSetDevice(h->device);
    Stream st;
    cudaStream_t s = st.create() == cudaSuccess ? st.get() : nullptr;  // the legacy stream if none
    free_on(h->rows, h->rows_async, s);
    free_on(h->norms, h->norms_async, s);
    if (!s) cudaStreamSynchronize(nullptr);
    cudaGetLastError();  // nothing to report from a void function: leave no error behind
  }
  delete h;
}

}  // extern "C"
