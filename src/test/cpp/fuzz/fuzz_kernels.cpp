// libFuzzer target for the C API in reid4j.h: every kernel, on the CPU code and on the CUDA code
// (run by the CUDA emulator of src/test/cpp/cuda_emu, so no GPU is needed), with shapes, metrics,
// k, k1, k2, lambda, thread counts and values chosen by the fuzzer. Built with
// -fsanitize=fuzzer,address,undefined (scripts/fuzz.sh kernels SECONDS; CMake option REID4J_FUZZ).
//
// What counts as a finding, besides a sanitizer report or a crash:
//  - an invalid argument (negative size, d < 1, null pointer where data is needed, unknown metric,
//    k outside [0, cols], k1 or k2 < 1, lambda outside [0, 1] or NaN) not refused with R4J_EINVAL
//    and a message, or a valid call refused;
//  - on finite inputs, a result that breaks the header's definition, checked against a plain
//    double-precision reference: distances within float rounding, top-k ascending by (value,
//    index) and no left-out item nearer than the last kept one, batch-hard choices that are
//    positives / negatives at the extreme distance (-1 exactly when there is no candidate),
//    re-ranked distances in [0, 1]; the neighbour lists of r4j_cpu_knn_* bit for bit those of
//    r4j_cpu_pairwise_topk_max of every item against all, and both sides of r4j_cpu_knn_pair those
//    of pairwise_topk_max(q, g) and (g, q);
//  - on non-finite inputs (which the header leaves unspecified), any index out of range.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "reid4j.h"

// The reference checks are not code under test: no coverage feedback from them (they would cost
// most of the time and steer the fuzzer by the checker's branches).
#define R4J_NO_COVERAGE __attribute__((no_sanitize("coverage")))

namespace {

[[noreturn]] void finding(const char *what, const char *kernel, long long a, long long b) {
  std::fprintf(stderr, "fuzz_kernels: %s in %s (%lld, %lld); last error: \"%s\"\n", what, kernel, a, b,
               r4j_last_error());
  std::abort();
}

#define REQUIRE(cond, kernel, a, b) \
  do {                              \
    if (!(cond)) finding(#cond, kernel, (long long)(a), (long long)(b)); \
  } while (0)

// The two backends share one signature per kernel.
struct Backend {
  const char *name;
  decltype(&r4j_cpu_pairwise) pairwise;
  decltype(&r4j_cpu_topk) topk;
  decltype(&r4j_cpu_pairwise_topk) pairwise_topk;
  decltype(&r4j_cpu_batch_hard) batch_hard;
  decltype(&r4j_cpu_batch_hard_memory) batch_hard_memory;
  decltype(&r4j_cpu_rerank) rerank;
};
const Backend kCpu{"cpu", r4j_cpu_pairwise, r4j_cpu_topk, r4j_cpu_pairwise_topk,
                   r4j_cpu_batch_hard, r4j_cpu_batch_hard_memory, r4j_cpu_rerank};
const Backend kCuda{"cuda", r4j_cuda_pairwise, r4j_cuda_topk, r4j_cuda_pairwise_topk,
                    r4j_cuda_batch_hard, r4j_cuda_batch_hard_memory, r4j_cuda_rerank};

enum class Values { kSmallIntegers, kScaled, kNonFinite };

// A [rows, d] matrix. Small integers make exact ties; scaled bytes give spread values with norms far
// from float32's limits; the non-finite kind sprinkles NaN, +-Inf and -0.
std::vector<float> matrix(FuzzedDataProvider &in, int64_t rows, int64_t d, Values kind) {
  std::vector<float> m(static_cast<size_t>(rows * d));
  const float scale = in.PickValueInArray({1.0f, 0.125f, 0.001f, 1000.0f});
  for (float &v : m) {
    int8_t b = in.ConsumeIntegral<int8_t>();
    switch (kind) {
      case Values::kSmallIntegers: v = static_cast<float>(b % 4); break;
      case Values::kScaled: v = static_cast<float>(b) * scale; break;
      case Values::kNonFinite:
        v = in.PickValueInArray({0.0f, -0.0f, 1.0f, -2.5f, std::numeric_limits<float>::infinity(),
                                 -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::quiet_NaN(), static_cast<float>(b)});
        break;
    }
  }
  return m;
}

std::vector<int32_t> labels(FuzzedDataProvider &in, int64_t n) {
  int classes = in.ConsumeIntegralInRange<int>(1, 6);
  std::vector<int32_t> l(static_cast<size_t>(n));
  for (auto &x : l) x = in.ConsumeIntegralInRange<int>(0, classes - 1) - (classes == 6 ? 3 : 0);  // negatives too
  return l;
}

R4J_NO_COVERAGE double ref_dist(const float *a, const float *b, int64_t d, int metric) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t k = 0; k < d; ++k) {
    dot += double(a[k]) * b[k];
    na += double(a[k]) * a[k];
    nb += double(b[k]) * b[k];
  }
  if (metric == R4J_COSINE) return (na == 0 || nb == 0) ? 1.0 : 1.0 - dot / (std::sqrt(na) * std::sqrt(nb));
  double sq = 0;
  for (int64_t k = 0; k < d; ++k) sq += (double(a[k]) - b[k]) * (double(a[k]) - b[k]);
  return metric == R4J_EUCLIDEAN ? std::sqrt(sq) : sq;
}

