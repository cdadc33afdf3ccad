// GPU check driver: compares every r4j_cuda_* function with its r4j_cpu_* twin on random inputs
// (several shapes, odd sizes, one row, empty inputs, ties, all metrics), prints PASS/FAIL per
// check, then times the CUDA kernels at the Market-1501 shape. Exits 0 when there is no CUDA
// device ("no CUDA device, skipping") and non-zero when any check failed. Built as gpu_check_emu
// (and gpu_check_emu_asan) it runs the same checks on the CUDA emulator of src/test/cpp/cuda_emu,
// without timings, plus out-of-memory checks that only the emulator can provoke.
// Usage: gpu_check [--no-timing] [--no-cpu-rerank] [--quick] [--msmt] [--json FILE] [seed]   (--quick: small shapes
// only, as under compute-sanitizer; --msmt: also time re-ranking at the MSMT17 size, N = 88,900, with its stages)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "reid4j.h"
#ifdef REID4J_CUDA_EMU
#include <cuda_runtime.h>  // the emulator's (src/test/cpp/cuda_emu): memory limit and allocation count
#endif

namespace {

int g_fail = 0, g_pass = 0;
std::vector<std::pair<std::string, double>> g_times_ms;  // every TIME line, for --json
std::string g_device;
double g_market_max_diff = -1;
std::mt19937_64 g_rng(12345);

void report(bool ok, const std::string &name, const std::string &detail = "") {
  std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : "  ", detail.c_str());
  std::fflush(stdout);
  if (ok)
    ++g_pass;
  else
    ++g_fail;
}

bool status_ok(int st, const std::string &name) {
  if (st == R4J_OK) return true;
  report(false, name, "status " + std::to_string(st) + ": " + r4j_last_error());
  return false;
}

std::vector<float> gaussian(int64_t n, int64_t d) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n * d));
  for (auto &x : v) x = nd(g_rng);
  return v;
}

// n rows around `ids` random centres (noise sigma), labels into *labels when given.
std::vector<float> clustered(int64_t n, int64_t d, int ids, float sigma, std::vector<int32_t> *labels) {
  std::vector<float> c = gaussian(ids, d), x(static_cast<size_t>(n * d));
  std::normal_distribution<float> nd(0.f, sigma);
  std::uniform_int_distribution<int> pick(0, ids - 1);
  if (labels) labels->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const int l = pick(g_rng);
    if (labels) (*labels)[i] = l;
    for (int64_t k = 0; k < d; ++k) x[i * d + k] = c[l * d + k] + nd(g_rng);
  }
  return x;
}

float max_sq_norm(const std::vector<float> &x, int64_t d) {
  float m = 0.f;
  for (size_t i = 0; i + d <= x.size(); i += d) {
    float s = 0.f;
    for (int64_t k = 0; k < d; ++k) s += x[i + k] * x[i + k];
    m = std::max(m, s);
  }
  return m;
}

// Tolerance for a distance value b (CPU) given the largest squared norm of the inputs.
float dist_tol(float b, int metric, float scale) {
  if (metric == R4J_COSINE) return 1e-4f * std::max(1.f, std::fabs(b));
  if (metric == R4J_SQEUCLIDEAN) return 1e-4f * std::fabs(b) + 2e-5f * std::max(1.f, scale);
  return 1e-4f * std::fabs(b) + std::sqrt(2e-5f * std::max(1.f, scale));
}

const char *metric_name(int m) { return m == 0 ? "sqeuclidean" : m == 1 ? "euclidean" : "cosine"; }

std::string shape(int64_t a, int64_t b, int64_t d) {
  return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(d);
}

// The same for the TF32 tensor-core pass: inputs rounded to 10-bit mantissas (relative error
// 2^-11 each), so a.b may be off by about 2^-10 |a| |b| <= 2^-10 scale.
float tf32_tol(float b, int metric, float scale) {
  if (metric == R4J_COSINE) return 2e-3f * std::max(1.f, std::fabs(b));
  if (metric == R4J_SQEUCLIDEAN) return 1e-4f * std::fabs(b) + 4e-3f * std::max(1.f, scale);
  return 1e-4f * std::fabs(b) + std::sqrt(4e-3f * std::max(1.f, scale));
}

const char *precision_name(int p) { return p == R4J_FP32 ? "fp32" : p == R4J_TF32X3 ? "tf32x3" : "tf32"; }

// Sets this thread's precision for the lifetime of the object, then back to FP32.
struct PrecisionScope {
  explicit PrecisionScope(int p) { r4j_cuda_set_precision(p); }
  ~PrecisionScope() { r4j_cuda_set_precision(R4J_FP32); }
};

// ---------------------------------------------------------------------------------------------
void check_pairwise(int64_t nq, int64_t ng, int64_t d, int metric, bool dups, int precision = R4J_FP32) {
  std::string name = std::string("pairwise ") + metric_name(metric) + " " + shape(nq, ng, d) + (dups ? " dups" : "") +
                     (precision == R4J_FP32 ? "" : std::string(" ") + precision_name(precision));
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
  if (dups) {  // copies of query rows in the gallery, and a zero row
    for (int64_t i = 0; i < std::min(nq, ng); i += 2) std::copy(&q[i * d], &q[i * d] + d, &g[i * d]);
    if (ng > 1) std::fill(&g[(ng - 1) * d], &g[(ng - 1) * d] + d, 0.f);
  }
  std::vector<float> a(nq * ng, -7.f), b(nq * ng, -7.f);
  if (!status_ok(r4j_cpu_pairwise(q.data(), nq, g.data(), ng, d, metric, b.data()), name + " (cpu)")) return;
  {
    PrecisionScope ps(precision);
    if (!status_ok(r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, metric, a.data()), name)) return;
  }
  const float scale = std::max(max_sq_norm(q, d), max_sq_norm(g, d));
  double worst = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < nq * ng; ++i) {
    const float e = std::fabs(a[i] - b[i]);
    worst = std::max<double>(worst, e);
    // TF32X3 is held to the FP32 tolerance: plain TF32 would miss it by two orders of magnitude.
    const float tol = precision == R4J_TF32 ? tf32_tol(b[i], metric, scale) : dist_tol(b[i], metric, scale);
    if (!(e <= tol)) ++bad;
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "max abs diff %.3g, %lld out of tolerance", worst, (long long)bad);
  report(bad == 0, name, buf);
}

// The tensor-core passes are what runs: TF32 results differ from FP32 ones where TF32 rounding
// matters (d 64 of Gaussian values: most distances), TF32X3 ones far less. (The mirrored tiles of
// re-ranking are checked by check_rerank at TF32X3.)
void check_precision_taken() {
  const int64_t nq = 70, ng = 150, d = 64;
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
  std::vector<float> fp(nq * ng), t1(nq * ng), t3(nq * ng);
  auto run = [&](int p, std::vector<float> &out) {
    PrecisionScope ps(p);
    return status_ok(r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_SQEUCLIDEAN, out.data()),
                     std::string("precision ") + precision_name(p));
  };
  if (!run(R4J_FP32, fp) || !run(R4J_TF32, t1) || !run(R4J_TF32X3, t3)) return;
  double e1 = 0, e3 = 0;
  int64_t differ = 0;
  for (int64_t i = 0; i < nq * ng; ++i) {
    e1 = std::max<double>(e1, std::fabs(t1[i] - fp[i]));
    e3 = std::max<double>(e3, std::fabs(t3[i] - fp[i]));
    differ += t1[i] != fp[i];
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "tf32 max diff %.3g (%lld of %lld differ), tf32x3 max diff %.3g", e1,
                (long long)differ, (long long)(nq * ng), e3);
  report(differ > nq * ng / 2 && e3 * 20 < e1, "precision: the tensor-core passes run (tf32 differs, tf32x3 close)",
         buf);
}

void check_precision_api() {
  report(r4j_cuda_precision() == R4J_FP32, "precision: FP32 by default");
  report(r4j_cuda_set_precision(3) == R4J_EINVAL && std::strstr(r4j_last_error(), "precision 3") != nullptr,
         "precision: an unknown value is refused", r4j_last_error());
  report(r4j_cuda_set_precision(-1) == R4J_EINVAL && r4j_cuda_precision() == R4J_FP32,
         "precision: a refused value leaves the setting as it was");
  r4j_cuda_set_precision(R4J_TF32);
  int other = -1;
  std::thread([&] { other = r4j_cuda_precision(); }).join();
  report(r4j_cuda_precision() == R4J_TF32 && other == R4J_FP32, "precision: set per host thread");
  r4j_cuda_set_precision(R4J_FP32);
#ifdef REID4J_CUDA_EMU
  r4j_emu::set_compute_capability(7, 5);  // a device without TF32 tensor cores
  std::vector<float> q = gaussian(3, 8), out(9);
  {
    PrecisionScope ps(R4J_TF32X3);
    const int st = r4j_cuda_pairwise(q.data(), 3, q.data(), 3, 8, R4J_EUCLIDEAN, out.data());
    report(st == R4J_EINVAL && std::strstr(r4j_last_error(), "compute capability 8.0") != nullptr &&
               std::strstr(r4j_last_error(), "has 7.5") != nullptr,
           "precision: TF32 on a 7.5 device fails with a message naming the capability", r4j_last_error());
  }
  report(r4j_cuda_pairwise(q.data(), 3, q.data(), 3, 8, R4J_EUCLIDEAN, out.data()) == R4J_OK,
         "precision: FP32 runs on a 7.5 device");
  r4j_emu::set_compute_capability(9, 0);
#endif
}

// Exact comparison: same input matrix, the order is fully defined.
void check_topk(int64_t rows, int64_t cols, int64_t k, int levels) {
  std::string name = "topk " + std::to_string(rows) + "x" + std::to_string(cols) + " k=" + std::to_string(k) +
                     (levels ? " ties(" + std::to_string(levels) + " levels)" : "");
  std::vector<float> m = gaussian(rows, cols);
  if (levels)
    for (auto &x : m) x = std::round(x * levels / 4.f);
  if (levels && !m.empty()) m[0] = -0.f;  // -0 and +0 compare equal
  std::vector<float> av(rows * k), bv(rows * k);
  std::vector<int32_t> ai(rows * k, -5), bi(rows * k, -5);
  if (!status_ok(r4j_cpu_topk(m.data(), rows, cols, k, bv.data(), bi.data()), name + " (cpu)")) return;
  if (!status_ok(r4j_cuda_topk(m.data(), rows, cols, k, av.data(), ai.data()), name)) return;
  int64_t bad = 0;
  for (int64_t i = 0; i < rows * k; ++i)
    if (ai[i] != bi[i] || !(av[i] == bv[i])) ++bad;
  report(bad == 0, name, std::to_string(bad) + " entries differ");
}

