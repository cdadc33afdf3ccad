// Public CPU entry points: pairwise distances, top-k over a dense matrix, and the fused
// pairwise + top-k that never holds the [nq, ng] matrix.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <limits>
#include <vector>

#include "common.h"
#include "distance.h"
#include "reid4j.h"
#include "topk.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using r4j::check_k;
using r4j::check_out;

std::atomic<int> stream_path_setting{-1};  // -1: not read from the environment yet
thread_local r4j::cpu::StreamPath last_path = r4j::cpu::PATH_AUTO;

// Column path of pairwise_topk: each thread keeps, per query row, a buffer of entries that holds
// its k best so far (by (value, index)) among the columns it has seen, plus candidates: an entry is
// appended when it beats the row's threshold (the k-th best at the last compaction; (+inf,
// INT32_MAX) before the first, which lets everything in); a full buffer (cap = k + extra entries)
// is cut back to its k best by a partial selection, which also lowers the threshold. At the end the
// threads' buffers of each row are merged: partial selection of the k best, then a sort. The order
// is the strict total order (value, index), so the result is exactly the first k entries of the
// row sorted by (value, index), the same as TopkSelector::select_row on the row path. (Distances are
// never NaN: r4j_finish maps NaN to 0.)
//
// Memory: per thread nq * cap entries of 8 bytes, cap = k + extra with extra = 64..1024, i.e. about
// the size of the output per thread plus at most nq * 8 KB; allocated up front, before streaming.
struct ColumnTopk {
  int64_t nq, k, cap;
  int threads;
  std::vector<r4j::cpu::TopkEntry> buf;  // [threads][nq][cap]
  std::vector<int64_t> size;             // [threads][nq]
  std::vector<r4j::cpu::TopkEntry> thr;  // [threads][nq]

  ColumnTopk(int64_t nq_, int64_t k_, int threads_) : nq(nq_), k(k_), threads(threads_) {
    cap = k + std::max<int64_t>(64, std::min<int64_t>(k, 1024));
    buf.resize((size_t)(threads * nq * cap));
    size.assign((size_t)(threads * nq), 0);
    thr.assign((size_t)(threads * nq), r4j::cpu::TopkEntry{INFINITY, INT32_MAX});
  }

  // Offers row[0..n) as columns j0..j0+n-1 of query row i, on thread t. Allocation-free.
  void offer(int t, int64_t i, const float *row, int64_t n, int64_t j0) {
    using r4j::cpu::TopkEntry;
    using r4j::cpu::topk_less;
    const size_t r = (size_t)(t * nq + i);
    TopkEntry *b = buf.data() + r * cap;
    int64_t sz = size[r];
    TopkEntry th = thr[r];
    for (int64_t s = 0; s < n; s += 32) {
      const int64_t e = std::min<int64_t>(n, s + 32);
      // most blocks hold no candidate; where some do, only their lanes are visited
      for (uint32_t m = r4j::cpu::screen32<true>(row + s, e - s, th.v); m != 0; m &= m - 1) {
        const int64_t j = s + __builtin_ctz(m);
        const TopkEntry en{row[j], (int32_t)(j0 + j)};
        if (!topk_less(en, th)) continue;
        b[sz++] = en;
        if (sz == cap) {
          std::nth_element(b, b + (k - 1), b + sz, r4j::cpu::TopkLess{});
          sz = k;
          th = b[k - 1];
        }
      }
    }
    size[r] = sz;
    thr[r] = th;
  }

  // Merges the threads' buffers of row i into vals/idx (k entries, ascending). scratch: threads * cap.
  void finish_row(int64_t i, r4j::cpu::TopkEntry *scratch, float *vals, int32_t *idx) const {
    int64_t n = 0;
    for (int t = 0; t < threads; ++t) {
      const size_t r = (size_t)(t * nq + i);
      std::copy(buf.data() + r * cap, buf.data() + r * cap + size[r], scratch + n);
      n += size[r];
    }
    // n >= k: every column was offered to some thread, and a thread drops entries only below its k best.
    if (n > k) std::nth_element(scratch, scratch + (k - 1), scratch + n, r4j::cpu::TopkLess{});
    std::sort(scratch, scratch + k, r4j::cpu::TopkLess{});
    for (int64_t j = 0; j < k; ++j) vals[j] = scratch[j].v, idx[j] = scratch[j].i;
  }
};

