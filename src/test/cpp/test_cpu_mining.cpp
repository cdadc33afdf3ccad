// Test driver for r4j_cpu_batch_hard and r4j_cpu_batch_hard_memory: compares against a plain
// double-precision reference written from the definitions, on fresh random inputs.
// Exit status 0 when everything passes. Usage: test_cpu_mining [seed]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "reid4j.h"

namespace {

uint64_t g_seed = 0;
int g_failures = 0;
int g_cases = 0;
std::mt19937_64 g_rng;

#define EXPECT(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++g_failures;                                                            \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                         \
      std::printf(__VA_ARGS__);                                                \
      std::printf("  (seed %llu)\n", static_cast<unsigned long long>(g_seed)); \
    }                                                                          \
  } while (0)

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

std::vector<float> gaussian(int64_t rows, int64_t d) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(rows * d);
  for (float &v : x) v = nd(g_rng);
  return x;
}

std::vector<int32_t> random_labels(int64_t n, int classes) {
  std::uniform_int_distribution<int32_t> u(0, classes - 1);
  std::vector<int32_t> l(n);
  for (auto &v : l) v = u(g_rng) * 7 - 3;  // arbitrary (also negative) label values
  return l;
}

const char *metric_name(int m) { return m == 0 ? "sqeuclidean" : m == 1 ? "euclidean" : "cosine"; }

// Checks one anchor's answer (idx, dist) for one kind (positive: want the max; negative: the min).
// The reference answer is the first index reaching the extreme. Float rounding may swap two
// different but nearly equal distances (within tol); exact ties (copies) must go to the smaller index.
void check_one(const char *what, int64_t i, bool positive, const std::vector<double> &dref,
               const std::vector<char> &cand, int32_t idx, float dist, double tol) {
  int64_t best = -1;
  for (int64_t j = 0; j < (int64_t)dref.size(); ++j) {
    if (!cand[j]) continue;
    if (best < 0 || (positive ? dref[j] > dref[best] : dref[j] < dref[best])) best = j;
  }
  const char *kind = positive ? "positive" : "negative";
  if (best < 0) {
    EXPECT(idx == -1 && std::isnan(dist), "%s anchor %lld: no %s candidate, got idx %d dist %g", what, (long long)i,
           kind, idx, dist);
    return;
  }
  bool ok_idx = idx == best;
  if (!ok_idx && idx >= 0 && idx < (int64_t)dref.size() && cand[idx]) {
    const double gap = std::fabs(dref[idx] - dref[best]);
    ok_idx = gap > 0 && gap <= tol;  // a near (not exact) tie
  }
  EXPECT(ok_idx, "%s anchor %lld: hardest %s idx %d (d=%.9g), want %lld (d=%.9g)", what, (long long)i, kind, idx,
         idx >= 0 && idx < (int64_t)dref.size() ? dref[idx] : NAN, (long long)best, dref[best]);
  if (ok_idx) EXPECT(std::fabs(dist - dref[idx]) <= tol, "%s anchor %lld: %s distance %.9g, want %.9g", what,
                     (long long)i, kind, dist, dref[idx]);
}