// Top-k lists (av, ai: [nq, k]) against the CPU's for q: [nq, d] and g: [ng, d]: values within
// tolerance; a different index only where the values tie within it; distinct indices per row.
// Adds to *bad and *tied; returns false (reported) when a CPU call fails.
bool compare_topk_with_cpu(const std::string &name, const std::vector<float> &q, int64_t nq, const float *g,
                           int64_t ng, int64_t d, int metric, int64_t k, const std::vector<float> &av,
                           const std::vector<int32_t> &ai, int64_t *bad, int64_t *tied) {
  std::vector<float> bv(nq * k), full(nq * ng);
  std::vector<int32_t> bi(nq * k);
  if (!status_ok(r4j_cpu_pairwise_topk(q.data(), nq, g, ng, d, metric, k, bv.data(), bi.data()), name + " (cpu)"))
    return false;
  if (!status_ok(r4j_cpu_pairwise(q.data(), nq, g, ng, d, metric, full.data()), name + " (cpu full)")) return false;
  const std::vector<float> gv(g, g + ng * d);
  const float scale = std::max(max_sq_norm(q, d), max_sq_norm(gv, d));
  for (int64_t i = 0; i < nq * k; ++i) {
    const float tol = dist_tol(bv[i], metric, scale);
    if (!(std::fabs(av[i] - bv[i]) <= tol)) {
      ++*bad;
      continue;
    }
    if (ai[i] != bi[i]) {
      const int64_t row = i / k;
      if (ai[i] < 0 || ai[i] >= ng || !(std::fabs(full[row * ng + ai[i]] - bv[i]) <= 2 * tol))
        ++*bad;
      else
        ++*tied;
    }
  }
  for (int64_t r = 0; r < nq; ++r) {  // indices of a row must be distinct
    std::vector<int32_t> s(ai.begin() + r * k, ai.begin() + (r + 1) * k);
    std::sort(s.begin(), s.end());
    if (std::adjacent_find(s.begin(), s.end()) != s.end()) ++*bad;
  }
  return true;
}

// Fused top-k: as compare_topk_with_cpu.
void check_pairwise_topk(int64_t nq, int64_t ng, int64_t d, int metric, int64_t k, bool dups) {
  std::string name = std::string("pairwise_topk ") + metric_name(metric) + " " + shape(nq, ng, d) +
                     " k=" + std::to_string(k) + (dups ? " dups" : "");
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
  if (dups)
    for (int64_t j = 1; j < ng; j += 3) std::copy(&g[(j - 1) * d], &g[(j - 1) * d] + d, &g[j * d]);
  std::vector<float> av(nq * k);
  std::vector<int32_t> ai(nq * k);
  if (!status_ok(r4j_cuda_pairwise_topk(q.data(), nq, g.data(), ng, d, metric, k, av.data(), ai.data()), name)) return;
  int64_t bad = 0, tied = 0;
  if (!compare_topk_with_cpu(name, q, nq, g.data(), ng, d, metric, k, av, ai, &bad, &tied)) return;
  report(bad == 0, name, std::to_string(bad) + " bad, " + std::to_string(tied) + " tie swaps");
}

// Device-resident rows: g appended in batches of the given sizes (the capacity grows several
// times), then every (row0, nrows, k) range searched with r4j_cuda_rows_topk, which must equal
// r4j_cuda_pairwise_topk on those rows bit for bit and the CPU within tolerance. dups: copies of
// rows (also across batches) and a zero row, for ties.
struct RowsRange {
  int64_t row0, nrows, k;
};
void check_rows_topk(int64_t nq, int64_t d, int metric, const std::vector<int64_t> &batches,
                     const std::vector<RowsRange> &ranges, bool dups) {
  int64_t ng = 0;
  for (int64_t b : batches) ng += b;
  std::string name = std::string("rows_topk ") + metric_name(metric) + " " + shape(nq, ng, d) + " in " +
                     std::to_string(batches.size()) + " appends" + (dups ? " dups" : "");
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
  if (dups) {
    for (int64_t j = 1; j < ng; j += 3) std::copy(&g[(j - 1) * d], &g[(j - 1) * d] + d, &g[j * d]);
    for (int64_t j = 5; j + 50 < ng; j += 50) std::copy(&g[j * d], &g[j * d] + d, &g[(j + 50) * d]);
    if (ng > 2) std::fill(&g[(ng / 2) * d], &g[(ng / 2) * d] + d, 0.f);
  }
  void *h = nullptr;
  if (!status_ok(r4j_cuda_rows_create(d, metric, &h), name + " (create)")) return;
  int64_t at = 0, bad = 0, tied = 0, checked = 0;
  std::string why;
  for (int64_t b : batches) {
    if (!status_ok(r4j_cuda_rows_append(h, g.data() + at * d, b), name + " (append)")) {
      r4j_cuda_rows_free(h);
      return;
    }
    at += b;
    if (r4j_cuda_rows_count(h) != at) ++bad, why += " count after append";
  }
  if (r4j_cuda_rows_append(h, nullptr, 0) != R4J_OK || r4j_cuda_rows_count(h) != ng) ++bad, why += " empty append";
  for (const RowsRange &r : ranges) {
    const int64_t k = r.k;
    std::vector<float> av(nq * k + 1, -9.f), bv(nq * k + 1, -9.f);
    std::vector<int32_t> ai(nq * k + 1, -9), bi(nq * k + 1, -9);
    const std::string rn = name + " [" + std::to_string(r.row0) + ", +" + std::to_string(r.nrows) + ") k=" +
                           std::to_string(k);
    if (!status_ok(r4j_cuda_rows_topk(h, r.row0, r.nrows, q.data(), nq, k, av.data(), ai.data()), rn)) continue;
    const float *gr = g.data() + r.row0 * d;
    if (!status_ok(r4j_cuda_pairwise_topk(q.data(), nq, gr, r.nrows, d, metric, k, bv.data(), bi.data()),
                   rn + " (pairwise_topk)"))
      continue;
    for (int64_t i = 0; i < nq * k + 1; ++i)  // bit for bit, and nothing written past [nq, k]
      if (ai[i] != bi[i] || std::memcmp(&av[i], &bv[i], sizeof(float)) != 0) {
        ++bad;
        why = " differs from pairwise_topk at " + rn;
      }
    av.pop_back();
    ai.pop_back();
    if (k > 0 && !compare_topk_with_cpu(rn, q, nq, gr, r.nrows, d, metric, k, av, ai, &bad, &tied)) continue;
    ++checked;
  }
  r4j_cuda_rows_free(h);
  report(bad == 0 && checked == (int64_t)ranges.size(), name,
         std::to_string(checked) + " ranges, " + std::to_string(bad) + " bad, " + std::to_string(tied) + " tie swaps" +
             why);
}

void check_rows_api() {
  float v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, o[4];
  int32_t idx[4];
  void *h = &h;
  auto says = [](const char *what) { return std::strstr(r4j_last_error(), what) != nullptr; };
  bool ok = r4j_cuda_rows_create(0, 0, &h) == R4J_EINVAL && h == nullptr && says("r4j_cuda_rows_create") &&
            r4j_cuda_rows_create(4, 9, &h) == R4J_EINVAL && says("unknown metric") &&
            r4j_cuda_rows_create(4, 0, nullptr) == R4J_EINVAL && says("out is null") &&
            r4j_cuda_rows_create(int64_t(1) << 31, 0, &h) == R4J_EINVAL;
  report(ok, "api: rows_create with d = 0, d = 2^31, unknown metric, null out -> EINVAL with a message");
  ok = r4j_cuda_rows_append(nullptr, v, 1) == R4J_EINVAL && says("handle is null") &&
       r4j_cuda_rows_topk(nullptr, 0, 0, v, 1, 0, o, idx) == R4J_EINVAL && says("handle is null") &&
       r4j_cuda_rows_count(nullptr) == -1 && says("r4j_cuda_rows_count");
  r4j_cuda_rows_free(nullptr);  // a no-op
  report(ok, "api: null handle -> EINVAL (count -1), free(NULL) is a no-op");
  if (!status_ok(r4j_cuda_rows_create(4, R4J_EUCLIDEAN, &h), "api: rows_create")) return;
  ok = r4j_cuda_rows_count(h) == 0 && r4j_cuda_rows_append(h, v, 2) == R4J_OK && r4j_cuda_rows_count(h) == 2;
  ok = ok && r4j_cuda_rows_append(h, v, -1) == R4J_EINVAL && says("count must stay") &&
       r4j_cuda_rows_append(h, nullptr, 1) == R4J_EINVAL && says("rows is null") &&
       r4j_cuda_rows_append(h, v, int64_t(INT32_MAX) - 1) == R4J_EINVAL && r4j_cuda_rows_count(h) == 2;
  o[0] = 42.f;
  idx[0] = 42;
  ok = ok && r4j_cuda_rows_topk(h, -1, 1, v, 1, 1, o, idx) == R4J_EINVAL && says("outside the 2 rows") &&
       r4j_cuda_rows_topk(h, 1, 2, v, 1, 1, o, idx) == R4J_EINVAL &&
       r4j_cuda_rows_topk(h, 0, -1, v, 1, 0, o, idx) == R4J_EINVAL &&
       r4j_cuda_rows_topk(h, 3, 0, v, 1, 0, o, idx) == R4J_EINVAL &&
       r4j_cuda_rows_topk(h, 0, 2, v, 1, 3, o, idx) == R4J_EINVAL && says("k 3 is outside [0, nrows = 2]") &&
       r4j_cuda_rows_topk(h, 0, 2, v, 1, -1, o, idx) == R4J_EINVAL &&
       r4j_cuda_rows_topk(h, 0, 2, nullptr, 1, 1, o, idx) == R4J_EINVAL && says("q is null") &&
       r4j_cuda_rows_topk(h, 0, 2, v, -1, 1, o, idx) == R4J_EINVAL &&
       r4j_cuda_rows_topk(h, 0, 2, v, 1, 1, nullptr, idx) == R4J_EINVAL && says("out_val or out_idx is null") &&
       r4j_cuda_rows_topk(h, 0, 2, v, 1, 1, o, nullptr) == R4J_EINVAL && o[0] == 42.f && idx[0] == 42;
  report(ok, "api: rows_append / rows_topk bad sizes, ranges, k and null pointers -> EINVAL with a message");
  ok = r4j_cuda_rows_topk(h, 0, 2, v, 0, 1, nullptr, nullptr) == R4J_OK &&
       r4j_cuda_rows_topk(h, 1, 0, v, 1, 0, nullptr, nullptr) == R4J_OK &&
       r4j_cuda_rows_topk(h, 2, 0, v, 1, 0, o, idx) == R4J_OK && o[0] == 42.f && idx[0] == 42;
  ok = ok && r4j_cuda_rows_topk(h, 1, 1, v + 4, 1, 1, o, idx) == R4J_OK && idx[0] == 0 && o[0] == 0.f;
  report(ok, "api: rows_topk with nq = 0, k = 0 or an empty range -> OK, nothing written");
  r4j_cuda_rows_free(h);
}

// Batch-hard: distances within tolerance; indices equal unless the candidates tie within it.
void compare_mining(const std::string &name, int64_t n, int metric, float scale, const std::vector<float> &full,
                    int64_t nm, const std::vector<int32_t> &api, const std::vector<float> &apd,
                    const std::vector<int32_t> &ani, const std::vector<float> &and_, const std::vector<int32_t> &bpi,
                    const std::vector<float> &bpd, const std::vector<int32_t> &bni, const std::vector<float> &bnd) {
  int64_t bad = 0, tied = 0;
  auto cmp = [&](int64_t i, int32_t ai, float ad, int32_t bi, float bd) {
    if ((ai < 0) != (bi < 0)) return void(++bad);
    if (ai < 0) {
      if (!std::isnan(ad)) ++bad;
      return;
    }
    const float tol = dist_tol(bd, metric, scale);
    if (!(std::fabs(ad - bd) <= tol)) return void(++bad);
    if (ai != bi) {
      if (ai >= nm || !(std::fabs(full[i * nm + ai] - bd) <= 2 * tol))
        ++bad;
      else
        ++tied;
    }
  };
  for (int64_t i = 0; i < n; ++i) {
    cmp(i, api[i], apd[i], bpi[i], bpd[i]);
    cmp(i, ani[i], and_[i], bni[i], bnd[i]);
  }
  report(bad == 0, name, std::to_string(bad) + " bad, " + std::to_string(tied) + " tie swaps");
}

