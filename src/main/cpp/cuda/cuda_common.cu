// Device management and error reporting of the CUDA backend.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "copy_pool.h"
#include "cuda_common.cuh"

namespace {
thread_local int t_device = 0;  // device the CUDA kernels of this thread use
thread_local int t_precision = R4J_FP32;  // precision of this thread's distance passes

// Number of usable devices; 0 (and the reason in *why) when there is no driver or no device.
int usable_devices(std::string *why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the error state so later calls are not affected
    if (why) *why = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return 0;
  }
  if (n <= 0 && why) *why = "the driver reports no device";
  return n > 0 ? n : 0;
}
}  // namespace

namespace r4j {
namespace cu {

int cuda_fail(cudaError_t err, const char *fn, const char *call) {
  cudaGetLastError();
  std::string msg = std::string(fn) + ": " + call + " failed: " + cudaGetErrorString(err) + " (" +
                    cudaGetErrorName(err) + ")";
  return fail(err == cudaErrorMemoryAllocation ? R4J_ENOMEM : R4J_ECUDA, msg);
}

bool use_memory_pool() {
  int dev = 0, supported = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (!supported) return false;
  static std::atomic<bool> configured[64];
  if (dev < 64 && !configured[dev].exchange(true)) {
    cudaMemPool_t pool;
    uint64_t keep = kPoolKeepBytes;
    if (cudaDeviceGetDefaultMemPool(&pool, dev) != cudaSuccess ||
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) != cudaSuccess)
      cudaGetLastError();  // the pool then releases memory at each synchronisation: slower, not wrong
  }
  return true;
}

int dynamic_smem_limit(const char *FN, const void *kernel, std::atomic<bool> *raised, int static_bytes, size_t *limit) {
  int dev = 0, optin = 0;
  *limit = 0;
  R4J_CU(cudaGetDevice(&dev));
  R4J_CU(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (optin <= static_bytes) return R4J_OK;
  const int dyn = optin - static_bytes;
  if (dev >= 0 && dev < kMaxDevices && !raised[dev].load()) {
    R4J_CU(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, dyn));
    raised[dev].store(true);
  }
  *limit = (dev >= 0 && dev < kMaxDevices) ? (size_t)dyn : (size_t)std::max(0, 48 * 1024 - static_bytes);
  return R4J_OK;
}

namespace {
// Page-locked staging of one device: two halves and the events of the copies reading them.
struct Staging {
  std::mutex lock;
  char *host = nullptr;  // 2 * half bytes, cudaHostAlloc'ed, kept for the process's lifetime
  size_t half = 0;
  cudaEvent_t done[2] = {nullptr, nullptr};
};
Staging g_staging[kMaxDevices];

size_t staging_half() {
  if (const char *e = std::getenv("R4J_CUDA_STAGING_BYTES")) {
    const long long v = std::atoll(e);
    if (v >= 4096) return (size_t)v;
  }
  return size_t(16) << 20;
}

// Threads that fill a staging half: R4J_CUDA_COPY_THREADS, else up to 8 (half the hardware threads). One thread
// copies pageable memory at ~10 GB/s, below what the DMA engine takes from page-locked memory.
size_t copy_threads() {
  if (const char *e = std::getenv("R4J_CUDA_COPY_THREADS")) {
    const long long v = std::atoll(e);
    if (v >= 1) return (size_t)std::min(v, 64LL);
  }
  static const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  return std::max<size_t>(1, std::min<size_t>(8, hw / 2));
}

// memcpy of n bytes in parts of at least 1 MiB on up to copy_threads() threads, the caller's included: the
// others are CopyPool's workers, started once and kept (copy_pool.h).
void parallel_memcpy(char *to, const char *from, size_t n) {
  const size_t min_part = size_t(1) << 20;
  const size_t t = std::min(copy_threads(), (n + min_part - 1) / min_part);
  if (t <= 1) {
    std::memcpy(to, from, n);
    return;
  }
  const size_t part = ((n + t - 1) / t + 63) & ~size_t(63);
  CopyPool::instance().copy(to, from, n, (n + part - 1) / part, part);
}

// The device's staging, locked and ready (st.host set), or nullptr for a plain copy: staging off
// (R4J_CUDA_STAGING=0), no device, or no page-locked memory to be had.
Staging *ready_staging(const char *FN, std::unique_lock<std::mutex> *guard, int *status) {
  *status = R4J_OK;
  const char *e = std::getenv("R4J_CUDA_STAGING");
  int dev = 0;
  if ((e && e[0] == '0') || cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) {
    cudaGetLastError();
    return nullptr;
  }
  Staging &st = g_staging[dev];
  *guard = std::unique_lock<std::mutex>(st.lock);
  for (auto &ev : st.done)
    if (!ev) {
      const cudaError_t err = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
      if (err != cudaSuccess) {
        ev = nullptr;
        *status = cuda_fail(err, FN, "cudaEventCreateWithFlags");
        return nullptr;
      }
    }
  const size_t half = staging_half();
  if (st.host == nullptr || st.half != half) {
    if (st.host) cudaFreeHost(st.host);
    st.host = nullptr;
    void *p = nullptr;
    if (cudaHostAlloc(&p, 2 * half, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    st.host = static_cast<char *>(p);
    st.half = half;
  }
  return &st;
}

// Host to device through the staging halves: half k & 1 is refilled once the copy that last read it is done.
int stage_up(const char *FN, Staging &st, char *to, const char *from, size_t bytes, cudaStream_t s) {
  const size_t half = st.half;
  for (size_t off = 0, k = 0; off < bytes; off += half, ++k) {
    const size_t n = std::min(half, bytes - off);
    const int h = (int)(k & 1);
    R4J_CU(cudaEventSynchronize(st.done[h]));  // the copy that last read this half is done
    parallel_memcpy(st.host + h * half, from + off, n);
    R4J_CU(cudaMemcpyAsync(to + off, st.host + h * half, n, cudaMemcpyHostToDevice, s));
    R4J_CU(cudaEventRecord(st.done[h], s));
  }
  // The staging is free again for the next caller once both copies are done.
  R4J_CU(cudaEventSynchronize(st.done[0]));
  R4J_CU(cudaEventSynchronize(st.done[1]));
  return R4J_OK;
}

// Device to host: chunk k goes to half k & 1; chunk k + 1 is on its way while the CPU empties chunk k.
int stage_down(const char *FN, Staging &st, char *to, const char *from, size_t bytes, cudaStream_t s) {
  const size_t half = st.half, chunks = (bytes + half - 1) / half;
  auto issue = [&](size_t k) -> int {
    const size_t off = k * half, n = std::min(half, bytes - off);
    R4J_CU(cudaMemcpyAsync(st.host + (k & 1) * half, from + off, n, cudaMemcpyDeviceToHost, s));
    R4J_CU(cudaEventRecord(st.done[k & 1], s));
    return R4J_OK;
  };
  R4J_TRY(issue(0));
  for (size_t k = 0; k < chunks; ++k) {
    if (k + 1 < chunks) R4J_TRY(issue(k + 1));  // its half was emptied by the step before
    R4J_CU(cudaEventSynchronize(st.done[k & 1]));
    const size_t off = k * half;
    parallel_memcpy(to + off, st.host + (k & 1) * half, std::min(half, bytes - off));
  }
  return R4J_OK;
}

// upload / download: through the staging when there is one, else the driver's own copy on s.
int staged_copy(const char *FN, void *dst, const void *src, size_t bytes, cudaStream_t s, cudaMemcpyKind kind) {
  if (bytes == 0) return R4J_OK;
  std::unique_lock<std::mutex> guard;
  int status = R4J_OK;
  Staging *st = ready_staging(FN, &guard, &status);
  if (status != R4J_OK) return status;
  if (!st) {
    R4J_CU(cudaMemcpyAsync(dst, src, bytes, kind, s));
    return R4J_OK;
  }
  char *to = static_cast<char *>(dst);
  const char *from = static_cast<const char *>(src);
  return kind == cudaMemcpyHostToDevice ? stage_up(FN, *st, to, from, bytes, s)
                                        : stage_down(FN, *st, to, from, bytes, s);
}
}  // namespace

int upload(const char *FN, void *dst, const void *src, size_t bytes, cudaStream_t s) {
  return staged_copy(FN, dst, src, bytes, s, cudaMemcpyHostToDevice);
}

int download(const char *FN, void *dst, const void *src, size_t bytes, cudaStream_t s) {
  return staged_copy(FN, dst, src, bytes, s, cudaMemcpyDeviceToHost);
}

int64_t scratch_budget() {
  if (const char *s = std::getenv("R4J_CUDA_CHUNK_BYTES")) {
    const long long v = std::atoll(s);
    if (v > 0) return v;
  }
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return kChunkBytes;
  }
  return std::max<int64_t>(kChunkBytes, std::min<int64_t>(int64_t(free_b / 2), int64_t(16) << 30));
}

int prepare_device(const char *fn) {
  std::string why;
  int n = usable_devices(&why);
  if (n == 0) return fail(R4J_ECUDA, std::string("no CUDA device: ") + fn + ": " + why);
  if (t_device < 0 || t_device >= n)
    return fail(R4J_ECUDA, std::string(fn) + ": the selected CUDA device " + std::to_string(t_device) +
                               " does not exist (" + std::to_string(n) + " present)");
  const char *FN = fn;
  R4J_CU(cudaSetDevice(t_device));
  return R4J_OK;
}

int distance_precision(const char *fn, int *precision) {
  *precision = t_precision;
  if (t_precision == R4J_FP32) return R4J_OK;
  static std::atomic<int> capability[64];  // major * 10 + minor of each device, 0 until asked
  int dev = 0, cc = 0;
  const char *FN = fn;
  R4J_CU(cudaGetDevice(&dev));
  if (dev < 64) cc = capability[dev].load();
  if (cc == 0) {
    cudaDeviceProp prop;
    R4J_CU(cudaGetDeviceProperties(&prop, dev));
    cc = prop.major * 10 + prop.minor;
#ifndef REID4J_CUDA_EMU  // the emulator's tests change the capability it reports
    if (dev < 64) capability[dev].store(cc);
#endif
  }
  if (cc < 80)
    return fail(R4J_EINVAL, std::string(fn) + ": precision " + (t_precision == R4J_TF32 ? "TF32" : "TF32X3") +
                                " needs tensor cores of compute capability 8.0 or newer; device " +
                                std::to_string(dev) + " has " + std::to_string(cc / 10) + "." +
                                std::to_string(cc % 10) + " (use R4J_FP32)");
  return R4J_OK;
}

}  // namespace cu
}  // namespace r4j

