// The CPU kernels' scratch pool (src/main/cpp/cpu/scratch.h): which requests reuse a kept buffer, the
// byte and count limits, release, the R4J_CPU_SCRATCH_MB setting, buffers never shared between
// callers on four threads, and the distances of r4j_cpu_pairwise / r4j_cpu_pairwise_topk bit for bit
// the same whether the packed gallery lands in fresh memory or in a kept buffer left full of NaNs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "reid4j.h"
#include "distance.h"
#include "scratch.h"

namespace {
int failures = 0;

void check(bool ok, const char *what) {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s\n", what);
  }
}

constexpr size_t MiB = size_t(1) << 20;

r4j::cpu::ScratchStats stats() { return r4j::cpu::scratch_stats(); }

void limits_and_reuse() {
  using namespace r4j::cpu;
  setenv("R4J_CPU_SCRATCH_MB", "3", 1);
  set_scratch_limit(-1);
  check(scratch_limit() == int64_t(3 * MiB), "R4J_CPU_SCRATCH_MB=3 gives a 3 MiB limit");
  setenv("R4J_CPU_SCRATCH_MB", "lots", 1);
  set_scratch_limit(-1);
  check(scratch_limit() == int64_t(256 * MiB), "a bad R4J_CPU_SCRATCH_MB falls back to 256 MiB");
  unsetenv("R4J_CPU_SCRATCH_MB");
  set_scratch_limit(64 * MiB);
  scratch_release();

  // Small requests bypass the pool.
  ScratchStats s0 = stats();
  size_t cap = 0;
  void *small = scratch_take(1000, &cap);
  check(cap >= 1000 && cap % 64 == 0 && reinterpret_cast<uintptr_t>(small) % 64 == 0, "small buffer aligned");
  scratch_give(small, cap);
  ScratchStats s1 = stats();
  check(s1.fresh == s0.fresh && s1.reused == s0.reused && s1.kept_buffers == 0, "small requests are not pooled");

  // A kept buffer serves a request it holds that is at least half its size, nothing smaller.
  size_t c8 = 0;
  void *b8 = scratch_take(8 * MiB, &c8);
  check(c8 >= 8 * MiB && reinterpret_cast<uintptr_t>(b8) % 64 == 0, "8 MiB buffer");
  std::memset(b8, 1, c8);
  scratch_give(b8, c8);
  check(stats().kept_buffers == 1 && stats().kept_bytes == (int64_t)c8, "released buffer kept");
  size_t c6 = 0;
  void *b6 = scratch_take(6 * MiB, &c6);
  check(b6 == b8 && c6 == c8, "6 MiB request reuses the kept 8 MiB buffer");
  check(stats().kept_buffers == 0 && stats().reused == s1.reused + 1, "reuse counted, nothing kept");
  scratch_give(b6, c6);
  size_t c3 = 0;
  void *b3 = scratch_take(3 * MiB, &c3);
  check(b3 != b8 && c3 < c8, "3 MiB request does not take the 8 MiB buffer");
  scratch_give(b3, c3);
  check(stats().kept_buffers == 2, "both kept");

  // Byte limit: the oldest kept buffers go first.
  set_scratch_limit((int64_t)(c3 + MiB));
  check(stats().kept_buffers == 1 && stats().kept_bytes == (int64_t)c3, "lowering the limit frees the oldest");
  size_t cbig = 0;
  void *big = scratch_take(5 * MiB, &cbig);
  scratch_give(big, cbig);
  check(stats().kept_bytes == (int64_t)c3, "a buffer over the limit is not kept");
  set_scratch_limit(0);
  check(stats().kept_buffers == 0 && stats().kept_bytes == 0, "limit 0 keeps nothing");

  // Count limit: at most 8 buffers.
  set_scratch_limit(1024 * MiB);
  std::vector<std::pair<void *, size_t>> many;
  for (int i = 0; i < 11; ++i) {
    size_t c = 0;
    void *p = scratch_take(MiB + 64 * (size_t)i, &c);
    many.emplace_back(p, c);
  }
  for (auto &m : many) scratch_give(m.first, m.second);
  check(stats().kept_buffers == 8, "at most 8 buffers kept");
  scratch_release();
  check(stats().kept_buffers == 0 && stats().kept_bytes == 0, "release frees every kept buffer");
  check(r4j_cpu_scratch_bytes() == 0, "C API reports nothing kept");
}

// Four threads take, fill with their own pattern, check and give buffers of 1-6 MiB: a buffer handed
// to two callers at once shows up as a foreign byte.
void concurrent() {
  using namespace r4j::cpu;
  set_scratch_limit(16 * MiB);
  std::vector<int> bad(4, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([t, &bad] {
      std::mt19937 rng(77 + t);
      for (int it = 0; it < 300; ++it) {
        const size_t want = MiB + rng() % (5 * MiB);
        size_t cap = 0;
        unsigned char *p = static_cast<unsigned char *>(scratch_take(want, &cap));
        if (cap < want) ++bad[t];
        std::memset(p, 0x10 + t, want);
        std::this_thread::yield();
        for (size_t i = 0; i < want; i += 4093)
          if (p[i] != 0x10 + t) ++bad[t];
        if (p[want - 1] != 0x10 + t) ++bad[t];
        scratch_give(p, cap);
      }
    });
  }
  for (auto &th : ts) th.join();
  for (int t = 0; t < 4; ++t) check(bad[t] == 0, "no buffer shared between threads");
  check(stats().kept_bytes <= int64_t(16 * MiB) && stats().kept_buffers <= 8, "limits hold under concurrency");
  scratch_release();
}

