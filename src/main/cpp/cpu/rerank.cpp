// k-reciprocal re-ranking on the CPU (r4j_cpu_rerank).
//
// Follows the k-reciprocal encoding of Zhong et al., "Re-ranking Person Re-identification with
// k-reciprocal Encoding" (CVPR 2017), step by step as the widely used reference implementation
// does it, but without any N x N matrix (N = nq + ng, queries first):
//
//  1. One pass over the N x N distance matrix D keeps, per row i, the row maximum and the
//     K = max(k1 + 1, k2) nearest items by (distance, index); the query x gallery block of D is
//     written straight into `out`. D is symmetric bit for bit with the distance kernels used here,
//     so only the tiles on and above the diagonal are computed (distance_block), each feeding its
//     rows and, transposed, its columns: half the floating-point work of streaming whole rows
//     (stream_rows), with the same values. Memory: O(N * K) plus one tile per thread.
//     original(i, j) = D(i, j) / max_j D(i, j). D is symmetric, so dividing row i by its own maximum
//     is the reference's "divide by the column maximum, then transpose". Guard: when that maximum
//     is not positive (all items of the row coincide, or N == 1) the divisor 1 is used instead, so
//     original(i, .) = D(i, .) rather than the reference's 0/0 = NaN.
//     The neighbour lists are selected on D directly, by (D, index): the order of original (division
//     by a positive constant is monotone), except that the division can round two distances one
//     float apart to one value; every backend keeps their order by D.
//  2. R(i): forward = the first min(k1 + 1, N) items of i's list; R(i) = those f whose own first
//     min(k1 + 1, N) items contain i. R_half(c) likewise with half + 1 items, half =
//     round_half_to_even(k1 / 2) (numpy's np.around). Expansion: append R_half(c) for every c in
//     R(i) with |R_half(c) & R(i)| > 2/3 |R_half(c)| (tested exactly as 3 * count > 2 * size).
//  3. V(i, j) = exp(-original(i, j)) / sum over the expanded set (sorted, unique). Distances outside
//     i's own list are computed afresh (distance_block on the gathered rows, bit-identical to
//     distance_pair). The reference stores V in float16; we use float32 (weights summed in double).
//  4. k2 > 1: V'(i) = mean of V over the first min(k2, N) items of i's list (sparse merge, summed in
//     double in list order). Otherwise V' = V.
//  5. Inverted index over the gallery rows of V' (rows r with V'(r, c) != 0, ascending r).
//  6. For each query i: s(i, j) = sum over c in V'(i) (ascending c) of min(V'(i, c), V'(j, c)) for
//     every gallery j, accumulated in double through the inverted index; Jaccard distance
//     1 - s / (2 - s); out = (1 - lambda) * Jaccard + lambda * original.
//
// Parallel over rows / queries with OpenMP; every sum is taken in a fixed order, so the result does
// not depend on the thread count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <utility>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common.h"
#include "distance.h"
#include "reid4j.h"

namespace {

// ---- neighbour lists: the k smallest of each row of D by (value, index) ---------------------
//
// Each row's list is a max-heap (worst entry on top) in two parallel arrays of length k, filled
// from any order of candidates; thr[i] is the value an entry must not exceed to be offered
// (+inf until the heap is full). The k smallest by the strict (value, index) order are unique,
// so the lists do not depend on the order in which tiles are visited.

inline bool after(float va, int32_t ia, float vb, int32_t ib) {
  return va > vb || (va == vb && ia > ib);
}

inline void sift_down(float *v, int32_t *ix, int64_t n, int64_t p) {
  const float pv = v[p];
  const int32_t pi = ix[p];
  for (;;) {
    int64_t c = 2 * p + 1;
    if (c >= n) break;
    if (c + 1 < n && after(v[c + 1], ix[c + 1], v[c], ix[c])) ++c;
    if (!after(v[c], ix[c], pv, pi)) break;
    v[p] = v[c];
    ix[p] = ix[c];
    p = c;
  }
  v[p] = pv;
  ix[p] = pi;
}

struct Lists {
  int64_t k;
  float *val;     // [n, k]
  int32_t *idx;   // [n, k]
  int32_t *cnt;   // [n] entries held
  float *thr;     // [n]
  float *rmax;    // [n] running row maximum