// Memory form when `in_batch` is false (m, m_labels), in-batch form (x = a) when true.
void run_case(const char *what, const std::vector<float> &a, const std::vector<int32_t> &al, int64_t na,
              const std::vector<float> &m, const std::vector<int32_t> &ml, int64_t nm, int64_t d, int metric,
              bool in_batch, int threads) {
  ++g_cases;
  const int64_t nc = in_batch ? na : nm;
  const float *mx = in_batch ? a.data() : m.data();
  const int32_t *mlab = in_batch ? al.data() : ml.data();
  std::vector<int32_t> pi(na + 1, -7), ni(na + 1, -7);
  std::vector<float> pd(na + 1, -7.f), nd(na + 1, -7.f);
  r4j_cpu_set_threads(threads);
  int st = in_batch ? r4j_cpu_batch_hard(na ? a.data() : nullptr, na ? al.data() : nullptr, na, d, metric,
                                         pi.data(), pd.data(), ni.data(), nd.data())
                    : r4j_cpu_batch_hard_memory(na ? a.data() : nullptr, na ? al.data() : nullptr, na,
                                                nm ? m.data() : nullptr, nm ? ml.data() : nullptr, nm, d, metric,
                                                pi.data(), pd.data(), ni.data(), nd.data());
  EXPECT(st == R4J_OK, "%s: status %d (%s)", what, st, r4j_last_error());
  if (st != R4J_OK) return;
  EXPECT(pi[na] == -7 && ni[na] == -7 && pd[na] == -7.f && nd[na] == -7.f, "%s: wrote past the end", what);
  for (int64_t i = 0; i < na; ++i) {
    std::vector<double> dref(nc);
    std::vector<char> pos(nc), neg(nc);
    double scale = 1e-30;
    for (int64_t j = 0; j < nc; ++j) {
      dref[j] = ref_dist(a.data() + i * d, mx + j * d, d, metric);
      pos[j] = mlab[j] == al[i] && !(in_batch && j == i);
      neg[j] = mlab[j] != al[i];
      scale = std::max(scale, std::fabs(dref[j]));
    }
    // float error of |a|^2 + |b|^2 - 2ab is relative to the norms, not to the distance
    double nrm = 0;
    for (int64_t k = 0; k < d; ++k) nrm += double(a[i * d + k]) * a[i * d + k];
    const double tol = metric == R4J_COSINE ? 2e-6 : 4e-6 * (scale + nrm) + 1e-6;
    check_one(what, i, true, dref, pos, pi[i], pd[i], tol);
    check_one(what, i, false, dref, neg, ni[i], nd[i], tol);
  }
  // Identical results with another thread count.
  r4j_cpu_set_threads(threads == 1 ? 2 : 1);
  std::vector<int32_t> pi2(na + 1, -7), ni2(na + 1, -7);
  std::vector<float> pd2(na + 1, -7.f), nd2(na + 1, -7.f);
  st = in_batch ? r4j_cpu_batch_hard(na ? a.data() : nullptr, na ? al.data() : nullptr, na, d, metric, pi2.data(),
                                     pd2.data(), ni2.data(), nd2.data())
                : r4j_cpu_batch_hard_memory(na ? a.data() : nullptr, na ? al.data() : nullptr, na,
                                            nm ? m.data() : nullptr, nm ? ml.data() : nullptr, nm, d, metric,
                                            pi2.data(), pd2.data(), ni2.data(), nd2.data());
  EXPECT(st == R4J_OK && pi2 == pi && ni2 == ni &&
             std::memcmp(pd2.data(), pd.data(), 4 * na) == 0 && std::memcmp(nd2.data(), nd.data(), 4 * na) == 0,
         "%s: result depends on the thread count", what);
  r4j_cpu_set_threads(0);
}

void test_in_batch() {
  struct Shape {
    int64_t n, d;
    int classes;
  };
  const Shape shapes[] = {{1, 5, 1},   {2, 3, 1},   {2, 3, 2},    {7, 9, 3},     {64, 32, 16},
                          {100, 17, 25}, {257, 64, 40}, {33, 8, 33}, {50, 128, 1}, {300, 20, 300}};
  int c = 0;
  for (const Shape &s : shapes)
    for (int metric = 0; metric < 3; ++metric, ++c) {
      const std::vector<float> x = gaussian(s.n, s.d);
      const std::vector<int32_t> l = random_labels(s.n, s.classes);
      run_case("batch_hard", x, l, s.n, {}, {}, 0, s.d, metric, true, 1 + c % 3);
    }
  // Singleton labels only: no positive anywhere. One label only: no negative.
  for (int metric = 0; metric < 3; ++metric) {
    const std::vector<float> x = gaussian(40, 12);
    std::vector<int32_t> l(40);
    for (int i = 0; i < 40; ++i) l[i] = i;
    run_case("batch_hard singletons", x, l, 40, {}, {}, 0, 12, metric, true, 2);
    std::vector<int32_t> one(40, 5);
    run_case("batch_hard one label", x, one, 40, {}, {}, 0, 12, metric, true, 3);
  }
}

