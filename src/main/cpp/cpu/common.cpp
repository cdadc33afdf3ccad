#include "common.h"
#include "scratch.h"

#include <climits>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
thread_local std::string last_error;
int threads_setting = 0;  // 0: default
}  // namespace

namespace r4j {

int fail(int status, const std::string &message) {
  last_error = message;
  return status;
}

void clear_error() { last_error.clear(); }

int cpu_threads() {
  if (threads_setting > 0) return threads_setting;
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

int check_rows(const char *fn, const char *what, const void *ptr, int64_t rows, int64_t d) {
  if (rows < 0 || rows > INT32_MAX)
    return fail(R4J_EINVAL, std::string(fn) + ": " + what + " row count " + std::to_string(rows) +
                                " is outside [0, 2^31)");
  if (d < 1) return fail(R4J_EINVAL, std::string(fn) + ": dimension d must be >= 1, got " + std::to_string(d));
  if (rows > 0 && ptr == nullptr) return fail(R4J_EINVAL, std::string(fn) + ": " + what + " is null");
  return R4J_OK;
}

int check_metric(const char *fn, int metric) {
  if (metric != R4J_SQEUCLIDEAN && metric != R4J_EUCLIDEAN && metric != R4J_COSINE)
    return fail(R4J_EINVAL, std::string(fn) + ": unknown metric " + std::to_string(metric) +
                                " (expected 0 sqeuclidean, 1 euclidean, 2 cosine)");
  return R4J_OK;
}

int check_k(const char *fn, int64_t k, int64_t cols, const char *cols_name) {
  if (k < 0 || k > cols)
    return fail(R4J_EINVAL, std::string(fn) + ": k = " + std::to_string(k) + " is outside [0, " + cols_name + " = " +
                                std::to_string(cols) + "]");
  return R4J_OK;
}

int check_out(const char *fn, const char *what, const void *ptr, bool needed) {
  if (needed && ptr == nullptr) return fail(R4J_EINVAL, std::string(fn) + ": " + what + " is null");
  return R4J_OK;
}

}  // namespace r4j

extern "C" {

const char *r4j_last_error(void) { return last_error.c_str(); }

const char *r4j_version(void) { return REID4J_VERSION; }

void r4j_cpu_set_threads(int n) { threads_setting = n > 0 ? n : 0; }

int r4j_cpu_threads(void) { return r4j::cpu_threads(); }

int64_t r4j_cpu_scratch_bytes(void) { return r4j::cpu::scratch_stats().kept_bytes; }

void r4j_cpu_scratch_release(void) { r4j::cpu::scratch_release(); }

}  // extern "C"