  // Offers (v, j) to row i (caller has checked !(v > thr[i]); a NaN is taken only while filling).
  void offer(int64_t i, float v, int32_t j) {
    float *hv = val + i * k;
    int32_t *hi = idx + i * k;
    int32_t c = cnt[i];
    if (c < k) {  // filling: sift up
      int64_t p = c;
      while (p > 0) {
        const int64_t up = (p - 1) / 2;
        if (!after(v, j, hv[up], hi[up])) break;
        hv[p] = hv[up];
        hi[p] = hi[up];
        p = up;
      }
      hv[p] = v;
      hi[p] = j;
      cnt[i] = ++c;
      if (c == k) thr[i] = hv[0];
      return;
    }
    if (!after(hv[0], hi[0], v, j)) return;  // not better than the worst held
    hv[0] = v;
    hi[0] = j;
    sift_down(hv, hi, k, 0);
    thr[i] = hv[0];
  }

  // Heap sort in place: row i ascending by (value, index).
  void finish(int64_t i) {
    float *hv = val + i * k;
    int32_t *hi = idx + i * k;
    for (int64_t end = k - 1; end > 0; --end) {
      std::swap(hv[0], hv[end]);
      std::swap(hi[0], hi[end]);
      sift_down(hv, hi, end, 0);
    }
  }
};

constexpr int64_t kLanes = 16;

// Lanes j of a group of 16 with !(r[j] > thr[j]) (NaN included), as bits, thr[j] being thr[0] for
// every lane when kOneThreshold; m[j] = max(m[j], r[j]) as `r > m ? r : m`. The screen of both
// updates: a group usually has no candidate, and where it has some, only their lanes are visited (a
// lane-by-lane loop there mispredicted a branch per lane).
template <bool kOneThreshold>
inline uint32_t screen16(const float *r, const float *thr, float *m) {
#if defined(__SSE2__)
  uint32_t mask = 0;
  const __m128 one = _mm_set1_ps(thr[0]);
  for (int q = 0; q < 4; ++q) {
    const __m128 v = _mm_loadu_ps(r + 4 * q);
    const __m128 t = kOneThreshold ? one : _mm_loadu_ps(thr + 4 * q);
    _mm_storeu_ps(m + 4 * q, _mm_max_ps(v, _mm_loadu_ps(m + 4 * q)));  // v > m ? v : m
    mask |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpngt_ps(v, t))) << (4 * q);
  }
  return mask;
#else
  uint32_t mask = 0;
  for (int t = 0; t < kLanes; ++t) {
    m[t] = r[t] > m[t] ? r[t] : m[t];
    mask |= static_cast<uint32_t>(!(r[t] > thr[kOneThreshold ? 0 : t])) << t;
  }
  return mask;
#endif
}

// Row-wise update: row i sees the values row[0..w) of columns j0 + t.
void update_row(Lists &L, int64_t i, const float *row, int64_t w, int64_t j0) {
  float mx = L.rmax[i];
  float lane_max[kLanes];
  for (int64_t t = 0; t < kLanes; ++t) lane_max[t] = mx;
  int64_t j = 0;
  for (; j + kLanes <= w; j += kLanes) {
    const float *r = row + j;
    for (uint32_t mask = screen16<true>(r, L.thr + i, lane_max); mask != 0; mask &= mask - 1) {
      const int t = __builtin_ctz(mask);
      if (!(r[t] > L.thr[i])) L.offer(i, r[t], static_cast<int32_t>(j0 + j + t));
    }
  }
  for (int64_t t = 0; t < kLanes; ++t) mx = lane_max[t] > mx ? lane_max[t] : mx;
  for (; j < w; ++j) {
    mx = row[j] > mx ? row[j] : mx;
    if (!(row[j] > L.thr[i])) L.offer(i, row[j], static_cast<int32_t>(j0 + j));
  }
  L.rmax[i] = mx;
}

// Column-wise update (the transposed tile): rows j0 + t each see value row[t] of column i.
void update_cols(Lists &L, int64_t i, const float *row, int64_t w, int64_t j0) {
  float *rmax = L.rmax + j0;
  const float *thr = L.thr + j0;
  int64_t j = 0;
  for (; j + kLanes <= w; j += kLanes) {
    const float *r = row + j;
    for (uint32_t mask = screen16<false>(r, thr + j, rmax + j); mask != 0; mask &= mask - 1) {
      const int t = __builtin_ctz(mask);
      if (!(r[t] > thr[j + t])) L.offer(j0 + j + t, r[t], static_cast<int32_t>(i));
    }
  }
  for (; j < w; ++j) {
    rmax[j] = row[j] > rmax[j] ? row[j] : rmax[j];
    if (!(row[j] > thr[j])) L.offer(j0 + j, row[j], static_cast<int32_t>(i));
  }
}