void check_batch_hard(int64_t n, int64_t d, int metric, int ids) {
  std::string name = std::string("batch_hard ") + metric_name(metric) + " n=" + std::to_string(n) +
                     " d=" + std::to_string(d) + " ids=" + std::to_string(ids);
  std::vector<int32_t> lab;
  std::vector<float> x = clustered(n, d, ids, 0.5f, &lab);
  if (n > 2) lab[n - 1] = 1000000;                                          // a singleton: no positive
  if (n > 4) std::copy(&x[0], &x[0] + d, &x[(n - 2) * d]), lab[n - 2] = lab[0];  // a duplicate
  std::vector<int32_t> api(n), ani(n), bpi(n), bni(n);
  std::vector<float> apd(n), and_(n), bpd(n), bnd(n), full(n * n);
  if (!status_ok(r4j_cpu_batch_hard(x.data(), lab.data(), n, d, metric, bpi.data(), bpd.data(), bni.data(), bnd.data()),
                 name + " (cpu)"))
    return;
  if (!status_ok(r4j_cpu_pairwise(x.data(), n, x.data(), n, d, metric, full.data()), name + " (cpu full)")) return;
  if (!status_ok(r4j_cuda_batch_hard(x.data(), lab.data(), n, d, metric, api.data(), apd.data(), ani.data(),
                                     and_.data()),
                 name))
    return;
  compare_mining(name, n, metric, max_sq_norm(x, d), full, n, api, apd, ani, and_, bpi, bpd, bni, bnd);
}

void check_batch_hard_memory(int64_t na, int64_t nm, int64_t d, int metric, int ids, bool one_label) {
  std::string name = std::string("batch_hard_memory ") + metric_name(metric) + " " + shape(na, nm, d) +
                     (one_label ? " one label" : "");
  std::vector<int32_t> al, ml;
  std::vector<float> a = clustered(na, d, ids, 0.5f, &al), m = clustered(nm, d, ids, 0.5f, &ml);
  if (one_label) {
    std::fill(al.begin(), al.end(), 3);
    std::fill(ml.begin(), ml.end(), 3);
  } else if (nm > 0 && na > 0) {
    std::copy(&a[0], &a[0] + d, &m[0]);  // the memory holds a copy of anchor 0
    ml[0] = al[0];
  }
  std::vector<int32_t> api(na), ani(na), bpi(na), bni(na);
  std::vector<float> apd(na), and_(na), bpd(na), bnd(na), full(na * nm);
  if (!status_ok(r4j_cpu_batch_hard_memory(a.data(), al.data(), na, m.data(), ml.data(), nm, d, metric, bpi.data(),
                                           bpd.data(), bni.data(), bnd.data()),
                 name + " (cpu)"))
    return;
  if (!status_ok(r4j_cpu_pairwise(a.data(), na, m.data(), nm, d, metric, full.data()), name + " (cpu full)")) return;
  if (!status_ok(r4j_cuda_batch_hard_memory(a.data(), al.data(), na, m.data(), ml.data(), nm, d, metric, api.data(),
                                            apd.data(), ani.data(), and_.data()),
                 name))
    return;
  compare_mining(name, na, metric, std::max(max_sq_norm(a, d), max_sq_norm(m, d)), full, nm, api, apd, ani, and_,
                 bpi, bpd, bni, bnd);
}

void check_rerank(int64_t nq, int64_t ng, int64_t d, int metric, int k1, int k2, float lambda, int ids,
                  int precision = R4J_FP32) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "rerank %s %s k1=%d k2=%d lambda=%.2f%s%s", metric_name(metric),
                shape(nq, ng, d).c_str(), k1, k2, lambda, precision == R4J_FP32 ? "" : " ",
                precision == R4J_FP32 ? "" : precision_name(precision));
  std::string name = buf;
  std::vector<float> q = ids ? clustered(nq, d, ids, 0.6f, nullptr) : gaussian(nq, d);
  std::vector<float> g = ids ? clustered(ng, d, ids, 0.6f, nullptr) : gaussian(ng, d);
  std::vector<float> a(nq * ng, -3.f), b(nq * ng, -3.f);
  if (!status_ok(r4j_cpu_rerank(q.data(), nq, g.data(), ng, d, metric, k1, k2, lambda, b.data()), name + " (cpu)"))
    return;
  {
    PrecisionScope ps(precision);
    if (!status_ok(r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, metric, k1, k2, lambda, a.data()), name)) return;
  }
  double worst = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < nq * ng; ++i) {
    const float e = std::fabs(a[i] - b[i]);
    worst = std::max<double>(worst, std::isnan(e) ? 1e30 : e);
    if (!(e <= 1e-4f)) ++bad;
  }
  std::snprintf(buf, sizeof buf, "max abs diff %.3g, %lld of %lld above 1e-4", worst, (long long)bad,
                (long long)(nq * ng));
  report(bad == 0, name, buf);
}

// ---------------------------------------------------------------------------------------------
// Evaluation on the device (section 7) against a plain reference that sorts each row of the same
// device-computed matrix (r4j_cuda_pairwise / r4j_cuda_rerank): ranks equal, AP and INP to 1e-12.
struct Scores {
  std::vector<int32_t> first, nan_col;
  std::vector<double> ap, inp;
  explicit Scores(int64_t nq) : first(nq, 99), nan_col(nq, 99), ap(nq, -1), inp(nq, -1) {}
};

Scores reference_scores(const std::vector<float> &dist, int64_t nq, int64_t ng, const std::vector<int32_t> &qp,
                        const std::vector<int32_t> &qc, const std::vector<int32_t> &gp,
                        const std::vector<int32_t> &gc) {
  Scores s(nq);
  std::vector<int64_t> order(ng);
  for (int64_t i = 0; i < nq; ++i) {
    const float *row = &dist[i * ng];
    s.nan_col[i] = -1;
    for (int64_t j = 0; j < ng; ++j)
      if (std::isnan(row[j])) {
        s.nan_col[i] = (int32_t)j;
        break;
      }
    s.ap[i] = s.inp[i] = 0;
    if (s.nan_col[i] >= 0 || qp[i] == -1) {
      s.first[i] = 0;
      continue;
    }
    for (int64_t j = 0; j < ng; ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] < row[b]; });
    int64_t rank = 0, k = 0, first = -1, last = 0;
    double sum = 0;
    for (int64_t j : order) {
      if (gp[j] == -1 || (gp[j] == qp[i] && gc[j] == qc[i])) continue;
      ++rank;
      if (gp[j] != qp[i]) continue;
      ++k;
      sum += (double)k / (double)rank;
      if (first < 0) first = rank;
      last = rank;
    }
    s.first[i] = k == 0 ? -1 : (int32_t)first;
    if (k > 0) {
      s.ap[i] = sum / (double)k;
      s.inp[i] = (double)k / (double)last;
    }
  }
  return s;
}

// rerank: 0 = plain distances, else k1. ties: features on a coarse grid (equal distances); nan: one
// query row with a NaN feature. Labels: ids identities over cams cameras, some junk (-1), some
// queries with pid -1 or with no match.
void check_evaluate(int64_t nq, int64_t ng, int64_t d, int metric, int ids, int cams, int rerank, bool ties,
                    bool nan) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "evaluate %s %s %s ids=%d cams=%d%s%s", rerank ? "rerank" : "pairwise",
                metric_name(metric), shape(nq, ng, d).c_str(), ids, cams, ties ? " ties" : "", nan ? " nan" : "");
  std::string name = buf;
  std::vector<int32_t> ql, gl;
  std::vector<float> q = clustered(nq, d, ids, 0.8f, &ql), g = clustered(ng, d, ids, 0.8f, &gl);
  if (ties)
    for (auto *v : {&q, &g})
      for (auto &x : *v) x = std::round(x);
  if (nan && nq > 1) q[d] = std::nanf("");  // row 1
  std::uniform_int_distribution<int> cam(0, cams - 1), pct(0, 99);
  std::vector<int32_t> qc(nq), gc(ng), qp(ql), gp(gl);
  for (auto &c : qc) c = cam(g_rng);
  for (auto &c : gc) c = cam(g_rng);
  for (int64_t j = 0; j < ng; ++j)
    if (pct(g_rng) < 8) gp[j] = -1;  // junk
  for (int64_t i = 0; i < nq; ++i)
    if (pct(g_rng) < 5) qp[i] = -1;  // a query that is not evaluated
  if (nq > 2) qp[2] = ids + 7;         // a query with no match
  std::vector<float> dist(nq * ng);
  int st = rerank ? r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, metric, rerank, 6, 0.3f, dist.data())
                  : r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, metric, dist.data());
  if (!status_ok(st, name + " (matrix)")) return;
  Scores want = reference_scores(dist, nq, ng, qp, qc, gp, gc), got(nq);
  st = rerank ? r4j_cuda_rerank_evaluate(q.data(), nq, g.data(), ng, d, metric, rerank, 6, 0.3f, qp.data(), qc.data(),
                                         gp.data(), gc.data(), got.first.data(), got.ap.data(), got.inp.data(),
                                         got.nan_col.data())
              : r4j_cuda_pairwise_evaluate(q.data(), nq, g.data(), ng, d, metric, qp.data(), qc.data(), gp.data(),
                                           gc.data(), got.first.data(), got.ap.data(), got.inp.data(),
                                           got.nan_col.data());
  if (!status_ok(st, name)) return;
  // CUDA re-ranking sums in an order that varies between calls (float atomics), so the matrix the
  // reference scored and the one scored on the device agree up to rounding: a query with a match and
  // a valid non-match within 1e-5 of each other may rank differently and is not compared.
  std::vector<char> fragile(nq, 0);
  if (rerank)
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t a = 0; a < ng && !fragile[i]; ++a) {
        if (gp[a] != qp[i] || gc[a] == qc[i]) continue;
        for (int64_t b = 0; b < ng; ++b)
          if (gp[b] != -1 && gp[b] != qp[i] && std::fabs(dist[i * ng + a] - dist[i * ng + b]) <= 1e-5f) {
            fragile[i] = 1;
            break;
          }
      }
  int64_t bad = 0, scored = 0, skipped = 0, unsure = 0;
  double worst = 0;
  for (int64_t i = 0; i < nq; ++i) {
    if (fragile[i]) {
      ++unsure;
      continue;
    }
    const double e = std::max(std::fabs(got.ap[i] - want.ap[i]), std::fabs(got.inp[i] - want.inp[i]));
    worst = std::max(worst, std::isnan(e) ? 1e30 : e);
    if (got.first[i] != want.first[i] || got.nan_col[i] != want.nan_col[i] || !(e <= 1e-12)) ++bad;
    scored += want.first[i] > 0;
    skipped += want.first[i] < 0;
  }
  std::snprintf(buf, sizeof buf, "%lld queries scored, %lld skipped, %lld near-tied (not compared); %lld differ; "
                "max AP/INP diff %.3g", (long long)scored, (long long)skipped, (long long)unsure, (long long)bad, worst);
  report(bad == 0, name, buf);
}

