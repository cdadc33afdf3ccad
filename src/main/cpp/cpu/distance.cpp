// Distance engine: dispatch, gallery packing, parallel drivers, and the portable scalar variant
// (this file is compiled without extra instruction sets). See distance.h and gemm.h.
#include "distance.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "reid4j.h"
#include "scratch.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// Scalar variant: 4 x 8 micro-tile in plain C++ (the compiler may vectorise across the 8 columns,
// which keeps each column's chain intact). Chains are multiply-then-add.
namespace scalar {

constexpr int MR = 4;
constexpr int NR = 8;

struct Kernel {
  static void run(int64_t kc, const float *a, const float *b, float *c, bool first, bool last,
                  const float *qn, const float *gn, int metric, float *out, int64_t ldo, int mr, int nc,
                  const char *, int64_t) {
    float acc[MR][NR];
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] = first ? 0.f : c[r * NR + j];
    for (int64_t k = 0; k < kc; ++k) {
      const float *ak = a + k * MR;
      const float *bk = b + k * NR;
      for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) acc[r][j] = acc[r][j] + ak[r] * bk[j];
    }
    if (!last) {
      for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) c[r * NR + j] = acc[r][j];
      return;
    }
    for (int r = 0; r < mr; ++r)
      for (int j = 0; j < nc; ++j) out[r * ldo + j] = r4j_finish(acc[r][j], qn[r], gn[j], metric);
  }
};

void gemm(const r4j::cpu::detail::GemmArgs &args) { r4j_gemm_driver<MR, NR, Kernel>(args); }

void sumsq_rows(const float *x, int64_t n, int64_t d, float *out) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    const float *x0 = x + i * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
    for (int64_t k = 0; k < d; ++k) {
      s0 = s0 + x0[k] * x0[k];
      s1 = s1 + x1[k] * x1[k];
      s2 = s2 + x2[k] * x2[k];
      s3 = s3 + x3[k] * x3[k];
    }
    out[i] = s0, out[i + 1] = s1, out[i + 2] = s2, out[i + 3] = s3;
  }
  for (; i < n; ++i) {
    float s = 0.f;
    for (int64_t k = 0; k < d; ++k) s = s + x[i * d + k] * x[i * d + k];
    out[i] = s;
  }
}

void pack_panel(const float *x, int64_t rows, int64_t d, float *dst) {
  for (int64_t k0 = 0; k0 < d; k0 += 64) {
    const int64_t k1 = std::min<int64_t>(d, k0 + 64);
    for (int64_t c = 0; c < NR; ++c) {
      if (c < rows) {
        const float *src = x + c * d;
        for (int64_t k = k0; k < k1; ++k) dst[k * NR + c] = src[k];
      } else {
        for (int64_t k = k0; k < k1; ++k) dst[k * NR + c] = 0.f;
      }
    }
  }
}

void sumsq_panel(const float *panel, int64_t d, float *out) {
  float s[NR] = {};
  for (int64_t k = 0; k < d; ++k)
    for (int j = 0; j < NR; ++j) s[j] = s[j] + panel[k * NR + j] * panel[k * NR + j];
  for (int j = 0; j < NR; ++j) out[j] = s[j];
}

float dot(const float *a, const float *b, int64_t d) {
  float s = 0.f;
  for (int64_t k = 0; k < d; ++k) s = s + a[k] * b[k];
  return s;
}

const r4j::cpu::detail::IsaOps ops = {"scalar", MR, NR, sumsq_rows, pack_panel, sumsq_panel, dot, gemm};

}  // namespace scalar

using r4j::cpu::detail::GemmArgs;
using r4j::cpu::detail::IsaOps;

const IsaOps *pick_ops() {
  const IsaOps *avx512 = nullptr, *avx2 = nullptr;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    avx512 = r4j::cpu::detail::avx512_ops();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) avx2 = r4j::cpu::detail::avx2_ops();
#endif
  const char *want = std::getenv("R4J_CPU_ISA");
  if (want != nullptr) {
    if (std::strcmp(want, "scalar") == 0) return &scalar::ops;
    if (std::strcmp(want, "avx2") == 0 && avx2 != nullptr) return avx2;
    if (std::strcmp(want, "avx512") == 0 && avx512 != nullptr) return avx512;
  }
  if (avx512 != nullptr) return avx512;
  if (avx2 != nullptr) return avx2;
  return &scalar::ops;
}