// Runs body(i, scratch) for i in [0, n) on cpu_threads() threads, handed out `chunk` at a time, each
// thread with its own scratch from init(); allocation failures inside are reported through the return
// value (false) instead of escaping the parallel region.
template <class Init, class Body>
bool parallel_rows(int64_t n, Init init, Body body, int64_t chunk = 32) {
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(r4j::cpu_threads())
  {
    decltype(init()) scratch{};
    bool have = false;
    try {
      scratch = init();
      have = true;
    } catch (...) {
      failed = true;
    }
    // Every thread meets the same worksharing loop; after a failure the remaining rows are skipped.
#pragma omp for schedule(dynamic, chunk)
    for (int64_t i = 0; i < n; ++i) {
      if (!have || failed.load(std::memory_order_relaxed)) continue;
      try {
        body(i, scratch);
      } catch (...) {
        failed = true;
      }
    }
  }
  return !failed.load();
}

// One tile of a pass over distances: rows i0..i1 of the lists in R (their features from x, statistics
// from xn, row i0's first) against the w columns from j0 (from y and yn) into buf; each value is offered
// to its row's list in R (as column j0 + t), under row_lock, and, when C is not null, to its column's
// list in C (row j0 + t of C, as column i), under col_lock. Throws std::bad_alloc (distance_block's
// scratch).
void feed_tile(const float *x, const float *xn, int64_t i0, int64_t i1, const float *y, const float *yn, int64_t j0,
               int64_t w, int64_t d, int metric, float *buf, Lists &R, std::mutex &row_lock, Lists *C,
               std::mutex *col_lock) {
  r4j::cpu::distance_block(x, xn, i1 - i0, y, yn, w, d, metric, buf, w);
  {
    std::lock_guard<std::mutex> lock(row_lock);
    for (int64_t i = i0; i < i1; ++i) update_row(R, i, buf + (i - i0) * w, w, j0);
  }
  if (C != nullptr) {
    std::lock_guard<std::mutex> lock(*col_lock);
    for (int64_t i = i0; i < i1; ++i) update_cols(*C, i, buf + (i - i0) * w, w, j0);
  }
}

// The one pass over the N x N distance matrix D of the N = nq + ng items (q's rows, then g's). D
// is symmetric bit for bit (every pair's value depends only on its two rows, and the dot product
// and the norm sum commute), so only the tiles on and above the diagonal are computed
// (distance_block), each feeding the lists of its rows and, transposed, of its columns: half the
// work of streaming whole rows. The items are cut into bands of `tile` rows, the queries' bands
// first and then the gallery's (a band never holds rows of both, so that its rows are contiguous
// in one input); tile (b, c) is band b against band c, c >= b. The tiles are computed in row-band
// order, a run of whole bands at a time (run), so that a caller can report progress; after band
// b, the lists of the rows of bands 0..b are complete. Memory: O(N * k) plus one tile per thread.
class SymmetricPass {
 public:
  // Throws std::bad_alloc when out of memory. q and g are read by every run().
  SymmetricPass(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric, int64_t k)
      : q_(q), g_(g), nq_(nq), n_(nq + ng), d_(d), metric_(metric), k_(k) {
    const int threads = r4j::cpu_threads();
    // Square tiles: large enough that packing a tile's columns is small next to its GEMM, small
    // enough that there are several tiles per thread.
    tile_ = 512;
    while (tile_ > 64 && (n_ + tile_ - 1) / tile_ < 3 * threads) tile_ /= 2;
    for (int64_t r = 0; r < nq; r += tile_) band_.push_back(r);
    for (int64_t r = nq; r < n_; r += tile_) band_.push_back(r);
    band_.push_back(n_);
    const int64_t nb = bands();
    total_ = nb * (nb + 1) / 2;
    norms_.resize(static_cast<size_t>(n_));
    if (nq > 0) r4j::cpu::row_norms(q, nq, d, metric, norms_.data());
    if (ng > 0) r4j::cpu::row_norms(g, ng, d, metric, norms_.data() + nq);
    val_.resize(static_cast<size_t>(n_ * k));
    idx_.resize(static_cast<size_t>(n_ * k));
    cnt_.assign(static_cast<size_t>(n_), 0);
    thr_.assign(static_cast<size_t>(n_), std::numeric_limits<float>::infinity());
    rmax_.assign(static_cast<size_t>(n_), -std::numeric_limits<float>::infinity());
    band_lock_ = std::vector<std::mutex>(static_cast<size_t>(nb));
  }

  int64_t items() const { return n_; }
  int64_t k() const { return k_; }
  int64_t tiles_done() const { return done_; }
  int64_t tiles_total() const { return total_; }
  bool complete() const { return next_band_ == bands(); }