void check_evaluate_api() {
  float v[4] = {1, 2, 3, 4};
  int32_t lab[1] = {0}, first[1] = {42}, nanc[1] = {42};
  double ap[1] = {42}, inp[1] = {42};
  report(r4j_cuda_pairwise_evaluate(v, 1, v, 0, 4, 0, lab, lab, lab, lab, first, ap, inp, nanc) == R4J_EINVAL,
         "api: evaluate with an empty gallery -> EINVAL");
  report(r4j_cuda_pairwise_evaluate(v, 1, v, 1, 4, 0, lab, nullptr, lab, lab, first, ap, inp, nanc) == R4J_EINVAL,
         "api: evaluate with null q_cam -> EINVAL");
  report(r4j_cuda_rerank_evaluate(v, 1, v, 1, 4, 0, 20, 6, 0.3f, lab, lab, lab, lab, first, ap, nullptr, nanc) ==
             R4J_EINVAL,
         "api: rerank_evaluate with null inp -> EINVAL");
  report(r4j_cuda_rerank_evaluate(v, 1, v, 1, 4, 0, 0, 6, 0.3f, lab, lab, lab, lab, first, ap, inp, nanc) ==
             R4J_EINVAL,
         "api: rerank_evaluate with k1 = 0 -> EINVAL");
  const bool ok = r4j_cuda_pairwise_evaluate(v, 0, v, 1, 4, 0, nullptr, nullptr, lab, lab, nullptr, nullptr, nullptr,
                                             nullptr) == R4J_OK &&
                  first[0] == 42;
  report(ok, "api: evaluate with no queries -> OK, nothing written");
}

void check_api() {
  float v[4] = {1, 2, 3, 4}, o[4];
  int32_t idx[4];
  report(r4j_cuda_pairwise(v, 1, v, 1, 4, 9, o) == R4J_EINVAL, "api: unknown metric -> EINVAL");
  report(r4j_cuda_pairwise(v, 1, v, 1, 4, 0, nullptr) == R4J_EINVAL, "api: null out -> EINVAL");
  report(r4j_cuda_pairwise(v, -1, v, 1, 4, 0, o) == R4J_EINVAL, "api: negative rows -> EINVAL");
  report(r4j_cuda_topk(v, 1, 4, 5, o, idx) == R4J_EINVAL, "api: k > cols -> EINVAL");
  report(r4j_cuda_rerank(v, 1, v, 1, 4, 0, 0, 6, 0.3f, o) == R4J_EINVAL, "api: k1 = 0 -> EINVAL");
  report(r4j_cuda_rerank(v, 1, v, 1, 4, 0, 20, 6, 1.5f, o) == R4J_EINVAL, "api: lambda > 1 -> EINVAL");
  o[0] = 42.f;
  idx[0] = 42;
  bool ok = r4j_cuda_pairwise(v, 0, v, 1, 4, 0, o) == R4J_OK && r4j_cuda_pairwise(v, 1, v, 0, 4, 0, o) == R4J_OK &&
            r4j_cuda_topk(v, 0, 4, 2, o, idx) == R4J_OK && r4j_cuda_topk(v, 1, 4, 0, o, idx) == R4J_OK &&
            r4j_cuda_pairwise_topk(v, 0, v, 1, 4, 0, 1, o, idx) == R4J_OK &&
            r4j_cuda_batch_hard(v, idx, 0, 4, 0, idx, o, idx, o) == R4J_OK &&
            r4j_cuda_rerank(v, 0, v, 1, 4, 0, 20, 6, 0.3f, o) == R4J_OK && o[0] == 42.f && idx[0] == 42;
  report(ok, "api: empty inputs -> OK, nothing written");
  int32_t lab[1] = {0}, pi = 7, ni = 7;
  float pd = 0, nd = 0;
  ok = r4j_cuda_batch_hard_memory(v, lab, 1, v, lab, 0, 4, 0, &pi, &pd, &ni, &nd) == R4J_OK && pi == -1 &&
       ni == -1 && std::isnan(pd) && std::isnan(nd);
  report(ok, "api: batch_hard_memory with empty memory -> -1 / NaN");
}

#ifdef REID4J_CUDA_EMU
// Emulator only (this driver has no CUDA runtime of its own on a real GPU; the Java test
// FusedAdamTest covers real devices): r4j_cuda_unscale_grads and r4j_cuda_adam_step on `count`
// device tensors of varied sizes (empty and one-element ones, more than one launch's worth of
// tensors) against libtorch's Adam written out on the host, for several steps.
void check_optimiser(int count, float weight_decay) {
  const std::string name = "optimiser: " + std::to_string(count) + " tensors, wd " + std::to_string(weight_decay);
  const int64_t sizes[] = {0, 1, 7, 300, 5000, 1023, 70001, 2, 257};
  std::vector<int64_t> n(count);
  std::vector<std::vector<float>> p(count), g(count), m(count), v(count);
  std::vector<float *> dp(count), dg(count), dm(count), dv(count);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int t = 0; t < count; ++t) {
    n[t] = sizes[t % 9];
    for (auto *x : {&p[t], &g[t]}) {
      x->resize(n[t]);
      for (auto &e : *x) e = u(g_rng);
    }
    m[t].assign(n[t], 0.f);
    v[t].assign(n[t], 0.f);
    for (auto *d : {&dp[t], &dg[t], &dm[t], &dv[t]}) *d = nullptr;
    if (n[t] == 0) continue;
    const size_t bytes = n[t] * sizeof(float);
    cudaMalloc(reinterpret_cast<void **>(&dp[t]), bytes);
    cudaMalloc(reinterpret_cast<void **>(&dg[t]), bytes);
    cudaMalloc(reinterpret_cast<void **>(&dm[t]), bytes);
    cudaMalloc(reinterpret_cast<void **>(&dv[t]), bytes);
    cudaMemcpy(dp[t], p[t].data(), bytes, cudaMemcpyHostToDevice);
    cudaMemset(dm[t], 0, bytes);
    cudaMemset(dv[t], 0, bytes);
  }
  float *found = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&found), sizeof(float));
  const float lr = 3.5e-4f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, scale = 1024.f;
  double worst = 0;
  bool ok = true;
  for (int step = 1; step <= 3 && ok; ++step) {
    // fresh gradients, scaled as AMP scales them, then unscaled on the device
    for (int t = 0; t < count; ++t) {
      std::vector<float> scaled(n[t]);
      for (int64_t i = 0; i < n[t]; ++i) {
        g[t][i] = u(g_rng);
        scaled[i] = g[t][i] * scale;
      }
      if (n[t] > 0) cudaMemcpy(dg[t], scaled.data(), n[t] * sizeof(float), cudaMemcpyHostToDevice);
    }
    cudaMemset(found, 0, sizeof(float));
    ok &= status_ok(r4j_cuda_unscale_grads(count, dg.data(), n.data(), 1.f / scale, found, nullptr), name + " unscale");
    float f = -1;
    cudaMemcpy(&f, found, sizeof(float), cudaMemcpyDeviceToHost);
    ok &= f == 0.f;
    const double bc1 = 1 - std::pow(double(b1), step), bc2 = 1 - std::pow(double(b2), step);
    std::vector<float> ss(count, float(lr / bc1)), bs(count, float(std::sqrt(bc2)));
    ok &= status_ok(r4j_cuda_adam_step(count, dp.data(), dg.data(), dm.data(), dv.data(), n.data(), ss.data(),
                                       bs.data(), b1, b2, eps, weight_decay, nullptr), name + " adam");
    for (int t = 0; t < count && ok; ++t) {
      std::vector<float> got(n[t]), gm(n[t]);
      if (n[t] == 0) continue;
      cudaMemcpy(got.data(), dp[t], n[t] * sizeof(float), cudaMemcpyDeviceToHost);
      cudaMemcpy(gm.data(), dm[t], n[t] * sizeof(float), cudaMemcpyDeviceToHost);
      for (int64_t i = 0; i < n[t]; ++i) {  // libtorch's order of operations, in float
        const float gi = g[t][i] * scale * (1.f / scale) + (weight_decay != 0.f ? p[t][i] * weight_decay : 0.f);
        m[t][i] = m[t][i] * b1 + gi * (1 - b1);
        v[t][i] = v[t][i] * b2 + (1 - b2) * gi * gi;
        const float denom = std::sqrt(v[t][i]) / bs[t] + eps;
        p[t][i] = p[t][i] - ss[t] * (m[t][i] / denom);
        const double e = std::max(std::fabs(double(got[i]) - p[t][i]), std::fabs(double(gm[i]) - m[t][i]));
        worst = std::max(worst, e);
        if (e > 1e-6 * (1 + std::fabs(p[t][i]))) ok = false;
      }
    }
  }
  // a non-finite gradient anywhere sets found_inf; finite ones leave it alone
  const int last = count - 1;
  if (ok && n[last] > 0) {
    const float bad[2] = {INFINITY, NAN};
    for (float b : bad) {
      cudaMemcpy(dg[last] + n[last] - 1, &b, sizeof(float), cudaMemcpyHostToDevice);
      cudaMemset(found, 0, sizeof(float));
      ok &= status_ok(r4j_cuda_unscale_grads(count, dg.data(), n.data(), 0.5f, found, nullptr), name + " unscale inf");
      float f = 0;
      cudaMemcpy(&f, found, sizeof(float), cudaMemcpyDeviceToHost);
      ok &= f == 1.f;
    }
  }
  for (int t = 0; t < count; ++t)
    for (float *d : {dp[t], dg[t], dm[t], dv[t]}) cudaFree(d);
  cudaFree(found);
  report(ok, name, "max |diff| " + std::to_string(worst));
}

