// Batch-hard triplet mining on the CPU (r4j_cpu_batch_hard, r4j_cpu_batch_hard_memory).
//
// The anchor x candidate distance matrix is streamed in whole-row blocks (stream_rows), so it is
// never held, the distances come from the fast distance kernels, and the anchors are spread over
// the worker threads. Each anchor's row is then scanned once in ascending candidate order:
//  - hardest positive: largest distance among same-label candidates (the anchor itself excluded in
//    the in-batch form), replaced only by a strictly larger value, so ties keep the smaller index;
//  - hardest negative: smallest distance among other-label candidates, replaced only by a strictly
//    smaller value (same tie rule).
// With no candidate the index is -1 and the distance NaN. The first candidate seen is always taken,
// so a row whose candidate distances are all NaN (NaN input features) still reports a candidate.
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <string>

#include "common.h"
#include "distance.h"
#include "reid4j.h"

namespace {

struct Hardest {
  int32_t pos = -1, neg = -1;
  float pos_d = std::numeric_limits<float>::quiet_NaN();
  float neg_d = std::numeric_limits<float>::quiet_NaN();
};

// Scans one row of distances. `self` is the candidate to skip (-1: none).
inline Hardest scan_row(const float *row, int64_t n, const int32_t *labels, int32_t label,
                        int64_t self) {
  Hardest h;
  // Best values so far; -inf / +inf until a candidate is seen (the first one always wins below).
  float best_pos = -std::numeric_limits<float>::infinity();
  float best_neg = std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    const float v = row[j];
    if (labels[j] == label) {
      if (j == self) continue;
      if (h.pos < 0 || v > best_pos) {
        best_pos = v;
        h.pos = static_cast<int32_t>(j);
      }
    } else {
      if (h.neg < 0 || v < best_neg) {
        best_neg = v;
        h.neg = static_cast<int32_t>(j);
      }
    }
  }
  if (h.pos >= 0) h.pos_d = best_pos;
  if (h.neg >= 0) h.neg_d = best_neg;
  return h;
}

int check_outputs(const char *fn, int64_t n, const void *a, const void *b, const void *c, const void *d) {
  if (n > 0 && (a == nullptr || b == nullptr || c == nullptr || d == nullptr))
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": an output pointer is null");
  return R4J_OK;
}

void no_candidates(int64_t na, int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < na; ++i) {
    pos_idx[i] = neg_idx[i] = -1;
    pos_dist[i] = neg_dist[i] = nan;
  }
}

// The block callback that scans each streamed row of anchor-to-candidate distances.
r4j::cpu::RowBlockFn scanner(const int32_t *a_labels, const int32_t *m_labels, int64_t nm, bool in_batch,
                             int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  return [=](int64_t i0, int64_t i1, const float *block, int64_t ld, int) {
    for (int64_t i = i0; i < i1; ++i) {
      const Hardest h = scan_row(block + (i - i0) * ld, nm, m_labels, a_labels[i], in_batch ? i : -1);
      pos_idx[i] = h.pos;
      pos_dist[i] = h.pos_d;
      neg_idx[i] = h.neg;
      neg_dist[i] = h.neg_d;
    }
  };
}

int run_mining(const float *a, const int32_t *a_labels, int64_t na, const float *m,
               const int32_t *m_labels, int64_t nm, int64_t d, int metric, bool in_batch,
               int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  if (na == 0) return R4J_OK;
  if (nm == 0) {  // empty memory: no candidate at all
    no_candidates(na, pos_idx, pos_dist, neg_idx, neg_dist);
    return R4J_OK;
  }
  r4j::cpu::stream_rows(a, na, m, nm, d, metric,
                        scanner(a_labels, m_labels, nm, in_batch, pos_idx, pos_dist, neg_idx, neg_dist));
  return R4J_OK;
}

// A resident mining memory: the packed rows (see PackedGallery's resident form).
struct Memory {
  r4j::cpu::PackedGallery rows;
  Memory(int64_t capacity, int64_t d, int metric) : rows(capacity, d, metric) {}
};

// The memory behind h when h is a handle and rows [0, nm) are within its capacity; else null, with
// the error set (R4J_EINVAL).
Memory *memory_rows(const char *fn, void *h, int64_t nm) {
  if (h == nullptr) {
    r4j::fail(R4J_EINVAL, std::string(fn) + ": the handle is null");
    return nullptr;
  }
  Memory *m = static_cast<Memory *>(h);
  if (nm < 0 || nm > m->rows.capacity()) {
    r4j::fail(R4J_EINVAL, std::string(fn) + ": nm must be in [0, capacity " + std::to_string(m->rows.capacity()) +
                              "], got " + std::to_string(nm));
    return nullptr;
  }
  return m;
}

}  // namespace