  // Computes the tiles of the next bands: whole bands, at least one, no further band once this call
  // has computed max_tiles tiles (max_tiles <= 0: every remaining band). When out is not null, the
  // query x gallery distances of those tiles are written into it ([nq, ng]). False when out of memory.
  bool run(int64_t max_tiles, float *out) {
    const int64_t nb = bands(), b0 = next_band_;
    if (b0 == nb) return true;
    int64_t b1 = b0, count = 0;
    while (b1 < nb && (max_tiles <= 0 || count < max_tiles)) count += nb - b1++;
    std::vector<std::pair<int32_t, int32_t>> tiles;
    tiles.reserve(static_cast<size_t>(count));
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t c = b; c < nb; ++c) tiles.emplace_back(static_cast<int32_t>(b), static_cast<int32_t>(c));
    Lists L{k_, val_.data(), idx_.data(), cnt_.data(), thr_.data(), rmax_.data()};
    const int64_t ng = n_ - nq_;
    const bool ok = parallel_rows(
        static_cast<int64_t>(tiles.size()), [&] { return std::vector<float>(static_cast<size_t>(tile_ * tile_)); },
        [&](int64_t t, std::vector<float> &buf) {
          const int64_t b = tiles[t].first, c = tiles[t].second;
          const int64_t i0 = band_[b], i1 = band_[b + 1], j0 = band_[c], w = band_[c + 1] - j0;
          feed_tile(item(i0), norms_.data() + i0, i0, i1, item(j0), norms_.data() + j0, j0, w, d_, metric_,
                    buf.data(), L, band_lock_[b], c != b ? &L : nullptr, &band_lock_[c]);
          // Query x gallery distances: the tiles of a query band against a gallery band (the query
          // bands come first, so every such pair lies above the diagonal, each in exactly one tile).
          if (out != nullptr && i0 < nq_ && j0 >= nq_)
            for (int64_t i = i0; i < i1; ++i)
              std::memcpy(out + i * ng + (j0 - nq_), buf.data() + (i - i0) * w, sizeof(float) * w);
        },
        1);
    if (!ok) return false;
    next_band_ = b1;
    done_ += count;
    return true;
  }

  // After every band: sorts each list ascending by (value, index). Idempotent.
  void finish() {
    if (finished_) return;
    Lists L{k_, val_.data(), idx_.data(), cnt_.data(), thr_.data(), rmax_.data()};
    for (int64_t i = 0; i < n_; ++i) L.finish(i);
    finished_ = true;
  }

  const float *values() const { return val_.data(); }     // [N, k]
  const int32_t *indices() const { return idx_.data(); }  // [N, k]
  const float *row_max() const { return rmax_.data(); }   // [N]
  const std::vector<float> &value_vector() const { return val_; }
  const std::vector<int32_t> &index_vector() const { return idx_; }
  const std::vector<float> &norm_vector() const { return norms_; }  // row statistics, as row_norms gives
  // Item i's d values (q's rows, then g's).
  const float *item(int64_t i) const { return i < nq_ ? q_ + i * d_ : g_ + (i - nq_) * d_; }

 private:
  int64_t bands() const { return static_cast<int64_t>(band_.size()) - 1; }

  const float *q_, *g_;
  int64_t nq_, n_, d_;
  int metric_;
  int64_t k_, tile_ = 0, total_ = 0, done_ = 0, next_band_ = 0;
  bool finished_ = false;
  std::vector<int64_t> band_;  // first row of each band, then N
  std::vector<float> norms_, val_, thr_, rmax_;
  std::vector<int32_t> idx_, cnt_;
  std::vector<std::mutex> band_lock_;
};

struct Entry {
  int32_t col;
  float val;
};

// Per-thread scratch: stamp arrays over the N items (a slot "belongs" to row i when it holds i+1).
struct Scratch {
  std::vector<int32_t> in_r, in_e, kpos_stamp, kpos;
  std::vector<double> acc;
  std::vector<int32_t> list, miss;
  std::vector<float> dist, gather, gnorm, gout;
};

