// Test driver for r4j_cpu_rerank: compares against a dense, double-precision transcription of the
// k-reciprocal re-ranking definition (N x N matrices, full sorts by (value, index)) on fresh random
// inputs. Exit status 0 when everything passes. Usage: test_cpu_rerank [seed]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "reid4j.h"

namespace {

uint64_t g_seed = 0;
int g_failures = 0;
int g_cases = 0;
int g_rejected = 0;

#define EXPECT(cond, ...)                                                  \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ++g_failures;                                                        \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                     \
      std::printf(__VA_ARGS__);                                            \
      std::printf("  (seed %llu)\n", static_cast<unsigned long long>(g_seed)); \
    }                                                                      \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Reference, straight from the definition.
struct Ref {
  int64_t n = 0;
  std::vector<double> orig;             // N x N, original distance
  std::vector<std::vector<int>> rank;   // full initial ranking per row
  std::vector<double> out;              // nq x ng
};

double ref_dist(const float *a, const float *b, int64_t d, int metric) {
  if (metric == R4J_COSINE) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t k = 0; k < d; ++k) {
      dot += double(a[k]) * b[k];
      na += double(a[k]) * a[k];
      nb += double(b[k]) * b[k];
    }
    if (na == 0 || nb == 0) return 1.0;
    return 1.0 - dot / (std::sqrt(na) * std::sqrt(nb));
  }
  double s = 0;
  for (int64_t k = 0; k < d; ++k) {
    const double t = double(a[k]) - b[k];
    s += t * t;
  }
  return metric == R4J_EUCLIDEAN ? std::sqrt(s) : s;
}

// Items j in the first k+1 of i's ranking that have i in their own first k+1 (lists cut at N).
std::vector<int> k_reciprocal(const Ref &r, int i, int k) {
  const int len = static_cast<int>(std::min<int64_t>(r.n, int64_t(k) + 1));
  std::vector<int> res;
  for (int t = 0; t < len; ++t) {
    const int f = r.rank[i][t];
    for (int u = 0; u < len; ++u)
      if (r.rank[f][u] == i) {
        res.push_back(f);
        break;
      }
  }
  return res;
}

Ref reference(const std::vector<float> &q, int64_t nq, const std::vector<float> &g, int64_t ng,
              int64_t d, int metric, int k1, int k2, double lambda) {
  Ref r;
  const int64_t n = nq + ng;
  r.n = n;
  std::vector<const float *> rows(n);
  for (int64_t i = 0; i < nq; ++i) rows[i] = q.data() + i * d;
  for (int64_t i = 0; i < ng; ++i) rows[nq + i] = g.data() + i * d;
  std::vector<double> dist(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) dist[i * n + j] = ref_dist(rows[i], rows[j], d, metric);
  // original = D / column max, transposed; a column max <= 0 is replaced by 1.
  r.orig.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double mx = -INFINITY;
    for (int64_t k = 0; k < n; ++k) mx = std::max(mx, dist[k * n + i]);
    if (!(mx > 0)) mx = 1.0;
    for (int64_t j = 0; j < n; ++j) r.orig[i * n + j] = dist[j * n + i] / mx;
  }
  r.rank.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int> idx(n);
    for (int64_t j = 0; j < n; ++j) idx[j] = static_cast<int>(j);
    const double *o = &r.orig[i * n];
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return o[a] < o[b] || (o[a] == o[b] && a < b); });
    r.rank[i] = idx;
  }
  const int half = static_cast<int>(std::nearbyint(k1 / 2.0));  // round half to even
  std::vector<double> v(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int> ri = k_reciprocal(r, static_cast<int>(i), k1);
    std::vector<int> exp = ri;
    for (int c : ri) {
      const std::vector<int> rc = k_reciprocal(r, c, half);
      int inter = 0;
      for (int f : rc) inter += std::count(ri.begin(), ri.end(), f) > 0;
      if (inter > 2.0 / 3.0 * rc.size()) exp.insert(exp.end(), rc.begin(), rc.end());
    }
    std::sort(exp.begin(), exp.end());
    exp.erase(std::unique(exp.begin(), exp.end()), exp.end());
    double sum = 0;
    for (int j : exp) sum += std::exp(-r.orig[i * n + j]);
    for (int j : exp) v[i * n + j] = std::exp(-r.orig[i * n + j]) / sum;
  }
  if (k2 != 1) {
    const int64_t kq = std::min<int64_t>(n, k2);
    std::vector<double> vq(n * n, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < kq; ++t)
        for (int64_t c = 0; c < n; ++c) vq[i * n + c] += v[r.rank[i][t] * n + c] / kq;
    v.swap(vq);
  }
  r.out.assign(nq * ng, 0.0);
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < ng; ++j) {
      double s = 0;
      for (int64_t c = 0; c < n; ++c) s += std::min(v[i * n + c], v[(nq + j) * n + c]);
      const double jac = 1.0 - s / (2.0 - s);
      r.out[i * ng + j] = (1.0 - lambda) * jac + lambda * r.orig[i * n + nq + j];
    }
  return r;
}