// Float rounding allowance for one distance: the kernels form |a|^2 + |b|^2 - 2 a.b in float32.
R4J_NO_COVERAGE double tolerance(const float *a, const float *b, int64_t d, int metric) {
  if (metric == R4J_COSINE) return 1e-4;
  double na = 0, nb = 0;
  for (int64_t k = 0; k < d; ++k) {
    na += double(a[k]) * a[k];
    nb += double(b[k]) * b[k];
  }
  double sq_tol = 1e-5 * (na + nb) + 1e-6;
  return metric == R4J_EUCLIDEAN ? std::sqrt(sq_tol) : sq_tol;
}

bool near(double got, double ref, double tol) { return std::fabs(got - ref) <= tol; }

// Checks one row of a top-k answer against reference distances ref[0..cols).
R4J_NO_COVERAGE void check_topk_row(const char *fn, const float *val, const int32_t *idx, int64_t k, const std::vector<double> &ref,
                    const std::vector<double> &tol, bool exact) {
  const int64_t cols = static_cast<int64_t>(ref.size());
  std::vector<char> taken(static_cast<size_t>(cols), 0);
  for (int64_t j = 0; j < k; ++j) {
    REQUIRE(idx[j] >= 0 && idx[j] < cols, fn, j, idx[j]);
    REQUIRE(!taken[idx[j]], fn, j, idx[j]);
    taken[idx[j]] = 1;
    if (exact) REQUIRE(val[j] == static_cast<float>(ref[idx[j]]), fn, j, idx[j]);
    else REQUIRE(near(val[j], ref[idx[j]], tol[idx[j]]), fn, j, idx[j]);
    if (j > 0) {
      REQUIRE(val[j - 1] <= val[j], fn, j, idx[j]);
      if (val[j - 1] == val[j] && exact) REQUIRE(idx[j - 1] < idx[j], fn, j, idx[j]);
    }
  }
  if (k == 0) return;
  const double last = val[k - 1];
  for (int64_t c = 0; c < cols; ++c) {
    if (taken[c]) continue;
    if (exact) {
      const float v = static_cast<float>(ref[c]);
      REQUIRE(v > last || (v == last && c > idx[k - 1]), fn, c, idx[k - 1]);
    } else {
      REQUIRE(ref[c] >= last - 2 * tol[c], fn, c, k);
    }
  }
}

void run_pairwise(FuzzedDataProvider &in, const Backend &be, int64_t nq, int64_t ng, int64_t d, int metric,
                  Values kind) {
  auto q = matrix(in, nq, d, kind), g = matrix(in, ng, d, kind);
  std::vector<float> out(static_cast<size_t>(nq * ng), -7.0f);
  int st = be.pairwise(q.data(), nq, g.data(), ng, d, metric, out.data());
  REQUIRE(st == R4J_OK, "pairwise", st, 0);
  if (kind == Values::kNonFinite) return;
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < ng; ++j) {
      const float *a = &q[i * d], *b = &g[j * d];
      REQUIRE(near(out[i * ng + j], ref_dist(a, b, d, metric), tolerance(a, b, d, metric)), "pairwise", i, j);
    }
}