void test_memory() {
  struct Shape {
    int64_t na, nm, d;
    int classes;
  };
  const Shape shapes[] = {{1, 1, 4, 1},   {1, 9, 4, 2},     {5, 1, 7, 2},    {16, 300, 33, 20},
                          {64, 257, 16, 8}, {37, 1000, 24, 100}, {3, 50, 5, 1}, {20, 20, 10, 20}};
  int c = 0;
  for (const Shape &s : shapes)
    for (int metric = 0; metric < 3; ++metric, ++c) {
      const std::vector<float> a = gaussian(s.na, s.d), m = gaussian(s.nm, s.d);
      const std::vector<int32_t> al = random_labels(s.na, s.classes), ml = random_labels(s.nm, s.classes);
      run_case("batch_hard_memory", a, al, s.na, m, ml, s.nm, s.d, metric, false, 1 + c % 3);
    }
  // The memory holds copies of the anchors: a copy is an ordinary positive (not excluded).
  for (int metric = 0; metric < 3; ++metric) {
    const int64_t na = 10, d = 6;
    const std::vector<float> a = gaussian(na, d);
    std::vector<int32_t> al(na);
    for (int i = 0; i < na; ++i) al[i] = i;  // each anchor's only positive is its copy
    std::vector<float> m = gaussian(30, d);
    std::vector<int32_t> ml = random_labels(30, 5);
    for (auto &v : ml) v += 1000;
    for (int i = 0; i < na; ++i) {
      std::memcpy(&m[(3 * i) * d], &a[i * d], sizeof(float) * d);
      ml[3 * i] = al[i];
    }
    run_case("memory with anchor copies", a, al, na, m, ml, 30, d, metric, false, 2);
  }
}

// Exact copies of a few prototypes: distances tie exactly, ties must go to the smaller index.
void test_ties() {
  for (int metric = 0; metric < 3; ++metric) {
    const int64_t d = 8, np = 5, n = 60;
    const std::vector<float> proto = gaussian(np, d);
    std::uniform_int_distribution<int> pick(0, np - 1);
    std::vector<float> x(n * d);
    for (int64_t i = 0; i < n; ++i) std::memcpy(&x[i * d], &proto[pick(g_rng) * d], sizeof(float) * d);
    const std::vector<int32_t> l = random_labels(n, 4);
    run_case("ties in batch", x, l, n, {}, {}, 0, d, metric, true, 2);
    std::vector<float> m(3 * n * d);
    for (int64_t i = 0; i < 3 * n; ++i) std::memcpy(&m[i * d], &proto[pick(g_rng) * d], sizeof(float) * d);
    const std::vector<int32_t> ml = random_labels(3 * n, 4);
    run_case("ties in memory", x, l, n, m, ml, 3 * n, d, metric, false, 3);
  }
  // Zero rows (cosine distance 1 to everything) mixed in.
  {
    std::vector<float> x = gaussian(20, 4);
    std::fill(x.begin(), x.begin() + 4, 0.f);
    std::fill(x.begin() + 40, x.begin() + 44, 0.f);
    run_case("zero rows", x, random_labels(20, 3), 20, {}, {}, 0, 4, R4J_COSINE, true, 2);
  }
}

void test_empty() {
  const std::vector<float> m = gaussian(5, 4);
  const std::vector<int32_t> ml(5, 1);
  EXPECT(r4j_cpu_batch_hard(nullptr, nullptr, 0, 4, 0, nullptr, nullptr, nullptr, nullptr) == R4J_OK, "n=0: %s",
         r4j_last_error());
  EXPECT(r4j_cpu_batch_hard_memory(nullptr, nullptr, 0, m.data(), ml.data(), 5, 4, 1, nullptr, nullptr, nullptr,
                                   nullptr) == R4J_OK,
         "na=0: %s", r4j_last_error());
  for (int metric = 0; metric < 3; ++metric)
    run_case("empty memory", gaussian(3, 4), {1, 2, 3}, 3, {}, {}, 0, 4, metric, false, 2);
}

void expect_einval(int st, const char *what) {
  EXPECT(st == R4J_EINVAL, "%s: expected R4J_EINVAL, got %d", what, st);
  EXPECT(std::strlen(r4j_last_error()) > 0, "%s: no error message", what);
  if (st == R4J_EINVAL) std::printf("  ok (%s): %s\n", what, r4j_last_error());
}