// True when some ranking has two different (not exactly equal) values closer than tol (in units
// of the row maximum) right at a position where the neighbour sets are cut: there float rounding
// may legitimately reorder, so such an input is redrawn. Exact ties (copies) are fine.
bool near_tie(const Ref &r, int k1, int k2, double tol) {
  const int half = static_cast<int>(std::nearbyint(k1 / 2.0));
  const int64_t cuts[3] = {int64_t(k1) + 1, int64_t(half) + 1, int64_t(k2)};
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t p : cuts) {
      if (p <= 0 || p >= r.n) continue;
      const double a = r.orig[i * r.n + r.rank[i][p - 1]], b = r.orig[i * r.n + r.rank[i][p]];
      if (b != a && b - a < tol) return true;
    }
  return false;
}

// ---------------------------------------------------------------------------------------------
std::mt19937_64 g_rng;

std::vector<float> gaussian(int64_t rows, int64_t d) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(rows * d);
  for (float &v : x) v = nd(g_rng);
  return x;
}

const char *metric_name(int m) { return m == 0 ? "sqeuclidean" : m == 1 ? "euclidean" : "cosine"; }

// Runs one case; returns false when it hit a near tie (caller redraws).
bool compare_case(const char *what, const std::vector<float> &q, int64_t nq, const std::vector<float> &g,
                  int64_t ng, int64_t d, int metric, int k1, int k2, float lambda, int threads,
                  bool check_ties = true) {
  const Ref r = reference(q, nq, g, ng, d, metric, k1, k2, lambda);
  if (check_ties && near_tie(r, k1, k2, 3e-6)) {
    ++g_rejected;
    return false;
  }
  ++g_cases;
  r4j_cpu_set_threads(threads);
  std::vector<float> out(std::max<int64_t>(1, nq * ng), -7.f);
  const int st = r4j_cpu_rerank(nq ? q.data() : nullptr, nq, ng ? g.data() : nullptr, ng, d, metric, k1,
                                k2, lambda, out.data());
  EXPECT(st == R4J_OK, "%s: status %d (%s)", what, st, r4j_last_error());
  if (st != R4J_OK) return true;
  double worst = 0;
  int64_t at = -1;
  for (int64_t t = 0; t < nq * ng; ++t) {
    const double e = std::fabs(double(out[t]) - r.out[t]);
    if (!(e <= worst)) {
      worst = e;
      at = t;
    }
  }
  EXPECT(worst <= 1e-5, "%s: nq=%lld ng=%lld d=%lld %s k1=%d k2=%d lambda=%g threads=%d: max error %.3g at (%lld, %lld): got %.8f want %.8f",
         what, (long long)nq, (long long)ng, (long long)d, metric_name(metric), k1, k2, lambda, threads, worst,
         (long long)(at / std::max<int64_t>(ng, 1)), (long long)(at % std::max<int64_t>(ng, 1)),
         at >= 0 ? out[at] : 0.0, at >= 0 ? r.out[at] : 0.0);
  // Same result, bit for bit, with other thread counts.
  for (int t2 : {1, 2, 3}) {
    if (t2 == threads) continue;
    r4j_cpu_set_threads(t2);
    std::vector<float> o2(out.size(), -9.f);
    const int st2 = r4j_cpu_rerank(nq ? q.data() : nullptr, nq, ng ? g.data() : nullptr, ng, d, metric, k1,
                                   k2, lambda, o2.data());
    EXPECT(st2 == R4J_OK && std::memcmp(o2.data(), out.data(), sizeof(float) * nq * ng) == 0,
           "%s: result with %d threads differs from %d threads", what, t2, threads);
    break;
  }
  r4j_cpu_set_threads(0);
  return true;
}

