// The WMMA part of <mma.h> for the CUDA emulator (see cuda_runtime.h): the TF32 16 x 16 x 8 shapes
// the tensor-core distance pass uses, with FP32 accumulators.
//
// On a GPU a fragment's elements are spread over the 32 lanes of a warp in an unspecified layout;
// here every lane holds the whole tile (num_elements is the tile's size), so code that treats
// fragments element by element, as the API allows, runs unchanged, and code that assumed a layout
// would compute wrong results. Each operation is a warp barrier (all 32 lanes must reach it, as
// the *_sync operations require), reported like a divergent __syncwarp otherwise.
// mma_sync reads its operands as the hardware does, only the 19 bits of TF32 (the low 13 bits of
// the mantissa dropped), and accumulates each product in FP32 in k order; the hardware's
// accumulation order and rounding are its own, so results agree to FP32 rounding, not bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment;

template <int Size>
struct frag_base {
  enum { num_elements = Size };
  float x[Size];
};

// A: M x K, x[i * K + k]. B: K x N, x[k * N + j]. C: M x N, x[i * N + j].
template <>
struct fragment<matrix_a, 16, 16, 8, precision::tf32, row_major> : frag_base<16 * 8> {};
template <>
struct fragment<matrix_b, 16, 16, 8, precision::tf32, col_major> : frag_base<8 * 16> {};
template <>
struct fragment<accumulator, 16, 16, 8, float, void> : frag_base<16 * 16> {};

namespace detail {
inline void warp_op(const char *op) { ::r4j_emu::warp_exchange(0xffffffffu, 0, 0, op); }
inline void check_ldm(unsigned ldm, const void *p, const char *op) {
  // The documented requirements: ldm a multiple of 16 bytes, the pointer 256-bit aligned.
  if (ldm % 4 != 0 || reinterpret_cast<uintptr_t>(p) % 32 != 0) ::r4j_emu::die(op);
}
inline float tf32_bits(float v) {  // what the tensor cores read of an FP32 operand
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u &= 0xffffe000u;
  std::memcpy(&v, &u, 4);
  return v;
}
}  // namespace detail

// Round to the nearest TF32 value, ties away from zero (cvt.rna.tf32.f32); NaN and Inf kept.
inline float __float_to_tf32(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&v, &u, 4);
  return v;
}

template <class F>
inline void fill_fragment(F &f, float v) {
  for (int t = 0; t < F::num_elements; ++t) f.x[t] = v;
}

inline void load_matrix_sync(fragment<matrix_a, 16, 16, 8, precision::tf32, row_major> &f, const float *p,
                             unsigned ldm) {
  detail::warp_op("wmma::load_matrix_sync");
  detail::check_ldm(ldm, p, "wmma::load_matrix_sync: ldm not a multiple of 4 or pointer not 32-byte aligned");
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 8; ++k) f.x[i * 8 + k] = p[i * ldm + k];
}

inline void load_matrix_sync(fragment<matrix_b, 16, 16, 8, precision::tf32, col_major> &f, const float *p,
                             unsigned ldm) {
  detail::warp_op("wmma::load_matrix_sync");
  detail::check_ldm(ldm, p, "wmma::load_matrix_sync: ldm not a multiple of 4 or pointer not 32-byte aligned");
  for (int j = 0; j < 16; ++j)
    for (int k = 0; k < 8; ++k) f.x[k * 16 + j] = p[j * ldm + k];
}

inline void mma_sync(fragment<accumulator, 16, 16, 8, float> &d,
                     const fragment<matrix_a, 16, 16, 8, precision::tf32, row_major> &a,
                     const fragment<matrix_b, 16, 16, 8, precision::tf32, col_major> &b,
                     const fragment<accumulator, 16, 16, 8, float> &c) {
  detail::warp_op("wmma::mma_sync");
  float r[16 * 16];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float s = c.x[i * 16 + j];
      for (int k = 0; k < 8; ++k) s = std::fma(detail::tf32_bits(a.x[i * 8 + k]), detail::tf32_bits(b.x[k * 16 + j]), s);
      r[i * 16 + j] = s;
    }
  std::memcpy(d.x, r, sizeof r);
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 8, float> &f, unsigned ldm,
                              layout_t layout) {
  detail::warp_op("wmma::store_matrix_sync");
  detail::check_ldm(ldm, p, "wmma::store_matrix_sync: ldm not a multiple of 4 or pointer not 32-byte aligned");
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float v = f.x[i * 16 + j];
      if (layout == mem_row_major)
        p[i * ldm + j] = v;
      else
        p[j * ldm + i] = v;
    }
}

}  // namespace wmma
}  // namespace nvcuda