void run_topk(FuzzedDataProvider &in, const Backend &be, int64_t rows, int64_t cols, int64_t k) {
  std::vector<float> dist(static_cast<size_t>(rows * cols));
  // Any finite values, ties, -0 beside 0, and infinities (allowed: only NaN is not).
  for (float &v : dist)
    v = in.PickValueInArray({0.0f, -0.0f, 1.0f, 1.0f, -3.0f, 2.5e-39f, 3.0e38f,
                             std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                             static_cast<float>(in.ConsumeIntegral<int16_t>()) / 64.0f});
  std::vector<float> val(static_cast<size_t>(rows * k));
  std::vector<int32_t> idx(static_cast<size_t>(rows * k));
  int st = be.topk(dist.data(), rows, cols, k, val.data(), idx.data());
  REQUIRE(st == R4J_OK, "topk", st, 0);
  for (int64_t i = 0; i < rows; ++i) {
    std::vector<double> ref(dist.begin() + i * cols, dist.begin() + (i + 1) * cols);
    check_topk_row("topk", val.data() + i * k, idx.data() + i * k, k, ref, std::vector<double>(cols, 0.0), true);
  }
}

void run_pairwise_topk(FuzzedDataProvider &in, const Backend &be, int64_t nq, int64_t ng, int64_t d, int metric,
                       int64_t k, Values kind) {
  auto q = matrix(in, nq, d, kind), g = matrix(in, ng, d, kind);
  std::vector<float> val(static_cast<size_t>(nq * k));
  std::vector<int32_t> idx(static_cast<size_t>(nq * k));
  int st = be.pairwise_topk(q.data(), nq, g.data(), ng, d, metric, k, val.data(), idx.data());
  REQUIRE(st == R4J_OK, "pairwise_topk", st, 0);
  // The lists with row maxima (a CPU kernel), checked against the same reference rows.
  const bool with_max = &be == &kCpu;
  std::vector<float> val2(val.size()), mx(static_cast<size_t>(nq));
  std::vector<int32_t> idx2(idx.size());
  if (with_max) {
    st = r4j_cpu_pairwise_topk_max(q.data(), nq, g.data(), ng, d, metric, k, val2.data(), idx2.data(), mx.data());
    REQUIRE(st == R4J_OK, "pairwise_topk_max", st, 0);
    // The same lists, bit for bit, from a resident memory holding g from row0 on, with rows before
    // row0 and past it that copy the first query (the nearest possible rows: they must never appear).
    const int64_t row0 = (ng % 2) * R4J_CPU_MEMORY_ROW_ALIGN, cap = row0 + ng + ng % 3;
    void *h = nullptr;
    st = r4j_cpu_memory_create(cap, d, metric, &h);
    REQUIRE(st == R4J_OK && h != nullptr, "memory_create", st, cap);
    st = r4j_cpu_memory_write(h, row0, g.data(), ng);
    REQUIRE(st == R4J_OK, "memory_write", st, ng);
    for (int64_t r = 0; r < cap && nq > 0; ++r)
      if (r < row0 || r >= row0 + ng) REQUIRE(r4j_cpu_memory_write(h, r, q.data(), 1) == R4J_OK, "memory_write", r, 1);
    std::vector<float> val3(val.size());
    std::vector<int32_t> idx3(idx.size());
    st = r4j_cpu_memory_topk(h, row0, ng, q.data(), nq, k, val3.data(), idx3.data());
    REQUIRE(st == R4J_OK, "memory_topk", st, 0);
    for (size_t j = 0; j < val.size(); ++j)
      REQUIRE(std::memcmp(&val3[j], &val[j], sizeof(float)) == 0 && idx3[j] == idx[j], "memory_topk", (long long)j, idx3[j]);
    r4j_cpu_memory_free(h);
    // The lists of all N = nq + ng items from the symmetric pass, in steps of a fuzzed size: bit for
    // bit those of pairwise_topk_max of every item against all (indices in range on non-finite input).
    const int64_t n = nq + ng;
    if (n > 0) {
      const int64_t kn = std::max<int64_t>(1, std::min(k, n));
      std::vector<float> all(q.begin(), q.begin() + nq * d);
      all.insert(all.end(), g.begin(), g.begin() + ng * d);
      std::vector<float> wv(static_cast<size_t>(n * kn)), wm(static_cast<size_t>(n)), kv(wv.size()), km(wm.size());
      std::vector<int32_t> wi(wv.size()), ki(wv.size());
      st = r4j_cpu_pairwise_topk_max(all.data(), n, all.data(), n, d, metric, kn, wv.data(), wi.data(), wm.data());
      REQUIRE(st == R4J_OK, "pairwise_topk_max (all items)", st, kn);
      st = r4j_cpu_knn_create(q.data(), nq, g.data(), ng, d, metric, kn, &h);
      REQUIRE(st == R4J_OK && h != nullptr, "knn_create", st, kn);
      const int64_t step = in.ConsumeIntegralInRange<int64_t>(-1, 40);
      int64_t done = 0, total = 1, before = -1;
      while (done < total) {
        st = r4j_cpu_knn_run(h, step, &done, &total);
        REQUIRE(st == R4J_OK && done > before && done <= total, "knn_run", done, total);
        before = done;
      }
      st = r4j_cpu_knn_result(h, kv.data(), ki.data(), km.data());
      REQUIRE(st == R4J_OK, "knn_result", st, 0);
      r4j_cpu_knn_free(h);
      for (size_t j = 0; j < ki.size(); ++j) {
        REQUIRE(ki[j] >= 0 && ki[j] < n, "knn index", (long long)j, ki[j]);
        if (kind != Values::kNonFinite)
          REQUIRE(std::memcmp(&kv[j], &wv[j], sizeof(float)) == 0 && ki[j] == wi[j], "knn list", (long long)j, ki[j]);
      }
      if (kind != Values::kNonFinite)
        REQUIRE(std::memcmp(km.data(), wm.data(), sizeof(float) * n) == 0, "knn row max", n, 0);
      // The two sides' lists against each other: bit for bit pairwise_topk_max(q, g) and (g, q).
      const int64_t ka = std::min(kn, ng), kb = std::min(kn, nq);
      std::vector<float> av(static_cast<size_t>(nq * ka + 1)), am(static_cast<size_t>(nq + 1)),
          bv(static_cast<size_t>(ng * kb + 1)), bm(static_cast<size_t>(ng + 1)), rav(av.size()), ram(am.size()),
          rbv(bv.size()), rbm(bm.size());
      std::vector<int32_t> ai(av.size()), bi(bv.size()), rai(av.size()), rbi(bv.size());
      st = r4j_cpu_knn_pair(q.data(), nq, g.data(), ng, d, metric, kn, av.data(), ai.data(), am.data(), bv.data(),
                            bi.data(), bm.data());
      REQUIRE(st == R4J_OK, "knn_pair", st, kn);
      REQUIRE(r4j_cpu_pairwise_topk_max(q.data(), nq, g.data(), ng, d, metric, ka, rav.data(), rai.data(),
                                        ram.data()) == R4J_OK, "pairwise_topk_max (q, g)", nq, ng);
      REQUIRE(r4j_cpu_pairwise_topk_max(g.data(), ng, q.data(), nq, d, metric, kb, rbv.data(), rbi.data(),
                                        rbm.data()) == R4J_OK, "pairwise_topk_max (g, q)", ng, nq);
      for (int64_t j = 0; j < nq * ka; ++j) {
        REQUIRE(ai[j] >= 0 && ai[j] < ng, "knn_pair a index", (long long)j, ai[j]);
        if (kind != Values::kNonFinite)
          REQUIRE(std::memcmp(&av[j], &rav[j], sizeof(float)) == 0 && ai[j] == rai[j], "knn_pair a list", (long long)j, ai[j]);
      }
      for (int64_t j = 0; j < ng * kb; ++j) {
        REQUIRE(bi[j] >= 0 && bi[j] < nq, "knn_pair b index", (long long)j, bi[j]);
        if (kind != Values::kNonFinite)
          REQUIRE(std::memcmp(&bv[j], &rbv[j], sizeof(float)) == 0 && bi[j] == rbi[j], "knn_pair b list", (long long)j, bi[j]);
      }
      if (kind != Values::kNonFinite)
        REQUIRE(std::memcmp(am.data(), ram.data(), sizeof(float) * nq) == 0 &&
                    std::memcmp(bm.data(), rbm.data(), sizeof(float) * ng) == 0, "knn_pair row max", nq, ng);
    }
  }
  for (int64_t i = 0; i < nq; ++i) {
    if (with_max && ng == 0) REQUIRE(std::isinf(mx[i]) && mx[i] < 0, "pairwise_topk_max empty row max", i, 0);
    if (kind == Values::kNonFinite) {
      for (int64_t j = 0; j < k; ++j) {
        REQUIRE(idx[i * k + j] >= 0 && idx[i * k + j] < ng, "pairwise_topk", i, j);
        if (with_max) REQUIRE(idx2[i * k + j] >= 0 && idx2[i * k + j] < ng, "pairwise_topk_max", i, j);
      }
      continue;
    }
    std::vector<double> ref(static_cast<size_t>(ng)), tol(static_cast<size_t>(ng));
    double ref_max = -INFINITY, tol_max = 0;
    for (int64_t j = 0; j < ng; ++j) {
      ref[j] = ref_dist(&q[i * d], &g[j * d], d, metric);
      tol[j] = tolerance(&q[i * d], &g[j * d], d, metric);
      ref_max = std::max(ref_max, ref[j]);
      tol_max = std::max(tol_max, tol[j]);
    }
    check_topk_row("pairwise_topk", val.data() + i * k, idx.data() + i * k, k, ref, tol, false);
    if (!with_max || ng == 0) continue;
    check_topk_row("pairwise_topk_max", val2.data() + i * k, idx2.data() + i * k, k, ref, tol, false);
    REQUIRE(std::fabs(mx[i] - ref_max) <= tol_max, "pairwise_topk_max row max", i, 0);
  }
}