// Draws Gaussian inputs until the reference has no near tie at a cut, then compares.
void random_case(int64_t nq, int64_t ng, int64_t d, int metric, int k1, int k2, float lambda, int threads) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
    if (compare_case("random", q, nq, g, ng, d, metric, k1, k2, lambda, threads)) return;
  }
  EXPECT(false, "could not draw a tie-free input for nq=%lld ng=%lld d=%lld", (long long)nq, (long long)ng,
         (long long)d);
}

void test_random() {
  struct Shape {
    int64_t nq, ng, d;
  };
  const Shape shapes[] = {{1, 1, 3}, {2, 5, 4}, {7, 13, 8}, {30, 70, 16}, {60, 240, 33},
                          {100, 200, 12}, {3, 290, 5}, {1, 40, 7}, {25, 1, 6}, {45, 111, 64}};
  const int k1s[] = {1, 2, 5, 7, 20};
  const int k2s[] = {1, 3, 6};
  const float lambdas[] = {0.f, 0.3f, 1.f};
  int c = 0;
  for (int metric = 0; metric < 3; ++metric)
    for (int k1 : k1s)
      for (int k2 : k2s) {
        const Shape &s = shapes[(c * 7 + metric) % 10];
        const float lambda = lambdas[c % 3];
        random_case(s.nq, s.ng, s.d, metric, k1, k2, lambda, 1 + c % 3);
        ++c;
      }
  // The usual setting on a larger case.
  random_case(90, 210, 24, R4J_EUCLIDEAN, 20, 6, 0.3f, 2);
  random_case(90, 210, 24, R4J_COSINE, 20, 6, 0.3f, 2);
}

// Exact copies: prototype rows repeated, so many distances tie exactly (in float as in double).
void test_duplicates() {
  for (int metric = 0; metric < 3; ++metric)
    for (int k1 : {2, 5, 20})
      for (int k2 : {1, 3, 6}) {
        bool done = false;
        for (int attempt = 0; attempt < 50 && !done; ++attempt) {
          const int64_t nq = 20 + attempt % 3, ng = 60, d = 8, np = 17;
          const std::vector<float> proto = gaussian(np, d);
          std::uniform_int_distribution<int> pick(0, np - 1);
          std::vector<float> q(nq * d), g(ng * d);
          for (int64_t i = 0; i < nq; ++i) std::memcpy(&q[i * d], &proto[pick(g_rng) * d], sizeof(float) * d);
          for (int64_t i = 0; i < ng; ++i) std::memcpy(&g[i * d], &proto[pick(g_rng) * d], sizeof(float) * d);
          done = compare_case("duplicates", q, nq, g, ng, d, metric, k1, k2, 0.3f, 1 + attempt % 2);
        }
        EXPECT(done, "duplicates: no tie-free draw");
      }
}

