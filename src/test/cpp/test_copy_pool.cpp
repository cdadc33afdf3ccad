// The staging copies' thread pool (src/main/cpp/cuda/copy_pool.h) on its own: every byte copied once and
// nothing past the end written, for sizes from 0 up and 1 to 9 parts (uneven, short last part, parts past the
// end), many jobs in a row with the part count changing (workers joining and sitting jobs out), and callers on
// four threads at once. Then, for information only, a 16 MiB copy in parts through the pool against threads
// started and joined per call (how the copies were split before the pool).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "../../main/cpp/cuda/copy_pool.h"

namespace {
int failures = 0;

void check(bool ok, const char *what, size_t n, size_t parts) {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s (n %zu, parts %zu)\n", what, n, parts);
  }
}

// part as parallel_memcpy sizes it for t threads: ceil(n / t) rounded up to 64 bytes
size_t part_for(size_t n, size_t t) { return ((n + t - 1) / t + 63) & ~size_t(63); }

// One copy of n random bytes in t parts into a buffer with guard bytes after it; checks both.
void one(std::mt19937_64 &rng, size_t n, size_t t) {
  const size_t guard = 256;
  std::vector<char> from(n + 1), to(n + guard);
  for (auto &c : from) c = static_cast<char>(rng());
  std::fill(to.begin(), to.end(), static_cast<char>(0x5a));
  const size_t part = std::max<size_t>(64, part_for(n, t));
  const size_t parts = n == 0 ? 1 : (n + part - 1) / part;
  r4j::cu::CopyPool::instance().copy(to.data(), from.data(), n, parts, part);
  check(std::memcmp(to.data(), from.data(), n) == 0, "bytes copied", n, parts);
  bool untouched = true;
  for (size_t i = n; i < n + guard; ++i) untouched &= to[i] == static_cast<char>(0x5a);
  check(untouched, "nothing written past the end", n, parts);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main() {
  std::mt19937_64 rng(7);
  const size_t sizes[] = {0, 1, 63, 64, 65, 4097, size_t(1) << 20, (size_t(3) << 20) + 5, (size_t(17) << 20) + 3};
  for (size_t n : sizes)
    for (size_t t = 1; t <= 9; ++t) one(rng, n, t);
  // parts past the end: 5 parts of 64 bytes for 130 bytes (parts 3 and 4 have nothing to copy)
  {
    std::vector<char> from(130), to(130 + 64, 0);
    for (auto &c : from) c = static_cast<char>(rng());
    r4j::cu::CopyPool::instance().copy(to.data(), from.data(), 130, 5, 64);
    check(std::memcmp(to.data(), from.data(), 130) == 0 && to[130] == 0, "parts past the end", 130, 5);
  }
  for (int job = 0; job < 3000; ++job) one(rng, 1 + rng() % 5000, 1 + job % 8);
  std::printf("INFO %zu workers started\n", r4j::cu::CopyPool::instance().workers());
  check(r4j::cu::CopyPool::instance().workers() == 8, "one worker per part past the first, kept", 0, 9);

  std::vector<std::thread> callers;
  std::vector<int> bad(4, 0);
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([c, &bad] {
      std::mt19937_64 r(100 + c);
      for (int job = 0; job < 400; ++job) {
        const size_t n = 1 + r() % 300000, t = 1 + r() % 8;
        std::vector<char> from(n), to(n, 0);
        for (auto &x : from) x = static_cast<char>(r());
        const size_t part = part_for(n, t);
        r4j::cu::CopyPool::instance().copy(to.data(), from.data(), n, (n + part - 1) / part, part);
        if (std::memcmp(to.data(), from.data(), n) != 0) ++bad[c];
      }
    });
  for (auto &t : callers) t.join();
  for (int c = 0; c < 4; ++c) check(bad[c] == 0, "concurrent callers", 300000, 8);

  // Information: a 16 MiB staging half through the pool against threads started per call.
  const size_t n = size_t(16) << 20;
  std::vector<char> from(n, 1), to(n, 2);
  for (size_t t : {2, 4, 8}) {
    const size_t part = part_for(n, t), parts = (n + part - 1) / part;
    std::vector<double> pool, spawn;
    for (int rep = 0; rep < 15; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      r4j::cu::CopyPool::instance().copy(to.data(), from.data(), n, parts, part);
      auto t1 = std::chrono::steady_clock::now();
      std::vector<std::thread> w;
      for (size_t p = 1; p < parts; ++p)
        w.emplace_back([&, p] { std::memcpy(to.data() + p * part, from.data() + p * part, std::min(part, n - p * part)); });
      std::memcpy(to.data(), from.data(), part);
      for (auto &x : w) x.join();
      auto t2 = std::chrono::steady_clock::now();
      pool.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      spawn.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    }
    std::printf("INFO 16 MiB in %zu parts, median of 15: pool %.0f us, threads started per call %.0f us (%u hardware "
                "threads)\n", parts, median(pool), median(spawn), std::thread::hardware_concurrency());
  }
  if (failures) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("OK copy pool\n");
  return 0;
}
