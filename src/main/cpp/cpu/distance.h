// Internal distance building blocks used by every CPU kernel (pairwise, top-k, mining, re-ranking).
//
// Engine: a packed GEMM (GotoBLAS/BLIS style) computes the dot products, and the metric is applied
// in the kernel's epilogue from the row statistics: sq = max(0, (|a|^2 + |b|^2) - 2 a.b),
// euclidean = sqrt(sq), cosine = 1 - a.b / (|a| |b|) (1 when a norm is 0). The SIMD path (AVX-512,
// AVX2+FMA or portable scalar) is picked once per process from the CPU; the environment variable
// R4J_CPU_ISA=avx512|avx2|scalar asks for a specific (supported) path, for testing.
//
// Determinism: every dot product and squared norm is one sequential chain over k = 0..d-1 (fused
// multiply-add on the SIMD paths), whatever the block, tile position, blocking of k or thread
// count. So within a process a pair's value depends only on its two rows: exact duplicate rows give
// bit-identical distances, distance_pair / distance_block / stream_rows / pairwise_into agree
// bit for bit, and sq/euclidean distance of a row to itself is exactly 0 (its norm is the same
// chain as its dot product with itself). Values may differ between SIMD paths (fma vs mul+add).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace r4j {
namespace cpu {

// Per-row statistic the metric needs: squared norm (sq/euclidean) or norm (cosine). out: [n].
void row_norms(const float *x, int64_t n, int64_t d, int metric, float *out);

// Distances for a block: out[i * ldo + j] = dist(q_i, g_j), i < nq, j < ng, using the row
// statistics from row_norms. Single-threaded: callers parallelise over blocks. Deterministic: the
// value for a pair does not depend on where the pair sits in the block.
void distance_block(const float *q, const float *qn, int64_t nq, const float *g, const float *gn,
                    int64_t ng, int64_t d, int metric, float *out, int64_t ldo);

// One pair (used where a distance outside the streamed blocks is needed). Bit-identical to the
// block value, hence a sequential chain: about 4 cycles per dimension; use blocks for bulk work.
float distance_pair(const float *a, float an, const float *b, float bn, int64_t d, int metric);

// Streams the [nq, ng] distance matrix in blocks of whole rows, in parallel (cpu_threads()).
// fn(i0, i1, block, ld, thread) is called exactly once per row block [i0, i1), from one of the worker
// threads (thread in [0, cpu_threads())), with block[(i - i0) * ld + j] = dist(q_i, g_j) for every
// j < ng. Calls for different blocks may run concurrently; the block memory is only valid during
// the call. The block height is chosen by the implementation (about 8 MB per thread, >= 1 row).
// Values are the same as distance_block's for the same pair. Packs g first (see PackedGallery for
// the memory) and then holds one block of about 8 MB per thread. fn must not throw; the function
// itself throws std::bad_alloc when out of memory.
using RowBlockFn = std::function<void(int64_t i0, int64_t i1, const float *block, int64_t ld, int thread)>;
void stream_rows(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                 const RowBlockFn &fn);

// The gallery packed once for the GEMM kernels, with its row statistics; shared read-only by any
// number of threads. Memory: ceil(ng / NR) * NR * d floats (NR = 32 on AVX-512, 16 otherwise), i.e.
// about one more copy of the gallery. Building it is parallel (cpu_threads()). Throws
// std::bad_alloc when out of memory.
class PackedGallery {
 public:
  PackedGallery(const float *g, int64_t ng, int64_t d, int metric);
  // A resident gallery of `capacity` rows, all zero and none in use (rows() == 0), whose rows are
  // then overwritten in place with write_rows and put in use with set_rows: a feature memory (XBM)
  // that is packed once and then only patched. Same memory as above for `capacity` rows.
  PackedGallery(int64_t capacity, int64_t d, int metric);
  // Overwrites rows [row0, row0 + n) (0 <= row0, row0 + n <= capacity(), x: [n, d]) and their
  // statistics: the panels then hold what packing those rows anew would give, so every result is
  // bit-identical to a PackedGallery built from the same rows. Not thread-safe with other calls.
  void write_rows(int64_t row0, const float *x, int64_t n);
  // Puts the first n rows (n <= capacity()) in use: rows() becomes n.
  void set_rows(int64_t n);
  // A view of rows [row0, row0 + n) of base, with row0 a multiple of the panel width (32 always is)
  // and row0 + n <= base.capacity(): base's panels from row0's on, not copied, so every result over
  // the view is bit-identical to one over a gallery packed from those rows alone. Valid while base
  // lives and is not written; rows() == capacity() == n. Throws std::invalid_argument when row0 is
  // not panel-aligned or the range is outside base.
  PackedGallery(const PackedGallery &base, int64_t row0, int64_t n);
  int64_t capacity() const { return capacity_; }
  ~PackedGallery();
  PackedGallery(const PackedGallery &) = delete;
  PackedGallery &operator=(const PackedGallery &) = delete;
  int64_t rows() const { return ng_; }
  int64_t dim() const { return d_; }
  int metric() const { return metric_; }
  // Row statistics (as row_norms would give), [rows()].
  const float *norms() const { return norms_; }