const IsaOps &ops() {
  static const IsaOps *chosen = pick_ops();
  return *chosen;
}

// 64-byte aligned float buffer from the scratch pool (throws std::bad_alloc).
struct AlignedFloats {
  float *p = nullptr;
  size_t capacity = 0;  // bytes held (>= what was asked)
  AlignedFloats() = default;
  explicit AlignedFloats(int64_t n) { reset(n); }
  ~AlignedFloats() { r4j::cpu::scratch_give(p, capacity); }
  AlignedFloats(const AlignedFloats &) = delete;
  AlignedFloats &operator=(const AlignedFloats &) = delete;
  void reset(int64_t n) {
    r4j::cpu::scratch_give(p, capacity);
    p = nullptr, capacity = 0;
    p = static_cast<float *>(r4j::cpu::scratch_take((size_t)std::max<int64_t>(n, 1) * sizeof(float), &capacity));
  }
  float *release() {
    float *q = p;
    p = nullptr, capacity = 0;
    return q;
  }
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Query rows packed at a time: the packed block (mc x d) should sit in about 1 MB of L2.
int64_t pick_mc(int64_t d, int mr) {
  int64_t mc = (1 << 20) / (4 * d);
  mc = std::min<int64_t>(std::max<int64_t>(mc / mr, 1), 20) * mr;
  return mc;
}

int64_t work_floats(int64_t mc, int64_t d, int mr, int nr) {
  return round_up(mc, mr) * (d + nr) + 16;
}

// Converts the chain sum of squares into the metric's row statistic.
void finish_norms(float *x, int64_t n, int metric) {
  if (metric == R4J_COSINE)
    for (int64_t i = 0; i < n; ++i) x[i] = std::sqrt(x[i]);
}

// Packs rows [p*NR, p*NR + NR) of g into panel p ([k][NR], zero rows past ng).
void pack_gallery_panel(const IsaOps &o, const float *g, int64_t ng, int64_t d, int64_t p, float *dst) {
  const int64_t r0 = p * o.nr;
  o.pack_panel(g + r0 * d, std::min<int64_t>(o.nr, ng - r0), d, dst);
}

}  // namespace

