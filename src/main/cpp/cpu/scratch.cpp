// The scratch pool: see scratch.h.
#include "scratch.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace {

constexpr size_t kPooledMin = size_t(1) << 20;
constexpr size_t kMaxKept = 8;

struct Kept {
  void *p;
  size_t capacity;
};

struct Pool {
  std::mutex mu;
  std::vector<Kept> kept;  // oldest first
  size_t kept_bytes = 0;
  int64_t limit = -1;      // bytes; -1 until first read
  int64_t reused = 0, fresh = 0;
};

Pool &pool() {
  static Pool *p = new Pool();  // never destroyed: kernels may run during static destruction
  return *p;
}

int64_t default_limit() {
  const char *e = std::getenv("R4J_CPU_SCRATCH_MB");
  if (e != nullptr && *e != '\0') {
    char *end = nullptr;
    const long long mb = std::strtoll(e, &end, 10);
    if (end != nullptr && *end == '\0' && mb >= 0 && mb <= (int64_t(1) << 30)) return mb << 20;
    std::fprintf(stderr, "reid4j: R4J_CPU_SCRATCH_MB=%s is not a whole number of MiB (0 or more); using 256\n", e);
  }
  return int64_t(256) << 20;
}

// Frees the oldest kept buffers while over the limit or the count (mu held).
void trim(Pool &pl) {
  size_t drop = 0;
  size_t bytes = pl.kept_bytes;
  while (drop < pl.kept.size() && ((int64_t)bytes > pl.limit || pl.kept.size() - drop > kMaxKept)) {
    bytes -= pl.kept[drop].capacity;
    std::free(pl.kept[drop].p);
    ++drop;
  }
  pl.kept.erase(pl.kept.begin(), pl.kept.begin() + (ptrdiff_t)drop);
  pl.kept_bytes = bytes;
}

size_t round_capacity(size_t bytes) { return (std::max<size_t>(bytes, 1) + 63) / 64 * 64; }

}  // namespace

namespace r4j {
namespace cpu {

void *scratch_take(size_t bytes, size_t *capacity) {
  const size_t want = round_capacity(bytes);
  if (want >= kPooledMin) {
    Pool &pl = pool();
    std::lock_guard<std::mutex> lock(pl.mu);
    size_t best = pl.kept.size();
    for (size_t i = 0; i < pl.kept.size(); ++i) {
      const size_t c = pl.kept[i].capacity;
      if (c >= want && c / 2 <= want && (best == pl.kept.size() || c < pl.kept[best].capacity)) best = i;
    }
    if (best < pl.kept.size()) {
      const Kept k = pl.kept[best];
      pl.kept.erase(pl.kept.begin() + (ptrdiff_t)best);
      pl.kept_bytes -= k.capacity;
      ++pl.reused;
      *capacity = k.capacity;
      return k.p;
    }
    ++pl.fresh;
  }
  void *p = std::aligned_alloc(64, want);
  if (p == nullptr) throw std::bad_alloc();
  *capacity = want;
  return p;
}

void scratch_give(void *p, size_t capacity) {
  if (p == nullptr) return;
  if (capacity < kPooledMin) {
    std::free(p);
    return;
  }
  Pool &pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  if (pl.limit < 0) pl.limit = default_limit();
  if ((int64_t)capacity > pl.limit) {
    std::free(p);
    return;
  }
  pl.kept.push_back({p, capacity});
  pl.kept_bytes += capacity;
  trim(pl);
}

ScratchStats scratch_stats() {
  Pool &pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  return {(int64_t)pl.kept_bytes, (int64_t)pl.kept.size(), pl.reused, pl.fresh};
}

void scratch_release() {
  Pool &pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  for (const Kept &k : pl.kept) std::free(k.p);
  pl.kept.clear();
  pl.kept_bytes = 0;
}

void set_scratch_limit(int64_t bytes) {
  Pool &pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  pl.limit = bytes < 0 ? default_limit() : bytes;
  trim(pl);
}

int64_t scratch_limit() {
  Pool &pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  if (pl.limit < 0) pl.limit = default_limit();
  return pl.limit;
}

}  // namespace cpu
}  // namespace r4j