 private:
  friend struct PackedAccess;
  int64_t ng_, d_;
  int metric_;
  int64_t panels_;
  int64_t capacity_;
  float *data_;   // panels_ * NR * d_ floats
  float *norms_;  // panels_ * NR floats, zero-padded
  size_t data_bytes_ = 0, norms_bytes_ = 0;  // as taken from the scratch pool (scratch.h)
  bool owned_ = true;  // false for a view of another gallery's panels
};

// stream_rows against an already packed gallery (e.g. to stream several query sets against one
// gallery, or a set against itself). Same contract as stream_rows. Every block streams the whole
// gallery, so fewer, taller blocks read it fewer times: blocks_per_thread (default 4, for load
// balance) may be lowered where the gallery is large next to the queries (a resident mining memory).
void stream_rows(const float *q, int64_t nq, const PackedGallery &g, const RowBlockFn &fn,
                 int blocks_per_thread = 4);

// The whole [nq, ng] matrix written straight into out (out[i * ldo + j], ldo >= ng), in parallel
// (cpu_threads()). Packs g (see PackedGallery for the memory). Throws std::bad_alloc.
void pairwise_into(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                   float *out, int64_t ldo);
void pairwise_into(const float *q, int64_t nq, const PackedGallery &g, float *out, int64_t ldo);

// Column-parallel streaming, for few query rows against a large gallery (the serving case): the
// gallery is shared out between the threads (cpu_threads()) in chunks of whole packed panels, each
// thread packs its chunk (and the chunk's row statistics) into a thread-local buffer and runs every
// query row against it while it sits in L2. One pass over the gallery per call, whatever nq; the
// gallery is never packed as a whole. fn(i0, i1, j0, j1, block, ld, thread) is called exactly once
// per (query row block [i0, i1), gallery chunk [j0, j1)) with block[(i - i0) * ld + (j - j0)] =
// dist(q_i, g_j), from one of the worker threads (thread in [0, cpu_threads())); calls for different
// chunks may run concurrently, chunks reach a thread in no promised order, and the block memory is
// only valid during the call. Values are bit-identical to stream_rows' (same packed panels, same
// micro-kernel, same norms). Memory, per thread, allocated once per call: the packed chunk
// (chunk_rows * (d + 1) floats, about 256 KB), the packed query block (block_rows * (d + NR)) and
// one distance block (block_rows * chunk_rows floats). fn must not throw; the function itself
// throws std::bad_alloc when out of memory.
using ColumnBlockFn = std::function<void(int64_t i0, int64_t i1, int64_t j0, int64_t j1, const float *block,
                                         int64_t ld, int thread)>;
void stream_columns(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                    const ColumnBlockFn &fn);
// The same over rows [0, ng) of a gallery packed once (0 <= ng <= g.capacity(); the dimension and metric
// are g's): the same blocks bit for bit as stream_columns over those rows, without packing any chunk.
void stream_columns(const float *q, int64_t nq, const PackedGallery &g, int64_t ng, const ColumnBlockFn &fn);

// What r4j_cpu_pairwise_topk gives for q against rows [0, ng) of g (0 <= k <= ng <= g.capacity()), bit
// for bit, on the same path, without packing the rows: a gallery searched many times is packed once.
// Sets g's rows in use to ng. Throws std::bad_alloc when out of memory.
void packed_topk(const float *q, int64_t nq, PackedGallery &g, int64_t ng, int64_t k, float *out_val,
                 int32_t *out_idx);

// pairwise_into on the column path: the [nq, ng] matrix written straight into out (out[i * ldo +
// j], ldo >= ng), chunks of the gallery packed per thread as in stream_columns (same per-thread
// memory, less the distance block), never the whole gallery. Bit-identical to pairwise_into.
void pairwise_columns(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int metric,
                      float *out, int64_t ldo);

// The blocking stream_columns uses for dimension d (at most block_rows query rows and chunk_rows
// gallery rows per call of fn), so that callers can size their own per-row state and choose a path.
struct ColumnShape {
  int64_t block_rows;  // query rows per block (a multiple of MR)
  int64_t chunk_rows;  // gallery rows per chunk (a multiple of NR)
};
ColumnShape column_shape(int64_t d);

// How r4j_cpu_pairwise_topk and r4j_cpu_pairwise stream the distances: PATH_AUTO (default) picks
// the column path (stream_columns / pairwise_columns) when the query rows are few relative to the
// gallery (see pairwise.cpp), PATH_ROWS / PATH_COLUMNS force one path. For testing and benchmarking only (results are bit-identical either way); the
// environment variable R4J_CPU_PATH=rows|columns sets the initial value. Not thread-safe with
// concurrent calls (set it before them).
enum StreamPath { PATH_AUTO = 0, PATH_ROWS = 1, PATH_COLUMNS = 2 };
void set_stream_path(StreamPath path);
StreamPath stream_path();
// The path the last r4j_cpu_pairwise_topk or r4j_cpu_pairwise call on this thread took (PATH_ROWS or PATH_COLUMNS;
// PATH_AUTO before any call that streamed distances). For tests that must know which path ran.
StreamPath last_stream_path();

// SIMD path in use: "avx512", "avx2" or "scalar".
const char *isa_name();

}  // namespace cpu
}  // namespace r4j