// One anchor's batch-hard answer against the reference; `self` is the excluded index (-1: none).
R4J_NO_COVERAGE void check_mining(const char *fn, const float *a, int32_t la, const std::vector<float> &m, const std::vector<int32_t> &lm,
                  int64_t d, int metric, int64_t self, int32_t pi, float pd, int32_t ni, float nd, bool finite) {
  const int64_t n = static_cast<int64_t>(lm.size());
  bool any_pos = false, any_neg = false;
  double best_pos = -1, best_neg = std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    if (j == self) continue;
    double dj = ref_dist(a, &m[j * d], d, metric);
    if (lm[j] == la) any_pos = true, best_pos = std::max(best_pos, dj);
    else any_neg = true, best_neg = std::min(best_neg, dj);
  }
  REQUIRE(pi >= -1 && pi < n && ni >= -1 && ni < n, fn, pi, ni);
  if (!finite) return;
  REQUIRE((pi == -1) == !any_pos, fn, pi, any_pos);
  REQUIRE((ni == -1) == !any_neg, fn, ni, any_neg);
  if (pi == -1) REQUIRE(std::isnan(pd), fn, pi, 0);
  if (ni == -1) REQUIRE(std::isnan(nd), fn, ni, 0);
  if (pi >= 0) {
    REQUIRE(pi != self && lm[pi] == la, fn, pi, self);
    double t = tolerance(a, &m[pi * d], d, metric);
    REQUIRE(near(pd, ref_dist(a, &m[pi * d], d, metric), t), fn, pi, 1);
    REQUIRE(ref_dist(a, &m[pi * d], d, metric) >= best_pos - 2 * t, fn, pi, 2);
  }
  if (ni >= 0) {
    REQUIRE(lm[ni] != la, fn, ni, la);
    double t = tolerance(a, &m[ni * d], d, metric);
    REQUIRE(near(nd, ref_dist(a, &m[ni * d], d, metric), t), fn, ni, 1);
    REQUIRE(ref_dist(a, &m[ni * d], d, metric) <= best_neg + 2 * t, fn, ni, 2);
  }
}