int rerank_impl(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                int32_t k1, int32_t k2, float lambda, float *out) {
  const int64_t n = nq + ng;

  int64_t half = k1 / 2;  // round_half_to_even(k1 / 2)
  if ((k1 % 2) != 0 && (half % 2) != 0) ++half;
  const int64_t kk = std::min<int64_t>(n, std::max<int64_t>(int64_t(k1) + 1, k2));  // list length
  const int64_t kf = std::min<int64_t>(n, int64_t(k1) + 1);                         // forward
  const int64_t kh = std::min<int64_t>(n, half + 1);                                // half forward
  const int64_t kq = std::min<int64_t>(n, k2);                                      // query expansion

  // ---- 1. one pass over D: neighbour lists, row maxima, query x gallery distances ------------
  SymmetricPass pass(q, nq, g, ng, d, metric, kk);  // item i: pass.item(i), queries first
  if (!pass.run(0, out)) throw std::bad_alloc();
  pass.finish();
  const std::vector<float> &nn_val = pass.value_vector(), &norms = pass.norm_vector();
  const std::vector<int32_t> &nn_idx = pass.index_vector();
  std::vector<float> rdiv(static_cast<size_t>(n));  // divisor of row i (its max, or 1)
  for (int64_t i = 0; i < n; ++i) rdiv[i] = pass.row_max()[i] > 0.f ? pass.row_max()[i] : 1.f;

  // Does item i appear among the first `len` entries of item f's list?
  auto listed = [&](int64_t f, int64_t i, int64_t len) {
    const int32_t *l = nn_idx.data() + f * kk;
    for (int64_t t = 0; t < len; ++t)
      if (l[t] == i) return true;
    return false;
  };

  // ---- 2a. reciprocal sets R(i) (k1 + 1 items) and R_half(i) (half + 1 items) ----------------
  std::vector<int32_t> r_idx(static_cast<size_t>(n * kf)), r_len(static_cast<size_t>(n));
  std::vector<int32_t> h_idx(static_cast<size_t>(n * kh)), h_len(static_cast<size_t>(n));
  auto no_scratch = [] { return 0; };
  bool ok = parallel_rows(n, no_scratch, [&](int64_t i, int) {
    const int32_t *l = nn_idx.data() + i * kk;
    int32_t c = 0;
    for (int64_t t = 0; t < kf; ++t)
      if (listed(l[t], i, kf)) r_idx[i * kf + c++] = l[t];
    r_len[i] = c;
    c = 0;
    for (int64_t t = 0; t < kh; ++t)
      if (listed(l[t], i, kh)) h_idx[i * kh + c++] = l[t];
    h_len[i] = c;
  });
  if (!ok) throw std::bad_alloc();

  auto make_scratch = [&] {
    Scratch s;
    s.in_r.assign(static_cast<size_t>(n), 0);
    s.in_e.assign(static_cast<size_t>(n), 0);
    s.kpos_stamp.assign(static_cast<size_t>(n), 0);
    s.kpos.assign(static_cast<size_t>(n), 0);
    return s;
  };

  // ---- 2b/3. expanded sets and weights: sparse rows V(i) -------------------------------------
  std::vector<std::vector<Entry>> v(static_cast<size_t>(n));
  ok = parallel_rows(n, make_scratch, [&](int64_t i, Scratch &s) {
    const int32_t stamp = static_cast<int32_t>(i + 1);
    const int32_t *ri = r_idx.data() + i * kf;
    const int32_t nr = r_len[i];
    s.list.clear();
    for (int32_t t = 0; t < nr; ++t) {
      s.in_r[ri[t]] = stamp;
      s.in_e[ri[t]] = stamp;
      s.list.push_back(ri[t]);
    }
    for (int32_t t = 0; t < nr; ++t) {
      const int32_t c = ri[t];
      const int32_t *hc = h_idx.data() + int64_t(c) * kh;
      const int32_t nh = h_len[c];
      int64_t common = 0;
      for (int32_t u = 0; u < nh; ++u) common += s.in_r[hc[u]] == stamp;
      if (3 * common > 2 * int64_t(nh)) {
        for (int32_t u = 0; u < nh; ++u)
          if (s.in_e[hc[u]] != stamp) {
            s.in_e[hc[u]] = stamp;
            s.list.push_back(hc[u]);
          }
      }
    }
    std::sort(s.list.begin(), s.list.end());
    // Distances of i already known from its list.
    const int32_t *l = nn_idx.data() + i * kk;
    for (int64_t t = 0; t < kk; ++t) {
      s.kpos_stamp[l[t]] = stamp;
      s.kpos[l[t]] = static_cast<int32_t>(t);
    }
    // Distances to the rest: gathered and computed as one small block (bit-identical to
    // distance_pair, but vectorised over the columns).
    const size_t m = s.list.size();
    s.dist.resize(m);
    s.miss.clear();
    for (size_t t = 0; t < m; ++t) {
      const int32_t j = s.list[t];
      if (s.kpos_stamp[j] == stamp)
        s.dist[t] = nn_val[i * kk + s.kpos[j]];
      else
        s.miss.push_back(static_cast<int32_t>(t));
    }
    if (!s.miss.empty()) {
      const size_t mm = s.miss.size();
      s.gather.resize(mm * d);
      s.gnorm.resize(mm);
      s.gout.resize(mm);
      for (size_t u = 0; u < mm; ++u) {
        const int32_t j = s.list[s.miss[u]];
        std::memcpy(s.gather.data() + u * d, pass.item(j), sizeof(float) * d);
        s.gnorm[u] = norms[j];
      }
      r4j::cpu::distance_block(pass.item(i), norms.data() + i, 1, s.gather.data(), s.gnorm.data(),
                               static_cast<int64_t>(mm), d, metric, s.gout.data(), static_cast<int64_t>(mm));
      for (size_t u = 0; u < mm; ++u) s.dist[s.miss[u]] = s.gout[u];
    }
    std::vector<Entry> &row = v[i];
    row.resize(m);
    double sum = 0.0;
    const float div = rdiv[i];
    for (size_t t = 0; t < m; ++t) {
      const float w = std::exp(-(s.dist[t] / div));
      row[t] = {s.list[t], w};
      sum += w;
    }
    for (Entry &e : row) e.val = static_cast<float>(e.val / sum);
  });
  if (!ok) throw std::bad_alloc();

  // ---- 4. query expansion: V'(i) = mean of V over the k2 nearest ------------------------------
  if (k2 > 1) {
    std::vector<std::vector<Entry>> vq(static_cast<size_t>(n));
    auto qe_scratch = [&] {
      Scratch s;
      s.in_e.assign(static_cast<size_t>(n), 0);
      s.acc.assign(static_cast<size_t>(n), 0.0);
      return s;
    };
    ok = parallel_rows(n, qe_scratch, [&](int64_t i, Scratch &s) {
      const int32_t stamp = static_cast<int32_t>(i + 1);
      const int32_t *l = nn_idx.data() + i * kk;
      s.list.clear();
      for (int64_t t = 0; t < kq; ++t) {
        for (const Entry &e : v[l[t]]) {
          if (s.in_e[e.col] != stamp) {
            s.in_e[e.col] = stamp;
            s.acc[e.col] = 0.0;
            s.list.push_back(e.col);
          }
          s.acc[e.col] += e.val;
        }
      }
      std::sort(s.list.begin(), s.list.end());
      std::vector<Entry> &row = vq[i];
      row.resize(s.list.size());
      for (size_t t = 0; t < s.list.size(); ++t)
        row[t] = {s.list[t], static_cast<float>(s.acc[s.list[t]] / double(kq))};
    });
    if (!ok) throw std::bad_alloc();
    v.swap(vq);
  }

  // ---- 5. inverted index over the gallery rows (column -> (gallery row, value)) ---------------
  std::vector<int64_t> col_ptr(static_cast<size_t>(n + 1), 0);
  for (int64_t r = nq; r < n; ++r)
    for (const Entry &e : v[r])
      if (e.val != 0.f) ++col_ptr[e.col + 1];
  for (int64_t c = 0; c < n; ++c) col_ptr[c + 1] += col_ptr[c];
  std::vector<int32_t> col_row(static_cast<size_t>(col_ptr[n]));
  std::vector<float> col_val(static_cast<size_t>(col_ptr[n]));
  {
    std::vector<int64_t> fill(col_ptr.begin(), col_ptr.end() - 1);
    for (int64_t r = nq; r < n; ++r)
      for (const Entry &e : v[r])
        if (e.val != 0.f) {
          const int64_t p = fill[e.col]++;
          col_row[p] = static_cast<int32_t>(r - nq);
          col_val[p] = e.val;
        }
  }

  // ---- 6. Jaccard distance of every query to every gallery item, final combination -----------
  auto jac_scratch = [&] {
    Scratch s;
    s.acc.assign(static_cast<size_t>(ng), 0.0);
    return s;
  };
  const double lam = lambda;
  ok = parallel_rows(nq, jac_scratch, [&](int64_t i, Scratch &s) {
    double *acc = s.acc.data();
    for (const Entry &e : v[i]) {
      if (e.val == 0.f) continue;
      const float vi = e.val;
      for (int64_t p = col_ptr[e.col], pe = col_ptr[e.col + 1]; p < pe; ++p)
        acc[col_row[p]] += std::min(vi, col_val[p]);
    }
    float *o = out + i * ng;
    const double inv = 1.0 / double(rdiv[i]);
    for (int64_t j = 0; j < ng; ++j) {
      const double sv = acc[j];
      acc[j] = 0.0;
      const double jac = 1.0 - sv / (2.0 - sv);
      o[j] = static_cast<float>((1.0 - lam) * jac + lam * (double(o[j]) * inv));
    }
  });
  if (!ok) throw std::bad_alloc();
  return R4J_OK;
}

