// CUDA emulator for testing reid4j's CUDA kernels on a machine without a GPU.
//
// This header stands in for <cuda_runtime.h> when the sources of src/main/cpp/cuda are compiled as
// plain C++ (cmake/CudaEmu.cmake rewrites `kernel<<<grid, block, smem, stream>>>(args)` into
// `::r4j_emu::launch(kernel, "kernel", grid, block, smem, stream)(args)` and `extern __shared__`
// arrays into the launch's dynamic shared buffer; nothing else changes). It runs every CUDA thread
// of a block as a cooperative fiber on the calling OS thread, block after block:
//  - __syncthreads() and the warp operations (__shfl*_sync, __ballot_sync) are real barriers: a
//    fiber runs until it reaches one and the scheduler then runs the others, in an order chosen by
//    R4J_EMU_SCHEDULE (forward, reverse, or random, the default, seeded by R4J_EMU_SEED). A
//    missing barrier shows up as a result that depends on the schedule.
//  - Divergent barriers (a lane waiting at __syncthreads while others wait at a warp operation),
//    full-mask warp operations after some lanes returned or in a partial warp, and deadlocks abort
//    with a message naming the kernel.
//  - Launch limits are checked as the hardware does (block size, grid dimensions, 48 KB of
//    dynamic shared memory): a bad launch sets cudaErrorInvalidConfiguration.
//  - Device allocations are tracked: copies and memsets must stay inside one allocation and go in
//    the stated direction, kernel pointer arguments must point into device memory, and fresh
//    device memory is filled with 0xFF bytes (NaN floats, -1 integers) so that reading memory no
//    one wrote shows up in results. With -fsanitize=address each allocation is exact-sized, so
//    out-of-bounds accesses in kernels are reported.
//  - Streams are queues: work issued to them runs when the host waits for it, the streams
//    interleaved in the schedule's order, so that missing event waits between streams and host
//    buffers reused before their copies ran give wrong results (see "Streams" in cuda_emu.cpp).
// Everything runs on the calling OS thread; host threads may call the API at once (one call at a time).
// What it cannot show: timing, the memory model of real hardware (everything here is sequentially
// consistent), races inside one segment between barriers, and float differences of device
// intrinsics (expf, sqrtf here are the host's, correctly rounded or nearly so).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static  // one instance per kernel, shared by the fibers of the block being run
#define __constant__ static

// ---- types ----
typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorHostMemoryAlreadyRegistered = 712,
  cudaErrorHostMemoryNotRegistered = 713,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
} cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct CUstream_st;
typedef CUstream_st *cudaStream_t;
struct CUmemPoolHandle_st;
typedef CUmemPoolHandle_st *cudaMemPool_t;
struct CUevent_st;
typedef CUevent_st *cudaEvent_t;
#define cudaEventDisableTiming 0x02
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97, cudaDevAttrMemoryPoolsSupported = 115 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaHostAllocDefault 0x00
#define cudaHostRegisterDefault 0x00

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int warpSize;
  int major, minor;
};

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }

