// Private to distance*.cpp: the packed-GEMM distance engine shared by the SIMD variants.
//
// Layouts (MR, NR are the micro-tile sizes of the ISA in use):
//  - packed gallery ("B"): panels of NR rows; panel p holds, for k = 0..d-1, the NR values
//    g[p*NR + c][k] (c = 0..NR-1) contiguously, zero-padded past the last row. Panel stride d*NR.
//  - packed query block ("A"): the same with MR rows per micro-panel, built by the kernel driver.
//
// Accumulation order: every dot product (and every squared norm) is one sequential chain
// acc = acc (+) a_k * b_k over k = 0, 1, ..., d-1, where (+) is a fused multiply-add on the AVX2 and
// AVX-512 paths and a multiply followed by an add on the scalar path. Blocking over k stores the
// running sum as a float and resumes it, which does not change the chain, and padded rows/columns
// never mix with real ones, so a pair's value depends only on its two rows.
//
// This header is included by several translation units compiled with different instruction sets;
// everything in it has internal linkage so that no out-of-line copy can leak between them.
#pragma once
#include <cstdint>

#include "reid4j.h"

namespace r4j {
namespace cpu {
namespace detail {

// One call of the kernel driver: rows [0, m) of q against panels [p0, p1) of the packed gallery.
struct GemmArgs {
  const float *q;   // m query rows, row stride d
  int64_t m;
  const float *qn;  // m row statistics (row_norms)
  const float *bp;  // packed gallery (all panels)
  const float *gn;  // gallery row statistics, zero-padded to a whole number of panels
  int64_t p0, p1;   // panel range
  int64_t ncols;    // valid output columns counted from column p0*NR (columns past it are skipped)
  int64_t d;
  int metric;
  float *out;       // out[i * ldo + j] for row i < m and column j (relative to p0*NR)
  int64_t ldo;
  float *work;      // scratch, 64-byte aligned: roundup(mc, MR) * (d + NR) + 16 floats
  int64_t mc;       // query rows packed at a time (multiple of MR)
  bool a_packed;    // work already holds q packed (same q and m <= mc as the previous call)
};

struct IsaOps {
  const char *name;
  int mr, nr;
  // out[i] = chain sum of x[i][k]^2 (not the metric statistic: no sqrt).
  void (*sumsq_rows)(const float *x, int64_t n, int64_t d, float *out);
  // Packs rows [0, rows) (rows <= NR) of x (row stride d) into one panel [k][NR], zero-padded.
  void (*pack_panel)(const float *x, int64_t rows, int64_t d, float *dst);
  // out[c] = chain sum of squares of column c of one packed panel (NR values).
  void (*sumsq_panel)(const float *panel, int64_t d, float *out);
  // chain dot product of two rows.
  float (*dot)(const float *a, const float *b, int64_t d);
  void (*gemm)(const GemmArgs &args);
};

// nullptr when the variant was not compiled in. The caller checks CPU support.
const IsaOps *avx512_ops();
const IsaOps *avx2_ops();
const IsaOps *scalar_ops();

}  // namespace detail
}  // namespace cpu
}  // namespace r4j

