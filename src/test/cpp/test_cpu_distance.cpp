// Test driver for the CPU distance kernels: r4j_cpu_pairwise, r4j_cpu_topk, r4j_cpu_pairwise_topk
// and the internal distance engine (distance.h), against a naive double-precision reference.
//
//   test_cpu_distance [seed]
//
// Exit code 0 when everything passes. The seed is printed; pass it back to rerun the same inputs.
// Without R4J_CPU_ISA in the environment the driver also reruns itself once per other SIMD path
// (R4J_CPU_ISA=avx2, scalar) so that every path is checked on this machine.
//
// Tolerance: distances are computed as |a|^2 + |b|^2 - 2 a.b in float, so the rounding error scales
// with |a|^2 + |b|^2, not with the distance. A squared-euclidean value passes when
// |got - ref| <= 1e-4 * (|a|^2 + |b|^2) (+1e-30); euclidean values are compared squared with the
// same bound; cosine values (scale 1) with 1e-4 absolute.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "distance.h"
#include "reid4j.h"

namespace {

int failures = 0;

#define EXPECT(cond, ...)                                   \
  do {                                                      \
    if (!(cond)) {                                          \
      ++failures;                                           \
      if (failures <= 30) {                                 \
        std::printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
        std::printf(__VA_ARGS__);                           \
        std::printf("\n");                                  \
      }                                                     \
    }                                                       \
  } while (0)

std::mt19937_64 rng;

// Random rows; some runs use a non-zero mean so that |a|^2 >> distance (harder cancellation).
std::vector<float> random_rows(int64_t n, int64_t d, float mean = 0.f) {
  std::normal_distribution<float> nd(mean, 1.f);
  std::vector<float> x((size_t)(n * d));
  for (auto &v : x) v = nd(rng);
  return x;
}

struct Ref {
  double value, scale;
};

Ref ref_dist(const float *a, const float *b, int64_t d, int metric) {
  double aa = 0, bb = 0, ab = 0, sq = 0;
  for (int64_t k = 0; k < d; ++k) {
    aa += (double)a[k] * a[k];
    bb += (double)b[k] * b[k];
    ab += (double)a[k] * b[k];
    sq += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
  }
  if (metric == R4J_SQEUCLIDEAN) return {sq, aa + bb};
  if (metric == R4J_EUCLIDEAN) return {std::sqrt(sq), aa + bb};
  if (aa == 0 || bb == 0) return {1.0, 1.0};
  return {1.0 - ab / (std::sqrt(aa) * std::sqrt(bb)), 1.0};
}

bool close_enough(float got, Ref r, int metric) {
  if (!std::isfinite(got)) return false;
  if (metric == R4J_COSINE) return std::fabs(got - r.value) <= 1e-4;
  if (metric == R4J_EUCLIDEAN) return std::fabs((double)got * got - r.value * r.value) <= 1e-4 * r.scale + 1e-30;
  return std::fabs(got - r.value) <= 1e-4 * r.scale + 1e-30;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Reference top-k of a float row: full stable sort by (value, index).
void ref_topk(const float *row, int64_t n, int64_t k, std::vector<float> &v, std::vector<int32_t> &idx) {
  std::vector<int32_t> order((size_t)n);
  for (int64_t j = 0; j < n; ++j) order[(size_t)j] = (int32_t)j;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] < row[b] || (row[a] == row[b] && a < b); });
  v.resize((size_t)k), idx.resize((size_t)k);
  for (int64_t j = 0; j < k; ++j) idx[(size_t)j] = order[(size_t)j], v[(size_t)j] = row[order[(size_t)j]];
}

const char *metric_name(int m) { return m == 0 ? "sqeuclidean" : m == 1 ? "euclidean" : "cosine"; }