// Small integer features: squared distances are exact in float, with many exact ties between
// different rows; plus all-identical rows (row maximum 0) and all-zero rows (cosine distance 1).
void test_integer_ties() {
  std::uniform_int_distribution<int> v3(-1, 1);
  for (int metric : {R4J_SQEUCLIDEAN, R4J_EUCLIDEAN})
    for (int k1 : {1, 2, 5, 7, 20})
      for (int k2 : {1, 3, 6}) {
        const int64_t nq = 15, ng = 50, d = 3;
        std::vector<float> q(nq * d), g(ng * d);
        for (float &x : q) x = float(v3(g_rng));
        for (float &x : g) x = float(v3(g_rng));
        compare_case("integer ties", q, nq, g, ng, d, metric, k1, k2, 0.3f, 2, false);
      }
  for (int metric = 0; metric < 3; ++metric) {
    const int64_t nq = 4, ng = 9, d = 5;
    std::vector<float> q(nq * d, metric == R4J_COSINE ? 0.f : 2.f), g(ng * d, metric == R4J_COSINE ? 0.f : 2.f);
    compare_case("identical rows", q, nq, g, ng, d, metric, 3, 3, 0.5f, 2, false);
  }
  // One zero row among others (cosine distance 1 to everything, itself included).
  {
    const int64_t nq = 5, ng = 30, d = 6;
    for (int attempt = 0; attempt < 50; ++attempt) {
      std::vector<float> q = gaussian(nq, d), g = gaussian(ng, d);
      std::fill(q.begin() + 2 * d, q.begin() + 3 * d, 0.f);
      std::fill(g.begin() + 7 * d, g.begin() + 8 * d, 0.f);
      if (compare_case("zero row", q, nq, g, ng, d, R4J_COSINE, 5, 3, 0.3f, 2)) break;
    }
  }
}

void test_empty() {
  for (int metric = 0; metric < 3; ++metric) {
    const std::vector<float> g = gaussian(10, 4), q = gaussian(3, 4);
    float sentinel = 42.f;
    EXPECT(r4j_cpu_rerank(nullptr, 0, g.data(), 10, 4, metric, 20, 6, 0.3f, nullptr) == R4J_OK, "nq=0: %s", r4j_last_error());
    EXPECT(r4j_cpu_rerank(q.data(), 3, nullptr, 0, 4, metric, 20, 6, 0.3f, nullptr) == R4J_OK, "ng=0: %s", r4j_last_error());
    EXPECT(r4j_cpu_rerank(nullptr, 0, nullptr, 0, 4, metric, 20, 6, 0.3f, &sentinel) == R4J_OK && sentinel == 42.f,
           "nq=ng=0: %s", r4j_last_error());
  }
}

void expect_einval(int st, const char *what) {
  EXPECT(st == R4J_EINVAL, "%s: expected R4J_EINVAL, got %d", what, st);
  EXPECT(std::strlen(r4j_last_error()) > 0, "%s: no error message", what);
  if (st == R4J_EINVAL) std::printf("  ok (%s): %s\n", what, r4j_last_error());
}

void test_bad_args() {
  const std::vector<float> q = gaussian(3, 4), g = gaussian(5, 4);
  std::vector<float> out(15);
  expect_einval(r4j_cpu_rerank(nullptr, 3, g.data(), 5, 4, 0, 20, 6, 0.3f, out.data()), "null q");
  expect_einval(r4j_cpu_rerank(q.data(), 3, nullptr, 5, 4, 0, 20, 6, 0.3f, out.data()), "null g");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 20, 6, 0.3f, nullptr), "null out");
  expect_einval(r4j_cpu_rerank(q.data(), -1, g.data(), 5, 4, 0, 20, 6, 0.3f, out.data()), "negative nq");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), -5, 4, 0, 20, 6, 0.3f, out.data()), "negative ng");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 0, 0, 20, 6, 0.3f, out.data()), "d = 0");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 3, 20, 6, 0.3f, out.data()), "metric 3");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, -1, 20, 6, 0.3f, out.data()), "metric -1");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 0, 6, 0.3f, out.data()), "k1 = 0");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 20, 0, 0.3f, out.data()), "k2 = 0");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 20, 6, -0.1f, out.data()), "lambda < 0");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 20, 6, 1.5f, out.data()), "lambda > 1");
  expect_einval(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 20, 6, NAN, out.data()), "lambda NaN");
  expect_einval(r4j_cpu_rerank(q.data(), int64_t(1) << 31, g.data(), 5, 4, 0, 20, 6, 0.3f, out.data()), "nq >= 2^31");
  // A good call clears the message.
  EXPECT(r4j_cpu_rerank(q.data(), 3, g.data(), 5, 4, 0, 20, 6, 0.3f, out.data()) == R4J_OK &&
             std::strlen(r4j_last_error()) == 0,
         "good call after a bad one: '%s'", r4j_last_error());
}