// The device-state variants (r4j_cuda_unscale_grads_dev, r4j_cuda_adam_step_dev,
// r4j_cuda_amp_update_scale) against the same host arithmetic: per-tensor step counts that start
// apart, a step skipped on the device's overflow flag (nothing moves, no count), the loss scale
// halved and grown as the host's AMP does.
void check_optimiser_dev(int count, float weight_decay) {
  const std::string name = "optimiser on device state: " + std::to_string(count) + " tensors, wd " +
                           std::to_string(weight_decay);
  const int64_t sizes[] = {0, 1, 7, 300, 5000, 1023, 70001, 2, 257};
  std::vector<int64_t> n(count), steps(count);
  std::vector<std::vector<float>> p(count), g(count), m(count), v(count);
  std::vector<float *> dp(count), dg(count), dm(count), dv(count);
  std::vector<int64_t *> dstep(count);
  std::vector<double> lr(count);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int t = 0; t < count; ++t) {
    n[t] = sizes[t % 9];
    steps[t] = t % 3 == 2 ? 7 : 0;  // some tensors resumed mid-run
    lr[t] = t % 2 ? 3.5e-4 : 3.5e-5;
    p[t].resize(n[t]);
    for (auto &e : p[t]) e = u(g_rng);
    g[t].assign(n[t], 0.f);
    m[t].assign(n[t], 0.f);
    v[t].assign(n[t], 0.f);
    if (steps[t] > 0)
      for (int64_t i = 0; i < n[t]; ++i) {
        m[t][i] = 0.01f * u(g_rng);
        v[t][i] = 1e-4f * std::fabs(u(g_rng));
      }
    cudaMalloc(reinterpret_cast<void **>(&dstep[t]), sizeof(int64_t));
    cudaMemcpy(dstep[t], &steps[t], sizeof(int64_t), cudaMemcpyHostToDevice);
    for (auto *d : {&dp[t], &dg[t], &dm[t], &dv[t]}) *d = nullptr;
    if (n[t] == 0) continue;
    const size_t bytes = n[t] * sizeof(float);
    for (auto *d : {&dp[t], &dg[t], &dm[t], &dv[t]}) cudaMalloc(reinterpret_cast<void **>(d), bytes);
    cudaMemcpy(dp[t], p[t].data(), bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(dm[t], m[t].data(), bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(dv[t], v[t].data(), bytes, cudaMemcpyHostToDevice);
  }
  float *found = nullptr, *dscale = nullptr;
  int64_t *good = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&found), sizeof(float));
  cudaMalloc(reinterpret_cast<void **>(&dscale), sizeof(float));
  cudaMalloc(reinterpret_cast<void **>(&good), sizeof(int64_t));
  float scale = 1024.f;
  int64_t good_host = 0;
  cudaMemcpy(dscale, &scale, sizeof(float), cudaMemcpyHostToDevice);
  cudaMemset(good, 0, sizeof(int64_t));
  const double b1 = 0.9, b2 = 0.999;
  const float eps = 1e-8f, fb1 = float(b1), fb2 = float(b2);
  const int64_t interval = 2;
  const int bad_step = 3;
  int poisoned = count - 1;
  while (poisoned > 0 && n[poisoned] == 0) --poisoned;
  double worst = 0;
  bool ok = true;
  for (int step = 1; step <= 5 && ok; ++step) {
    const bool overflow = step == bad_step;
    for (int t = 0; t < count; ++t) {
      std::vector<float> scaled(n[t]);
      for (int64_t i = 0; i < n[t]; ++i) {
        g[t][i] = u(g_rng);
        scaled[i] = g[t][i] * scale;
      }
      if (overflow && t == poisoned && n[t] > 0) scaled[n[t] / 2] = INFINITY;
      if (n[t] > 0) cudaMemcpy(dg[t], scaled.data(), n[t] * sizeof(float), cudaMemcpyHostToDevice);
    }
    cudaMemset(found, 0, sizeof(float));
    ok &= status_ok(r4j_cuda_unscale_grads_dev(count, dg.data(), n.data(), dscale, found, nullptr), name + " unscale");
    for (int t = 0; t < count && !overflow; ++t) {  // a power-of-two scale: the unscaled gradients are exact
      std::vector<float> got(n[t]);
      if (n[t] > 0) cudaMemcpy(got.data(), dg[t], n[t] * sizeof(float), cudaMemcpyDeviceToHost);
      for (int64_t i = 0; i < n[t]; ++i) ok &= got[i] == (g[t][i] * scale) * float(1.0 / double(scale));
    }
    ok &= status_ok(r4j_cuda_adam_step_dev(count, dp.data(), dg.data(), dm.data(), dv.data(), n.data(), lr.data(),
                                           dstep.data(), b1, b2, eps, weight_decay, found, nullptr),
                    name + " adam");
    ok &= status_ok(r4j_cuda_amp_update_scale(dscale, good, found, interval, nullptr), name + " update scale");
    float f = -1;
    cudaMemcpy(&f, found, sizeof(float), cudaMemcpyDeviceToHost);
    const bool flagged = overflow && n[poisoned] > 0;
    ok &= f == (flagged ? 1.f : 0.f);
    const float used = scale, inv = float(1.0 / double(scale));
    if (flagged) {  // the host's AMP: halve, no step
      scale = std::max(1.f, scale * 0.5f);
      good_host = 0;
    } else {
      if (++good_host % interval == 0) scale *= 2;
      for (int t = 0; t < count; ++t) {
        const double tt = double(++steps[t]);
        const float ss = float(lr[t] / (1 - std::pow(b1, tt))), bs = float(std::sqrt(1 - std::pow(b2, tt)));
        for (int64_t i = 0; i < n[t]; ++i) {  // libtorch's order of operations, in float
          float gi = (g[t][i] * used) * inv;
          if (weight_decay != 0.f) gi = gi + p[t][i] * weight_decay;
          m[t][i] = m[t][i] * fb1 + gi * (1 - fb1);
          v[t][i] = v[t][i] * fb2 + (1 - fb2) * gi * gi;
          const float denom = std::sqrt(v[t][i]) / bs + eps;
          p[t][i] = p[t][i] - ss * (m[t][i] / denom);
        }
      }
    }
    float dev_scale = 0;
    cudaMemcpy(&dev_scale, dscale, sizeof(float), cudaMemcpyDeviceToHost);
    ok &= dev_scale == scale;
    for (int t = 0; t < count && ok; ++t) {
      int64_t ds = -1;
      cudaMemcpy(&ds, dstep[t], sizeof(int64_t), cudaMemcpyDeviceToHost);
      ok &= ds == steps[t];
      if (n[t] == 0) continue;
      std::vector<float> got(n[t]), gm(n[t]);
      cudaMemcpy(got.data(), dp[t], n[t] * sizeof(float), cudaMemcpyDeviceToHost);
      cudaMemcpy(gm.data(), dm[t], n[t] * sizeof(float), cudaMemcpyDeviceToHost);
      for (int64_t i = 0; i < n[t]; ++i) {
        const double e = std::max(std::fabs(double(got[i]) - p[t][i]), std::fabs(double(gm[i]) - m[t][i]));
        worst = std::max(worst, e);
        if (e > 1e-6 * (1 + std::fabs(p[t][i]))) ok = false;
      }
    }
  }
  for (int t = 0; t < count; ++t) {
    for (float *d : {dp[t], dg[t], dm[t], dv[t]}) cudaFree(d);
    cudaFree(dstep[t]);
  }
  cudaFree(found);
  cudaFree(dscale);
  cudaFree(good);
  report(ok, name, "max |diff| " + std::to_string(worst));
}

// r4j_cuda_amp_update_scale alone: the floor at 1, growth every interval, no growth past float's range.
void check_amp_update_scale() {
  float *dscale = nullptr, *found = nullptr;
  int64_t *good = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&dscale), sizeof(float));
  cudaMalloc(reinterpret_cast<void **>(&found), sizeof(float));
  cudaMalloc(reinterpret_cast<void **>(&good), sizeof(int64_t));
  bool ok = true;
  const float starts[] = {2.f, 65536.f, std::ldexp(1.f, 127)};
  for (float start : starts) {
    float scale = start, dev = 0;
    int64_t g = 0;
    cudaMemcpy(dscale, &scale, sizeof(float), cudaMemcpyHostToDevice);
    cudaMemset(good, 0, sizeof(int64_t));
    const int pattern[] = {1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    for (int bad : pattern) {
      const float fv = float(bad);
      cudaMemcpy(found, &fv, sizeof(float), cudaMemcpyHostToDevice);
      ok &= r4j_cuda_amp_update_scale(dscale, good, found, 3, nullptr) == R4J_OK;
      if (bad) {
        scale = std::max(1.f, scale * 0.5f);
        g = 0;
      } else if (++g % 3 == 0 && std::isfinite(scale * 2.f)) {
        scale *= 2.f;
      }
      cudaMemcpy(&dev, dscale, sizeof(float), cudaMemcpyDeviceToHost);
      ok &= dev == scale;
    }
  }
  cudaFree(dscale);
  cudaFree(found);
  cudaFree(good);
  report(ok, "amp: loss scale updated on the device as on the host (floor 1, growth, float range)");
}

void check_optimiser_api() {
  int64_t n[1] = {4}, neg[1] = {-1};
  float *null_ptrs[1] = {nullptr}, f = 0, ss[1] = {1e-3f}, bs[1] = {0.1f}, zero[1] = {0.f};
  float buf[4] = {0, 0, 0, 0};
  float *ptrs[1] = {buf};
  const float *cptrs[1] = {buf};
  report(r4j_cuda_unscale_grads(-1, ptrs, n, 1.f, &f, nullptr) == R4J_EINVAL, "api: unscale, count < 0 -> EINVAL");
  report(r4j_cuda_unscale_grads(1, null_ptrs, n, 1.f, &f, nullptr) == R4J_EINVAL, "api: unscale, null tensor -> EINVAL");
  report(r4j_cuda_unscale_grads(1, ptrs, neg, 1.f, &f, nullptr) == R4J_EINVAL, "api: unscale, numel < 0 -> EINVAL");
  report(r4j_cuda_unscale_grads(1, ptrs, n, 1.f, nullptr, nullptr) == R4J_EINVAL, "api: unscale, null found_inf -> EINVAL");
  report(r4j_cuda_unscale_grads(1, ptrs, n, INFINITY, &f, nullptr) == R4J_EINVAL, "api: unscale, inf scale -> EINVAL");
  report(r4j_cuda_adam_step(1, ptrs, cptrs, ptrs, null_ptrs, n, ss, bs, 0.9f, 0.999f, 1e-8f, 0, nullptr) == R4J_EINVAL,
         "api: adam, null exp_avg_sq -> EINVAL");
  report(r4j_cuda_adam_step(1, ptrs, cptrs, ptrs, ptrs, n, ss, zero, 0.9f, 0.999f, 1e-8f, 0, nullptr) == R4J_EINVAL,
         "api: adam, bc2_sqrt 0 -> EINVAL");
  report(r4j_cuda_adam_step(1, ptrs, cptrs, ptrs, ptrs, n, ss, bs, 1.0f, 0.999f, 1e-8f, 0, nullptr) == R4J_EINVAL,
         "api: adam, beta1 1 -> EINVAL");
  report(r4j_cuda_adam_step(0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0.9f, 0.999f, 1e-8f, 0,
                            nullptr) == R4J_OK,
         "api: adam, no tensors -> OK");
  double lr1[1] = {1e-3}, lrneg[1] = {-1e-3};
  int64_t st = 0;
  int64_t *steps[1] = {&st}, *nosteps[1] = {nullptr};
  report(r4j_cuda_unscale_grads_dev(1, ptrs, n, nullptr, &f, nullptr) == R4J_EINVAL,
         "api: unscale_dev, null scale -> EINVAL");
  report(r4j_cuda_unscale_grads_dev(1, ptrs, n, &f, nullptr, nullptr) == R4J_EINVAL,
         "api: unscale_dev, null found_inf -> EINVAL");
  report(r4j_cuda_adam_step_dev(1, ptrs, cptrs, ptrs, ptrs, n, lr1, nosteps, 0.9, 0.999, 1e-8f, 0, nullptr,
                                nullptr) == R4J_EINVAL,
         "api: adam_dev, null step -> EINVAL");
  report(r4j_cuda_adam_step_dev(1, ptrs, cptrs, ptrs, ptrs, n, lrneg, steps, 0.9, 0.999, 1e-8f, 0, nullptr,
                                nullptr) == R4J_EINVAL,
         "api: adam_dev, negative lr -> EINVAL");
  report(r4j_cuda_adam_step_dev(1, ptrs, cptrs, ptrs, ptrs, n, lr1, steps, 1.0, 0.999, 1e-8f, 0, nullptr,
                                nullptr) == R4J_EINVAL,
         "api: adam_dev, beta1 1 -> EINVAL");
  report(r4j_cuda_adam_step_dev(0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0.9, 0.999, 1e-8f,
                                0, nullptr, nullptr) == R4J_OK && st == 0,
         "api: adam_dev, no tensors -> OK");
  report(r4j_cuda_amp_update_scale(&f, &st, &f, 0, nullptr) == R4J_EINVAL, "api: update scale, interval 0 -> EINVAL");
  report(r4j_cuda_amp_update_scale(nullptr, &st, &f, 2, nullptr) == R4J_EINVAL, "api: update scale, null scale -> EINVAL");
}
#endif