// One shape: pairwise vs reference, bitwise agreement between threads counts and with the internal
// entry points, duplicates, top-k and fused top-k.
void check_shape(int64_t nq, int64_t ng, int64_t d, int metric, float mean, bool dups) {
  std::vector<float> q = random_rows(nq, d, mean), g = random_rows(ng, d, mean);
  // Duplicate gallery rows (ties in top-k): 0 -> ng-1 (ng >= 2) and 1 -> ng/2 (ng >= 6); a zero
  // gallery row 2 (ng >= 4); query 0 equal to gallery row 1 (ng >= 2), query 1 zero.
  const bool dup0 = dups && ng >= 2, dup1 = dups && ng >= 6, zero_g = dups && ng >= 4;
  if (dups) {
    if (zero_g) std::fill(g.begin() + 2 * d, g.begin() + 3 * d, 0.f);
    if (dup0) std::copy(g.begin(), g.begin() + d, g.begin() + (ng - 1) * d);
    if (dup1) std::copy(g.begin() + d, g.begin() + 2 * d, g.begin() + (ng / 2) * d);
    if (nq >= 1 && ng >= 2) std::copy(g.begin() + d, g.begin() + 2 * d, q.begin());
    if (nq >= 2) std::fill(q.begin() + d, q.begin() + 2 * d, 0.f);
  }
  const std::string what = std::to_string(nq) + "x" + std::to_string(ng) + "x" + std::to_string(d) + " " +
                           metric_name(metric) + (dups ? " dups" : "");
  std::vector<float> out1((size_t)(nq * ng), -7.f), out2((size_t)(nq * ng), -7.f);
  r4j_cpu_set_threads(1);
  EXPECT(r4j_cpu_pairwise(q.data(), nq, g.data(), ng, d, metric, out1.data()) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
  r4j_cpu_set_threads(2);
  EXPECT(r4j_cpu_pairwise(q.data(), nq, g.data(), ng, d, metric, out2.data()) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
  int bad = 0;
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < ng; ++j) {
      const float got = out2[(size_t)(i * ng + j)];
      const Ref r = ref_dist(q.data() + i * d, g.data() + j * d, d, metric);
      if (!close_enough(got, r, metric) && bad++ < 3)
        EXPECT(false, "%s: (%lld,%lld) got %.9g want %.9g", what.c_str(), (long long)i, (long long)j, got, r.value);
      if (!same_bits(got, out1[(size_t)(i * ng + j)]) && bad++ < 3)
        EXPECT(false, "%s: (%lld,%lld) differs between 1 and 2 threads", what.c_str(), (long long)i, (long long)j);
    }
  if (bad > 0) return;
  // Exact properties of duplicates.
  if (dups) {
    for (int64_t i = 0; i < nq; ++i) {
      if (dup0) EXPECT(same_bits(out2[(size_t)(i * ng)], out2[(size_t)(i * ng + ng - 1)]), "%s: duplicate rows 0 and ng-1 differ (row %lld)", what.c_str(), (long long)i);
      if (dup1) EXPECT(same_bits(out2[(size_t)(i * ng + 1)], out2[(size_t)(i * ng + ng / 2)]), "%s: duplicate rows 1 and ng/2 differ", what.c_str());
      if (zero_g && metric == R4J_COSINE) EXPECT(out2[(size_t)(i * ng + 2)] == 1.f, "%s: zero gallery row: cosine %g", what.c_str(), out2[(size_t)(i * ng + 2)]);
    }
    if (nq >= 1 && ng >= 2 && metric != R4J_COSINE) EXPECT(out2[1] == 0.f, "%s: self distance %g != 0", what.c_str(), out2[1]);
    if (nq >= 2 && metric == R4J_COSINE)
      for (int64_t j = 0; j < ng; ++j) EXPECT(out2[(size_t)(ng + j)] == 1.f, "%s: zero query: cosine %g", what.c_str(), out2[(size_t)(ng + j)]);
  }
  // Internal entry points agree bit for bit with the public one.
  {
    std::vector<float> qn((size_t)nq), gn((size_t)ng);
    r4j::cpu::row_norms(q.data(), nq, d, metric, qn.data());
    r4j::cpu::row_norms(g.data(), ng, d, metric, gn.data());
    // a block from the middle, written with a larger leading dimension
    const int64_t i0 = nq / 3, i1 = nq, j0 = ng / 4, j1 = ng;
    const int64_t ld = (j1 - j0) + 5;
    std::vector<float> blk((size_t)std::max<int64_t>(1, (i1 - i0) * ld), -3.f);
    r4j::cpu::distance_block(q.data() + i0 * d, qn.data() + i0, i1 - i0, g.data() + j0 * d, gn.data() + j0, j1 - j0, d,
                             metric, blk.data(), ld);
    int mism = 0;
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j)
        if (!same_bits(blk[(size_t)((i - i0) * ld + (j - j0))], out2[(size_t)(i * ng + j)])) ++mism;
    EXPECT(mism == 0, "%s: distance_block differs from pairwise at %d entries", what.c_str(), mism);
    mism = 0;
    for (int64_t i = 0; i < nq; i += std::max<int64_t>(1, nq / 5))
      for (int64_t j = 0; j < ng; j += std::max<int64_t>(1, ng / 7))
        if (!same_bits(r4j::cpu::distance_pair(q.data() + i * d, qn[(size_t)i], g.data() + j * d, gn[(size_t)j], d, metric),
                       out2[(size_t)(i * ng + j)]))
          ++mism;
    EXPECT(mism == 0, "%s: distance_pair differs from pairwise at %d entries", what.c_str(), mism);
    std::vector<int> seen((size_t)nq, 0);
    std::vector<int> mism_t(8, 0);
    bool bad_thread = false;
    r4j::cpu::stream_rows(q.data(), nq, g.data(), ng, d, metric,
                          [&](int64_t a, int64_t b, const float *block, int64_t l, int t) {
                            if (t < 0 || t >= 8) { bad_thread = true; return; }
                            for (int64_t i = a; i < b; ++i) {
                              seen[(size_t)i]++;
                              for (int64_t j = 0; j < ng; ++j)
                                if (!same_bits(block[(i - a) * l + j], out2[(size_t)(i * ng + j)])) mism_t[(size_t)t]++;
                            }
                          });
    EXPECT(!bad_thread, "%s: stream_rows thread index out of range", what.c_str());
    int total = 0;
    for (int m : mism_t) total += m;
    EXPECT(total == 0, "%s: stream_rows differs from pairwise at %d entries", what.c_str(), total);
    for (int64_t i = 0; i < nq; ++i) EXPECT(seen[(size_t)i] == 1, "%s: stream_rows row %lld seen %d times", what.c_str(), (long long)i, seen[(size_t)i]);
  }
  // Top-k over the matrix, and fused: exact against a stable full sort of the same float values.
  for (int64_t k : {int64_t(0), int64_t(1), std::min<int64_t>(ng, 5), ng / 2, ng}) {
    if (k > ng) continue;
    for (int threads : {1, 2}) {
      r4j_cpu_set_threads(threads);
      std::vector<float> v1((size_t)(nq * k) + 1, -9.f), v2((size_t)(nq * k) + 1, -9.f);
      std::vector<int32_t> x1((size_t)(nq * k) + 1, -9), x2((size_t)(nq * k) + 1, -9);
      EXPECT(r4j_cpu_topk(out2.data(), nq, ng, k, v1.data(), x1.data()) == R4J_OK, "%s topk: %s", what.c_str(), r4j_last_error());
      EXPECT(r4j_cpu_pairwise_topk(q.data(), nq, g.data(), ng, d, metric, k, v2.data(), x2.data()) == R4J_OK,
             "%s pairwise_topk: %s", what.c_str(), r4j_last_error());
      std::vector<float> rv;
      std::vector<int32_t> ri;
      int mism1 = 0, mism2 = 0;
      for (int64_t i = 0; i < nq; ++i) {
        ref_topk(out2.data() + i * ng, ng, k, rv, ri);
        for (int64_t j = 0; j < k; ++j) {
          const size_t o = (size_t)(i * k + j);
          if (!same_bits(v1[o], rv[(size_t)j]) || x1[o] != ri[(size_t)j]) ++mism1;
          if (!same_bits(v2[o], rv[(size_t)j]) || x2[o] != ri[(size_t)j]) ++mism2;
        }
      }
      EXPECT(mism1 == 0, "%s: topk k=%lld threads=%d: %d mismatches", what.c_str(), (long long)k, threads, mism1);
      EXPECT(mism2 == 0, "%s: pairwise_topk k=%lld threads=%d: %d mismatches", what.c_str(), (long long)k, threads, mism2);
      EXPECT(v1[(size_t)(nq * k)] == -9.f && x2[(size_t)(nq * k)] == -9, "%s: wrote past the output", what.c_str());
    }
  }
}

