// Timing driver for r4j_cpu_rerank and the batch-hard mining kernels on synthetic, Market-1501
// shaped data: features = one of 751 identity centres + noise, L2-normalised. Prints seconds per
// call and the process's peak RSS (getrusage) after each step.
// Usage: bench_cpu_rerank [small]   ("small" skips the full Market-sized re-ranking)
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "distance.h"  // internal: times the bare distance pass for comparison
#include "reid4j.h"

namespace {

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Data {
  std::vector<float> x;
  std::vector<int32_t> labels;
};

// n rows of dimension d around `ids` random unit centres; noise of norm ~0.8; rows normalised.
Data make_data(int64_t n, int64_t d, int ids, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> centres(static_cast<size_t>(ids) * d);
  for (int c = 0; c < ids; ++c) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += double(centres[c * d + k] = nd(rng)) * centres[c * d + k];
    const float inv = float(1.0 / std::sqrt(s));
    for (int64_t k = 0; k < d; ++k) centres[c * d + k] *= inv;
  }
  Data out;
  out.x.resize(static_cast<size_t>(n * d));
  out.labels.resize(static_cast<size_t>(n));
  std::uniform_int_distribution<int> pick(0, ids - 1);
  const float sigma = 0.8f / std::sqrt(float(d));
  for (int64_t i = 0; i < n; ++i) {
    const int c = pick(rng);
    out.labels[i] = c;
    float *r = &out.x[i * d];
    double s = 0;
    for (int64_t k = 0; k < d; ++k) {
      r[k] = centres[c * d + k] + sigma * nd(rng);
      s += double(r[k]) * r[k];
    }
    const float inv = float(1.0 / std::sqrt(s));
    for (int64_t k = 0; k < d; ++k) r[k] *= inv;
  }
  return out;
}

int check(int st, const char *what) {
  if (st != R4J_OK) {
    std::printf("%s failed: %d %s\n", what, st, r4j_last_error());
    std::exit(1);
  }
  return st;
}

void bench_rerank(int64_t nq, int64_t ng, int64_t d, int metric, int k1, int k2, float lambda, int reps) {
  const Data all = make_data(nq + ng, d, 751, 1234 + nq);
  const float *q = all.x.data(), *g = all.x.data() + nq * d;
  std::vector<float> out(static_cast<size_t>(nq * ng));
  // Bare N x N distance pass (what every exact re-ranking must compute), for comparison.
  double t0 = now();
  r4j::cpu::stream_rows(all.x.data(), nq + ng, all.x.data(), nq + ng, d, metric,
                        [](int64_t, int64_t, const float *, int64_t, int) {});
  const double t_pass = now() - t0;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    t0 = now();
    check(r4j_cpu_rerank(q, nq, g, ng, d, metric, k1, k2, lambda, out.data()), "rerank");
    best = std::min(best, now() - t0);
  }
  double sum = 0;
  for (float v : out) sum += v;
  std::printf("rerank  nq=%-5lld ng=%-6lld d=%-5lld k1=%d k2=%d lambda=%.1f: %8.3f s  (bare N x N distance pass %.3f s, "
              "%.2f TFLOP -> %.0f GFLOP/s)  checksum %.6g  peak RSS %.0f MiB\n",
              (long long)nq, (long long)ng, (long long)d, k1, k2, lambda, best, t_pass,
              2.0 * double(nq + ng) * double(nq + ng) * d * 1e-12,
              2.0 * double(nq + ng) * double(nq + ng) * d * 1e-9 / t_pass, sum / double(out.size()), peak_rss_mib());
  std::fflush(stdout);
}

void bench_batch_hard(int64_t n, int64_t d, int ids_per_batch, int reps) {
  Data data = make_data(n, d, 751, 99 + n);
  for (int64_t i = 0; i < n; ++i) data.labels[i] = int32_t(i % ids_per_batch);  // P ids x K images
  std::vector<int32_t> pi(n), ni(n);
  std::vector<float> pd(n), nd(n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    check(r4j_cpu_batch_hard(data.x.data(), data.labels.data(), n, d, R4J_EUCLIDEAN, pi.data(), pd.data(), ni.data(),
                             nd.data()),
          "batch_hard");
    best = std::min(best, now() - t0);
  }
  std::printf("batch_hard        B=%-5lld d=%-5lld: %10.6f s  peak RSS %.0f MiB\n", (long long)n, (long long)d, best,
              peak_rss_mib());
  std::fflush(stdout);
}

void bench_memory(int64_t na, int64_t nm, int64_t d, int reps) {
  const Data a = make_data(na, d, 751, 5), m = make_data(nm, d, 751, 6);
  std::vector<int32_t> pi(na), ni(na);
  std::vector<float> pd(na), nd(na);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    check(r4j_cpu_batch_hard_memory(a.x.data(), a.labels.data(), na, m.x.data(), m.labels.data(), nm, d,
                                    R4J_EUCLIDEAN, pi.data(), pd.data(), ni.data(), nd.data()),
          "batch_hard_memory");
    best = std::min(best, now() - t0);
  }
  std::printf("batch_hard_memory na=%-5lld nm=%-6lld d=%-5lld: %10.6f s  peak RSS %.0f MiB\n", (long long)na,
              (long long)nm, (long long)d, best, peak_rss_mib());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  const bool small = argc > 1 && std::strcmp(argv[1], "small") == 0;
  std::printf("bench_cpu_rerank: isa %s, %d threads\n", r4j_cpu_isa(), r4j_cpu_threads());
  bench_batch_hard(64, 2048, 16, 20);
  bench_batch_hard(256, 2048, 64, 10);
  bench_batch_hard(4096, 2048, 1024, 2);
  bench_memory(256, 16384, 2048, 3);
  bench_rerank(100, 1000, 512, R4J_SQEUCLIDEAN, 20, 6, 0.3f, 3);
  bench_rerank(500, 3000, 2048, R4J_SQEUCLIDEAN, 20, 6, 0.3f, 2);
  // Market-sized with a small d: shows the cost of everything besides the distance GEMM.
  bench_rerank(3368, 15913, 64, R4J_SQEUCLIDEAN, 20, 6, 0.3f, 2);
  if (!small) bench_rerank(3368, 15913, 2048, R4J_SQEUCLIDEAN, 20, 6, 0.3f, 2);
  return 0;
}