// Automatic choice (r4j::cpu::PATH_AUTO): the column path when the query rows are few enough to be
// run against each chunk in a few packed blocks (then the gallery is read once, instead of once per
// row block after a full packed copy), the gallery gives every thread several chunks, and the
// per-thread running lists stay small. Market-shaped evaluation (thousands of queries) stays on the
// row path, which reads the packed gallery once per ~8 MB row block and keeps the queries in place.
// (Measured at 100k x 512 and 15913 x 2048: columns faster up to at least 4 query blocks, e.g.
// 1120 queries at d = 512; rows faster at 3368 x 15913 x 2048.) k < 0: r4j_cpu_pairwise (no lists).
bool use_column_path(int64_t nq, int64_t ng, int64_t d, int64_t k, int threads) {
  const r4j::cpu::StreamPath p = r4j::cpu::stream_path();
  if (p == r4j::cpu::PATH_ROWS) return false;
  if (p == r4j::cpu::PATH_COLUMNS) return true;
  const r4j::cpu::ColumnShape s = r4j::cpu::column_shape(d);
  const int64_t nchunks = (ng + s.chunk_rows - 1) / s.chunk_rows;
  const int64_t list_bytes = k < 0 ? 0 : nq * (k + std::max<int64_t>(64, std::min<int64_t>(k, 1024))) * 8;
  return nq <= 4 * s.block_rows && nchunks >= 4 * (int64_t)threads && list_bytes <= (int64_t(64) << 20);
}

}  // namespace

namespace r4j {
namespace cpu {

void set_stream_path(StreamPath path) { stream_path_setting.store((int)path); }

StreamPath last_stream_path() { return last_path; }

StreamPath stream_path() {
  int p = stream_path_setting.load();
  if (p < 0) {
    const char *e = std::getenv("R4J_CPU_PATH");
    p = e != nullptr && std::strcmp(e, "rows") == 0      ? PATH_ROWS
        : e != nullptr && std::strcmp(e, "columns") == 0 ? PATH_COLUMNS
                                                         : PATH_AUTO;
    int expected = -1;
    stream_path_setting.compare_exchange_strong(expected, p);
    p = stream_path_setting.load();
  }
  return (StreamPath)p;
}

}  // namespace cpu
}  // namespace r4j

namespace {

// The argument checks shared by the fused pairwise top-k kernels.
int check_pairwise_topk(const char *fn, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                        int metric, int64_t k, const float *out_val, const int32_t *out_idx) {
  int st;
  if ((st = r4j::check_rows(fn, "q", q, nq, d)) != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "g", g, ng, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if ((st = check_k(fn, k, ng, "ng")) != R4J_OK) return st;
  if ((st = check_out(fn, "out_val", out_val, nq > 0 && k > 0)) != R4J_OK) return st;
  if ((st = check_out(fn, "out_idx", out_idx, nq > 0 && k > 0)) != R4J_OK) return st;
  return R4J_OK;
}

// The top-k of r4j_cpu_pairwise_topk and of r4j::cpu::packed_topk (nq > 0, k > 0): cols(fn) streams
// the distances on the column path, rows(fn) on the row path; the path as use_column_path decides.
template <class Cols, class Rows>
void run_topk(int64_t nq, int64_t ng, int64_t d, int64_t k, float *out_val, int32_t *out_idx, Cols cols, Rows rows) {
  const int threads = r4j::cpu_threads();
  const bool columns = use_column_path(nq, ng, d, k, threads);
  last_path = columns ? r4j::cpu::PATH_COLUMNS : r4j::cpu::PATH_ROWS;
  if (columns) {
    // Column path (few queries, large gallery): one pass over the gallery, chunks packed per
    // thread; per-thread running lists (see ColumnTopk for the memory), merged per row at the end.
    ColumnTopk state(nq, k, threads);
    std::vector<r4j::cpu::TopkEntry> scratch((size_t)(threads * threads * state.cap));
    cols([&](int64_t i0, int64_t i1, int64_t j0, int64_t j1, const float *block, int64_t ld, int t) {
      for (int64_t i = i0; i < i1; ++i) state.offer(t, i, block + (i - i0) * ld, j1 - j0, j0);
    });
#pragma omp parallel for num_threads(threads) schedule(static) if (nq > 1 && nq * k > 4096)
    for (int64_t i = 0; i < nq; ++i) {
#ifdef _OPENMP
      const int t = omp_get_thread_num();
#else
      const int t = 0;
#endif
      state.finish_row(i, scratch.data() + (size_t)t * threads * state.cap, out_val + i * k, out_idx + i * k);
    }
    return;
  }
  // Streams row blocks (packed gallery, about ng * d floats, plus an ~8 MB block per thread)
  // into per-row selections. One selector per worker thread, allocated up front (the callback must not throw).
  std::vector<r4j::cpu::TopkSelector> sel(threads);
  for (auto &s : sel) s.reserve(ng);
  rows([&](int64_t i0, int64_t i1, const float *block, int64_t ld, int t) {
    r4j::cpu::TopkSelector &s = sel[t];
    for (int64_t i = i0; i < i1; ++i) s.select_row(block + (i - i0) * ld, ng, k, out_val + i * k, out_idx + i * k);
  });
}

}  // namespace

namespace r4j {
namespace cpu {

void packed_topk(const float *q, int64_t nq, PackedGallery &g, int64_t ng, int64_t k, float *out_val,
                 int32_t *out_idx) {
  if (nq == 0 || k == 0) return;
  run_topk(nq, ng, g.dim(), k, out_val, out_idx,
           [&](const ColumnBlockFn &f) { stream_columns(q, nq, g, ng, f); },
           [&](const RowBlockFn &f) {
             g.set_rows(ng);
             stream_rows(q, nq, g, f);
           });
}

}  // namespace cpu
}  // namespace r4j

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
    // Writes straight into out. Few queries against a large gallery: column path (per-thread
    // chunk buffers, about 256 KB + the packed query block each); otherwise the row path, whose
    // extra memory is the packed gallery (about ng * d floats).
    const bool columns = use_column_path(nq, ng, d, -1, r4j::cpu_threads());
    last_path = columns ? r4j::cpu::PATH_COLUMNS : r4j::cpu::PATH_ROWS;
    if (columns)
      r4j::cpu::pairwise_columns(q, nq, g, ng, d, metric, out, ng);
    else
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
  if ((st = check_pairwise_topk(fn, q, nq, g, ng, d, metric, k, out_val, out_idx)) != R4J_OK) return st;
  if (nq == 0 || k == 0) return R4J_OK;
  try {
    run_topk(nq, ng, d, k, out_val, out_idx,
             [&](const r4j::cpu::ColumnBlockFn &f) { r4j::cpu::stream_columns(q, nq, g, ng, d, metric, f); },
             [&](const r4j::cpu::RowBlockFn &f) { r4j::cpu::stream_rows(q, nq, g, ng, d, metric, f); });
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of memory");
  }
  return R4J_OK;
}