// Top-k with many ties and special values on a hand-made matrix.
void check_topk_ties(int64_t rows, int64_t cols, int levels) {
  std::uniform_int_distribution<int> small(0, levels);
  std::vector<float> m((size_t)(rows * cols));
  for (auto &v : m) v = (float)small(rng) - 1.5f;
  m[5] = -INFINITY, m[7] = INFINITY;
  for (int64_t k : {int64_t(1), int64_t(3), int64_t(37), cols / 8, cols / 8 + 1, cols / 2, cols - 1, cols}) {
    std::vector<float> v((size_t)(rows * k));
    std::vector<int32_t> x((size_t)(rows * k));
    EXPECT(r4j_cpu_topk(m.data(), rows, cols, k, v.data(), x.data()) == R4J_OK, "ties topk: %s", r4j_last_error());
    std::vector<float> rv;
    std::vector<int32_t> ri;
    int mism = 0;
    for (int64_t i = 0; i < rows; ++i) {
      ref_topk(m.data() + i * cols, cols, k, rv, ri);
      for (int64_t j = 0; j < k; ++j)
        if (v[(size_t)(i * k + j)] != rv[(size_t)j] || x[(size_t)(i * k + j)] != ri[(size_t)j]) ++mism;
    }
    EXPECT(mism == 0, "ties topk %lldx%lld k=%lld: %d mismatches", (long long)rows, (long long)cols, (long long)k, mism);
  }
}