// ---------------------------------------------------------------------------------------------
// r4j_cpu_knn_*: the lists of all N items, in steps, against r4j_cpu_pairwise_topk_max of every
// item against all N (bit for bit: the same distances, the same (value, index) order).
void knn_case(const char *what, const std::vector<float> &q, int64_t nq, const std::vector<float> &g, int64_t ng,
              int64_t d, int metric, int64_t k, int64_t max_tiles, int threads) {
  ++g_cases;
  const int64_t n = nq + ng;
  std::vector<float> all(q.begin(), q.begin() + nq * d);
  all.insert(all.end(), g.begin(), g.begin() + ng * d);
  r4j_cpu_set_threads(threads);
  std::vector<float> wv(n * k), wm(n), gv(n * k, -5.f), gm(n, -5.f);
  std::vector<int32_t> wi(n * k), gi(n * k, -5);
  int st = r4j_cpu_pairwise_topk_max(all.data(), n, all.data(), n, d, metric, k, wv.data(), wi.data(), wm.data());
  EXPECT(st == R4J_OK, "%s: reference status %d (%s)", what, st, r4j_last_error());
  void *h = nullptr;
  st = r4j_cpu_knn_create(nq ? q.data() : nullptr, nq, ng ? g.data() : nullptr, ng, d, metric, k, &h);
  EXPECT(st == R4J_OK && h != nullptr, "%s: create status %d (%s)", what, st, r4j_last_error());
  if (st != R4J_OK) return;
  int64_t done = -1, total = -1, before = 0, calls = 0;
  for (;;) {
    if (calls == 0)  // before the last band, the result is refused
      EXPECT(r4j_cpu_knn_result(h, gv.data(), gi.data(), gm.data()) == R4J_EINVAL, "%s: result before run", what);
    st = r4j_cpu_knn_run(h, max_tiles, &done, &total);
    ++calls;
    EXPECT(st == R4J_OK, "%s: run status %d (%s)", what, st, r4j_last_error());
    EXPECT(done > before && done <= total, "%s: done %lld after %lld of %lld", what, (long long)done, (long long)before,
           (long long)total);
    if (st != R4J_OK || done <= before || done >= total) break;
    before = done;
  }
  if (max_tiles <= 0) EXPECT(calls == 1, "%s: max_tiles %lld took %lld calls", what, (long long)max_tiles, (long long)calls);
  if (max_tiles == 1) EXPECT(calls > 1 || n <= 64, "%s: one tile per call ran everything in one call", what);
  EXPECT(r4j_cpu_knn_run(h, max_tiles, &done, &total) == R4J_OK && done == total, "%s: run after the end", what);
  st = r4j_cpu_knn_result(h, gv.data(), gi.data(), gm.data());
  EXPECT(st == R4J_OK, "%s: result status %d (%s)", what, st, r4j_last_error());
  EXPECT(std::memcmp(gv.data(), wv.data(), sizeof(float) * n * k) == 0, "%s: values differ (nq %lld ng %lld d %lld %s k %lld)",
         what, (long long)nq, (long long)ng, (long long)d, metric_name(metric), (long long)k);
  EXPECT(std::memcmp(gi.data(), wi.data(), sizeof(int32_t) * n * k) == 0, "%s: indices differ (nq %lld ng %lld d %lld %s k %lld)",
         what, (long long)nq, (long long)ng, (long long)d, metric_name(metric), (long long)k);
  EXPECT(std::memcmp(gm.data(), wm.data(), sizeof(float) * n) == 0, "%s: row maxima differ (nq %lld ng %lld %s)", what,
         (long long)nq, (long long)ng, metric_name(metric));
  r4j_cpu_knn_free(h);
  r4j_cpu_set_threads(0);
}