namespace r4j {
namespace cpu {

struct PackedAccess {
  static const float *data(const PackedGallery &g) { return g.data_; }
  static int64_t panels(const PackedGallery &g) { return g.panels_; }
};

PackedGallery::PackedGallery(const float *g, int64_t ng, int64_t d, int metric)
    : ng_(ng), d_(d), metric_(metric), panels_(0), capacity_(ng), data_(nullptr), norms_(nullptr) {
  const IsaOps &o = ops();
  panels_ = (ng + o.nr - 1) / o.nr;
  AlignedFloats data(panels_ * o.nr * d), norms(panels_ * o.nr);
  const int64_t np = panels_;
  float *dp = data.p, *npp = norms.p;
#pragma omp parallel for schedule(static) num_threads(cpu_threads()) if (np > 4)
  for (int64_t p = 0; p < np; ++p) {
    float *panel = dp + p * o.nr * d;
    pack_gallery_panel(o, g, ng, d, p, panel);
    o.sumsq_panel(panel, d, npp + p * o.nr);
    finish_norms(npp + p * o.nr, o.nr, metric);
  }
  data_bytes_ = data.capacity, norms_bytes_ = norms.capacity;
  data_ = data.release(), norms_ = norms.release();
}

PackedGallery::PackedGallery(int64_t capacity, int64_t d, int metric)
    : ng_(0), d_(d), metric_(metric), panels_(0), capacity_(capacity), data_(nullptr), norms_(nullptr) {
  const IsaOps &o = ops();
  const int64_t np = (capacity + o.nr - 1) / o.nr;
  AlignedFloats data(np * o.nr * d), norms(np * o.nr);
  std::memset(data.p, 0, (size_t)(np * o.nr * d) * sizeof(float));
  std::memset(norms.p, 0, (size_t)(np * o.nr) * sizeof(float));
  data_bytes_ = data.capacity, norms_bytes_ = norms.capacity;
  data_ = data.release(), norms_ = norms.release();
}

void PackedGallery::write_rows(int64_t row0, const float *x, int64_t n) {
  if (n <= 0) return;
  const IsaOps &o = ops();
  const int64_t nr = o.nr, d = d_;
  // Scatter each row into its panel column ([k][NR] layout), then recompute the statistics of
  // every touched panel with the same chain as the constructor's.
  for (int64_t r = row0; r < row0 + n; ++r) {
    float *col = data_ + (r / nr) * nr * d + r % nr;
    const float *src = x + (r - row0) * d;
    for (int64_t k = 0; k < d; ++k) col[k * nr] = src[k];
  }
  for (int64_t p = row0 / nr; p <= (row0 + n - 1) / nr; ++p) {
    o.sumsq_panel(data_ + p * nr * d, d, norms_ + p * nr);
    finish_norms(norms_ + p * nr, nr, metric_);
  }
}

void PackedGallery::set_rows(int64_t n) {
  ng_ = n;
  panels_ = (n + ops().nr - 1) / ops().nr;
}

PackedGallery::PackedGallery(const PackedGallery &base, int64_t row0, int64_t n)
    : ng_(n), d_(base.d_), metric_(base.metric_), panels_(0), capacity_(n), data_(nullptr), norms_(nullptr),
      owned_(false) {
  const int64_t nr = ops().nr;
  if (row0 < 0 || n < 0 || row0 % nr != 0 || row0 > base.capacity_ || n > base.capacity_ - row0)
    throw std::invalid_argument("rows [" + std::to_string(row0) + ", " + std::to_string(row0) + " + " +
                                std::to_string(n) + ") are not a panel-aligned range of " +
                                std::to_string(base.capacity_) + " rows");
  panels_ = (n + nr - 1) / nr;
  data_ = base.data_ + (row0 / nr) * nr * d_;
  norms_ = base.norms_ + row0;
}

PackedGallery::~PackedGallery() {
  if (!owned_) return;
  scratch_give(data_, data_bytes_);
  scratch_give(norms_, norms_bytes_);
}

void row_norms(const float *x, int64_t n, int64_t d, int metric, float *out) {
  ops().sumsq_rows(x, n, d, out);
  finish_norms(out, n, metric);
}

float distance_pair(const float *a, float an, const float *b, float bn, int64_t d, int metric) {
  return r4j_finish(ops().dot(a, b, d), an, bn, metric);
}

void distance_block(const float *q, const float *qn, int64_t nq, const float *g, const float *gn,
                    int64_t ng, int64_t d, int metric, float *out, int64_t ldo) {
  if (nq <= 0 || ng <= 0) return;
  const IsaOps &o = ops();
  if (nq * ng <= 4) {  // not worth packing
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < ng; ++j)
        out[i * ldo + j] = distance_pair(q + i * d, qn[i], g + j * d, gn[j], d, metric);
    return;
  }
  // Per-thread scratch, reused between calls (grows to the largest block seen).
  thread_local std::vector<float> scratch;
  const int64_t panels = (ng + o.nr - 1) / o.nr;
  const int64_t mc = std::min(pick_mc(d, o.mr), round_up(nq, o.mr));
  const int64_t nb = panels * o.nr * d, nn = panels * o.nr, nw = work_floats(mc, d, o.mr, o.nr);
  const size_t need = (size_t)(round_up(nb, 16) + round_up(nn, 16) + nw + 16);
  if (scratch.size() < need) scratch.resize(need);
  float *base = scratch.data();
  base += (64 - (reinterpret_cast<uintptr_t>(base) & 63)) / 4 % 16;
  float *bp = base, *np = bp + round_up(nb, 16), *work = np + round_up(nn, 16);
  for (int64_t p = 0; p < panels; ++p) pack_gallery_panel(o, g, ng, d, p, bp + p * o.nr * d);
  std::memcpy(np, gn, ng * sizeof(float));
  std::fill(np + ng, np + nn, 0.f);
  GemmArgs a{q, nq, qn, bp, np, 0, panels, ng, d, metric, out, ldo, work, mc, false};
  o.gemm(a);
}

void pairwise_into(const float *q, int64_t nq, const PackedGallery &g, float *out, int64_t ldo) {
  const int64_t ng = g.rows(), d = g.dim();
  if (nq <= 0 || ng <= 0) return;
  const IsaOps &o = ops();
  const int metric = g.metric();
  std::vector<float> qn(nq);
  row_norms(q, nq, d, metric, qn.data());
  const int threads = cpu_threads();
  // Tasks: row blocks of mc rows (packed once per thread and reused) x gallery chunks of about
  // 2048 columns, so that both threads stay busy to the end.
  const int64_t mc = std::min(pick_mc(d, o.mr), round_up(nq, o.mr));
  const int64_t panels = PackedAccess::panels(g);
  const int64_t chunk = std::max<int64_t>(1, 2048 / o.nr);
  const int64_t nchunks = (panels + chunk - 1) / chunk;
  const int64_t nrb = (nq + mc - 1) / mc;
  const int64_t tasks = nrb * nchunks;
  const int64_t wf = round_up(work_floats(mc, d, o.mr, o.nr), 16);
  AlignedFloats work(wf * threads);
  const float *bp = PackedAccess::data(g), *gn = g.norms();
#pragma omp parallel num_threads(threads) if (tasks > 1)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    float *w = work.p + t * wf;
    int64_t packed_rb = -1;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t rb = task / nchunks, c = task % nchunks;
      const int64_t i0 = rb * mc, m = std::min(mc, nq - i0);
      const int64_t p0 = c * chunk, p1 = std::min(panels, p0 + chunk);
      GemmArgs a{q + i0 * d, m, qn.data() + i0, bp, gn, p0, p1, ng - p0 * o.nr, d, metric,
                 out + i0 * ldo + p0 * o.nr, ldo, w, mc, packed_rb == rb};
      o.gemm(a);
      packed_rb = rb;
    }
  }
}