// ---- runtime API (host side) ----
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char *cudaGetErrorString(cudaError_t err);
const char *cudaGetErrorName(cudaError_t err);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc(void **ptr, size_t bytes);
cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t s);
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t s);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value);
cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value);
template <typename F>
cudaError_t cudaFuncSetAttribute(F *func, cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void *>(func), attr, value);
}
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocHost(void **ptr, size_t bytes);
cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaHostRegister(void *ptr, size_t bytes, unsigned flags);
cudaError_t cudaHostUnregister(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemset(void *ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaDeviceSynchronize();

// ---- emulator internals used by the device-side functions below and by launches ----
namespace r4j_emu {

struct Thread {
  uint3 idx;     // threadIdx
  unsigned lane;  // linear index % 32
  unsigned warp;  // linear index / 32
};

extern Thread *g_thread;  // the fiber running now
extern uint3 g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

// Blocks the calling fiber at the block barrier.
void syncthreads();
// Warp exchange: every lane of the warp publishes `mine` and waits for the others; returns the
// value published by lane `src` (its own value when src is outside the warp). op names the
// operation for error messages.
uint64_t warp_exchange(unsigned mask, uint64_t mine, unsigned src, const char *op);
// __ballot_sync: bit l set when lane l's predicate is non-zero.
unsigned warp_ballot(unsigned mask, bool pred);
// __match_any_sync: bit l set when lane l holds the same value as the calling lane.
unsigned warp_match_any(unsigned mask, uint64_t value);
// The dynamic shared-memory buffer of the running launch.
void *dynamic_shared();
// Aborts the process with a message naming the running kernel.
[[noreturn]] void die(const char *what);
// Is [p, p + bytes) inside one device allocation (bytes may be 0: p may be its end)?
bool is_device(const void *p, size_t bytes);

// Test hooks: a device-memory limit in bytes (0: none) to exercise out-of-memory paths, and the
// number of device allocations not yet freed.
void set_memory_limit(size_t bytes);
size_t live_allocations();
// Devices reported by cudaGetDeviceCount (1 by default; 0 makes it fail as without a driver).
void set_device_count(int n);
// Whether the device reports memory pools (cudaMallocAsync); true by default.
void set_memory_pools(bool supported);
// Shared memory a block may opt in to (227 KB by default, as on an H100); kernels choose their
// shared-memory variants by it.
void set_shared_memory_optin(int bytes);
// Compute capability cudaGetDeviceProperties reports (9.0, as an H100, by default).
void set_compute_capability(int major, int minor);

// Checks a launch's configuration now (an error is the launch's status, as on a device) and, if it
// is valid, queues the grid on `stream`: run() is then called once per CUDA thread when the stream
// reaches it (see "Streams" in cuda_emu.cpp). kernel identifies the function for its
// cudaFuncSetAttribute limits.
cudaError_t queue_grid(const char *name, const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                       std::function<void()> run);

template <typename T>
inline void check_arg(const char *name, int index, const T &v) {
  if constexpr (std::is_pointer_v<T>) {
    if (v != nullptr && !is_device(v, 0)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s: pointer argument %d is not device memory", name, index);
      die(buf);
    }
  }
}

// Dies if p lies in memory from cudaMallocAsync whose allocation has not yet been reached in its
// stream's order: work on another stream used it without an event ordering the allocation first.
void check_ready(const char *name, const void *p);

template <typename T>
inline void check_ready_arg(const char *name, const T &v) {
  if constexpr (std::is_pointer_v<T>)
    if (v != nullptr) check_ready(name, v);
}

template <typename... P>
struct Launch {
  void (*kernel)(P...);
  const char *name;
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;

  template <typename... A>
  void operator()(A &&...a) const {
    static_assert(sizeof...(A) == sizeof...(P), "wrong number of kernel arguments");
    // The arguments are taken by value now, as a launch does; the grid runs when its stream gets to it.
    auto args = std::make_shared<std::tuple<std::decay_t<P>...>>(std::forward<A>(a)...);
    int i = 0;
    std::apply([&](const auto &...v) { (check_arg(name, i++, v), ...); }, *args);
    void (*k)(P...) = kernel;
    const char *n = name;
    queue_grid(name, reinterpret_cast<const void *>(kernel), grid, block, smem, stream, [k, args, n]() {
      std::apply([&](const auto &...v) { (check_ready_arg(n, v), ...); }, *args);
      std::apply(k, *args);
    });
  }
};

template <typename... P>
Launch<P...> launch(void (*kernel)(P...), const char *name, dim3 grid, dim3 block, size_t smem = 0,
                    cudaStream_t stream = nullptr) {
  return Launch<P...>{kernel, name, grid, block, smem, stream};
}

}  // namespace r4j_emu

// ---- built-in variables ----
#define threadIdx (::r4j_emu::g_thread->idx)
#define blockIdx (::r4j_emu::g_block_idx)
#define blockDim (::r4j_emu::g_block_dim)
#define gridDim (::r4j_emu::g_grid_dim)
constexpr int warpSize = 32;

// ---- device functions ----
inline void __syncthreads() { ::r4j_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::r4j_emu::warp_exchange(mask, 0, 0, "__syncwarp");
}
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace r4j_emu {
template <typename T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
}  // namespace r4j_emu

template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const unsigned lane = ::r4j_emu::g_thread->lane;
  const unsigned base = lane - lane % (unsigned)width;
  const unsigned from = base + ((unsigned)src % (unsigned)width);
  return ::r4j_emu::from_bits<T>(::r4j_emu::warp_exchange(mask, ::r4j_emu::to_bits(v), from, "__shfl_sync"));
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const unsigned lane = ::r4j_emu::g_thread->lane;
  unsigned from = lane ^ (unsigned)lane_mask;
  if (from / (unsigned)width != lane / (unsigned)width) from = lane;
  return ::r4j_emu::from_bits<T>(::r4j_emu::warp_exchange(mask, ::r4j_emu::to_bits(v), from, "__shfl_xor_sync"));
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const unsigned lane = ::r4j_emu::g_thread->lane;
  unsigned from = lane + delta;
  if (from / (unsigned)width != lane / (unsigned)width) from = lane;
  return ::r4j_emu::from_bits<T>(::r4j_emu::warp_exchange(mask, ::r4j_emu::to_bits(v), from, "__shfl_down_sync"));
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const unsigned lane = ::r4j_emu::g_thread->lane;
  unsigned from = lane - delta;
  if (lane % (unsigned)width < delta) from = lane;
  return ::r4j_emu::from_bits<T>(::r4j_emu::warp_exchange(mask, ::r4j_emu::to_bits(v), from, "__shfl_up_sync"));
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return ::r4j_emu::warp_ballot(mask, pred != 0); }
template <typename T>
inline unsigned __match_any_sync(unsigned mask, T v) {
  return ::r4j_emu::warp_match_any(mask, ::r4j_emu::to_bits(v));
}
inline int __any_sync(unsigned mask, int pred) { return ::r4j_emu::warp_ballot(mask, pred != 0) != 0; }
inline int __all_sync(unsigned mask, int pred) { return ::r4j_emu::warp_ballot(mask, pred != 0) == mask; }

// Atomics: fibers never run at the same time, so a plain read-modify-write is atomic.
template <typename T>
inline T atomicAdd(T *p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
inline T __ldg(const T *p) {
  return *p;
}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __clz(unsigned v) { return v ? __builtin_clz(v) : 32; }
inline int __ffs(unsigned v) { return __builtin_ffs((int)v); }
inline unsigned __float_as_uint(float f) { return ::r4j_emu::from_bits<unsigned>(::r4j_emu::to_bits(f)); }
inline int __float_as_int(float f) { return ::r4j_emu::from_bits<int>(::r4j_emu::to_bits(f)); }
inline float __uint_as_float(unsigned u) { return ::r4j_emu::from_bits<float>(::r4j_emu::to_bits(u)); }
inline float __int_as_float(int i) { return ::r4j_emu::from_bits<float>(::r4j_emu::to_bits(i)); }

// CUDA's overloaded integer and float min/max are plain functions in device code.
using std::max;
using std::min;