void test_knn() {
  struct Shape {
    int64_t nq, ng, d;
  };
  // Several bands (tiles of 64 to 512 rows), a band boundary inside the queries and at nq, empty parts.
  const Shape shapes[] = {{1, 0, 3}, {0, 1, 2}, {1, 1, 1}, {0, 7, 4}, {9, 0, 5}, {3, 17, 6}, {70, 130, 9},
                          {129, 67, 17}, {5, 700, 8}, {600, 333, 33}};
  int c = 0;
  for (const Shape &s : shapes)
    for (int metric = 0; metric < 3; ++metric) {
      const int64_t n = s.nq + s.ng;
      const int64_t ks[] = {1, std::min<int64_t>(n, 21), n};
      const std::vector<float> q = gaussian(s.nq, s.d), g = gaussian(s.ng, s.d);
      for (int64_t k : ks) {
        const int64_t steps[] = {0, 1, 3 + c % 50};
        knn_case("knn random", q, s.nq, g, s.ng, s.d, metric, k, steps[c % 3], 1 + c % 3);
        ++c;
      }
    }
  // Exact ties: small integer features and repeated rows.
  std::uniform_int_distribution<int> v3(-1, 1);
  for (int metric : {R4J_SQEUCLIDEAN, R4J_EUCLIDEAN}) {
    const int64_t nq = 150, ng = 400, d = 3;
    std::vector<float> q(nq * d), g(ng * d);
    for (float &x : q) x = float(v3(g_rng));
    for (float &x : g) x = float(v3(g_rng));
    knn_case("knn integer ties", q, nq, g, ng, d, metric, 25, 2, 2);
  }
  {
    const int64_t nq = 40, ng = 300, d = 6;
    std::vector<float> q(nq * d, 0.f), g(ng * d, 0.f);  // all zero: every cosine distance 1, every other 0
    for (int metric = 0; metric < 3; ++metric) knn_case("knn identical rows", q, nq, g, ng, d, metric, 7, 1, 2);
  }
  // Bad arguments.
  const std::vector<float> q = gaussian(3, 4), g = gaussian(5, 4);
  void *h = reinterpret_cast<void *>(1);
  expect_einval(r4j_cpu_knn_create(q.data(), 3, g.data(), 5, 4, 0, 0, &h), "knn k = 0");
  EXPECT(h == nullptr, "knn: failed create left a handle");
  expect_einval(r4j_cpu_knn_create(q.data(), 3, g.data(), 5, 4, 0, 9, &h), "knn k > N");
  expect_einval(r4j_cpu_knn_create(nullptr, 0, nullptr, 0, 4, 0, 1, &h), "knn N = 0");
  expect_einval(r4j_cpu_knn_create(nullptr, 3, g.data(), 5, 4, 0, 2, &h), "knn null q");
  expect_einval(r4j_cpu_knn_create(q.data(), 3, g.data(), 5, 0, 0, 2, &h), "knn d = 0");
  expect_einval(r4j_cpu_knn_create(q.data(), 3, g.data(), 5, 4, 3, 2, &h), "knn metric 3");
  expect_einval(r4j_cpu_knn_create(q.data(), 3, g.data(), 5, 4, 0, 2, nullptr), "knn null out");
  expect_einval(r4j_cpu_knn_run(nullptr, 0, nullptr, nullptr), "knn run null handle");
  expect_einval(r4j_cpu_knn_result(nullptr, nullptr, nullptr, nullptr), "knn result null handle");
  EXPECT(r4j_cpu_knn_create(q.data(), 3, g.data(), 5, 4, 0, 2, &h) == R4J_OK, "knn create: %s", r4j_last_error());
  float v[16], m[8];
  int32_t ix[16];
  expect_einval(r4j_cpu_knn_result(h, v, ix, m), "knn result before run");
  EXPECT(r4j_cpu_knn_run(h, 0, nullptr, nullptr) == R4J_OK, "knn run: %s", r4j_last_error());
  expect_einval(r4j_cpu_knn_result(h, nullptr, ix, m), "knn null out_val");
  EXPECT(r4j_cpu_knn_result(h, v, ix, m) == R4J_OK, "knn result: %s", r4j_last_error());
  r4j_cpu_knn_free(h);
  r4j_cpu_knn_free(nullptr);
}

