// Large transient buffers of the CPU kernels (packed galleries, per-thread distance blocks, kernel
// scratch) come from a process-wide pool that keeps released buffers for the next call, up to a byte
// limit, as BLAS libraries keep their packing buffers.
//
// Why: memory fresh from the operating system costs a page fault per 4 KiB page when first touched.
// On the cloud VMs measured (2026-11-30, 2-core AMD EPYC Zen 5) that is about 3.7 us a page: 0.48 s
// to first write the 130 MB packed gallery of the Market shape, against 8 ms to write the same bytes
// again, so a kernel call that packs the gallery paid a fifth of its time on two cores for pages.
// (Transparent huge pages were tried instead and dropped: first calls in a fresh process were much
// slower whenever the kernel compacted memory.)
//
// Policy: requests under 1 MiB go straight to the allocator. A larger request takes the smallest
// kept buffer that holds it and is at most twice its size, else fresh memory. A released buffer is
// kept (newest last) and the oldest kept ones are freed while more than the limit, or more than 8
// buffers, are kept. The limit is R4J_CPU_SCRATCH_MB (MiB, default 256; 0 keeps nothing), read once.
// Buffers in use never count against it. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>

namespace r4j {
namespace cpu {

// A 64-byte aligned buffer of at least `bytes` bytes (its contents are undefined); *capacity gets
// the bytes it holds, to be passed back to scratch_give. Throws std::bad_alloc.
void *scratch_take(size_t bytes, size_t *capacity);
// Returns a buffer from scratch_take (nullptr is ignored).
void scratch_give(void *p, size_t capacity);

struct ScratchStats {
  int64_t kept_bytes;  // idle buffers held by the pool
  int64_t kept_buffers;
  int64_t reused;      // pooled requests served from a kept buffer, since the start
  int64_t fresh;       // pooled requests (>= 1 MiB) served with fresh memory, since the start
};
ScratchStats scratch_stats();
// Frees every kept buffer (buffers in use are not affected).
void scratch_release();
// Sets the limit in bytes (frees kept buffers above it); a negative value restores the default
// (R4J_CPU_SCRATCH_MB or 256 MiB). For tests and for callers that want the memory back.
void set_scratch_limit(int64_t bytes);
int64_t scratch_limit();

}  // namespace cpu
}  // namespace r4j