extern "C" {

int r4j_cpu_batch_hard(const float *x, const int32_t *labels, int64_t n, int64_t d, int metric,
                       int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_batch_hard";
  int st = r4j::check_rows(fn, "x", x, n, d);
  if (st != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if (n > 0 && labels == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": labels is null");
  if ((st = check_outputs(fn, n, pos_idx, pos_dist, neg_idx, neg_dist)) != R4J_OK) return st;
  try {
    return run_mining(x, labels, n, x, labels, n, d, metric, true, pos_idx, pos_dist, neg_idx, neg_dist);
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory");
  }
}

int r4j_cpu_batch_hard_memory(const float *a, const int32_t *a_labels, int64_t na, const float *m,
                              const int32_t *m_labels, int64_t nm, int64_t d, int metric,
                              int32_t *pos_idx, float *pos_dist, int32_t *neg_idx, float *neg_dist) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_batch_hard_memory";
  int st = r4j::check_rows(fn, "a", a, na, d);
  if (st != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "m", m, nm, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if (na > 0 && a_labels == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": a_labels is null");
  if (nm > 0 && m_labels == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": m_labels is null");
  if ((st = check_outputs(fn, na, pos_idx, pos_dist, neg_idx, neg_dist)) != R4J_OK) return st;
  try {
    return run_mining(a, a_labels, na, m, m_labels, nm, d, metric, false, pos_idx, pos_dist, neg_idx,
                      neg_dist);
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory");
  }
}

int r4j_cpu_memory_create(int64_t capacity, int64_t d, int metric, void **out) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_memory_create";
  if (out == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": out is null");
  *out = nullptr;
  if (capacity < 0 || capacity > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": capacity must be in [0, 2^31), got " + std::to_string(capacity));
  if (d < 1 || d > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": d must be in [1, 2^31), got " + std::to_string(d));
  if (capacity > 0 && d > (int64_t(1) << 40) / capacity)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": capacity x d is too large");
  int st = r4j::check_metric(fn, metric);
  if (st != R4J_OK) return st;
  try {
    *out = new Memory(capacity, d, metric);
    return R4J_OK;
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory for " + std::to_string(capacity) + " x " +
                                     std::to_string(d) + " floats");
  }
}

int r4j_cpu_memory_write(void *h, int64_t row0, const float *rows, int64_t n) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_memory_write";
  if (h == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": the handle is null");
  Memory &m = *static_cast<Memory *>(h);
  const int64_t cap = m.rows.capacity();
  if (row0 < 0 || n < 0 || row0 > cap || n > cap - row0)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": rows [" + std::to_string(row0) + ", " + std::to_string(row0) +
                                     " + " + std::to_string(n) + ") outside the capacity " + std::to_string(cap));
  if (n > 0 && rows == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": rows is null");
  m.rows.write_rows(row0, rows, n);
  return R4J_OK;
}

int r4j_cpu_memory_batch_hard(void *h, int64_t nm, const int32_t *m_labels, const float *a,
                              const int32_t *a_labels, int64_t na, int32_t *pos_idx, float *pos_dist,
                              int32_t *neg_idx, float *neg_dist) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_memory_batch_hard";
  Memory *mp = memory_rows(fn, h, nm);
  if (mp == nullptr) return R4J_EINVAL;
  Memory &m = *mp;
  int st = r4j::check_rows(fn, "a", a, na, m.rows.dim());
  if (st != R4J_OK) return st;
  if (na > 0 && a_labels == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": a_labels is null");
  if (nm > 0 && m_labels == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": m_labels is null");
  if ((st = check_outputs(fn, na, pos_idx, pos_dist, neg_idx, neg_dist)) != R4J_OK) return st;
  if (na == 0) return R4J_OK;
  if (nm == 0) {
    no_candidates(na, pos_idx, pos_dist, neg_idx, neg_dist);
    return R4J_OK;
  }
  try {
    m.rows.set_rows(nm);
    // One block per thread: every block reads the whole memory (e.g. 128 MB for 16,384 x 2048).
    r4j::cpu::stream_rows(a, na, m.rows, scanner(a_labels, m_labels, nm, false, pos_idx, pos_dist, neg_idx, neg_dist),
                          1);
    return R4J_OK;
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory");
  }
}

int r4j_cpu_memory_topk(void *h, int64_t row0, int64_t nrows, const float *q, int64_t nq, int64_t k,
                        float *out_val, int32_t *out_idx) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_memory_topk";
  Memory *mp = memory_rows(fn, h, 0);
  if (mp == nullptr) return R4J_EINVAL;
  const int64_t cap = mp->rows.capacity();
  if (row0 < 0 || nrows < 0 || row0 > cap || nrows > cap - row0)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": rows [" + std::to_string(row0) + ", " + std::to_string(row0) +
                                     " + " + std::to_string(nrows) + ") outside the capacity " + std::to_string(cap));
  if (row0 % R4J_CPU_MEMORY_ROW_ALIGN != 0)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": row0 must be a multiple of " +
                                     std::to_string(R4J_CPU_MEMORY_ROW_ALIGN) + ", got " + std::to_string(row0));
  int st = r4j::check_rows(fn, "q", q, nq, mp->rows.dim());
  if (st != R4J_OK) return st;
  if ((st = r4j::check_k(fn, k, nrows, "nrows")) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "out_val", out_val, nq > 0 && k > 0)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "out_idx", out_idx, nq > 0 && k > 0)) != R4J_OK) return st;
  try {
    // A view of the rows searched: the handle itself is only read, so searches may run concurrently.
    r4j::cpu::PackedGallery view(mp->rows, row0, nrows);
    r4j::cpu::packed_topk(q, nq, view, nrows, k, out_val, out_idx);
    return R4J_OK;
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory");
  }
}

void r4j_cpu_memory_free(void *h) { delete static_cast<Memory *>(h); }

}  // extern "C"