// ---------------------------------------------------------------------------------------------
// r4j_cpu_knn_pair: both sides' lists against r4j_cpu_pairwise_topk_max(a, b) and (b, a), bit for bit
// (b's side is offered the transposed a x b tile, right only because the distances are symmetric).
void pair_case(const char *what, const std::vector<float> &a, int64_t na, const std::vector<float> &b, int64_t nb,
               int64_t d, int metric, int64_t k, int threads) {
  ++g_cases;
  r4j_cpu_set_threads(threads);
  const int64_t ka = std::min(k, nb), kb = std::min(k, na);
  std::vector<float> wav(na * ka + 1), wam(na + 1), wbv(nb * kb + 1), wbm(nb + 1);
  std::vector<int32_t> wai(na * ka + 1), wbi(nb * kb + 1);
  std::vector<float> gav(na * ka + 1, -5.f), gam(na + 1, -5.f), gbv(nb * kb + 1, -5.f), gbm(nb + 1, -5.f);
  std::vector<int32_t> gai(na * ka + 1, -5), gbi(nb * kb + 1, -5);
  const float *ap = na ? a.data() : nullptr, *bp = nb ? b.data() : nullptr;
  int st = r4j_cpu_pairwise_topk_max(ap, na, bp, nb, d, metric, ka, wav.data(), wai.data(), wam.data());
  EXPECT(st == R4J_OK, "%s: reference a status %d (%s)", what, st, r4j_last_error());
  st = r4j_cpu_pairwise_topk_max(bp, nb, ap, na, d, metric, kb, wbv.data(), wbi.data(), wbm.data());
  EXPECT(st == R4J_OK, "%s: reference b status %d (%s)", what, st, r4j_last_error());
  st = r4j_cpu_knn_pair(ap, na, bp, nb, d, metric, k, gav.data(), gai.data(), gam.data(), gbv.data(), gbi.data(),
                        gbm.data());
  EXPECT(st == R4J_OK, "%s: status %d (%s)", what, st, r4j_last_error());
  const char *m = metric_name(metric);
  EXPECT(std::memcmp(gav.data(), wav.data(), sizeof(float) * na * ka) == 0 &&
             std::memcmp(gai.data(), wai.data(), sizeof(int32_t) * na * ka) == 0,
         "%s: a's lists differ (na %lld nb %lld d %lld %s k %lld)", what, (long long)na, (long long)nb, (long long)d, m,
         (long long)k);
  EXPECT(std::memcmp(gbv.data(), wbv.data(), sizeof(float) * nb * kb) == 0 &&
             std::memcmp(gbi.data(), wbi.data(), sizeof(int32_t) * nb * kb) == 0,
         "%s: b's lists differ (na %lld nb %lld d %lld %s k %lld)", what, (long long)na, (long long)nb, (long long)d, m,
         (long long)k);
  EXPECT(std::memcmp(gam.data(), wam.data(), sizeof(float) * na) == 0 &&
             std::memcmp(gbm.data(), wbm.data(), sizeof(float) * nb) == 0,
         "%s: row maxima differ (na %lld nb %lld %s)", what, (long long)na, (long long)nb, m);
  // nothing written past the lists
  EXPECT(gav[na * ka] == -5.f && gai[na * ka] == -5 && gbv[nb * kb] == -5.f && gbi[nb * kb] == -5 &&
             gam[na] == -5.f && gbm[nb] == -5.f,
         "%s: wrote past an output (na %lld nb %lld k %lld)", what, (long long)na, (long long)nb, (long long)k);
  r4j_cpu_set_threads(0);
}