void run_batch_hard(FuzzedDataProvider &in, const Backend &be, int64_t n, int64_t d, int metric, Values kind) {
  auto x = matrix(in, n, d, kind);
  auto l = labels(in, n);
  std::vector<int32_t> pi(static_cast<size_t>(n)), ni(static_cast<size_t>(n));
  std::vector<float> pd(static_cast<size_t>(n)), nd(static_cast<size_t>(n));
  int st = be.batch_hard(x.data(), l.data(), n, d, metric, pi.data(), pd.data(), ni.data(), nd.data());
  REQUIRE(st == R4J_OK, "batch_hard", st, 0);
  for (int64_t i = 0; i < n; ++i)
    check_mining("batch_hard", &x[i * d], l[i], x, l, d, metric, i, pi[i], pd[i], ni[i], nd[i],
                 kind != Values::kNonFinite);
}

void run_batch_hard_memory(FuzzedDataProvider &in, const Backend &be, int64_t na, int64_t nm, int64_t d, int metric,
                           Values kind) {
  auto a = matrix(in, na, d, kind), m = matrix(in, nm, d, kind);
  auto la = labels(in, na), lm = labels(in, nm);
  std::vector<int32_t> pi(static_cast<size_t>(na)), ni(static_cast<size_t>(na));
  std::vector<float> pd(static_cast<size_t>(na)), nd(static_cast<size_t>(na));
  int st = be.batch_hard_memory(a.data(), la.data(), na, m.data(), lm.data(), nm, d, metric, pi.data(), pd.data(),
                                ni.data(), nd.data());
  REQUIRE(st == R4J_OK, "batch_hard_memory", st, 0);
  for (int64_t i = 0; i < na; ++i)
    check_mining("batch_hard_memory", &a[i * d], la[i], m, lm, d, metric, -1, pi[i], pd[i], ni[i], nd[i],
                 kind != Values::kNonFinite);
}