// r4j_cpu_pairwise_topk's column path (forced) against its row path (forced) and against a full
// stable sort of r4j_cpu_pairwise's values: bit-identical values and identical indices, for every
// k in {0, 1, 10, ng} (those <= ng), with 1, 2 and 3 threads on the column path (3 > cores: more
// threads than chunks for small ng, and a 3-way merge). ties: the gallery is built from a few
// distinct rows (many equal values, spread over chunks and threads), plus a zero row and a query
// equal to a gallery row; otherwise random rows with a few duplicates.
void check_topk_paths(int64_t nq, int64_t ng, int64_t d, int metric, bool ties) {
  std::vector<float> q = random_rows(nq, d), g;
  if (ties) {
    std::vector<float> base = random_rows(5, d);
    std::uniform_int_distribution<int> pick(0, 4);
    g.resize((size_t)(ng * d));
    for (int64_t j = 0; j < ng; ++j) {
      const int r = pick(rng);
      std::copy(base.begin() + r * d, base.begin() + (r + 1) * d, g.begin() + j * d);
    }
    if (ng >= 3) std::fill(g.begin() + 2 * d, g.begin() + 3 * d, 0.f);
    if (nq >= 2) std::copy(base.begin(), base.begin() + d, q.begin() + d);
  } else {
    g = random_rows(ng, d);
    if (ng >= 2) std::copy(g.begin(), g.begin() + d, g.begin() + (ng - 1) * d);
    if (ng >= 4) std::copy(g.begin() + d, g.begin() + 2 * d, g.begin() + (ng / 2 + 1) * d);
  }
  if (nq >= 1 && ng >= 2) std::copy(g.begin() + d, g.begin() + 2 * d, q.begin());
  const std::string what = "topk paths " + std::to_string(nq) + "x" + std::to_string(ng) + "x" + std::to_string(d) + " " +
                           metric_name(metric) + (ties ? " ties" : "");
  r4j_cpu_set_threads(2);
  std::vector<float> dist((size_t)std::max<int64_t>(1, nq * ng));
  r4j::cpu::set_stream_path(r4j::cpu::PATH_ROWS);
  EXPECT(r4j_cpu_pairwise(q.data(), nq, g.data(), ng, d, metric, dist.data()) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
  EXPECT(r4j::cpu::last_stream_path() == r4j::cpu::PATH_ROWS, "%s: pairwise row path not taken", what.c_str());
  // r4j_cpu_pairwise's column path: bit-identical matrix (1 and 3 threads only on smaller shapes).
  r4j::cpu::set_stream_path(r4j::cpu::PATH_COLUMNS);
  for (int threads : {1, 2, 3}) {
    if (threads != 2 && nq * ng * d > 50000000) continue;
    r4j_cpu_set_threads(threads);
    std::vector<float> dc((size_t)(nq * ng) + 1, -9.f);
    EXPECT(r4j_cpu_pairwise(q.data(), nq, g.data(), ng, d, metric, dc.data()) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
    EXPECT(r4j::cpu::last_stream_path() == r4j::cpu::PATH_COLUMNS, "%s: pairwise column path not taken", what.c_str());
    int mism = 0;
    for (int64_t e = 0; e < nq * ng; ++e)
      if (!same_bits(dc[(size_t)e], dist[(size_t)e])) ++mism;
    EXPECT(mism == 0, "%s threads=%d: pairwise column path differs from row path at %d entries", what.c_str(), threads, mism);
    EXPECT(dc[(size_t)(nq * ng)] == -9.f, "%s: pairwise column path wrote past the output", what.c_str());
  }
  r4j_cpu_set_threads(2);
  // Full stable order of every row, once: reference for every k is its prefix.
  std::vector<int32_t> order((size_t)(nq * ng));
  for (int64_t i = 0; i < nq; ++i) {
    const float *row = dist.data() + i * ng;
    int32_t *o = order.data() + i * ng;
    for (int64_t j = 0; j < ng; ++j) o[j] = (int32_t)j;
    std::sort(o, o + ng, [&](int32_t a, int32_t b) { return row[a] < row[b] || (row[a] == row[b] && a < b); });
  }
  for (int64_t k : {int64_t(0), int64_t(1), int64_t(10), ng}) {
    if (k > ng) continue;
    const size_t n = (size_t)(nq * k);
    std::vector<float> vr(n + 1, -9.f);
    std::vector<int32_t> xr(n + 1, -9);
    r4j::cpu::set_stream_path(r4j::cpu::PATH_ROWS);
    EXPECT(r4j_cpu_pairwise_topk(q.data(), nq, g.data(), ng, d, metric, k, vr.data(), xr.data()) == R4J_OK,
           "%s rows k=%lld: %s", what.c_str(), (long long)k, r4j_last_error());
    if (nq > 0 && k > 0)
      EXPECT(r4j::cpu::last_stream_path() == r4j::cpu::PATH_ROWS, "%s k=%lld: row path not taken", what.c_str(), (long long)k);
    for (int threads : {1, 2, 3}) {
      if (threads != 2 && (nq * ng * d > 50000000 || k == ng)) continue;  // keep the scalar rerun short
      r4j_cpu_set_threads(threads);
      std::vector<float> vc(n + 1, -9.f);
      std::vector<int32_t> xc(n + 1, -9);
      r4j::cpu::set_stream_path(r4j::cpu::PATH_COLUMNS);
      EXPECT(r4j_cpu_pairwise_topk(q.data(), nq, g.data(), ng, d, metric, k, vc.data(), xc.data()) == R4J_OK,
             "%s columns k=%lld: %s", what.c_str(), (long long)k, r4j_last_error());
      if (nq > 0 && k > 0)
        EXPECT(r4j::cpu::last_stream_path() == r4j::cpu::PATH_COLUMNS, "%s k=%lld: column path not taken", what.c_str(), (long long)k);
      int vs_rows = 0, vs_ref = 0;
      for (int64_t i = 0; i < nq; ++i)
        for (int64_t j = 0; j < k; ++j) {
          const size_t o = (size_t)(i * k + j);
          const int32_t want = order[(size_t)(i * ng + j)];
          if (!same_bits(vc[o], vr[o]) || xc[o] != xr[o]) ++vs_rows;
          if (!same_bits(vc[o], dist[(size_t)(i * ng + want)]) || xc[o] != want) ++vs_ref;
        }
      EXPECT(vs_rows == 0, "%s k=%lld threads=%d: column path differs from row path at %d entries", what.c_str(),
             (long long)k, threads, vs_rows);
      EXPECT(vs_ref == 0, "%s k=%lld threads=%d: column path differs from pairwise + sort at %d entries", what.c_str(),
             (long long)k, threads, vs_ref);
      EXPECT(vc[n] == -9.f && xc[n] == -9, "%s k=%lld: column path wrote past the output", what.c_str(), (long long)k);
    }
    r4j_cpu_set_threads(2);
  }
  r4j::cpu::set_stream_path(r4j::cpu::PATH_AUTO);
}

// The automatic choice (pairwise_topk and pairwise): few queries against a gallery of many chunks take the column path; a
// gallery of one chunk, or many queries, the row path.
// r4j_cpu_memory_topk of rows [row0, row0 + nm) of a memory (a gallery packed once, rows written in pieces
// and some overwritten) against r4j_cpu_pairwise_topk on the same rows, bit for bit, on the row path, the
// column path and the automatic choice, with 1 and 2 threads; rows outside the range (written or not)
// never appear, and indices are relative to row0.
void check_memory_topk(int64_t nq, int64_t nm, int64_t row0, int64_t capacity, int64_t d, int metric) {
  const std::string what = "memory topk " + std::to_string(nq) + "x[" + std::to_string(row0) + "+" +
                           std::to_string(nm) + ")/" + std::to_string(capacity) + "x" + std::to_string(d) + " " +
                           metric_name(metric);
  std::vector<float> q = random_rows(nq, d), g = random_rows(capacity, d);
  const float *gs = g.data() + row0 * d;  // the rows searched
  if (nm >= 3) std::copy(g.begin() + row0 * d, g.begin() + (row0 + 1) * d, g.begin() + (row0 + nm - 1) * d);  // a tie
  if (nq >= 1 && nm >= 2) std::copy(g.begin() + (row0 + 1) * d, g.begin() + (row0 + 2) * d, q.begin());
  void *h = nullptr;
  EXPECT(r4j_cpu_memory_create(capacity, d, metric, &h) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
  if (h == nullptr) return;
  // Written out of order in pieces; rows [row0, row0 + nm) first written with other values, then overwritten.
  std::vector<float> junk = random_rows(std::max<int64_t>(nm, 1), d, 3.f);
  if (nm > 0)
    EXPECT(r4j_cpu_memory_write(h, row0, junk.data(), nm) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
  for (int64_t r0 = capacity; r0 > 0;) {
    const int64_t n = std::min<int64_t>(r0, 1 + (int64_t)(rng() % 97));
    r0 -= n;
    EXPECT(r4j_cpu_memory_write(h, r0, g.data() + r0 * d, n) == R4J_OK, "%s: %s", what.c_str(), r4j_last_error());
  }
  for (int64_t k : {int64_t(0), int64_t(1), std::min<int64_t>(nm, 10), nm}) {
    if (k > nm) continue;
    const size_t n = (size_t)(nq * k);
    std::vector<float> vw(n + 1, -9.f), vg(n + 1, -9.f);
    std::vector<int32_t> xw(n + 1, -9), xg(n + 1, -9);
    for (int path : {(int)r4j::cpu::PATH_ROWS, (int)r4j::cpu::PATH_COLUMNS, (int)r4j::cpu::PATH_AUTO})
      for (int threads : {1, 2}) {
        r4j_cpu_set_threads(threads);
        r4j::cpu::set_stream_path((r4j::cpu::StreamPath)path);
        EXPECT(r4j_cpu_pairwise_topk(q.data(), nq, gs, nm, d, metric, k, vw.data(), xw.data()) == R4J_OK,
               "%s: %s", what.c_str(), r4j_last_error());
        const r4j::cpu::StreamPath want = r4j::cpu::last_stream_path();
        EXPECT(r4j_cpu_memory_topk(h, row0, nm, q.data(), nq, k, vg.data(), xg.data()) == R4J_OK, "%s: %s",
               what.c_str(), r4j_last_error());
        if (nq > 0 && k > 0)
          EXPECT(r4j::cpu::last_stream_path() == want, "%s k=%lld path %d: took path %d, pairwise_topk %d", what.c_str(),
                 (long long)k, path, (int)r4j::cpu::last_stream_path(), (int)want);
        int mism = 0;
        for (size_t j = 0; j < n; ++j) mism += !same_bits(vw[j], vg[j]) || xw[j] != xg[j] || xg[j] < 0 || xg[j] >= nm;
        EXPECT(mism == 0, "%s k=%lld path %d threads %d: %d entries differ from pairwise_topk", what.c_str(),
               (long long)k, path, threads, mism);
        EXPECT(vg[n] == -9.f && xg[n] == -9, "%s k=%lld: wrote past the output", what.c_str(), (long long)k);
      }
  }
  r4j::cpu::set_stream_path(r4j::cpu::PATH_AUTO);
  r4j_cpu_set_threads(2);
  float v[2];
  int32_t x[2];
  EXPECT(r4j_cpu_memory_topk(h, row0, nm, q.data(), nq, nm + 1, v, x) == R4J_EINVAL, "%s: k > nm accepted", what.c_str());
  EXPECT(r4j_cpu_memory_topk(h, row0, capacity - row0 + 1, q.data(), nq, 0, v, x) == R4J_EINVAL,
         "%s: rows past the capacity accepted", what.c_str());
  EXPECT(r4j_cpu_memory_topk(h, row0, -1, q.data(), nq, 0, v, x) == R4J_EINVAL, "%s: nm < 0 accepted", what.c_str());
  EXPECT(r4j_cpu_memory_topk(h, -R4J_CPU_MEMORY_ROW_ALIGN, 0, q.data(), nq, 0, v, x) == R4J_EINVAL,
         "%s: row0 < 0 accepted", what.c_str());
  if (capacity >= 1)
    EXPECT(r4j_cpu_memory_topk(h, R4J_CPU_MEMORY_ROW_ALIGN / 2, 0, q.data(), nq, 0, v, x) == R4J_EINVAL,
           "%s: a row0 inside a panel accepted", what.c_str());
  if (nq > 0 && nm > 0)
    EXPECT(r4j_cpu_memory_topk(h, row0, nm, q.data(), nq, 1, nullptr, x) == R4J_EINVAL, "%s: null out_val accepted",
           what.c_str());
  EXPECT(r4j_cpu_memory_topk(nullptr, 0, 0, q.data(), nq, 0, v, x) == R4J_EINVAL, "%s: null handle accepted", what.c_str());
  r4j_cpu_memory_free(h);
}

void check_topk_auto_path() {
  r4j_cpu_set_threads(2);
  r4j::cpu::set_stream_path(r4j::cpu::PATH_AUTO);
  const int64_t d = 64;
  const r4j::cpu::ColumnShape s = r4j::cpu::column_shape(d);
  struct Case {
    int64_t nq, ng;
    r4j::cpu::StreamPath want;
  } cases[] = {{1, 16 * s.chunk_rows, r4j::cpu::PATH_COLUMNS},
               {64, 16 * s.chunk_rows, r4j::cpu::PATH_COLUMNS},
               {7, s.chunk_rows, r4j::cpu::PATH_ROWS},
               {4 * s.block_rows + 1, 16 * s.chunk_rows, r4j::cpu::PATH_ROWS}};
  for (const Case &c : cases) {
    std::vector<float> q = random_rows(c.nq, d), g = random_rows(c.ng, d);
    std::vector<float> v((size_t)(c.nq * 10));
    std::vector<int32_t> x((size_t)(c.nq * 10));
    EXPECT(r4j_cpu_pairwise_topk(q.data(), c.nq, g.data(), c.ng, d, 0, 10, v.data(), x.data()) == R4J_OK, "auto path: %s",
           r4j_last_error());
    EXPECT(r4j::cpu::last_stream_path() == c.want, "auto path %lld x %lld: took %d, want %d", (long long)c.nq,
           (long long)c.ng, (int)r4j::cpu::last_stream_path(), (int)c.want);
    std::vector<float> dist((size_t)(c.nq * c.ng));
    EXPECT(r4j_cpu_pairwise(q.data(), c.nq, g.data(), c.ng, d, 0, dist.data()) == R4J_OK, "auto path: %s", r4j_last_error());
    EXPECT(r4j::cpu::last_stream_path() == c.want, "auto path pairwise %lld x %lld: took %d, want %d", (long long)c.nq,
           (long long)c.ng, (int)r4j::cpu::last_stream_path(), (int)c.want);
  }
}

void expect_einval(int st, const char *what) {
  EXPECT(st == R4J_EINVAL, "%s: status %d, want EINVAL", what, st);
  EXPECT(std::strlen(r4j_last_error()) > 0, "%s: no error message", what);
}

void check_errors() {
  std::vector<float> a(64, 1.f), o(64);
  std::vector<int32_t> oi(64);
  const float *p = a.data();
  const int64_t big = int64_t(1) << 31;
  expect_einval(r4j_cpu_pairwise(nullptr, 2, p, 2, 4, 0, o.data()), "pairwise null q");
  expect_einval(r4j_cpu_pairwise(p, 2, nullptr, 2, 4, 0, o.data()), "pairwise null g");
  expect_einval(r4j_cpu_pairwise(p, 2, p, 2, 4, 0, nullptr), "pairwise null out");
  expect_einval(r4j_cpu_pairwise(p, -1, p, 2, 4, 0, o.data()), "pairwise nq < 0");
  expect_einval(r4j_cpu_pairwise(p, 2, p, -2, 4, 0, o.data()), "pairwise ng < 0");
  expect_einval(r4j_cpu_pairwise(p, big, p, 2, 4, 0, o.data()), "pairwise nq = 2^31");
  expect_einval(r4j_cpu_pairwise(p, 2, p, big, 4, 0, o.data()), "pairwise ng = 2^31");
  expect_einval(r4j_cpu_pairwise(p, 2, p, 2, 0, 0, o.data()), "pairwise d = 0");
  expect_einval(r4j_cpu_pairwise(p, 2, p, 2, -3, 0, o.data()), "pairwise d < 0");
  expect_einval(r4j_cpu_pairwise(p, 2, p, 2, 4, 3, o.data()), "pairwise metric 3");
  expect_einval(r4j_cpu_pairwise(p, 2, p, 2, 4, -1, o.data()), "pairwise metric -1");
  expect_einval(r4j_cpu_topk(nullptr, 2, 4, 1, o.data(), oi.data()), "topk null dist");
  expect_einval(r4j_cpu_topk(p, 2, 4, 1, nullptr, oi.data()), "topk null val");
  expect_einval(r4j_cpu_topk(p, 2, 4, 1, o.data(), nullptr), "topk null idx");
  expect_einval(r4j_cpu_topk(p, -1, 4, 1, o.data(), oi.data()), "topk rows < 0");
  expect_einval(r4j_cpu_topk(p, 2, -4, 0, o.data(), oi.data()), "topk cols < 0");
  expect_einval(r4j_cpu_topk(p, big, 4, 1, o.data(), oi.data()), "topk rows = 2^31");
  expect_einval(r4j_cpu_topk(p, 2, 4, 5, o.data(), oi.data()), "topk k > cols");
  expect_einval(r4j_cpu_topk(p, 2, 4, -1, o.data(), oi.data()), "topk k < 0");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, p, 4, 4, 0, 5, o.data(), oi.data()), "pairwise_topk k > ng");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, p, 4, 4, 0, -1, o.data(), oi.data()), "pairwise_topk k < 0");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, p, 4, 4, 7, 1, o.data(), oi.data()), "pairwise_topk metric");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, nullptr, 4, 4, 0, 1, o.data(), oi.data()), "pairwise_topk null g");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, p, 4, 0, 0, 1, o.data(), oi.data()), "pairwise_topk d = 0");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, p, 4, 4, 0, 1, nullptr, oi.data()), "pairwise_topk null val");
  expect_einval(r4j_cpu_pairwise_topk(p, 2, p, 4, 4, 0, 1, o.data(), nullptr), "pairwise_topk null idx");
  // Empty inputs are fine (null pointers allowed where nothing is read or written) and clear the error.
  EXPECT(r4j_cpu_pairwise(nullptr, 0, p, 2, 4, 0, nullptr) == R4J_OK, "pairwise nq = 0: %s", r4j_last_error());
  EXPECT(std::strlen(r4j_last_error()) == 0, "error message not cleared after success");
  EXPECT(r4j_cpu_pairwise(p, 2, nullptr, 0, 4, 0, nullptr) == R4J_OK, "pairwise ng = 0: %s", r4j_last_error());
  EXPECT(r4j_cpu_topk(nullptr, 0, 4, 2, nullptr, nullptr) == R4J_OK, "topk rows = 0: %s", r4j_last_error());
  EXPECT(r4j_cpu_topk(p, 2, 4, 0, nullptr, nullptr) == R4J_OK, "topk k = 0: %s", r4j_last_error());
  EXPECT(r4j_cpu_topk(nullptr, 3, 0, 0, nullptr, nullptr) == R4J_OK, "topk cols = 0: %s", r4j_last_error());
  EXPECT(r4j_cpu_pairwise_topk(p, 2, nullptr, 0, 4, 0, 0, nullptr, nullptr) == R4J_OK, "pairwise_topk ng = 0: %s", r4j_last_error());
  EXPECT(r4j_cpu_pairwise_topk(nullptr, 0, p, 4, 4, 2, 3, nullptr, nullptr) == R4J_OK, "pairwise_topk nq = 0: %s", r4j_last_error());
  EXPECT(r4j_cpu_pairwise_topk(p, 2, p, 4, 4, 1, 0, nullptr, nullptr) == R4J_OK, "pairwise_topk k = 0: %s", r4j_last_error());
}