void test_bad_args() {
  const std::vector<float> x = gaussian(4, 3);
  const std::vector<int32_t> l = {1, 1, 2, 2};
  int32_t pi[4], ni[4];
  float pd[4], nd[4];
  expect_einval(r4j_cpu_batch_hard(nullptr, l.data(), 4, 3, 0, pi, pd, ni, nd), "null x");
  expect_einval(r4j_cpu_batch_hard(x.data(), nullptr, 4, 3, 0, pi, pd, ni, nd), "null labels");
  expect_einval(r4j_cpu_batch_hard(x.data(), l.data(), 4, 3, 0, nullptr, pd, ni, nd), "null pos_idx");
  expect_einval(r4j_cpu_batch_hard(x.data(), l.data(), 4, 3, 0, pi, pd, ni, nullptr), "null neg_dist");
  expect_einval(r4j_cpu_batch_hard(x.data(), l.data(), -1, 3, 0, pi, pd, ni, nd), "negative n");
  expect_einval(r4j_cpu_batch_hard(x.data(), l.data(), 4, 0, 0, pi, pd, ni, nd), "d = 0");
  expect_einval(r4j_cpu_batch_hard(x.data(), l.data(), 4, 3, 9, pi, pd, ni, nd), "metric 9");
  expect_einval(r4j_cpu_batch_hard(x.data(), l.data(), int64_t(1) << 31, 3, 0, pi, pd, ni, nd), "n >= 2^31");
  expect_einval(r4j_cpu_batch_hard_memory(nullptr, l.data(), 4, x.data(), l.data(), 4, 3, 0, pi, pd, ni, nd),
                "memory: null a");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), l.data(), 4, nullptr, l.data(), 4, 3, 0, pi, pd, ni, nd),
                "memory: null m");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), nullptr, 4, x.data(), l.data(), 4, 3, 0, pi, pd, ni, nd),
                "memory: null a_labels");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), l.data(), 4, x.data(), nullptr, 4, 3, 0, pi, pd, ni, nd),
                "memory: null m_labels");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), l.data(), 4, x.data(), l.data(), -2, 3, 0, pi, pd, ni, nd),
                "memory: negative nm");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), l.data(), 4, x.data(), l.data(), 4, -3, 0, pi, pd, ni, nd),
                "memory: negative d");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), l.data(), 4, x.data(), l.data(), 4, 3, 5, pi, pd, ni, nd),
                "memory: metric 5");
  expect_einval(r4j_cpu_batch_hard_memory(x.data(), l.data(), 4, x.data(), l.data(), 4, 3, 0, pi, nullptr, ni, nd),
                "memory: null pos_dist");
  EXPECT(r4j_cpu_batch_hard(x.data(), l.data(), 4, 3, 0, pi, pd, ni, nd) == R4J_OK && std::strlen(r4j_last_error()) == 0,
         "good call after a bad one: '%s'", r4j_last_error());
}

}  // namespace

