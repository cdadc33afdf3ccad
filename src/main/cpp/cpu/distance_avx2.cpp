// AVX2 + FMA variant of the distance engine (see gemm.h): 6 x 16 micro-tile, 12 ymm accumulators.
#include <immintrin.h>

#include "gemm.h"

namespace {

constexpr int MR = 6;
constexpr int NR = 16;

inline __m256i mask_for(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

inline __m256 finish8(__m256 dot, __m256 qn, __m256 gn, int metric) {
  if (metric == R4J_COSINE) {
    const __m256 one = _mm256_set1_ps(1.f);
    __m256 v = _mm256_sub_ps(one, _mm256_div_ps(dot, _mm256_mul_ps(qn, gn)));
    const __m256 zero = _mm256_setzero_ps();
    v = _mm256_min_ps(_mm256_max_ps(v, zero), _mm256_set1_ps(2.f));  // clamp to [0, 2] as the scalar code
    __m256 z = _mm256_or_ps(_mm256_cmp_ps(qn, zero, _CMP_EQ_OQ), _mm256_cmp_ps(gn, zero, _CMP_EQ_OQ));
    return _mm256_blendv_ps(v, one, z);
  }
  // (qn + gn) - 2*dot with one rounding, then clamp (max returns the second operand for NaN, like
  // the scalar "s > 0 ? s : 0").
  __m256 s = _mm256_fnmadd_ps(_mm256_set1_ps(2.f), dot, _mm256_add_ps(qn, gn));
  s = _mm256_max_ps(s, _mm256_setzero_ps());
  return metric == R4J_EUCLIDEAN ? _mm256_sqrt_ps(s) : s;
}

struct Kernel {
  static void run(int64_t kc, const float *a, const float *b, float *c, bool first, bool last,
                  const float *qn, const float *gn, int metric, float *out, int64_t ldo, int mr, int nc,
                  const char *pf, int64_t pf_lines) {
    __m256 acc[MR][2];
    if (first) {
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    } else {
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) {
        acc[r][0] = _mm256_load_ps(c + r * NR);
        acc[r][1] = _mm256_load_ps(c + r * NR + 8);
      }
    }
    for (int64_t k = 0; k < kc; ++k) {
      const __m256 b0 = _mm256_load_ps(b + k * NR);
      const __m256 b1 = _mm256_load_ps(b + k * NR + 8);
      const float *ak = a + k * MR;
      if (2 * k < pf_lines) {  // up to two lines per step: a whole next chunk even when nmp = 1
        _mm_prefetch(pf + 128 * k, _MM_HINT_T1);
        if (2 * k + 1 < pf_lines) _mm_prefetch(pf + 128 * k + 64, _MM_HINT_T1);
      }
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) {
        const __m256 av = _mm256_broadcast_ss(ak + r);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
      }
    }
    if (!last) {
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) {
        _mm256_store_ps(c + r * NR, acc[r][0]);
        _mm256_store_ps(c + r * NR + 8, acc[r][1]);
      }
      return;
    }
    const __m256 g0 = _mm256_loadu_ps(gn), g1 = _mm256_loadu_ps(gn + 8);
    const __m256i m0 = mask_for(nc), m1 = mask_for(nc - 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      if (r < mr) {
        const __m256 q = _mm256_set1_ps(qn[r]);
        float *o = out + r * ldo;
        _mm256_maskstore_ps(o, m0, finish8(acc[r][0], q, g0, metric));
        _mm256_maskstore_ps(o + 8, m1, finish8(acc[r][1], q, g1, metric));
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

// One gather per k and 8 rows: the 16 row streams stay in L1 for 16 consecutive k.
void pack_panel(const float *x, int64_t rows, int64_t d, float *dst) {
  if (d >= (int64_t(1) << 26)) {  // 32-bit gather offsets would overflow
    for (int64_t k = 0; k < d; ++k)
      for (int64_t c = 0; c < NR; ++c) dst[k * NR + c] = c < rows ? x[c * d + k] : 0.f;
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i off0 = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)d));
  const __m256i off1 = _mm256_add_epi32(off0, _mm256_set1_epi32((int)(8 * d)));
  const __m256 m0 = _mm256_castsi256_ps(mask_for((int)rows)), m1 = _mm256_castsi256_ps(mask_for((int)rows - 8));
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    _mm256_store_ps(dst + k * NR, _mm256_mask_i32gather_ps(zero, x + k, off0, m0, 4));
    _mm256_store_ps(dst + k * NR + 8, _mm256_mask_i32gather_ps(zero, x + k, off1, m1, 4));
  }
}

void sumsq_panel(const float *panel, int64_t d, float *out) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    const __m256 v0 = _mm256_load_ps(panel + k * NR), v1 = _mm256_load_ps(panel + k * NR + 8);
    s0 = _mm256_fmadd_ps(v0, v0, s0);
    s1 = _mm256_fmadd_ps(v1, v1, s1);
  }
  _mm256_storeu_ps(out, s0);
  _mm256_storeu_ps(out + 8, s1);
}

float dot(const float *a, const float *b, int64_t d) {
  __m128 s = _mm_setzero_ps();
  for (int64_t k = 0; k < d; ++k) s = _mm_fmadd_ss(_mm_load_ss(a + k), _mm_load_ss(b + k), s);
  return _mm_cvtss_f32(s);
}

const r4j::cpu::detail::IsaOps ops = {"avx2", MR, NR, sumsq_rows, pack_panel, sumsq_panel, dot, gemm};

}  // namespace

namespace r4j {
namespace cpu {
namespace detail {
const IsaOps *avx2_ops() { return &ops; }
}  // namespace detail
}  // namespace cpu
}  // namespace r4j