#ifdef REID4J_CUDA_EMU
// Emulator only: every function, with device allocations failing at different points, returns
// R4J_ENOMEM with a message and frees what it had allocated.
void check_out_of_memory() {
  const int64_t nq = 40, ng = 200, d = 64;
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d), out(nq * ng), v(nq * 10);
  std::vector<int32_t> lab(ng), i1(ng), i2(ng), idx(nq * 10);
  std::vector<float> f1(ng), f2(ng);
  for (int64_t i = 0; i < ng; ++i) lab[i] = (int32_t)(i % 7);
  const std::vector<std::pair<const char *, std::function<int()>>> calls = {
      {"pairwise", [&] { return r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, 0, out.data()); }},
      {"topk", [&] { return r4j_cuda_topk(out.data(), nq, ng, 10, v.data(), idx.data()); }},
      {"pairwise_topk", [&] { return r4j_cuda_pairwise_topk(q.data(), nq, g.data(), ng, d, 0, 10, v.data(), idx.data()); }},
      {"batch_hard", [&] { return r4j_cuda_batch_hard(g.data(), lab.data(), ng, d, 0, i1.data(), f1.data(), i2.data(), f2.data()); }},
      {"batch_hard_memory", [&] { return r4j_cuda_batch_hard_memory(q.data(), lab.data(), nq, g.data(), lab.data(), ng, d, 0,
                                                                    i1.data(), f1.data(), i2.data(), f2.data()); }},
      {"rerank", [&] { return r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, 0, 20, 6, 0.3f, out.data()); }},
  };
  // Without a device: bad arguments are still EINVAL, good ones a clear ECUDA.
  r4j_emu::set_device_count(0);
  float v4[4] = {1, 2, 3, 4};
  bool ok = r4j_cuda_pairwise(v4, 1, v4, 1, 4, 9, v4) == R4J_EINVAL &&
            r4j_cuda_topk(v4, 1, 4, 5, v4, idx.data()) == R4J_EINVAL &&
            r4j_cuda_rerank(v4, 1, v4, 1, 4, 0, 0, 6, 0.3f, v4) == R4J_EINVAL;
  for (const auto &c : calls) ok = ok && c.second() == R4J_ECUDA && std::strstr(r4j_last_error(), "no CUDA device");
  r4j_emu::set_device_count(1);
  report(ok, "emulator: no device -> EINVAL for bad arguments, ECUDA 'no CUDA device' otherwise");
  for (const auto &c : calls) {
    int enomem = 0, bad = 0;
    for (size_t limit = 64; limit <= (size_t(1) << 22); limit *= 2) {
      r4j_emu::set_memory_limit(limit);
      const int st = c.second();
      r4j_emu::set_memory_limit(0);
      if (st == R4J_ENOMEM && std::strstr(r4j_last_error(), "out of memory")) ++enomem;
      else if (st != R4J_OK) ++bad;
      if (r4j_emu::live_allocations() != 0) ++bad;
    }
    report(enomem > 0 && bad == 0, std::string("emulator: ") + c.first + " out of device memory -> ENOMEM, nothing leaked",
           std::to_string(enomem) + " limits failed cleanly, " + std::to_string(bad) + " bad");
  }
}

// Emulator only: device-resident rows when the device fills up. A failed append (at any point of
// its growth) is ENOMEM with a message and leaves the handle as it was: same count, same results,
// still appendable; when doubling the capacity does not fit but the exact count does, the append
// succeeds; a search that cannot get its scratch is ENOMEM too; nothing is leaked.
void check_rows_out_of_memory() {
  const int64_t d = 24, nq = 5, n0 = 64;
  std::vector<float> g = gaussian(n0 + 200, d), q = gaussian(nq, d);
  const int64_t k = 7;
  void *h = nullptr;
  if (!status_ok(r4j_cuda_rows_create(d, R4J_COSINE, &h), "emulator: rows out of memory (create)")) return;
  if (!status_ok(r4j_cuda_rows_append(h, g.data(), n0), "emulator: rows out of memory (append)")) return;
  std::vector<float> v0(nq * k), v(nq * k);
  std::vector<int32_t> i0(nq * k), i(nq * k);
  if (!status_ok(r4j_cuda_rows_topk(h, 0, n0, q.data(), nq, k, v0.data(), i0.data()), "emulator: rows topk")) return;
  const size_t held = size_t(n0) * (d + 1) * sizeof(float), live = r4j_emu::live_allocations();
  int enomem = 0, bad = 0;
  std::string why;
  for (size_t extra = 0; extra <= size_t(128) * (d + 1) * sizeof(float); extra += 97 * sizeof(float)) {
    r4j_emu::set_memory_limit(held + extra);  // room for part of the grown buffers at most
    const int st = r4j_cuda_rows_append(h, g.data() + n0 * d, 100);  // needs 164 rows, would double to 128
    const bool msg = std::strstr(r4j_last_error(), "out of memory") != nullptr;
    r4j_emu::set_memory_limit(0);
    if (st == R4J_OK) {  // cannot happen: even the exact 164 rows do not fit
      ++bad, why += " append succeeded";
      break;
    }
    if (st != R4J_ENOMEM || !msg) ++bad, why += " status " + std::to_string(st) + ": " + r4j_last_error();
    ++enomem;
    if (r4j_cuda_rows_count(h) != n0 || r4j_emu::live_allocations() != live) ++bad, why += " handle changed";
  }
  bool same = r4j_cuda_rows_topk(h, 0, n0, q.data(), nq, k, v.data(), i.data()) == R4J_OK && v == v0 && i == i0;
  if (!same) ++bad, why += " results changed";
  // A search without room for its scratch: ENOMEM, nothing leaked, the handle still usable.
  r4j_emu::set_memory_limit(held + 64);
  const int st = r4j_cuda_rows_topk(h, 0, n0, q.data(), nq, k, v.data(), i.data());
  r4j_emu::set_memory_limit(0);
  if (st != R4J_ENOMEM || r4j_emu::live_allocations() != live) ++bad, why += " topk without scratch";
  // Doubling (2 * 64 rows) does not fit, the exact count (65 rows) does: the append succeeds.
  r4j_emu::set_memory_limit(held + size_t(65) * (d + 1) * sizeof(float));
  const int st2 = r4j_cuda_rows_append(h, g.data() + n0 * d, 1);
  r4j_emu::set_memory_limit(0);
  if (st2 != R4J_OK || r4j_cuda_rows_count(h) != n0 + 1) ++bad, why += std::string(" exact growth: ") + r4j_last_error();
  // Then the rest, with memory to spare, and the whole range against the copying path.
  if (r4j_cuda_rows_append(h, g.data() + (n0 + 1) * d, 199) != R4J_OK || r4j_cuda_rows_count(h) != n0 + 200)
    ++bad, why += " append after failures";
  std::vector<float> bv(nq * k);
  std::vector<int32_t> bi(nq * k);
  if (r4j_cuda_rows_topk(h, 0, n0 + 200, q.data(), nq, k, v.data(), i.data()) != R4J_OK ||
      r4j_cuda_pairwise_topk(q.data(), nq, g.data(), n0 + 200, d, R4J_COSINE, k, bv.data(), bi.data()) != R4J_OK ||
      v != bv || i != bi)
    ++bad, why += " results after failures";
  r4j_cuda_rows_free(h);
  if (r4j_emu::live_allocations() != 0) ++bad, why += " leaked after free";
  report(enomem > 3 && bad == 0, "emulator: rows_append out of device memory -> ENOMEM, handle unchanged, nothing leaked",
         std::to_string(enomem) + " limits failed cleanly, " + std::to_string(bad) + " bad" + why);

  // Without a device: bad arguments EINVAL, good ones ECUDA "no CUDA device"; count needs no device.
  void *h2 = nullptr;
  bool ok = r4j_cuda_rows_create(d, R4J_EUCLIDEAN, &h2) == R4J_OK && r4j_cuda_rows_append(h2, g.data(), 3) == R4J_OK;
  r4j_emu::set_device_count(0);
  void *h3 = &h3;
  ok = ok && r4j_cuda_rows_create(0, 0, &h3) == R4J_EINVAL && h3 == nullptr &&
       r4j_cuda_rows_create(d, 0, &h3) == R4J_ECUDA && h3 == nullptr && std::strstr(r4j_last_error(), "no CUDA device") &&
       r4j_cuda_rows_append(h2, g.data(), -1) == R4J_EINVAL && r4j_cuda_rows_append(h2, g.data(), 1) == R4J_ECUDA &&
       r4j_cuda_rows_topk(h2, 0, 4, q.data(), nq, 1, v.data(), i.data()) == R4J_EINVAL &&
       r4j_cuda_rows_topk(h2, 0, 3, q.data(), nq, 1, v.data(), i.data()) == R4J_ECUDA &&
       std::strstr(r4j_last_error(), "no CUDA device") && r4j_cuda_rows_count(h2) == 3;
  r4j_emu::set_device_count(1);
  r4j_cuda_rows_free(h2);
  ok = ok && r4j_emu::live_allocations() == 0;
  report(ok, "emulator: rows without a device -> EINVAL for bad arguments, ECUDA 'no CUDA device' otherwise");
}
#endif

// ---------------------------------------------------------------------------------------------
double seconds(const std::function<int()> &fn, int reps, const char *name) {
  const auto w0 = std::chrono::steady_clock::now();
  if (fn() != R4J_OK) {  // warm-up
    std::printf("TIMING %s: error %s\n", name, r4j_last_error());
    ++g_fail;
    return -1;
  }
  const double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  const double med = t[t.size() / 2];
  std::printf("TIME %-52s %9.2f ms (median of %d, host<->device copies included; first call %.2f ms)\n", name,
              med * 1e3, reps, first * 1e3);
  g_times_ms.emplace_back(name, med * 1e3);
  std::fflush(stdout);
  return med;
}

// pairwise_evaluate and rerank_evaluate (k1 20, k2 6, lambda 0.3) of q against g with Market-like labels, timed
// under the names "cuda pairwise_evaluate <what>" and "cuda rerank_evaluate <what>".
void time_evaluate(const std::vector<float> &q, int64_t nq, const std::vector<float> &g, int64_t ng, int64_t d,
                   const std::string &what) {
  std::vector<int32_t> qp(nq), qc(nq), gp(ng), gc(ng), first(nq), nanc(nq);
  std::vector<double> ap(nq), inp(nq);
  for (int64_t i = 0; i < nq; ++i) qp[i] = (int32_t)(i % 750), qc[i] = (int32_t)(i % 6);
  for (int64_t j = 0; j < ng; ++j) gp[j] = (int32_t)(j % 751) - 1, gc[j] = (int32_t)((j / 3) % 6);
  seconds([&] { return r4j_cuda_pairwise_evaluate(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, qp.data(), qc.data(),
                                                  gp.data(), gc.data(), first.data(), ap.data(), inp.data(),
                                                  nanc.data()); },
          3, ("cuda pairwise_evaluate " + what).c_str());
  seconds([&] { return r4j_cuda_rerank_evaluate(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, qp.data(),
                                                qc.data(), gp.data(), gc.data(), first.data(), ap.data(), inp.data(),
                                                nanc.data()); },
          3, ("cuda rerank_evaluate " + what).c_str());
}