// The resident memory against r4j_cpu_batch_hard_memory on the same rows: bit for bit, after FIFO
// writes that wrap around the capacity (partial panels, odd sizes), with the memory partly filled,
// and the argument checks.
void test_resident_memory() {
  std::uniform_int_distribution<int> pick(0, 1 << 20);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t cap = 1 + pick(g_rng) % 150, d = 1 + pick(g_rng) % 70, batch = 1 + pick(g_rng) % 50;
    const int metric = pick(g_rng) % 3;
    void *h = nullptr;
    EXPECT(r4j_cpu_memory_create(cap, d, metric, &h) == R4J_OK && h != nullptr, "create: %s\n", r4j_last_error());
    std::vector<float> mirror(cap * d, 0.f);
    std::vector<int32_t> labels(cap, 0);
    int64_t head = 0, filled = 0;
    for (int step = 0; step < 6; ++step) {
      auto rows = gaussian(batch, d);
      auto lab = random_labels(batch, 5);
      for (int64_t r = 0; r < batch; ++r) {  // FIFO: write at head, wrap around
        const int64_t slot = (head + r) % cap;
        std::memcpy(&mirror[slot * d], &rows[r * d], d * sizeof(float));
        labels[slot] = lab[r];
      }
      for (int64_t done = 0; done < batch;) {  // the same writes as at most two contiguous calls
        const int64_t slot = (head + done) % cap, n = std::min<int64_t>(batch - done, cap - slot);
        EXPECT(r4j_cpu_memory_write(h, slot, &rows[done * d], n) == R4J_OK, "write: %s\n", r4j_last_error());
        done += n;
      }
      head = (head + batch) % cap;
      filled = std::min(cap, filled + batch);
      const int64_t na = 1 + pick(g_rng) % 40;
      auto a = gaussian(na, d);
      auto al = random_labels(na, 5);
      std::vector<int32_t> p1(na), n1(na), p2(na), n2(na);
      std::vector<float> pd1(na), nd1(na), pd2(na), nd2(na);
      ++g_cases;
      EXPECT(r4j_cpu_memory_batch_hard(h, filled, labels.data(), a.data(), al.data(), na, p1.data(), pd1.data(),
                                       n1.data(), nd1.data()) == R4J_OK, "mine: %s\n", r4j_last_error());
      EXPECT(r4j_cpu_batch_hard_memory(a.data(), al.data(), na, mirror.data(), labels.data(), filled, d, metric,
                                       p2.data(), pd2.data(), n2.data(), nd2.data()) == R4J_OK, "reference call\n");
      for (int64_t i = 0; i < na; ++i) {
        EXPECT(p1[i] == p2[i] && n1[i] == n2[i], "trial %d step %d anchor %lld: (%d, %d) vs (%d, %d)\n", trial, step,
               (long long)i, p1[i], n1[i], p2[i], n2[i]);
        EXPECT(std::memcmp(&pd1[i], &pd2[i], 4) == 0 && std::memcmp(&nd1[i], &nd2[i], 4) == 0,
               "trial %d anchor %lld: distances differ\n", trial, (long long)i);
      }
    }
    // Refusals leave the handle usable.
    EXPECT(r4j_cpu_memory_write(h, cap, mirror.data(), 1) == R4J_EINVAL, "write past the capacity\n");
    EXPECT(r4j_cpu_memory_write(h, -1, mirror.data(), 1) == R4J_EINVAL, "negative row0\n");
    EXPECT(r4j_cpu_memory_write(h, 0, nullptr, 1) == R4J_EINVAL, "null rows\n");
    int32_t i1;
    float f1;
    EXPECT(r4j_cpu_memory_batch_hard(h, cap + 1, labels.data(), mirror.data(), labels.data(), 1, &i1, &f1, &i1, &f1) ==
               R4J_EINVAL, "nm past the capacity\n");
    EXPECT(r4j_cpu_memory_batch_hard(h, 1, nullptr, mirror.data(), labels.data(), 1, &i1, &f1, &i1, &f1) == R4J_EINVAL,
           "null memory labels\n");
    EXPECT(r4j_cpu_memory_batch_hard(h, 0, labels.data(), mirror.data(), labels.data(), 1, &i1, &f1, &i1, &f1) ==
               R4J_OK && i1 == -1, "an empty memory has no candidates\n");
    r4j_cpu_memory_free(h);
  }
  void *h = nullptr;
  EXPECT(r4j_cpu_memory_create(-1, 4, R4J_COSINE, &h) == R4J_EINVAL && h == nullptr, "negative capacity\n");
  EXPECT(r4j_cpu_memory_create(4, 0, R4J_COSINE, &h) == R4J_EINVAL, "d 0\n");
  EXPECT(r4j_cpu_memory_create(4, 4, 9, &h) == R4J_EINVAL, "bad metric\n");
  EXPECT(r4j_cpu_memory_create(4, 4, R4J_COSINE, nullptr) == R4J_EINVAL, "null out\n");
  EXPECT(r4j_cpu_memory_write(nullptr, 0, nullptr, 0) == R4J_EINVAL, "null handle\n");
  r4j_cpu_memory_free(nullptr);
}

int main(int argc, char **argv) {
  g_seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::random_device{}() * 0x9E3779B97F4A7C15ull ^ 777;
  std::printf("test_cpu_mining: seed %llu, isa %s\n", static_cast<unsigned long long>(g_seed), r4j_cpu_isa());
  g_rng.seed(g_seed);
  test_bad_args();
  test_empty();
  test_in_batch();
  test_memory();
  test_resident_memory();
  test_ties();
  std::printf("test_cpu_mining: %d cases, %d failures (seed %llu)\n", g_cases, g_failures,
              static_cast<unsigned long long>(g_seed));
  return g_failures == 0 ? 0 : 1;
}