void test_pair() {
  struct Shape {
    int64_t na, nb, d;
  };
  // Empty and one-row sides; tiles of 64 to 512 rows with partial last tiles on either side.
  const Shape shapes[] = {{0, 0, 3}, {1, 0, 3}, {0, 4, 2}, {1, 1, 1}, {7, 3, 4}, {3, 17, 6}, {70, 130, 9},
                          {129, 67, 17}, {5, 700, 8}, {600, 333, 33}, {1100, 40, 16}};
  int c = 0;
  for (const Shape &s : shapes)
    for (int metric = 0; metric < 3; ++metric) {
      const std::vector<float> a = gaussian(s.na, s.d), b = gaussian(s.nb, s.d);
      for (int64_t k : {int64_t{1}, int64_t{21}, std::max(s.na, s.nb) + 3}) {
        pair_case("pair random", a, s.na, b, s.nb, s.d, metric, k, 1 + c % 3);
        ++c;
      }
    }
  std::uniform_int_distribution<int> v3(-1, 1);
  for (int metric : {R4J_SQEUCLIDEAN, R4J_EUCLIDEAN}) {  // exact ties
    const int64_t na = 150, nb = 400, d = 3;
    std::vector<float> a(na * d), b(nb * d);
    for (float &x : a) x = float(v3(g_rng));
    for (float &x : b) x = float(v3(g_rng));
    pair_case("pair integer ties", a, na, b, nb, d, metric, 25, 2);
  }
  {
    const int64_t na = 40, nb = 300, d = 6;
    std::vector<float> a(na * d, 0.f), b(nb * d, 0.f);
    for (int metric = 0; metric < 3; ++metric) pair_case("pair identical rows", a, na, b, nb, d, metric, 7, 2);
  }
  const std::vector<float> a = gaussian(3, 4), b = gaussian(5, 4);
  float v[32], m[8], w[32], n[8];
  int32_t ia[32], ib[32];
  expect_einval(r4j_cpu_knn_pair(a.data(), 3, b.data(), 5, 4, 0, 0, v, ia, m, w, ib, n), "pair k = 0");
  expect_einval(r4j_cpu_knn_pair(nullptr, 3, b.data(), 5, 4, 0, 2, v, ia, m, w, ib, n), "pair null a");
  expect_einval(r4j_cpu_knn_pair(a.data(), 3, b.data(), 5, 0, 0, 2, v, ia, m, w, ib, n), "pair d = 0");
  expect_einval(r4j_cpu_knn_pair(a.data(), 3, b.data(), 5, 4, 3, 2, v, ia, m, w, ib, n), "pair metric 3");
  expect_einval(r4j_cpu_knn_pair(a.data(), 3, b.data(), 5, 4, 0, 2, v, ia, m, w, nullptr, n), "pair null b_idx");
  expect_einval(r4j_cpu_knn_pair(a.data(), 3, b.data(), 5, 4, 0, 2, v, ia, nullptr, w, ib, n), "pair null a_max");
  EXPECT(r4j_cpu_knn_pair(a.data(), 3, nullptr, 0, 4, 0, 2, nullptr, nullptr, m, nullptr, nullptr, nullptr) == R4J_OK &&
             m[0] == -std::numeric_limits<float>::infinity() && m[2] == -std::numeric_limits<float>::infinity(),
         "pair against nothing: %s", r4j_last_error());
}

}  // namespace

int main(int argc, char **argv) {
  g_seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::random_device{}() * 0x9E3779B97F4A7C15ull ^ 12345;
  std::printf("test_cpu_rerank: seed %llu, isa %s\n", static_cast<unsigned long long>(g_seed), r4j_cpu_isa());
  g_rng.seed(g_seed);
  test_bad_args();
  test_empty();
  test_integer_ties();
  test_duplicates();
  test_random();
  test_knn();
  test_pair();
  std::printf("test_cpu_rerank: %d cases compared (%d redrawn for near ties), %d failures (seed %llu)\n", g_cases,
              g_rejected, g_failures, static_cast<unsigned long long>(g_seed));
  return g_failures == 0 ? 0 : 1;
}