void timings(bool cpu_rerank) {
  const int64_t nq = 3368, ng = 15913, d = 2048;
  std::printf("--- timings at the Market-1501 shape (nq %lld, ng %lld, d %lld) ---\n", (long long)nq, (long long)ng,
              (long long)d);
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
  std::vector<float> out(nq * ng);
  const double pw = seconds([&] { return r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, out.data()); },
                            3, "cuda pairwise 3368x15913x2048 euclidean");
  if (pw > 0) std::printf("     -> %.1f effective TFLOP/s\n", 2.0 * nq * ng * d / pw / 1e12);
  {
    const int64_t k = 100;
    std::vector<float> v(nq * k);
    std::vector<int32_t> i(nq * k);
    seconds([&] { return r4j_cuda_pairwise_topk(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, k, v.data(), i.data()); },
            3, "cuda pairwise_topk k=100");
    seconds([&] { return r4j_cuda_topk(out.data(), nq, ng, k, v.data(), i.data()); }, 3,
            "cuda topk 3368x15913 k=100 (dense input)");
  }
  // Mining inputs of their own: B = 4096 and the 16,384-entry memory are larger than q and g.
  const std::vector<float> xb = gaussian(4096, d), mem = gaussian(16384, d);
  for (int64_t b : {64, 256, 4096}) {
    std::vector<int32_t> lab(b), pi(b), ni(b);
    std::vector<float> pd(b), nd(b);
    for (int64_t i = 0; i < b; ++i) lab[i] = (int32_t)(i / 4);
    std::string name = "cuda batch_hard B=" + std::to_string(b) + " d=2048";
    seconds([&] { return r4j_cuda_batch_hard(xb.data(), lab.data(), b, d, R4J_EUCLIDEAN, pi.data(), pd.data(),
                                             ni.data(), nd.data()); },
            5, name.c_str());
  }
  {
    const int64_t na = 256, nm = 16384;
    std::vector<int32_t> al(na), ml(nm), pi(na), ni(na);
    std::vector<float> pd(na), nd(na);
    for (int64_t i = 0; i < na; ++i) al[i] = (int32_t)(i / 4);
    for (int64_t i = 0; i < nm; ++i) ml[i] = (int32_t)(i % 751);
    seconds([&] { return r4j_cuda_batch_hard_memory(xb.data(), al.data(), na, mem.data(), ml.data(), nm, d,
                                                    R4J_EUCLIDEAN, pi.data(), pd.data(), ni.data(), nd.data()); },
            5, "cuda batch_hard_memory 256x16384 d=2048");
  }
  const double rr = seconds(
      [&] { return r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, out.data()); }, 3,
      "cuda rerank Market k1=20 k2=6 lambda=0.3");
  if (rr > 0) std::printf("     -> target <= 100 ms: %s\n", rr <= 0.1 ? "met" : "NOT met");
  // scored on the device (section 7): only the per-query scores come back
  time_evaluate(q, nq, g, ng, d, "Market (no matrix copied back)");
  {  // the tensor-core distance passes (r4j_cuda_set_precision) against FP32: time and difference
    std::vector<float> fp(nq * ng), tc(nq * ng);
    if (r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, fp.data()) != R4J_OK) fp.clear();
    for (int p : {R4J_TF32X3, R4J_TF32}) {
      PrecisionScope ps(p);
      const std::string pn = precision_name(p);
      const double t = seconds([&] { return r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN,
                                                              tc.data()); },
                               3, ("cuda pairwise Market euclidean " + pn).c_str());
      if (t > 0) std::printf("     -> %.1f effective TFLOP/s\n", 2.0 * nq * ng * d / t / 1e12);
      time_evaluate(q, nq, g, ng, d, "Market " + pn);
      if (!fp.empty() && r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, tc.data()) == R4J_OK) {
        double worst = 0, rel = 0;
        for (int64_t i = 0; i < nq * ng; ++i) {
          const double e = std::fabs(double(tc[i]) - fp[i]);
          worst = std::max(worst, e);
          rel = std::max(rel, e / std::max(1e-30, double(fp[i])));
        }
        std::printf("INFO pairwise Market %s vs fp32: max abs diff %.3g, max relative %.3g\n", pn.c_str(), worst, rel);
      }
    }
  }
  setenv("R4J_CUDA_CHUNK_BYTES", "1073741824", 1);  // the same in 1 GiB row chunks of D (full square)
  seconds([&] { return r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, out.data()); }, 3,
          "cuda rerank Market, D in 1 GiB row chunks");
  unsetenv("R4J_CUDA_CHUNK_BYTES");
  setenv("R4J_CUDA_PIN_HOST", "1", 1);  // the caller's buffers page-locked during the call
  seconds([&] { return r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, out.data()); }, 3,
          "cuda rerank Market, host buffers pinned per call");
  seconds([&] { return r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, out.data()); }, 3,
          "cuda pairwise Market, host buffers pinned per call");
  unsetenv("R4J_CUDA_PIN_HOST");
  setenv("R4J_CUDA_STAGING", "0", 1);  // the driver's own pageable copies instead of the staging buffers
  seconds([&] { return r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, out.data()); }, 3,
          "cuda rerank Market, pageable copies (R4J_CUDA_STAGING=0)");
  seconds([&] { return r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, out.data()); }, 3,
          "cuda pairwise Market, pageable copies (R4J_CUDA_STAGING=0)");
  time_evaluate(q, nq, g, ng, d, "Market, pageable copies");  // the calls of eval on the device
  unsetenv("R4J_CUDA_STAGING");
  setenv("R4J_CUDA_COPY_THREADS", "1", 1);  // the staging halves filled and emptied by one thread
  seconds([&] { return r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, out.data()); }, 3,
          "cuda pairwise Market, staging with one copy thread");
  unsetenv("R4J_CUDA_COPY_THREADS");
  // One more call of each with the per-stage clock on (stderr): where the time goes.
  setenv("R4J_CUDA_PROFILE", "1", 1);
  std::fflush(stdout);
  r4j_cuda_pairwise(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, out.data());
  r4j_cuda_rerank(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, out.data());
  unsetenv("R4J_CUDA_PROFILE");
  std::fflush(stderr);
  if (cpu_rerank) {
    std::vector<float> ref(nq * ng);
    auto t0 = std::chrono::steady_clock::now();
    const int st = r4j_cpu_rerank(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, ref.data());
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("TIME %-52s %9.2f ms (one run, %d threads)%s\n", "cpu rerank Market k1=20 k2=6 lambda=0.3", t * 1e3,
                r4j_cpu_threads(), st == R4J_OK ? "" : " ERROR");
    if (st == R4J_OK) g_times_ms.emplace_back("cpu rerank Market k1=20 k2=6 lambda=0.3", t * 1e3);
    if (st == R4J_OK) {  // the GPU result at the Market shape against the CPU one (Gaussian data: informative)
      double worst = 0;
      int64_t bad = 0;
      for (int64_t i = 0; i < nq * ng; ++i) {
        const double e = std::fabs(double(out[i]) - ref[i]);
        worst = std::max(worst, e);
        bad += e > 1e-4;
      }
      std::printf("INFO rerank Market cuda vs cpu: max abs diff %.3g, %lld of %lld above 1e-4\n", worst,
                  (long long)bad, (long long)(nq * ng));
      g_market_max_diff = worst;
    }
  }
}

// Re-ranking at the MSMT17 size (6,800 queries, 82,100 gallery items, d 2048: N = 88,900, D alone 31.6 GB), scored on
// the device, in FP32 and TF32X3, then once more each with the per-stage clock on (stderr): where the time goes.
void timings_msmt() {
  const int64_t nq = 6800, ng = 82100, d = 2048;
  std::printf("--- re-ranking at the MSMT17 size (nq %lld, ng %lld, d %lld) ---\n", (long long)nq, (long long)ng,
              (long long)d);
  std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
  std::vector<int32_t> qp(nq), qc(nq), gp(ng), gc(ng), first(nq), nanc(nq);
  std::vector<double> ap(nq), inp(nq);
  for (int64_t i = 0; i < nq; ++i) qp[i] = (int32_t)(i % 3000), qc[i] = (int32_t)(i % 15);
  for (int64_t j = 0; j < ng; ++j) gp[j] = (int32_t)(j % 3001) - 1, gc[j] = (int32_t)((j / 3) % 15);
  auto run = [&] {
    return r4j_cuda_rerank_evaluate(q.data(), nq, g.data(), ng, d, R4J_EUCLIDEAN, 20, 6, 0.3f, qp.data(), qc.data(),
                                    gp.data(), gc.data(), first.data(), ap.data(), inp.data(), nanc.data());
  };
  for (int p : {R4J_FP32, R4J_TF32X3}) {
    PrecisionScope ps(p);
    seconds(run, 1, (std::string("cuda rerank_evaluate MSMT17 size ") + precision_name(p)).c_str());
    setenv("R4J_CUDA_PROFILE", "1", 1);
    std::fflush(stdout);
    run();
    unsetenv("R4J_CUDA_PROFILE");
    std::fflush(stderr);
  }
  setenv("R4J_CUDA_STAGING", "0", 1);  // X through the driver's pageable copies
  seconds(run, 1, "cuda rerank_evaluate MSMT17 size fp32, pageable copies");
  unsetenv("R4J_CUDA_STAGING");
}

}  // namespace

// {"device", "passed", "failed", "timings_ms": {name: ms}, "rerank_market_max_abs_diff"} for --json.
bool write_json(const char *path) {
  FILE *f = std::fopen(path, "w");
  if (!f) return false;
  std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"passed\": %d,\n  \"failed\": %d,\n  \"timings_ms\": {", g_device.c_str(),
               g_pass, g_fail);
  for (size_t i = 0; i < g_times_ms.size(); ++i)
    std::fprintf(f, "%s\n    \"%s\": %.3f", i ? "," : "", g_times_ms[i].first.c_str(), g_times_ms[i].second);
  std::fprintf(f, "%s},\n  \"rerank_market_max_abs_diff\": ", g_times_ms.empty() ? "" : "\n  ");
  if (g_market_max_diff >= 0)
    std::fprintf(f, "%.6g\n}\n", g_market_max_diff);
  else
    std::fprintf(f, "null\n}\n");
  return std::fclose(f) == 0;
}