void run_rerank(FuzzedDataProvider &in, const Backend &be, int64_t nq, int64_t ng, int64_t d, int metric, Values kind) {
  auto q = matrix(in, nq, d, kind), g = matrix(in, ng, d, kind);
  int32_t k1 = in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(1, 30) : in.ConsumeIntegralInRange<int32_t>(1, INT32_MAX);
  int32_t k2 = in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(1, 8) : in.ConsumeIntegralInRange<int32_t>(1, INT32_MAX);
  float lambda = in.PickValueInArray({0.0f, 0.3f, 1.0f, in.ConsumeFloatingPointInRange<float>(0.0f, 1.0f)});
  std::vector<float> out(static_cast<size_t>(nq * ng), -7.0f);
  int st = be.rerank(q.data(), nq, g.data(), ng, d, metric, k1, k2, lambda, out.data());
  REQUIRE(st == R4J_OK, "rerank", st, k1);
  if (kind == Values::kNonFinite) return;
  for (int64_t i = 0; i < nq * ng; ++i) REQUIRE(out[i] >= -1e-5f && out[i] <= 1.0f + 1e-5f, "rerank", i, k1);
}

// One invalid argument; the call must be refused with R4J_EINVAL and a message.
void run_invalid(FuzzedDataProvider &in, const Backend &be) {
  std::vector<float> buf(64, 1.0f), out(64);
  std::vector<int32_t> ibuf(64, 0), iout(64);
  const float *f = buf.data();
  const int32_t *l = ibuf.data();
  float *o = out.data();
  int32_t *io = iout.data();
  int64_t n = in.ConsumeIntegralInRange<int64_t>(1, 4), d = in.ConsumeIntegralInRange<int64_t>(1, 4);
  int metric = in.ConsumeIntegralInRange<int>(0, 2);
  const int which = in.ConsumeIntegralInRange<int>(0, 11);
  const int64_t bad_size = in.PickValueInArray<int64_t>({-1, INT64_MIN, -(int64_t(1) << 40)});
  int st = R4J_OK;
  const char *fn = "invalid";
  switch (which) {
    case 0: fn = "pairwise nq<0"; st = be.pairwise(f, bad_size, f, n, d, metric, o); break;
    case 1: fn = "pairwise d<1"; st = be.pairwise(f, n, f, n, in.ConsumeIntegralInRange<int64_t>(INT64_MIN, 0), metric, o); break;
    case 2: {
      fn = "pairwise metric";
      int m = in.ConsumeIntegral<int>();
      if (m >= 0 && m <= 2) m = 3;
      st = be.pairwise(f, n, f, n, d, m, o);
      break;
    }
    case 3: fn = "pairwise null g"; st = be.pairwise(f, n, nullptr, n, d, metric, o); break;
    case 4: fn = "pairwise null out"; st = be.pairwise(f, n, f, n, d, metric, nullptr); break;
    case 5: {
      fn = "topk k";
      int64_t k = in.ConsumeBool() ? n + in.ConsumeIntegralInRange<int64_t>(1, INT32_MAX) : -in.ConsumeIntegralInRange<int64_t>(1, INT64_MAX);
      st = be.topk(f, n, n, k, o, io);
      break;
    }
    case 6: fn = "pairwise_topk k"; st = be.pairwise_topk(f, n, f, n, d, metric, n + 1, o, io); break;
    case 7: fn = "batch_hard null labels"; st = be.batch_hard(f, nullptr, n, d, metric, io, o, io, o); break;
    case 8: fn = "batch_hard_memory nm<0"; st = be.batch_hard_memory(f, l, n, f, l, bad_size, d, metric, io, o, io, o); break;
    case 9: fn = "rerank k1"; st = be.rerank(f, n, f, n, d, metric, -in.ConsumeIntegralInRange<int32_t>(0, INT32_MAX), 1, 0.3f, o); break;
    case 10: fn = "rerank k2"; st = be.rerank(f, n, f, n, d, metric, 2, -in.ConsumeIntegralInRange<int32_t>(0, INT32_MAX), 0.3f, o); break;
    case 11: {
      fn = "rerank lambda";
      float lambda = in.PickValueInArray({-0.01f, 1.01f, std::numeric_limits<float>::quiet_NaN(),
                                          std::numeric_limits<float>::infinity(), -1e30f});
      st = be.rerank(f, n, f, n, d, metric, 2, 1, lambda, o);
      break;
    }
  }
  REQUIRE(st == R4J_EINVAL, fn, st, which);
  REQUIRE(std::strlen(r4j_last_error()) > 0, fn, st, which);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const char *only = std::getenv("R4J_FUZZ_BACKEND");  // "cpu" or "cuda": one backend only
  bool cuda = r4j_cuda_compiled() && in.ConsumeBool();
  if (only != nullptr && std::strcmp(only, "cpu") == 0) cuda = false;
  if (only != nullptr && std::strcmp(only, "cuda") == 0) cuda = r4j_cuda_compiled();
  const Backend &be = cuda ? kCuda : kCpu;
  r4j_cpu_set_threads(in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 2 : 1);
  if (cuda) {  // scratch budgets that force the CUDA kernels to work in chunks (read at every call)
    const char *budget = in.PickValueInArray({"4096", "65536", "1048576", "16777216"});
    setenv("R4J_CUDA_CHUNK_BYTES", budget, 1);
    // The tensor-core pass with split operands is held to the same FP32 tolerances (plain TF32 is not).
    r4j_cuda_set_precision(in.PickValueInArray({R4J_FP32, R4J_FP32, R4J_TF32X3}));
  }
  const int op = in.ConsumeIntegralInRange<int>(0, 6);
  if (op == 6) {
    run_invalid(in, be);
    return 0;
  }
  // Mostly small shapes (fast, many ties); sometimes past the kernels' tile, block and SIMD widths
  // (fewer rows on the emulated CUDA backend, which runs every block's threads one after another).
  const bool big = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const int64_t max_rows = big ? (cuda ? 140 : 300) : 12, max_d = big ? 97 : 19;
  const int64_t nq = in.ConsumeIntegralInRange<int64_t>(0, max_rows);
  const int64_t ng = in.ConsumeIntegralInRange<int64_t>(0, max_rows);
  const int64_t d = in.ConsumeIntegralInRange<int64_t>(1, max_d);
  const int metric = in.ConsumeIntegralInRange<int>(0, 2);
  const Values kind = in.PickValueInArray({Values::kSmallIntegers, Values::kScaled, Values::kScaled, Values::kNonFinite});
  switch (op) {
    case 0: run_pairwise(in, be, nq, ng, d, metric, kind); break;
    case 1: run_topk(in, be, nq, ng, in.ConsumeIntegralInRange<int64_t>(0, ng)); break;
    case 2: run_pairwise_topk(in, be, nq, ng, d, metric, in.ConsumeIntegralInRange<int64_t>(0, ng), kind); break;
    case 3: run_batch_hard(in, be, nq, d, metric, kind); break;
    case 4: run_batch_hard_memory(in, be, nq, ng, d, metric, kind); break;
    case 5: run_rerank(in, be, big ? std::min<int64_t>(nq, 40) : nq, big ? std::min<int64_t>(ng, 60) : ng, d, metric, kind);
      break;
  }
  return 0;
}