// The lists of two sets against each other (r4j_cpu_knn_pair): every tile of a x b computed once
// (distance_block), feeding a's rows (columns: b's rows) and, transposed, b's rows (columns: a's
// rows), as SymmetricPass does above its diagonal. a's rows keep min(k, nb) entries, b's min(k, na).
// Both must be non-empty. Every value is distance_block's for its pair, whatever the tiles (as in
// SymmetricPass), so the lists equal pairwise_topk_max's bit for bit. False when out of memory.
bool cross_pass(const float *a, int64_t na, const float *b, int64_t nb, int64_t d, int metric, int64_t k,
                float *a_val, int32_t *a_idx, float *a_max, float *b_val, int32_t *b_idx, float *b_max) {
  const int threads = r4j::cpu_threads();
  int64_t tile = 512;
  while (tile > 64 && ((na + tile - 1) / tile) * ((nb + tile - 1) / tile) < 3 * threads) tile /= 2;
  const int64_t ka = std::min(k, nb), kb = std::min(k, na);
  const int64_t bands_a = (na + tile - 1) / tile, bands_b = (nb + tile - 1) / tile;
  std::vector<float> norm_a(static_cast<size_t>(na)), norm_b(static_cast<size_t>(nb));
  r4j::cpu::row_norms(a, na, d, metric, norm_a.data());
  r4j::cpu::row_norms(b, nb, d, metric, norm_b.data());
  std::vector<int32_t> cnt_a(static_cast<size_t>(na), 0), cnt_b(static_cast<size_t>(nb), 0);
  std::vector<float> thr_a(static_cast<size_t>(na), std::numeric_limits<float>::infinity());
  std::vector<float> thr_b(static_cast<size_t>(nb), std::numeric_limits<float>::infinity());
  std::fill(a_max, a_max + na, -std::numeric_limits<float>::infinity());
  std::fill(b_max, b_max + nb, -std::numeric_limits<float>::infinity());
  Lists la{ka, a_val, a_idx, cnt_a.data(), thr_a.data(), a_max};
  Lists lb{kb, b_val, b_idx, cnt_b.data(), thr_b.data(), b_max};
  std::vector<std::mutex> lock_a(static_cast<size_t>(bands_a)), lock_b(static_cast<size_t>(bands_b));
  const bool ok = parallel_rows(
      bands_a * bands_b, [&] { return std::vector<float>(static_cast<size_t>(tile * tile)); },
      [&](int64_t t, std::vector<float> &buf) {
        // Tile t: a's band t mod A against b's band (t div A + that) mod B: every pair once, and tiles taken
        // one after the other (by different threads) share neither band, so their updates do not wait.
        const int64_t ba = t % bands_a, bb = (t / bands_a + ba) % bands_b;
        const int64_t i0 = ba * tile, i1 = std::min(na, i0 + tile), j0 = bb * tile, w = std::min(nb, j0 + tile) - j0;
        feed_tile(a + i0 * d, norm_a.data() + i0, i0, i1, b + j0 * d, norm_b.data() + j0, j0, w, d, metric,
                  buf.data(), la, lock_a[ba], &lb, &lock_b[bb]);
      },
      1);
  if (!ok) return false;
  for (int64_t i = 0; i < na; ++i) la.finish(i);
  for (int64_t j = 0; j < nb; ++j) lb.finish(j);
  return true;
}

}  // namespace