void pairwise_into(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                   float *out, int64_t ldo) {
  if (nq <= 0 || ng <= 0) return;
  PackedGallery pg(g, ng, d, metric);
  pairwise_into(q, nq, pg, out, ldo);
}

void stream_rows(const float *q, int64_t nq, const PackedGallery &g, const RowBlockFn &fn, int blocks_per_thread) {
  const int64_t ng = g.rows(), d = g.dim();
  if (nq <= 0) return;
  const IsaOps &o = ops();
  const int metric = g.metric();
  const int threads = cpu_threads();
  std::vector<float> qn(nq);
  row_norms(q, nq, d, metric, qn.data());
  // Block height: about 8 MB of distances per thread (every block streams the whole packed
  // gallery once, so taller is better), at least 4 blocks per thread when there are rows enough,
  // a multiple of MR where possible.
  int64_t h = std::max<int64_t>(1, (int64_t(2) << 20) / std::max<int64_t>(ng, 1));
  const int64_t want = int64_t(std::max(1, blocks_per_thread)) * threads;
  h = std::min(h, std::max<int64_t>(1, (nq + want - 1) / want));
  if (h > o.mr) h = h / o.mr * o.mr;
  // ...but never below one micro-kernel tile (MR rows): a shorter block costs a whole tile anyway and
  // streams the gallery once more, so a few query rows make one block (and no parallel region).
  h = std::max(h, std::min<int64_t>(nq, o.mr));
  const int64_t nblocks = (nq + h - 1) / h;
  const int64_t mc = std::min(pick_mc(d, o.mr), round_up(h, o.mr));
  const int64_t wf = round_up(work_floats(mc, d, o.mr, o.nr), 16);
  const int64_t bf = round_up(h * std::max<int64_t>(ng, 1), 16);
  AlignedFloats work(wf * threads), blocks(bf * threads);
  const float *bp = PackedAccess::data(g), *gn = g.norms();
  const int64_t panels = PackedAccess::panels(g);
#pragma omp parallel num_threads(threads) if (nblocks > 1)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    float *w = work.p + t * wf, *blk = blocks.p + t * bf;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < nblocks; ++b) {
      const int64_t i0 = b * h, i1 = std::min(nq, i0 + h);
      if (ng > 0) {
        GemmArgs a{q + i0 * d, i1 - i0, qn.data() + i0, bp, gn, 0, panels, ng, d, metric, blk, ng,
                   w, mc, false};
        o.gemm(a);
      }
      fn(i0, i1, blk, ng, t);
    }
  }
}

void stream_rows(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                 const RowBlockFn &fn) {
  if (nq <= 0) return;
  PackedGallery pg(g, ng, d, metric);
  stream_rows(q, nq, pg, fn);
}

ColumnShape column_shape(int64_t d) {
  const IsaOps &o = ops();
  // Chunk: about 256 KB of packed gallery rows, so that the chunk, the packed query block (up to
  // about 1 MB, see pick_mc) and the distance block share L2 without evicting each other for long.
  int64_t rows = (int64_t(256) << 10) / (4 * d);
  rows = std::max<int64_t>(1, rows / o.nr) * o.nr;
  return {pick_mc(d, o.mr), rows};
}