extern "C" {

int r4j_cuda_compiled(void) { return 1; }

int r4j_cuda_device_count(int *count) {
  r4j::clear_error();
  if (!count) return r4j::fail(R4J_EINVAL, "r4j_cuda_device_count: count is null");
  *count = usable_devices(nullptr);
  return R4J_OK;
}

int r4j_cuda_set_device(int device) {
  r4j::clear_error();
  std::string why;
  int n = usable_devices(&why);
  if (n == 0) return r4j::fail(R4J_ECUDA, "no CUDA device: r4j_cuda_set_device: " + why);
  if (device < 0 || device >= n)
    return r4j::fail(R4J_EINVAL, "r4j_cuda_set_device: device " + std::to_string(device) + " is outside [0, " +
                                     std::to_string(n) + ")");
  t_device = device;
  return R4J_OK;
}

int r4j_cuda_set_precision(int precision) {
  r4j::clear_error();
  if (precision != R4J_FP32 && precision != R4J_TF32X3 && precision != R4J_TF32)
    return r4j::fail(R4J_EINVAL, "r4j_cuda_set_precision: precision " + std::to_string(precision) +
                                     " is none of R4J_FP32 (0), R4J_TF32X3 (1), R4J_TF32 (2)");
  t_precision = precision;
  return R4J_OK;
}

int r4j_cuda_precision(void) { return t_precision; }

int r4j_cuda_device_name(char *buf, int len) {
  r4j::clear_error();
  const char *FN = "r4j_cuda_device_name";
  if (!buf || len <= 0) return r4j::fail(R4J_EINVAL, "r4j_cuda_device_name: buf is null or len <= 0");
  buf[0] = '\0';
  R4J_TRY(r4j::cu::prepare_device(FN));
  cudaDeviceProp prop;
  R4J_CU(cudaGetDeviceProperties(&prop, t_device));
  std::strncpy(buf, prop.name, static_cast<size_t>(len) - 1);
  buf[len - 1] = '\0';
  return R4J_OK;
}

}  // extern "C"