namespace {

inline int64_t r4j_min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Finishes one distance from the dot product and the row statistics. Kept in exactly this form in
// every path (the vector epilogues evaluate the same operations in the same order).
inline float r4j_finish(float dot, float an, float bn, int metric) {
  if (metric == R4J_COSINE) {
    if (an == 0.f || bn == 0.f) return 1.f;
    const float c = 1.f - dot / (an * bn);  // rounding can put parallel vectors just below 0
    return c > 0.f ? (c < 2.f ? c : 2.f) : 0.f;
  }
  float s = (an + bn) - 2.f * dot;  // 2*dot is exact, so this has a single rounding
  s = s > 0.f ? s : 0.f;
  return metric == R4J_EUCLIDEAN ? __builtin_sqrtf(s) : s;
}

// Columns of k per kernel call: the B micro-panel (kc x NR floats) stays in L1.
inline int64_t r4j_kc(int64_t d, int nr) {
  const int64_t target = nr >= 32 ? 256 : 384;
  const int64_t chunks = (d + target - 1) / target;
  return (d + chunks - 1) / chunks;
}

// Packs rows [0, m) of x (row stride d) into micro-panels of MR rows: [ip][k][MR], zero-padded.
template <int MR>
inline void r4j_pack_a(const float *x, int64_t m, int64_t d, float *dst) {
  for (int64_t i0 = 0; i0 < m; i0 += MR) {
    const int64_t rows = r4j_min64(MR, m - i0);
    float *p = dst + i0 * d;
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t r = 0; r < rows; ++r) p[k * MR + r] = x[(i0 + r) * d + k];
      for (int64_t r = rows; r < MR; ++r) p[k * MR + r] = 0.f;
    }
  }
}

// The kernel driver. Kernel::run(kc, A, B, C, first, last, qn, gn, metric, out, ldo, mr, nc, pf,
// pf_lines): continues the chains of an MR x NR tile over kc steps (A: [kc][MR], B: [kc][NR]); C
// holds the running sums between calls (unused when first && last); on the last call it writes the
// finished distances of the valid mr x nc corner to out. It may prefetch the pf_lines cache lines
// from pf (a hint only).
template <int MR, int NR, class Kernel>
inline void r4j_gemm_driver(const r4j::cpu::detail::GemmArgs &a) {
  const int64_t d = a.d;
  const int64_t mc = a.mc;
  const int64_t kc = r4j_kc(d, NR);
  float *ap = a.work;
  float *cp = a.work + (((mc + MR - 1) / MR) * MR * d + 15) / 16 * 16;  // 64-byte aligned
  for (int64_t i0 = 0; i0 < a.m; i0 += mc) {
    const int64_t mcur = r4j_min64(mc, a.m - i0);
    const int64_t nmp = (mcur + MR - 1) / MR;
    if (!(a.a_packed && a.m <= mc)) r4j_pack_a<MR>(a.q + i0 * d, mcur, d, ap);
    for (int64_t p = a.p0; p < a.p1; ++p) {
      const float *b = a.bp + p * d * NR;
      const float *gn = a.gn + p * NR;
      const int64_t jb = (p - a.p0) * NR;
      const int64_t nc = r4j_min64(NR, a.ncols - jb);
      if (nc <= 0) break;
      for (int64_t k0 = 0; k0 < d; k0 += kc) {
        const int64_t kcur = r4j_min64(kc, d - k0);
        const bool first = k0 == 0, last = k0 + kcur == d;
        // The next B chunk (rest of this panel, else the start of the next one) is prefetched
        // into L2 while this one is in use, a share per kernel call: the packed gallery usually
        // comes from L3 or memory, and its first pass would otherwise stall.
        const float *next = nullptr;
        int64_t next_k = 0;
        if (!last) {
          next = b + (k0 + kcur) * NR;
          next_k = r4j_min64(kc, d - k0 - kcur);
        } else if (p + 1 < a.p1) {
          next = b + d * NR;
          next_k = r4j_min64(kc, d);
        }
        const int64_t lines = next_k * NR / 16;
        for (int64_t ip = 0; ip < nmp; ++ip) {
          const int64_t r0 = i0 + ip * MR;
          const int64_t l0 = lines * ip / nmp, l1 = lines * (ip + 1) / nmp;
          Kernel::run(kcur, ap + ip * MR * d + k0 * MR, b + k0 * NR, cp + ip * MR * NR, first, last,
                      a.qn + r0, gn, a.metric, a.out + r0 * a.ldo + jb, a.ldo,
                      (int)r4j_min64(MR, a.m - r0), (int)nc,
                      next == nullptr ? nullptr : reinterpret_cast<const char *>(next) + 64 * l0, l1 - l0);
        }
      }
    }
  }
}

}  // namespace