std::vector<float> randn(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v((size_t)n);
  for (auto &x : v) x = nd(rng);
  return v;
}

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Every kernel's outputs as bytes, so that two runs can be compared bit for bit.
std::vector<std::vector<char>> run_all(const std::vector<float> &q, int64_t nq, const std::vector<float> &g, int64_t ng,
                                       int64_t d, int metric) {
  std::vector<std::vector<char>> outs;
  auto keep = [&outs](const void *p, size_t bytes) {
    const char *c = static_cast<const char *>(p);
    outs.emplace_back(c, c + bytes);
  };
  auto ok = [](int st, const char *what) { check(st == R4J_OK, what); };
  std::vector<float> dist((size_t)(nq * ng));
  ok(r4j_cpu_pairwise(q.data(), nq, g.data(), ng, d, metric, dist.data()), "pairwise");
  keep(dist.data(), dist.size() * 4);
  const int64_t k = std::min<int64_t>(ng, 10);
  std::vector<float> val((size_t)(nq * k)), mx((size_t)nq);
  std::vector<int32_t> idx((size_t)(nq * k));
  for (r4j::cpu::StreamPath path : {r4j::cpu::PATH_ROWS, r4j::cpu::PATH_COLUMNS}) {
    r4j::cpu::set_stream_path(path);
    ok(r4j_cpu_pairwise_topk(q.data(), nq, g.data(), ng, d, metric, k, val.data(), idx.data()), "pairwise_topk");
    keep(val.data(), val.size() * 4);
    keep(idx.data(), idx.size() * 4);
    ok(r4j_cpu_pairwise_topk_max(q.data(), nq, g.data(), ng, d, metric, k, val.data(), idx.data(), mx.data()),
       "pairwise_topk_max");
    keep(val.data(), val.size() * 4);
    keep(idx.data(), idx.size() * 4);
    keep(mx.data(), mx.size() * 4);
  }
  r4j::cpu::set_stream_path(r4j::cpu::PATH_AUTO);
  std::vector<int32_t> ql((size_t)nq), gl((size_t)ng), pi((size_t)nq), ni((size_t)nq);
  for (int64_t i = 0; i < nq; ++i) ql[(size_t)i] = (int32_t)(i % 7);
  for (int64_t j = 0; j < ng; ++j) gl[(size_t)j] = (int32_t)(j % 5);
  std::vector<float> pd((size_t)nq), nd((size_t)nq);
  ok(r4j_cpu_batch_hard_memory(q.data(), ql.data(), nq, g.data(), gl.data(), ng, d, metric, pi.data(), pd.data(),
                               ni.data(), nd.data()),
     "batch_hard_memory");
  for (const auto *v : {&pi, &ni}) keep(v->data(), v->size() * 4);
  for (const auto *v : {&pd, &nd}) keep(v->data(), v->size() * 4);
  if (nq + ng <= 2500) {
    std::vector<float> rr((size_t)(nq * ng));
    ok(r4j_cpu_rerank(q.data(), nq, g.data(), ng, d, metric, (int32_t)std::min<int64_t>(20, nq + ng - 1), 6, 0.3f,
                      rr.data()),
       "rerank");
    keep(rr.data(), rr.size() * 4);
  }
  return outs;
}

// Fills buffers of about the sizes the kernels ask for with NaN bytes and leaves them in the pool.
void poison(size_t around) {
  using namespace r4j::cpu;
  std::vector<std::pair<void *, size_t>> held;
  for (size_t bytes : {around, around + 4096, around / 2 + 64, 2 * MiB, 5 * MiB, 9 * MiB, 17 * MiB}) {
    size_t c = 0;
    void *p = scratch_take(bytes, &c);
    std::memset(p, 0xff, c);
    held.emplace_back(p, c);
  }
  for (auto &h : held) scratch_give(h.first, h.second);
}

// Odd sizes, so that the packed gallery has padding rows and the k chunks are uneven; each kernel
// on both stream paths, first with nothing kept, then twice with kept buffers full of NaN bytes.
void results_independent_of_reuse() {
  using namespace r4j::cpu;
  const int64_t shapes[][3] = {{37, 1001, 77}, {5, 3000, 130}, {130, 2049, 300}, {1, 17, 1}};
  for (const auto &sh : shapes) {
    const int64_t nq = sh[0], ng = sh[1], d = sh[2];
    const std::vector<float> q = randn(nq * d, 5), g = randn(ng * d, 6);
    for (int metric : {R4J_SQEUCLIDEAN, R4J_EUCLIDEAN, R4J_COSINE}) {
      set_scratch_limit(0);
      const auto ref = run_all(q, nq, g, ng, d, metric);
      set_scratch_limit(256 * MiB);
      const size_t packed = (size_t)((ng + 31) / 32 * 32 * d) * sizeof(float);
      for (int round = 0; round < 2; ++round) {
        poison(packed);
        const int64_t before = stats().reused;
        check(run_all(q, nq, g, ng, d, metric) == ref, "outputs identical with kept, NaN-filled buffers");
        if (packed >= MiB) check(stats().reused > before, "kept buffers were used");  // smaller: none pooled
      }
      scratch_release();
    }
  }
}
}  // namespace

int main() {
  limits_and_reuse();
  concurrent();
  results_independent_of_reuse();
  r4j::cpu::set_scratch_limit(-1);
  if (failures == 0) std::printf("test_scratch: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