namespace {

// The column driver behind stream_columns and pairwise_columns: with out == nullptr each block goes
// to fn through a per-thread block buffer; otherwise the kernel writes straight into out (out[i *
// ldo + j]) and fn is not used.
// With pg, the chunks are read from that gallery, packed once, instead of packed from g here.
void column_driver(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                   const ColumnBlockFn *fn, float *out, int64_t ldo, const PackedGallery *pg = nullptr) {
  if (nq <= 0 || ng <= 0) return;
  const IsaOps &o = ops();
  const int threads = cpu_threads();
  std::vector<float> qn(nq);
  row_norms(q, nq, d, metric, qn.data());
  const ColumnShape shape = column_shape(d);
  const int64_t mc = std::min(shape.block_rows, round_up(nq, o.mr));
  const int64_t cp = shape.chunk_rows / o.nr;  // panels per chunk
  const int64_t panels = (ng + o.nr - 1) / o.nr;
  const int64_t nchunks = (panels + cp - 1) / cp;
  const int64_t nrb = (nq + mc - 1) / mc;
  // Per-thread buffers (bounded by the blocking, not by ng or nq): packed chunk, its row statistics
  // (zero-padded like PackedGallery's), kernel scratch with the packed query block, distance block.
  const int64_t pf = pg != nullptr ? 0 : round_up(cp * o.nr * d, 16), nf = pg != nullptr ? 0 : round_up(cp * o.nr, 16);
  const int64_t wf = round_up(work_floats(mc, d, o.mr, o.nr), 16);
  const int64_t bf = out == nullptr ? round_up(mc * cp * o.nr, 16) : 0;
  const int64_t per_thread = pf + nf + wf + bf;
  AlignedFloats buf(per_thread * threads);
#pragma omp parallel num_threads(threads) if (nchunks > 1)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    float *const own = buf.p + t * per_thread, *w = own + pf + nf, *blk = w + wf;
    bool a_ready = false;  // w holds the packed query block (only kept when there is one block)
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t p0 = c * cp, p1 = std::min(panels, p0 + cp);
      const float *bp, *gn;
      if (pg != nullptr) {
        bp = PackedAccess::data(*pg) + p0 * o.nr * d;
        gn = pg->norms() + p0 * o.nr;
      } else {
        // The same panels and statistics as PackedGallery builds for panels [p0, p1).
        float *pb = own, *pn = own + pf;
        for (int64_t p = p0; p < p1; ++p) {
          float *panel = pb + (p - p0) * o.nr * d;
          pack_gallery_panel(o, g, ng, d, p, panel);
          o.sumsq_panel(panel, d, pn + (p - p0) * o.nr);
          finish_norms(pn + (p - p0) * o.nr, o.nr, metric);
        }
        bp = pb, gn = pn;
      }
      const int64_t j0 = p0 * o.nr, j1 = std::min(ng, p1 * o.nr), ld = j1 - j0;
      for (int64_t rb = 0; rb < nrb; ++rb) {
        const int64_t i0 = rb * mc, i1 = std::min(nq, i0 + mc);
        float *dst = out == nullptr ? blk : out + i0 * ldo + j0;
        GemmArgs a{q + i0 * d, i1 - i0, qn.data() + i0, bp, gn, 0, p1 - p0, ld, d, metric, dst,
                   out == nullptr ? ld : ldo, w, mc, nrb == 1 && a_ready};
        o.gemm(a);
        a_ready = true;
        if (out == nullptr) (*fn)(i0, i1, j0, j1, blk, ld, t);
      }
    }
  }
}

}  // namespace

void stream_columns(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                    const ColumnBlockFn &fn) {
  column_driver(q, nq, g, ng, d, metric, &fn, nullptr, 0);
}

void stream_columns(const float *q, int64_t nq, const PackedGallery &g, int64_t ng, const ColumnBlockFn &fn) {
  column_driver(q, nq, nullptr, ng, g.dim(), g.metric(), &fn, nullptr, 0, &g);
}

void pairwise_columns(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                      float *out, int64_t ldo) {
  column_driver(q, nq, g, ng, d, metric, nullptr, out, ldo);
}

const char *isa_name() { return ops().name; }

}  // namespace cpu
}  // namespace r4j