extern "C" {

int r4j_cpu_rerank(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                   int32_t k1, int32_t k2, float lambda, float *out) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_rerank";
  int st = r4j::check_rows(fn, "q", q, nq, d);
  if (st != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "g", g, ng, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if (nq + ng > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": nq + ng = " + std::to_string(nq + ng) +
                                     " must be < 2^31");
  if (k1 < 1) return r4j::fail(R4J_EINVAL, std::string(fn) + ": k1 must be >= 1, got " + std::to_string(k1));
  if (k2 < 1) return r4j::fail(R4J_EINVAL, std::string(fn) + ": k2 must be >= 1, got " + std::to_string(k2));
  if (!(lambda >= 0.f && lambda <= 1.f))
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": lambda must be in [0, 1], got " + std::to_string(lambda));
  if (nq > 0 && ng > 0 && out == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": out is null");
  if (nq == 0 || ng == 0) return R4J_OK;  // empty output
  try {
    return rerank_impl(q, nq, g, ng, d, metric, k1, k2, lambda, out);
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory");
  }
}

// ---- exact neighbour lists on their own, in steps (r4j_cpu_knn_*) ----------------------------

int r4j_cpu_knn_create(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric, int64_t k,
                       void **out) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_knn_create";
  if (out == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": out is null");
  *out = nullptr;
  int st = r4j::check_rows(fn, "q", q, nq, d);
  if (st != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "g", g, ng, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if (nq + ng > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": nq + ng = " + std::to_string(nq + ng) + " must be < 2^31");
  if (k < 1 || k > nq + ng)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": k must be in [1, nq + ng = " + std::to_string(nq + ng) +
                                     "], got " + std::to_string(k));
  try {
    *out = new SymmetricPass(q, nq, g, ng, d, metric, k);
  } catch (const std::bad_alloc &) {
    return r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory for the lists of " +
                                     std::to_string(nq + ng) + " items");
  }
  return R4J_OK;
}

