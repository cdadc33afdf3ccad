// Built instead of the CUDA sources when nvcc is absent: every r4j_cuda_* call reports R4J_ENOTBUILT.
#include "common.h"
#include "reid4j.h"

namespace {
int not_built() { return r4j::fail(R4J_ENOTBUILT, "reid4j was built without CUDA (nvcc was not found at build time)"); }
}  // namespace

extern "C" {
int r4j_cuda_compiled(void) { return 0; }
int r4j_cuda_device_count(int *count) {
  if (count) *count = 0;
  return R4J_OK;
}
int r4j_cuda_set_device(int) { return not_built(); }
int r4j_cuda_device_name(char *buf, int len) {
  if (buf && len > 0) buf[0] = '\0';
  return not_built();
}
int r4j_cuda_set_precision(int) { return not_built(); }
int r4j_cuda_precision(void) { return R4J_FP32; }
int r4j_cuda_pairwise(const float *, int64_t, const float *, int64_t, int64_t, int, float *) { return not_built(); }
int r4j_cuda_topk(const float *, int64_t, int64_t, int64_t, float *, int32_t *) { return not_built(); }
int r4j_cuda_pairwise_topk(const float *, int64_t, const float *, int64_t, int64_t, int, int64_t, float *, int32_t *) {
  return not_built();
}
int r4j_cuda_batch_hard(const float *, const int32_t *, int64_t, int64_t, int, int32_t *, float *, int32_t *, float *) {
  return not_built();
}
int r4j_cuda_batch_hard_memory(const float *, const int32_t *, int64_t, const float *, const int32_t *, int64_t, int64_t,
                               int, int32_t *, float *, int32_t *, float *) {
  return not_built();
}
int r4j_cuda_rerank(const float *, int64_t, const float *, int64_t, int64_t, int, int32_t, int32_t, float, float *) {
  return not_built();
}
int r4j_cuda_rows_create(int64_t, int, void **out) {
  if (out) *out = nullptr;
  return not_built();
}
int r4j_cuda_rows_append(void *, const float *, int64_t) { return not_built(); }
int r4j_cuda_rows_topk(void *, int64_t, int64_t, const float *, int64_t, int64_t, float *, int32_t *) {
  return not_built();
}
int64_t r4j_cuda_rows_count(void *) {
  not_built();
  return -1;
}
int r4j_cuda_unscale_grads(int64_t, float *const *, const int64_t *, float, float *, void *) { return not_built(); }
int r4j_cuda_adam_step(int64_t, float *const *, const float *const *, float *const *, float *const *, const int64_t *,
                       const float *, const float *, float, float, float, float, void *) {
  return not_built();
}
int r4j_cuda_unscale_grads_dev(int64_t, float *const *, const int64_t *, const float *, float *, void *) {
  return not_built();
}
int r4j_cuda_adam_step_dev(int64_t, float *const *, const float *const *, float *const *, float *const *,
                           const int64_t *, const double *, int64_t *const *, double, double, float, float,
                           const float *, void *) {
  return not_built();
}
int r4j_cuda_amp_update_scale(float *, int64_t *, const float *, int64_t, void *) { return not_built(); }
int r4j_cuda_pairwise_evaluate(const float *, int64_t, const float *, int64_t, int64_t, int, const int32_t *,
                               const int32_t *, const int32_t *, const int32_t *, int32_t *, double *, double *,
                               int32_t *) {
  return not_built();
}
int r4j_cuda_rerank_evaluate(const float *, int64_t, const float *, int64_t, int64_t, int, int32_t, int32_t, float,
                             const int32_t *, const int32_t *, const int32_t *, const int32_t *, int32_t *, double *,
                             double *, int32_t *) {
  return not_built();
}
void r4j_cuda_rows_free(void *) {}  // no handle can exist: r4j_cuda_rows_create never makes one
}
