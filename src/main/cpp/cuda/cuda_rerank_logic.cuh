// Per-row steps of k-reciprocal re-ranking used by the CUDA kernels of cuda_rerank.cu. They are
// plain functions of host/device pointers so that the same code runs in one GPU thread per row
// and can be checked on the host.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define R4J_HD __host__ __device__ __forceinline__
#else
#define R4J_HD inline
#endif

namespace r4j {
namespace rr {

// round_half_to_even(k1 / 2), the neighbourhood size of the expansion step.
R4J_HD int64_t half_k1(int64_t k1) {
  const int64_t h = k1 / 2;
  if (k1 % 2 == 0) return h;
  return (h % 2 == 0) ? h : h + 1;
}

R4J_HD bool in_list(const int32_t *list, int64_t n, int32_t x) {
  for (int64_t t = 0; t < n; ++t)
    if (list[t] == x) return true;
  return false;
}

// Inserts x into the ascending set[0, n) unless present.
R4J_HD void insert_sorted(int32_t *set, int64_t &n, int32_t x) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (set[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < n && set[lo] == x) return;
  for (int64_t t = n; t > lo; --t) set[t] = set[t - 1];
  set[lo] = x;
  ++n;
}

// rank: [N, K] nearest neighbours per row, ascending. Reciprocal neighbours of i among its first f:
// x in rank[i, :f] with i in rank[x, :f], in the order of rank[i]. Returns the count.
R4J_HD int64_t reciprocal(const int32_t *rank, int64_t K, int32_t i, int64_t f, int32_t *out) {
  const int32_t *fw = rank + (int64_t)i * K;
  int64_t c = 0;
  for (int64_t t = 0; t < f; ++t) {
    const int32_t x = fw[t];
    if (in_list(rank + (int64_t)x * K, f, i)) out[c++] = x;
  }
  return c;
}

// Expanded k-reciprocal set of row i, ascending, into ebuf; returns its size. f1 = min(k1 + 1, N),
// fh = min(half_k1(k1) + 1, N). half[c * fh ...] holds R_half(c) (reciprocal(rank, K, c, fh, ...)) and
// half_n[c] its size, computed once for every row. rbuf holds f1 entries (R(i)); ebuf at most
// min(N, f1 * (fh + 1)).
R4J_HD int64_t expanded_set(const int32_t *rank, int64_t K, int32_t i, int64_t f1, const int32_t *half,
                            const int32_t *half_n, int64_t fh, int32_t *rbuf, int32_t *ebuf) {
  const int64_t nr = reciprocal(rank, K, i, f1, rbuf);
  int64_t ne = 0;
  for (int64_t t = 0; t < nr; ++t) insert_sorted(ebuf, ne, rbuf[t]);
  for (int64_t t = 0; t < nr; ++t) {
    const int32_t c = rbuf[t];
    const int32_t *hc = half + (int64_t)c * fh;
    const int64_t len = half_n[c];
    int64_t inter = 0;
    for (int64_t u = 0; u < len; ++u) inter += in_list(rbuf, nr, hc[u]);
    if (3 * inter > 2 * len)  // |R_half(c) & R(i)| > 2/3 |R_half(c)|
      for (int64_t u = 0; u < len; ++u) insert_sorted(ebuf, ne, hc[u]);
  }
  return ne;
}

// Local query expansion of one row: the mean of the sparse rows nbr[0, f2) of V (CSR: vptr,
// vcol ascending per row, vval). heads: f2 scratch words. Writes the union (ascending columns)
// when out_col is not null; returns its size either way.
R4J_HD int64_t qe_row(const int64_t *vptr, const int32_t *vcol, const float *vval, const int32_t *nbr, int64_t f2,
                      int64_t *heads, int32_t *out_col, float *out_val) {
  for (int64_t t = 0; t < f2; ++t) heads[t] = vptr[nbr[t]];
  int64_t n = 0;
  const float denom = (float)f2;
  for (;;) {
    int32_t cmin = 0;
    bool any = false;
    for (int64_t t = 0; t < f2; ++t) {
      if (heads[t] < vptr[nbr[t] + 1]) {
        const int32_t c = vcol[heads[t]];
        if (!any || c < cmin) cmin = c;
        any = true;
      }
    }
    if (!any) break;
    float s = 0.f;
    for (int64_t t = 0; t < f2; ++t) {
      if (heads[t] < vptr[nbr[t] + 1] && vcol[heads[t]] == cmin) {
        s += vval[heads[t]];
        ++heads[t];
      }
    }
    if (out_col) {
      out_col[n] = cmin;
      out_val[n] = s / denom;
    }
    ++n;
  }
  return n;
}

}  // namespace rr
}  // namespace r4j