int r4j_cpu_pairwise_topk_max(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                              int metric, int64_t k, float *out_val, int32_t *out_idx, float *out_max) {
  static const char *fn = "r4j_cpu_pairwise_topk_max";
  r4j::clear_error();
  int st;
  if ((st = check_pairwise_topk(fn, q, nq, g, ng, d, metric, k, out_val, out_idx)) != R4J_OK) return st;
  if ((st = check_out(fn, "out_max", out_max, nq > 0)) != R4J_OK) return st;
  if (nq == 0) return R4J_OK;
  if (ng == 0) {
    for (int64_t i = 0; i < nq; ++i) out_max[i] = -std::numeric_limits<float>::infinity();
    return R4J_OK;
  }
  try {
    // Always the row path: each row block holds whole rows, so a row's selection and its maximum
    // are taken from one pass over its values.
    const int threads = r4j::cpu_threads();
    std::vector<r4j::cpu::TopkSelector> sel(threads);
    for (auto &s : sel) s.reserve(ng);
    r4j::cpu::stream_rows(q, nq, g, ng, d, metric,
                          [&](int64_t i0, int64_t i1, const float *block, int64_t ld, int t) {
                            r4j::cpu::TopkSelector &s = sel[t];
                            for (int64_t i = i0; i < i1; ++i) {
                              const float *row = block + (i - i0) * ld;
                              if (k > 0) s.select_row(row, ng, k, out_val + i * k, out_idx + i * k);
                              float m0 = row[0], m1 = row[0], m2 = row[0], m3 = row[0];
                              int64_t j = 0;
                              for (; j + 4 <= ng; j += 4) {
                                m0 = row[j] > m0 ? row[j] : m0;
                                m1 = row[j + 1] > m1 ? row[j + 1] : m1;
                                m2 = row[j + 2] > m2 ? row[j + 2] : m2;
                                m3 = row[j + 3] > m3 ? row[j + 3] : m3;
                              }
                              for (; j < ng; ++j) m0 = row[j] > m0 ? row[j] : m0;
                              m0 = m1 > m0 ? m1 : m0;
                              m2 = m3 > m2 ? m3 : m2;
                              out_max[i] = m2 > m0 ? m2 : m0;
                            }
                          });
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of memory");
  }
  return R4J_OK;
}

}  // extern "C"
