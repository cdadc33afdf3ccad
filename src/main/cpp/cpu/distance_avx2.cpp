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
    // One step: 2 loads and 6 broadcasts for 12 FMAs. With 16 YMM registers and only 12 FMAs a
    // step, loop overhead competes with the FMAs for the front end, so the prefetching steps (the
    // first ceil(pf_lines / 2), up to two lines each: a whole next chunk even when nmp = 1) run
    // apart and the rest is unrolled without a branch. Each accumulator still sums over k in order.
    auto step = [&](int64_t k) __attribute__((always_inline)) {
      const __m256 b0 = _mm256_load_ps(b + k * NR);
      const __m256 b1 = _mm256_load_ps(b + k * NR + 8);
      const float *ak = a + k * MR;
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) {
        const __m256 av = _mm256_broadcast_ss(ak + r);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
      }
    };
    const int64_t kp = r4j_min64(kc, (pf_lines + 1) / 2);
    int64_t k = 0;
    for (; k < kp; ++k) {
      _mm_prefetch(pf + 128 * k, _MM_HINT_T1);
      if (2 * k + 1 < pf_lines) _mm_prefetch(pf + 128 * k + 64, _MM_HINT_T1);
      step(k);
    }
    for (; k + 4 <= kc; k += 4) {
      step(k);
      step(k + 1);
      step(k + 2);
      step(k + 3);
    }
    for (; k < kc; ++k) step(k);
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

// Transposes eight rows of eight floats in registers: r[i] (row i, columns 0..7) becomes column i.
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Eight rows by eight k at a time, transposed in registers (gathers are slow on AMD cores and cost
// about an eighth of the distance time at the Market shape); rows past `rows` are zeros.
void pack_panel(const float *x, int64_t rows, int64_t d, float *dst) {
  const __m256 zero = _mm256_setzero_ps();
  for (int h = 0; h < 2; ++h) {
    const int64_t r0 = 8 * h;
    for (int64_t k0 = 0; k0 < d; k0 += 8) {
      const int64_t kn = r4j_min64(8, d - k0);
      const __m256i km = mask_for((int)kn);
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = r0 + i < rows ? (kn == 8 ? _mm256_loadu_ps(x + (r0 + i) * d + k0)
                                        : _mm256_maskload_ps(x + (r0 + i) * d + k0, km))
                             : zero;
      transpose8(r);
      for (int64_t c = 0; c < kn; ++c) _mm256_store_ps(dst + (k0 + c) * NR + r0, r[c]);
    }
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
