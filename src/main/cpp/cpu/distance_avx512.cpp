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

// 16 x 16 transpose in registers: r[i] holds 16 values of row i; afterwards r[c] holds value c of
// rows 0..15 (unpack pairs of rows, then pairs of pairs, then 128-bit lanes across four vectors).
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // a0 b0 a1 b1 per lane
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
  }
  for (int g = 0; g < 4; ++g) {
    const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));      // column 4L+0 of rows 4g..4g+3, lane L
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));  // column 4L+1
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));  // column 4L+2
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));  // column 4L+3
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);       // column j      (lane 0 of each group)
    r[4 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);   // column 4 + j  (lane 1)
    r[8 + j] = _mm512_shuffle_f32x4(v0, v2, 0xDD);   // column 8 + j  (lane 2)
    r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);  // column 12 + j (lane 3)
  }
}

// Blocks of 16 rows x 16 k: sequential loads of each row (what the prefetchers follow), a
// transpose in registers, 16 aligned stores. (A gather per k and 16 rows was about twice as slow
// and made packing as costly as the GEMM itself for a few queries against a large gallery.)
void pack_panel(const float *x, int64_t rows, int64_t d, float *dst) {
  const __m512 zero = _mm512_setzero_ps();
  for (int h = 0; h < 2; ++h) {
    const int64_t r0 = 16 * h;
    for (int64_t k0 = 0; k0 < d; k0 += 16) {
      const int64_t kn = r4j_min64(16, d - k0);
      const __mmask16 km = mask_for((int)kn);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = r0 + i < rows ? _mm512_maskz_loadu_ps(km, x + (r0 + i) * d + k0) : zero;
      transpose16(r);
      for (int64_t c = 0; c < kn; ++c) _mm512_store_ps(dst + (k0 + c) * NR + r0, r[c]);
    }
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
