// Public CPU entry points: pairwise distances, top-k over a dense matrix, and the fused
// pairwise + top-k that never holds the [nq, ng] matrix.
#include <climits>
#include <new>
#include <string>
#include <vector>

#include "common.h"
#include "distance.h"
#include "reid4j.h"
#include "topk.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

int check_k(const char *fn, int64_t k, int64_t cols, const char *cols_name) {
  if (k < 0 || k > cols)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": k = " + std::to_string(k) + " is outside [0, " +
                                     cols_name + " = " + std::to_string(cols) + "]");
  return R4J_OK;
}

int check_out(const char *fn, const char *what, const void *ptr, bool needed) {
  if (needed && ptr == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": " + what + " is null");
  return R4J_OK;
}

}  // namespace

extern "C" {

const char *r4j_cpu_isa(void) { return r4j::cpu::isa_name(); }

int r4j_cpu_pairwise(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                     float *out) {
  static const char *fn = "r4j_cpu_pairwise";
  r4j::clear_error();
  int st;
  if ((st = r4j::check_rows(fn, "q", q, nq, d)) != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "g", g, ng, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if ((st = check_out(fn, "out", out, nq > 0 && ng > 0)) != R4J_OK) return st;
  if (nq == 0 || ng == 0) return R4J_OK;
  try {
    // Writes straight into out; extra memory is the packed gallery (about ng * d floats).
    r4j::cpu::pairwise_into(q, nq, g, ng, d, metric, out, ng);
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of memory packing the gallery (" +
                                     std::to_string(ng) + " x " + std::to_string(d) + " floats)");
  }
  return R4J_OK;
}

int r4j_cpu_topk(const float *dist, int64_t rows, int64_t cols, int64_t k, float *out_val,
                 int32_t *out_idx) {
  static const char *fn = "r4j_cpu_topk";
  r4j::clear_error();
  if (rows < 0 || rows > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": row count " + std::to_string(rows) + " is outside [0, 2^31)");
  if (cols < 0 || cols > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": column count " + std::to_string(cols) + " is outside [0, 2^31)");
  int st;
  if ((st = check_k(fn, k, cols, "cols")) != R4J_OK) return st;
  if ((st = check_out(fn, "dist", dist, rows > 0 && cols > 0)) != R4J_OK) return st;
  if ((st = check_out(fn, "out_val", out_val, rows > 0 && k > 0)) != R4J_OK) return st;
  if ((st = check_out(fn, "out_idx", out_idx, rows > 0 && k > 0)) != R4J_OK) return st;
  if (rows == 0 || k == 0) return R4J_OK;
  bool oom = false;
#pragma omp parallel num_threads(r4j::cpu_threads()) if (rows > 1 && rows * cols > 4096)
  {
    try {
      r4j::cpu::TopkSelector sel;
#pragma omp for schedule(dynamic, 16)
      for (int64_t i = 0; i < rows; ++i) sel.select_row(dist + i * cols, cols, k, out_val + i * k, out_idx + i * k);
    } catch (const std::bad_alloc &) {
#pragma omp atomic write
      oom = true;
    }
  }
  if (oom) return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of memory");
  return R4J_OK;
}

int r4j_cpu_pairwise_topk(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                          int metric, int64_t k, float *out_val, int32_t *out_idx) {
  static const char *fn = "r4j_cpu_pairwise_topk";
  r4j::clear_error();
  int st;
  if ((st = r4j::check_rows(fn, "q", q, nq, d)) != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "g", g, ng, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if ((st = check_k(fn, k, ng, "ng")) != R4J_OK) return st;
  if ((st = check_out(fn, "out_val", out_val, nq > 0 && k > 0)) != R4J_OK) return st;
  if ((st = check_out(fn, "out_idx", out_idx, nq > 0 && k > 0)) != R4J_OK) return st;
  if (nq == 0 || k == 0) return R4J_OK;
  try {
    // Streams row blocks (packed gallery, about ng * d floats, plus an ~8 MB block per thread)
    // into per-row selections. One selector per worker thread, allocated up front (the callback must not throw).
    std::vector<r4j::cpu::TopkSelector> sel(r4j::cpu_threads());
    for (auto &s : sel) s.reserve(ng);
    r4j::cpu::stream_rows(q, nq, g, ng, d, metric,
                          [&](int64_t i0, int64_t i1, const float *block, int64_t ld, int t) {
                            r4j::cpu::TopkSelector &s = sel[t];
                            for (int64_t i = i0; i < i1; ++i)
                              s.select_row(block + (i - i0) * ld, ng, k, out_val + i * k, out_idx + i * k);
                          });
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of memory");
  }
  return R4J_OK;
}

}  // extern "C"