int r4j_cpu_knn_run(void *h, int64_t max_tiles, int64_t *done, int64_t *total) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_knn_run";
  if (h == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": handle is null");
  auto *pass = static_cast<SymmetricPass *>(h);
  bool ok;
  try {
    ok = pass->run(max_tiles, nullptr);
  } catch (const std::bad_alloc &) {
    ok = false;
  }
  if (done != nullptr) *done = pass->tiles_done();
  if (total != nullptr) *total = pass->tiles_total();
  return ok ? R4J_OK : r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory for a tile");
}

int r4j_cpu_knn_result(void *h, float *out_val, int32_t *out_idx, float *out_max) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_knn_result";
  if (h == nullptr) return r4j::fail(R4J_EINVAL, std::string(fn) + ": handle is null");
  auto *pass = static_cast<SymmetricPass *>(h);
  int st;
  if ((st = r4j::check_out(fn, "out_val", out_val, true)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "out_idx", out_idx, true)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "out_max", out_max, true)) != R4J_OK) return st;
  if (!pass->complete())
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": the pass is not complete (" +
                                     std::to_string(pass->tiles_done()) + " of " +
                                     std::to_string(pass->tiles_total()) + " tiles); call r4j_cpu_knn_run first");
  pass->finish();
  const int64_t n = pass->items(), k = pass->k();
  std::memcpy(out_val, pass->values(), sizeof(float) * n * k);
  std::memcpy(out_idx, pass->indices(), sizeof(int32_t) * n * k);
  std::memcpy(out_max, pass->row_max(), sizeof(float) * n);
  return R4J_OK;
}

void r4j_cpu_knn_free(void *h) { delete static_cast<SymmetricPass *>(h); }

int r4j_cpu_knn_pair(const float *a, int64_t na, const float *b, int64_t nb, int64_t d, int metric, int64_t k,
                     float *a_val, int32_t *a_idx, float *a_max, float *b_val, int32_t *b_idx, float *b_max) {
  r4j::clear_error();
  const char *fn = "r4j_cpu_knn_pair";
  int st = r4j::check_rows(fn, "a", a, na, d);
  if (st != R4J_OK) return st;
  if ((st = r4j::check_rows(fn, "b", b, nb, d)) != R4J_OK) return st;
  if ((st = r4j::check_metric(fn, metric)) != R4J_OK) return st;
  if (k < 1) return r4j::fail(R4J_EINVAL, std::string(fn) + ": k must be at least 1, got " + std::to_string(k));
  if (na > INT32_MAX || nb > INT32_MAX)
    return r4j::fail(R4J_EINVAL, std::string(fn) + ": na = " + std::to_string(na) + " and nb = " +
                                     std::to_string(nb) + " must each be < 2^31");
  const bool lists = na > 0 && nb > 0;
  if ((st = r4j::check_out(fn, "a_val", a_val, lists)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "a_idx", a_idx, lists)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "a_max", a_max, na > 0)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "b_val", b_val, lists)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "b_idx", b_idx, lists)) != R4J_OK) return st;
  if ((st = r4j::check_out(fn, "b_max", b_max, nb > 0)) != R4J_OK) return st;
  if (!lists) {  // no pairs: no entries, every maximum -inf
    if (na > 0) std::fill(a_max, a_max + na, -std::numeric_limits<float>::infinity());
    if (nb > 0) std::fill(b_max, b_max + nb, -std::numeric_limits<float>::infinity());
    return R4J_OK;
  }
  bool ok;
  try {
    ok = cross_pass(a, na, b, nb, d, metric, k, a_val, a_idx, a_max, b_val, b_idx, b_max);
  } catch (const std::bad_alloc &) {
    ok = false;
  }
  return ok ? R4J_OK
            : r4j::fail(R4J_ENOMEM, std::string(fn) + ": out of host memory for the lists of " +
                                        std::to_string(na) + " x " + std::to_string(nb) + " items");
}

}  // extern "C"