// Distances of a fixed set of shapes (tails of every SIMD width and micro-tile, more than one k
// block), for the bit-for-bit check between the FMA paths: AVX-512 and AVX2 sum every chain in the
// same order with fused multiply-adds, so they must agree exactly (the scalar path does not fuse).
std::vector<float> fma_probe() {
  std::mt19937 r(12345);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> all;
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 17, 7}, {13, 31, 33}, {29, 100, 257}, {20, 70, 1030}, {5, 3, 1000}};
  for (const auto &s : shapes)
    for (int metric = 0; metric < 3; ++metric) {
      std::vector<float> q(s[0] * s[2]), g(s[1] * s[2]), o(s[0] * s[1]);
      for (auto &v : q) v = nd(r);
      for (auto &v : g) v = nd(r);
      EXPECT(r4j_cpu_pairwise(q.data(), s[0], g.data(), s[1], s[2], metric, o.data()) == R4J_OK, "fma probe: %s",
             r4j_last_error());
      all.insert(all.end(), o.begin(), o.end());
    }
  return all;
}

// Writes the probe of this path to a temporary file (its name returned), or compares it with the
// one in `reference` (the parent run's, on the AVX-512 path).
std::string fma_probe_file() {
  char name[] = "/tmp/r4j-fma-probe-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT(fd >= 0, "cannot create a temporary file");
  if (fd < 0) return "";
  const std::vector<float> p = fma_probe();
  FILE *f = fdopen(fd, "wb");
  EXPECT(std::fwrite(p.data(), sizeof(float), p.size(), f) == p.size(), "cannot write %s", name);
  std::fclose(f);
  return name;
}