int main(int argc, char **argv) {
#ifdef REID4J_CUDA_EMU
  bool timing = false;  // the emulator's timings mean nothing
#else
  bool timing = true;
#endif
  bool cpu_rerank = true, quick = false, msmt = false;  // quick: small shapes only (for compute-sanitizer runs)
  const char *json = nullptr;              // --json FILE: device, counts and timings for machines
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-timing"))
      timing = false;
    else if (!std::strcmp(argv[i], "--no-cpu-rerank"))
      cpu_rerank = false;
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else if (!std::strcmp(argv[i], "--msmt"))
      msmt = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else
      g_rng.seed(std::strtoull(argv[i], nullptr, 10));
  }
  std::printf("reid4j %s, cuda compiled: %d, cpu isa %s, cpu threads %d\n", r4j_version(), r4j_cuda_compiled(),
              r4j_cpu_isa(), r4j_cpu_threads());
  int count = 0;
  if (r4j_cuda_device_count(&count) != R4J_OK || count == 0) {
    std::printf("no CUDA device, skipping\n");
    g_device = "none";
    if (json) write_json(json);
    return 0;
  }
  char name[256];
  if (r4j_cuda_device_name(name, sizeof name) != R4J_OK) std::snprintf(name, sizeof name, "? (%s)", r4j_last_error());
  std::printf("device: %s (%d device(s))\n", name, count);
  g_device = name;
  for (char &c : g_device)
    if (c == '"' || c == '\\') c = '\'';

  check_api();
  for (int metric = 0; metric < 3; ++metric) {
    check_pairwise(1, 1, 1, metric, false);
    check_pairwise(3, 5, 7, metric, false);
    check_pairwise(37, 129, 65, metric, false);
    check_pairwise(130, 257, 128, metric, true);
    if (!quick) check_pairwise(300, 520, 2048, metric, false);
    check_pairwise(1, 1000, 3, metric, false);
  }
  check_pairwise(129, 131, 6, R4J_COSINE, true);
  check_pairwise(600, 257, 64, R4J_EUCLIDEAN, false);  // D to the host in 3 chunks through two buffers
  setenv("R4J_CUDA_CHUNK_BYTES", "100000", 1);         // ... and in 13, each buffer rewritten six times
  check_pairwise(600, 257, 33, R4J_SQEUCLIDEAN, true);
  unsetenv("R4J_CUDA_CHUNK_BYTES");
  // The tensor-core passes (r4j_cuda_set_precision): every metric, odd and aligned d, one row.
  check_precision_api();
  check_precision_taken();
  for (int p : {R4J_TF32X3, R4J_TF32})
    for (int metric = 0; metric < 3; ++metric) {
      check_pairwise(1, 1, 1, metric, false, p);
      check_pairwise(3, 5, 7, metric, false, p);
      check_pairwise(37, 129, 65, metric, false, p);
      check_pairwise(130, 257, 128, metric, true, p);
    }
  check_rerank(40, 200, 64, R4J_EUCLIDEAN, 20, 6, 0.3f, 30, R4J_TF32X3);  // the mirrored (symmetric) tiles
  check_rerank(40, 200, 64, R4J_COSINE, 20, 6, 0.3f, 30, R4J_TF32X3);
  check_rerank(7, 33, 5, R4J_EUCLIDEAN, 5, 3, 0.5f, 6, R4J_TF32X3);
  check_topk(1, 1, 1, 0);
  check_topk(5, 37, 37, 0);
  check_topk(33, 1000, 1, 0);
  check_topk(33, 1000, 100, 0);
  check_topk(20, 3000, 1024, 3);
  check_topk(17, 2000, 10, 2);
  if (!quick) {
    check_topk(3, 9000, 4096, 0);
    check_topk(3, 6000, 5000, 2);  // beyond the shared-memory selection buffer
    check_topk(2, 300000, 50, 0);  // beyond the shared-memory key cache
  }
  for (int metric = 0; metric < 3; ++metric) {
    check_pairwise_topk(1, 1, 5, metric, 1, false);
    check_pairwise_topk(37, 500, 33, metric, 10, false);
    check_pairwise_topk(64, 1000, 128, metric, 100, true);
  }
  if (!quick) check_pairwise_topk(10, 5000, 64, R4J_EUCLIDEAN, 5000, false);
  check_rows_api();
  for (int metric = 0; metric < 3; ++metric) {
    check_rows_topk(1, 5, metric, {1}, {{0, 1, 1}, {0, 1, 0}, {1, 0, 0}}, false);
    check_rows_topk(37, 33, metric, {1, 7, 100, 392}, {{0, 500, 10}, {0, 500, 500}, {166, 250, 10}, {499, 1, 1},
                                                       {63, 2, 2}, {200, 77, 0}, {3, 1, 1}}, false);
    check_rows_topk(1, 128, metric, {64, 64, 129, 743}, {{0, 1000, 100}, {100, 500, 37}, {128, 129, 129}}, true);
    check_rows_topk(5, 7, metric, {3, 300}, {{1, 301, 301}, {2, 150, 9}, {0, 303, 1}}, true);
  }
  if (!quick) check_rows_topk(3, 64, R4J_EUCLIDEAN, {2000, 3000}, {{0, 5000, 5000}, {500, 4500, 4500}}, false);
  for (int metric = 0; metric < 3; ++metric) {
    check_batch_hard(1, 8, metric, 1);
    check_batch_hard(2, 3, metric, 1);
    check_batch_hard(64, 128, metric, 16);
    check_batch_hard(301, 65, metric, 40);
    check_batch_hard_memory(37, 513, 64, metric, 30, false);
    check_batch_hard_memory(5, 7, 9, metric, 2, true);
  }
  check_rerank(40, 200, 64, R4J_EUCLIDEAN, 20, 6, 0.3f, 30);
  check_rerank(40, 200, 64, R4J_SQEUCLIDEAN, 20, 6, 0.3f, 30);
  check_rerank(40, 200, 64, R4J_COSINE, 20, 6, 0.3f, 30);
  check_rerank(7, 33, 5, R4J_EUCLIDEAN, 5, 3, 0.5f, 6);
  check_rerank(5, 9, 4, R4J_EUCLIDEAN, 20, 6, 0.3f, 0);   // k1 + 1 > N
  check_rerank(30, 120, 32, R4J_EUCLIDEAN, 10, 1, 0.3f, 15);
  check_rerank(1, 50, 16, R4J_EUCLIDEAN, 7, 4, 0.0f, 8);
  if (!quick) {
    check_rerank(100, 700, 256, R4J_EUCLIDEAN, 20, 6, 1.0f, 60);
    check_rerank(300, 1500, 128, R4J_EUCLIDEAN, 20, 6, 0.3f, 100);
  }
  // The same with a small scratch budget: D in row chunks instead of the mirrored upper triangle.
  setenv("R4J_CUDA_CHUNK_BYTES", "100000", 1);
  check_rerank(40, 200, 64, R4J_COSINE, 20, 6, 0.3f, 30);
  check_rerank(40, 200, 64, R4J_SQEUCLIDEAN, 20, 6, 0.3f, 30, R4J_TF32X3);
  if (!quick) check_rerank(300, 1500, 128, R4J_EUCLIDEAN, 20, 6, 0.3f, 100);
  unsetenv("R4J_CUDA_CHUNK_BYTES");
  check_evaluate_api();
  for (int metric = 0; metric < 3; ++metric) {
    check_evaluate(1, 1, 3, metric, 1, 2, 0, false, false);
    check_evaluate(37, 301, 17, metric, 12, 4, 0, false, true);
    check_evaluate(64, 700, 8, metric, 20, 3, 0, true, false);
    check_evaluate(40, 200, 64, metric, 15, 4, 20, false, false);
  }
  check_evaluate(3, 5, 2, R4J_EUCLIDEAN, 1, 1, 0, true, false);  // one camera: every same-id entry is left out
  check_evaluate(20, 90, 4, R4J_SQEUCLIDEAN, 3, 2, 0, true, false);  // many matches per query, many ties
  check_evaluate(30, 120, 16, R4J_EUCLIDEAN, 8, 3, 10, true, true);
  if (!quick) check_evaluate(300, 1500, 128, R4J_EUCLIDEAN, 100, 6, 20, false, false);
  check_evaluate(6, 3000, 8, R4J_EUCLIDEAN, 2, 4, 0, true, false);  // ~1,000 matches per query: a long sort, ties
  // rows with more matches than R4J_CUDA_EVAL_MAXP take the sweep, the others the sort, in the same launch
  setenv("R4J_CUDA_EVAL_MAXP", "8", 1);
  check_evaluate(30, 120, 16, R4J_EUCLIDEAN, 8, 3, 0, true, true);
  check_evaluate(40, 200, 64, R4J_COSINE, 15, 4, 20, false, false);
  unsetenv("R4J_CUDA_EVAL_MAXP");
  setenv("R4J_CUDA_CHUNK_BYTES", "4096", 1);  // distance rows scored chunk by chunk
  check_evaluate(37, 301, 17, R4J_COSINE, 12, 4, 0, false, true);
  unsetenv("R4J_CUDA_CHUNK_BYTES");
  setenv("R4J_CUDA_STAGING", "0", 1);  // the driver's own pageable copies instead of the staging halves
  check_pairwise(130, 257, 128, R4J_EUCLIDEAN, true);
  check_rerank(40, 200, 64, R4J_COSINE, 20, 6, 0.3f, 30);
  check_evaluate(37, 301, 17, R4J_EUCLIDEAN, 12, 4, 0, false, true);
  setenv("R4J_CUDA_PIN_HOST", "1", 1);  // into page-locked memory the chunks' copies out do not block the host:
  setenv("R4J_CUDA_CHUNK_BYTES", "100000", 1);  // a buffer rewritten before its copy ran gives wrong rows
  check_pairwise(600, 257, 33, R4J_SQEUCLIDEAN, true);
  unsetenv("R4J_CUDA_CHUNK_BYTES");
  unsetenv("R4J_CUDA_PIN_HOST");
  unsetenv("R4J_CUDA_STAGING");
  setenv("R4J_CUDA_STAGING_BYTES", "4100", 1);  // the staging halves, many chunks
  check_pairwise(130, 257, 128, R4J_EUCLIDEAN, true);
  check_rerank(40, 200, 64, R4J_COSINE, 20, 6, 0.3f, 30);
  check_evaluate(37, 301, 17, R4J_EUCLIDEAN, 12, 4, 0, false, true);
  // halves of 3 MiB filled by three threads: parts of uneven length, the last chunk short
  setenv("R4J_CUDA_STAGING_BYTES", "3145796", 1);
  setenv("R4J_CUDA_COPY_THREADS", "3", 1);
  check_pairwise(257, 1031, 1024, R4J_EUCLIDEAN, false);
  unsetenv("R4J_CUDA_COPY_THREADS");
  unsetenv("R4J_CUDA_STAGING_BYTES");
  check_pairwise(37, 129, 65, R4J_SQEUCLIDEAN, false);  // one chunk, the default size
  setenv("R4J_CUDA_PIN_HOST", "1", 1);  // and with the host buffers page-locked during the call
  check_pairwise(130, 257, 128, R4J_EUCLIDEAN, true);
  check_rerank(40, 200, 64, R4J_EUCLIDEAN, 20, 6, 0.3f, 30);
  unsetenv("R4J_CUDA_PIN_HOST");
#ifdef REID4J_CUDA_EMU
  r4j_emu::set_memory_pools(false);  // a device without the stream-ordered allocator: cudaMalloc / cudaFree
  check_pairwise(37, 129, 65, R4J_COSINE, false);
  check_topk(20, 3000, 1024, 3);
  check_batch_hard_memory(37, 513, 64, R4J_EUCLIDEAN, 30, false);
  check_rerank(40, 200, 64, R4J_EUCLIDEAN, 20, 6, 0.3f, 30);
  check_rows_topk(4, 16, R4J_SQEUCLIDEAN, {70, 100}, {{0, 170, 5}, {60, 20, 20}}, false);
  r4j_emu::set_memory_pools(true);
  r4j_emu::set_shared_memory_optin(1024);  // a device with little shared memory: the global-memory variants
  check_topk(33, 1000, 100, 0);
  check_pairwise_topk(37, 500, 33, R4J_COSINE, 10, false);
  check_rows_topk(9, 33, R4J_COSINE, {10, 300}, {{0, 310, 10}, {5, 200, 200}}, true);
  check_rerank(40, 200, 64, R4J_EUCLIDEAN, 20, 6, 0.3f, 30);
  check_rerank(300, 1500, 128, R4J_EUCLIDEAN, 20, 6, 0.3f, 100);
  r4j_emu::set_shared_memory_optin(227 * 1024);
#endif
#ifdef REID4J_CUDA_EMU
  check_out_of_memory();
  check_rows_out_of_memory();
  check_optimiser_api();
  check_optimiser(1, 0.f);
  check_optimiser(9, 5e-4f);
  check_optimiser(61, 5e-4f);  // three launches of at most 24 tensors
  check_optimiser(24, 0.f);
  check_optimiser_dev(1, 0.f);
  check_optimiser_dev(10, 5e-4f);
  check_optimiser_dev(61, 5e-4f);
  check_amp_update_scale();
#endif

  std::printf("--- %d passed, %d failed ---\n", g_pass, g_fail);
  if (timing) timings(cpu_rerank);
  if (timing && msmt) timings_msmt();
  std::printf("gpu_check: %s\n", g_fail == 0 ? "ALL PASS" : "FAILURES");
  if (json && !write_json(json)) {
    std::printf("gpu_check: cannot write %s\n", json);
    return 1;
  }
  return g_fail == 0 ? 0 : 1;
}
