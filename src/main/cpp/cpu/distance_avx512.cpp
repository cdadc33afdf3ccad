// AVX-512 variant of the distance engine (see gemm.h): 14 x 32 micro-tile, 28 zmm accumulators,
// query values broadcast straight from memory.
#include <immintrin.h>

#include "gemm.h"

namespace {

constexpr int MR = 14;
constexpr int NR = 32;

inline __mmask16 mask_for(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

inline __m512 finish16(__m512 dot, __m512 qn, __m512 gn, int metric) {
  if (metric == R4J_COSINE) {
    const __m512 one = _mm512_set1_ps(1.f);
    __m512 v = _mm512_sub_ps(one, _mm512_div_ps(dot, _mm512_mul_ps(qn, gn)));
    const __m512 zero = _mm512_setzero_ps();
    v = _mm512_min_ps(_mm512_max_ps(v, zero), _mm512_set1_ps(2.f));  // clamp to [0, 2] as the scalar code
    __mmask16 z = _mm512_cmp_ps_mask(qn, zero, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(gn, zero, _CMP_EQ_OQ);
    return _mm512_mask_mov_ps(v, z, one);
  }
  // (qn + gn) - 2*dot with one rounding, then clamp (max returns the second operand for NaN, so
  // order as the scalar "s > 0 ? s : 0").
  __m512 s = _mm512_fnmadd_ps(_mm512_set1_ps(2.f), dot, _mm512_add_ps(qn, gn));
  s = _mm512_maskz_max_ps(0xFFFF, s, _mm512_setzero_ps());  // maskz: avoids a GCC 12 false warning
  return metric == R4J_EUCLIDEAN ? _mm512_maskz_sqrt_ps(0xFFFF, s) : s;
}

struct Kernel {
  static void run(int64_t kc, const float *a, const float *b, float *c, bool first, bool last,
                  const float *qn, const float *gn, int metric, float *out, int64_t ldo, int mr, int nc,
                  const char *pf, int64_t pf_lines) {
    __m512 acc[MR][2];
    if (first) {
#pragma GCC unroll 14
      for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    } else {
#pragma GCC unroll 14
      for (int r = 0; r < MR; ++r) {
        acc[r][0] = _mm512_load_ps(c + r * NR);
        acc[r][1] = _mm512_load_ps(c + r * NR + 16);
      }
    }
    for (int64_t k = 0; k < kc; ++k) {
      const __m512 b0 = _mm512_load_ps(b + k * NR);
      const __m512 b1 = _mm512_load_ps(b + k * NR + 16);
      const float *ak = a + k * MR;
      if (2 * k < pf_lines) {  // up to two lines per step: a whole next chunk even when nmp = 1
        _mm_prefetch(pf + 128 * k, _MM_HINT_T1);
        if (2 * k + 1 < pf_lines) _mm_prefetch(pf + 128 * k + 64, _MM_HINT_T1);
      }
#pragma GCC unroll 14
      for (int r = 0; r < MR; ++r) {
        const __m512 av = _mm512_set1_ps(ak[r]);
        acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
      }
    }
    if (!last) {
#pragma GCC unroll 14
      for (int r = 0; r < MR; ++r) {
        _mm512_store_ps(c + r * NR, acc[r][0]);
        _mm512_store_ps(c + r * NR + 16, acc[r][1]);
      }
      return;
    }
    const __m512 g0 = _mm512_loadu_ps(gn), g1 = _mm512_loadu_ps(gn + 16);
    const __mmask16 m0 = mask_for(nc), m1 = mask_for(nc - 16);
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
      if (r < mr) {
        const __m512 q = _mm512_set1_ps(qn[r]);
        float *o = out + r * ldo;
        _mm512_mask_storeu_ps(o, m0, finish16(acc[r][0], q, g0, metric));
        _mm512_mask_storeu_ps(o + 16, m1, finish16(acc[r][1], q, g1, metric));
      }
    }
  }
};

void gemm(const r4j::cpu::detail::GemmArgs &args) { r4j_gemm_driver<MR, NR, Kernel>(args); }

// Rows taken 8 at a time, one independent chain per row.
void sumsq_rows(const float *x, int64_t n, int64_t d, float *out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128 s[8];
    for (int r = 0; r < 8; ++r) s[r] = _mm_setzero_ps();
    for (int64_t k = 0; k < d; ++k) {
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        const __m128 v = _mm_load_ss(x + (i + r) * d + k);
        s[r] = _mm_fmadd_ss(v, v, s[r]);
      }
    }
    for (int r = 0; r < 8; ++r) out[i + r] = _mm_cvtss_f32(s[r]);
  }
  for (; i < n; ++i) {
    __m128 s = _mm_setzero_ps();
    for (int64_t k = 0; k < d; ++k) {
      const __m128 v = _mm_load_ss(x + i * d + k);
      s = _mm_fmadd_ss(v, v, s);
    }
    out[i] = _mm_cvtss_f32(s);
  }
}

// One gather per k and 16 rows: the 32 row streams stay in L1 for 16 consecutive k.
void pack_panel(const float *x, int64_t rows, int64_t d, float *dst) {
  if (d >= (int64_t(1) << 26)) {  // 32-bit gather offsets would overflow
    for (int64_t k = 0; k < d; ++k)
      for (int64_t c = 0; c < NR; ++c) dst[k * NR + c] = c < rows ? x[c * d + k] : 0.f;
    return;
  }
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i off0 = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)d));
  const __m512i off1 = _mm512_add_epi32(off0, _mm512_set1_epi32((int)(16 * d)));
  const __mmask16 m0 = mask_for((int)rows), m1 = mask_for((int)rows - 16);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    _mm512_store_ps(dst + k * NR, _mm512_mask_i32gather_ps(zero, m0, off0, x + k, 4));
    _mm512_store_ps(dst + k * NR + 16, _mm512_mask_i32gather_ps(zero, m1, off1, x + k, 4));
  }
}

void sumsq_panel(const float *panel, int64_t d, float *out) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    const __m512 v0 = _mm512_load_ps(panel + k * NR), v1 = _mm512_load_ps(panel + k * NR + 16);
    s0 = _mm512_fmadd_ps(v0, v0, s0);
    s1 = _mm512_fmadd_ps(v1, v1, s1);
  }
  _mm512_storeu_ps(out, s0);
  _mm512_storeu_ps(out + 16, s1);
}

float dot(const float *a, const float *b, int64_t d) {
  __m128 s = _mm_setzero_ps();
  for (int64_t k = 0; k < d; ++k) s = _mm_fmadd_ss(_mm_load_ss(a + k), _mm_load_ss(b + k), s);
  return _mm_cvtss_f32(s);
}

const r4j::cpu::detail::IsaOps ops = {"avx512", MR, NR, sumsq_rows, pack_panel, sumsq_panel, dot, gemm};

}  // namespace

namespace r4j {
namespace cpu {
namespace detail {
const IsaOps *avx512_ops() { return &ops; }
}  // namespace detail
}  // namespace cpu
}  // namespace r4j
