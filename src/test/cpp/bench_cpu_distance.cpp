// Timing driver for the CPU distance kernels: r4j_cpu_pairwise (GFLOP/s counted as 2*m*n*d),
// r4j_cpu_pairwise_topk and r4j_cpu_topk, best of several runs.
//   bench_cpu_distance [threads] [runs]      (set OMP_WAIT_POLICY=PASSIVE for steady numbers)
//   bench_cpu_distance threads runs topk NQ NG D K [metric]
//       only r4j_cpu_pairwise_topk for one shape (e.g. the serving case: topk 64 100000 512 10);
//       GFLOP/s counted as 2*NQ*NG*D. Prints the best and the median of the runs.
//   bench_cpu_distance threads runs pairwise NQ NG D     (the same for r4j_cpu_pairwise, sqeuclidean)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "reid4j.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<float> random_matrix(int64_t rows, int64_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x((size_t)(rows * d));
  for (auto &v : x) v = nd(rng);
  return x;
}

void check(int st) {
  if (st != R4J_OK) {
    std::fprintf(stderr, "kernel failed: %s\n", r4j_last_error());
    std::exit(1);
  }
}

template <class F>
double best_of(int runs, F f) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
}

}  // namespace

int main(int argc, char **argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  r4j_cpu_set_threads(threads);
  std::printf("isa %s, threads %d, best of %d\n", r4j_cpu_isa(), r4j_cpu_threads(), runs);
  if (argc > 6 && std::strcmp(argv[3], "pairwise") == 0) {
    const int64_t m = std::atoll(argv[4]), n = std::atoll(argv[5]), d = std::atoll(argv[6]);
    std::vector<float> q = random_matrix(m, d, 1), g = random_matrix(n, d, 2), out((size_t)(m * n));
    std::vector<double> ts;
    for (int r = 0; r < runs; ++r) {
      const double t0 = now();
      check(r4j_cpu_pairwise(q.data(), m, g.data(), n, d, 0, out.data()));
      ts.push_back(now() - t0);
    }
    std::sort(ts.begin(), ts.end());
    const double flop = 2.0 * m * n * d;
    std::printf("pairwise %5lld x %6lld x %4lld: best %9.3f ms (%7.1f GFLOP/s), median %9.3f ms\n", (long long)m,
                (long long)n, (long long)d, ts[0] * 1e3, flop / ts[0] * 1e-9, ts[ts.size() / 2] * 1e3);
    return 0;
  }
  if (argc > 7 && std::strcmp(argv[3], "topk") == 0) {
    const int64_t m = std::atoll(argv[4]), n = std::atoll(argv[5]), d = std::atoll(argv[6]), k = std::atoll(argv[7]);
    const int metric = argc > 8 ? std::atoi(argv[8]) : 0;
    std::vector<float> q = random_matrix(m, d, 1), g = random_matrix(n, d, 2);
    std::vector<float> v((size_t)(m * k) + 1);
    std::vector<int32_t> idx((size_t)(m * k) + 1);
    std::vector<double> ts;
    for (int r = 0; r < runs; ++r) {
      const double t0 = now();
      check(r4j_cpu_pairwise_topk(q.data(), m, g.data(), n, d, metric, k, v.data(), idx.data()));
      ts.push_back(now() - t0);
    }
    std::sort(ts.begin(), ts.end());
    const double flop = 2.0 * m * n * d;
    std::printf("pairwise_topk %5lld x %6lld x %4lld k=%lld metric %d: best %9.3f ms (%7.1f GFLOP/s), median %9.3f ms\n",
                (long long)m, (long long)n, (long long)d, (long long)k, metric, ts[0] * 1e3, flop / ts[0] * 1e-9,
                ts[ts.size() / 2] * 1e3);
    return 0;
  }
  struct Shape {
    int64_t m, n, d;
  };
  const Shape shapes[] = {{3368, 15913, 2048}, {1000, 1000, 2048}, {256, 4096, 512}, {64, 64, 2048},
                          {3368, 15913, 512}, {1, 15913, 2048}};
  const char *names[] = {"sqeuclidean", "euclidean", "cosine"};
  for (const Shape &s : shapes) {
    std::vector<float> q = random_matrix(s.m, s.d, 1), g = random_matrix(s.n, s.d, 2);
    std::vector<float> out((size_t)(s.m * s.n));
    const double flop = 2.0 * s.m * s.n * s.d;
    const int r = flop > 1e11 ? std::max(2, runs / 2) : runs * 4;
    for (int metric = 0; metric < 3; ++metric) {
      if (metric != 0 && flop < 1e11 && s.m != 3368) continue;
      double t = best_of(r, [&] { check(r4j_cpu_pairwise(q.data(), s.m, g.data(), s.n, s.d, metric, out.data())); });
      std::printf("pairwise %5lld x %5lld x %4lld %-11s %9.3f ms %7.1f GFLOP/s\n", (long long)s.m,
                  (long long)s.n, (long long)s.d, names[metric], t * 1e3, flop / t * 1e-9);
    }
    if (s.m == 3368 && s.d == 2048) {
      const int64_t k = 100;
      std::vector<float> v((size_t)(s.m * k));
      std::vector<int32_t> idx((size_t)(s.m * k));
      double t = best_of(r, [&] {
        check(r4j_cpu_pairwise_topk(q.data(), s.m, g.data(), s.n, s.d, 0, k, v.data(), idx.data()));
      });
      std::printf("pairwise_topk k=%lld %-11s %9.3f ms %7.1f GFLOP/s\n", (long long)k, names[0], t * 1e3,
                  flop / t * 1e-9);
      for (int64_t kk : {int64_t(10), int64_t(100), int64_t(3000)}) {
        std::vector<float> v2((size_t)(s.m * kk));
        std::vector<int32_t> i2((size_t)(s.m * kk));
        t = best_of(r, [&] { check(r4j_cpu_topk(out.data(), s.m, s.n, kk, v2.data(), i2.data())); });
        std::printf("topk %lld x %lld k=%lld %9.3f ms\n", (long long)s.m, (long long)s.n, (long long)kk, t * 1e3);
      }
    }
  }
  return 0;
}
