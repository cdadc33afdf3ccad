// Internal header-only helper: the k smallest entries by (value, index), i.e. equal values are
// ordered by smaller index. No full sort of the input: push() keeps a bounded max-heap of k entries
// (O(log k) per accepted entry, one compare per rejected one); select_row() screens a whole row
// against a threshold into a candidate buffer of 4k entries that partial selections (nth_element)
// shrink back to k, or for large k runs one partial selection; only the k winners are sorted.
//
//   TopkSelector sel;            // reusable; keeps its memory between rows
//   sel.reset(k);
//   for (...) sel.push(v, j);    // any order of j
//   sel.sorted_into(vals, idx);  // writes size() = min(k, pushes) entries, ascending; empties sel
//
//   sel.select_row(row, n, k, vals, idx);  // whole row at once (indices 0..n-1), picks the method
//
// NaN values are not supported (undefined order).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace r4j {
namespace cpu {

struct TopkEntry {
  float v;
  int32_t i;
};

// Strict (value, index) order.
inline bool topk_less(const TopkEntry &a, const TopkEntry &b) { return a.v < b.v || (a.v == b.v && a.i < b.i); }

// The same order as a function object, for the standard algorithms: a function pointer there is called
// indirectly for every comparison (nth_element was a quarter of a 4,096-row top-k pass that way).
struct TopkLess {
  bool operator()(const TopkEntry &a, const TopkEntry &b) const { return topk_less(a, b); }
};

// Bit t of the result: row[t] < thr (row[t] <= thr when kLessEqual), for t < n <= 32; NaN never
// passes. The screen of the top-k scans: most blocks of 32 hold no candidate, and where some do only
// their lanes are visited (a lane-by-lane loop there pays an unpredictable branch per lane).
template <bool kLessEqual>
inline uint32_t screen32(const float *row, int64_t n, float thr) {
#if defined(__SSE2__)
  if (n == 32) {
    const __m128 t = _mm_set1_ps(thr);
    uint32_t m = 0;
    for (int q = 0; q < 8; ++q) {
      const __m128 v = _mm_loadu_ps(row + 4 * q);
      const __m128 c = kLessEqual ? _mm_cmple_ps(v, t) : _mm_cmplt_ps(v, t);
      m |= static_cast<uint32_t>(_mm_movemask_ps(c)) << (4 * q);
    }
    return m;
  }
#endif
  uint32_t m = 0;
  for (int64_t j = 0; j < n; ++j) m |= static_cast<uint32_t>(kLessEqual ? row[j] <= thr : row[j] < thr) << j;
  return m;
}

class TopkSelector {
 public:
  // Starts a new selection of the k smallest (k >= 0).
  void reset(int64_t k) {
    k_ = k < 0 ? 0 : k;
    heap_.clear();
    if ((int64_t)heap_.capacity() < k_) heap_.reserve(k_);
  }

  int64_t size() const { return (int64_t)heap_.size(); }

  // Makes select_row(..., n, ...) allocation-free (useful where exceptions must not escape).
  // (select_row and push share the storage: do not interleave them.)
  void reserve(int64_t n) {
    if ((int64_t)heap_.capacity() < n) heap_.reserve(n);
  }

  // Offers one entry.
  void push(float v, int32_t idx) {
    const int64_t n = (int64_t)heap_.size();
    if (n < k_) {
      heap_.push_back({v, idx});
      sift_up(n);
      return;
    }
    if (k_ == 0) return;
    const TopkEntry e{v, idx};
    if (!topk_less(e, heap_[0])) return;  // not better than the current worst
    heap_[0] = e;
    sift_down(0);
  }

  // The kept entries ascending by (value, index) into vals/idx (size() of each); empties the
  // selector (call reset before reusing it).
  void sorted_into(float *vals, int32_t *idx) {
    std::sort_heap(heap_.begin(), heap_.end(), TopkLess{});
    for (size_t j = 0; j < heap_.size(); ++j) {
      vals[j] = heap_[j].v;
      idx[j] = heap_[j].i;
    }
    heap_.clear();
  }

  // The k smallest of row[0..n) (indices 0..n-1), ascending, into vals/idx; 0 <= k <= n.
  void select_row(const float *row, int64_t n, int64_t k, float *vals, int32_t *idx) {
    if (k <= 0) return;
    if (k * 8 <= n) {
      // Candidate buffer: entries below the current threshold are appended; when the buffer is
      // full, a partial selection keeps the k best and the threshold drops to the k-th value.
      // Indices only grow along the row, so an entry equal to the threshold loses (the tie goes
      // to the smaller index, already kept). Blocks of 32 are screened with a branch-free scan;
      // most of them hold no candidate.
      const int64_t cap = k * 4 > 64 ? k * 4 : 64;
      heap_.clear();
      int64_t j = 0;
      for (; j < n && (int64_t)heap_.size() < cap; ++j) heap_.push_back({row[j], (int32_t)j});
      float thr = 0.f;
      if (j < n) thr = compact(k);
      while (j < n) {
        const int64_t len = j + 32 <= n ? 32 : n - j;
        for (uint32_t m = screen32<false>(row + j, len, thr); m != 0; m &= m - 1) {
          const int64_t t = j + __builtin_ctz(m);
          if (row[t] < thr) {  // the threshold may have dropped within the block
            heap_.push_back({row[t], (int32_t)t});
            if ((int64_t)heap_.size() == cap) thr = compact(k);
          }
        }
        j += len;
      }
      if ((int64_t)heap_.size() > k) compact(k);
      std::sort(heap_.begin(), heap_.end(), TopkLess{});
      for (size_t t = 0; t < heap_.size(); ++t) {
        vals[t] = heap_[t].v;
        idx[t] = heap_[t].i;
      }
      heap_.clear();
      return;
    }
    heap_.resize(n);
    for (int64_t j = 0; j < n; ++j) heap_[j] = {row[j], (int32_t)j};
    if (k < n) std::nth_element(heap_.begin(), heap_.begin() + (k - 1), heap_.end(), TopkLess{});
    std::sort(heap_.begin(), heap_.begin() + k, TopkLess{});
    for (int64_t j = 0; j < k; ++j) {
      vals[j] = heap_[j].v;
      idx[j] = heap_[j].i;
    }
    heap_.clear();
  }

 private:
  // Keeps the k best entries of heap_ (unordered, not a heap) and returns the k-th value.
  float compact(int64_t k) {
    std::nth_element(heap_.begin(), heap_.begin() + (k - 1), heap_.end(), TopkLess{});
    heap_.resize(k);
    return heap_[k - 1].v;
  }

  // Max-heap on (value, index): heap_[0] is the worst kept entry.
  void sift_up(int64_t j) {
    const TopkEntry e = heap_[j];
    while (j > 0) {
      const int64_t parent = (j - 1) / 2;
      if (!topk_less(heap_[parent], e)) break;
      heap_[j] = heap_[parent];
      j = parent;
    }
    heap_[j] = e;
  }
  void sift_down(int64_t j) {
    const int64_t n = (int64_t)heap_.size();
    const TopkEntry e = heap_[j];
    for (;;) {
      int64_t c = 2 * j + 1;
      if (c >= n) break;
      if (c + 1 < n && topk_less(heap_[c], heap_[c + 1])) ++c;
      if (!topk_less(e, heap_[c])) break;
      heap_[j] = heap_[c];
      j = c;
    }
    heap_[j] = e;
  }

  int64_t k_ = 0;
  std::vector<TopkEntry> heap_;
};

}  // namespace cpu
}  // namespace r4j