void check_fma_probe(const char *reference) {
  const std::vector<float> p = fma_probe();
  std::vector<float> ref(p.size() + 1);
  FILE *f = std::fopen(reference, "rb");
  EXPECT(f != nullptr, "cannot read %s", reference);
  if (f == nullptr) return;
  const size_t n = std::fread(ref.data(), sizeof(float), ref.size(), f);
  std::fclose(f);
  EXPECT(n == p.size(), "the reference holds %zu values, this path computed %zu", n, p.size());
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < std::min(n, p.size()); ++i)
    if (std::memcmp(&p[i], &ref[i], sizeof(float)) != 0 && differ++ == 0) first = i;
  EXPECT(differ == 0, "%zu of %zu distances differ from the AVX-512 path's bits (first at %zu: %.9g vs %.9g)",
         differ, p.size(), first, (double)p[first], (double)ref[first]);
  if (differ == 0 && n == p.size())
    std::printf("fma probe: %zu distances equal to the AVX-512 path's, bit for bit (isa %s)\n", p.size(),
                r4j_cpu_isa());
}

}  // namespace

int main(int argc, char **argv) {
  const unsigned long long seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10)
                                           : (unsigned long long)std::chrono::steady_clock::now().time_since_epoch().count();
  rng.seed(seed);
  std::printf("test_cpu_distance: seed %llu, isa %s\n", seed, r4j_cpu_isa());
  const bool quick = std::getenv("R4J_TEST_QUICK") != nullptr;

  check_errors();
  check_topk_ties(37, 301, 4);
  check_topk_ties(9, 5000, 40);    // several candidate-buffer compactions per row
  check_topk_ties(5, 20000, 100000);
  const int64_t sizes[] = {0, 1, 3, 17, 31, 33, 100, 257};
  const int64_t dims[] = {1, 2, 7, 16, 33, 100, 257, 600};
  std::uniform_int_distribution<int> pick(0, 7);
  int cases = 0;
  // Systematic small grid, then random shapes from the lists.
  for (int metric = 0; metric < 3; ++metric) {
    for (int64_t d : {int64_t(1), int64_t(17), int64_t(64)})
      for (int64_t nq : {int64_t(0), int64_t(1), int64_t(3), int64_t(33)})
        for (int64_t ng : {int64_t(0), int64_t(1), int64_t(5), int64_t(40)}) {
          check_shape(nq, ng, d, metric, 0.f, true);
          ++cases;
        }
    for (int r = 0; r < (quick ? 4 : 16); ++r) {
      const int64_t nq = sizes[pick(rng)], ng = sizes[pick(rng)], d = dims[pick(rng)];
      check_shape(nq, ng, d, metric, r % 3 == 0 ? 3.f : 0.f, r % 2 == 0);
      ++cases;
    }
    if (!quick) {
      check_shape(150, 700, 2048, metric, 0.f, true);  // more than one k block and row block
      check_shape(130, 1100, 513, metric, 1.f, true);
      cases += 2;
    }
  }
  // Column path of pairwise_topk against the row path (quick: a subset). The reruns for the other
  // SIMD paths take the subset too (R4J_TEST_PATHS_QUICK): the grid is ~25 s per path, and the paths
  // share everything but the micro-kernel and the packing, which the subset covers.
  const bool paths_quick = quick || std::getenv("R4J_TEST_PATHS_QUICK") != nullptr;
  int path_cases = 0;
  check_topk_auto_path();
  for (int metric = 0; metric < 3; ++metric)
    for (int64_t nq : {int64_t(1), int64_t(2), int64_t(7), int64_t(64), int64_t(129)})
      for (int64_t ng : {int64_t(1), int64_t(31), int64_t(1000), int64_t(20011)})
        for (int64_t d : {int64_t(1), int64_t(5), int64_t(64), int64_t(512)}) {
          if (paths_quick && (nq * ng * d > 5000000 || (nq + ng + d) % 3 != 0)) continue;
          check_topk_paths(nq, ng, d, metric, (nq + ng + d + metric) % 2 == 0);
          ++path_cases;
        }
  std::printf("%d pairwise_topk path shapes checked\n", path_cases);
  int memory_cases = 0;
  for (int metric = 0; metric < 3; ++metric)
    for (int64_t nq : {int64_t(0), int64_t(1), int64_t(7), int64_t(33)})
      for (int64_t nm : {int64_t(0), int64_t(1), int64_t(45), int64_t(5003)})
        for (int64_t d : {int64_t(1), int64_t(17), int64_t(128)}) {
          if (paths_quick && (nq + nm + d + metric) % 3 != 0) continue;
          for (int64_t row0 : {int64_t(0), int64_t(2 * R4J_CPU_MEMORY_ROW_ALIGN)}) {
            check_memory_topk(nq, nm, row0, row0 + nm + (nm + d) % 40, d, metric);
            ++memory_cases;
          }
        }
  std::printf("%d resident memory top-k shapes checked\n", memory_cases);
  r4j_cpu_set_threads(0);
  if (const char *ref = std::getenv("R4J_TEST_FMA_REFERENCE")) check_fma_probe(ref);
  std::printf("%d shapes checked, %d failures (isa %s)\n", cases, failures, r4j_cpu_isa());
  int status = 0;  // a failing rerun; this run's own failures are counted at the end

  if (std::getenv("R4J_CPU_ISA") == nullptr) {
    const std::string probe = std::strcmp(r4j_cpu_isa(), "avx512") == 0 ? fma_probe_file() : "";
    for (const char *isa : {"avx2", "scalar"}) {
      if (std::strcmp(isa, r4j_cpu_isa()) == 0) continue;
      const std::string ref = !probe.empty() && std::strcmp(isa, "avx2") == 0
                                  ? std::string("R4J_TEST_FMA_REFERENCE='") + probe + "' " : "";
      const std::string cmd = ref + "R4J_TEST_PATHS_QUICK=1 R4J_CPU_ISA=" + isa + " '" + argv[0] + "' " +
                              std::to_string(seed);
      std::fflush(stdout);
      const int rc = std::system(cmd.c_str());
      if (rc != 0) {
        std::printf("FAIL: rerun with R4J_CPU_ISA=%s returned %d\n", isa, rc);
        status = 1;
      }
    }
    if (!probe.empty()) std::remove(probe.c_str());
  }
  if (failures > 0) status = 1;
  if (status == 0) std::printf("PASS\n");
  return status;
}
