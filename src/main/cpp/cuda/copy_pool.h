// copy_pool.h: a memcpy split over host threads that are started once and then wait for work, for the
// copies between the caller's pageable memory and the page-locked staging halves (cuda_common.cu).
// Plain C++, no CUDA: the C++ driver test_copy_pool checks it on its own.
//
// Why a pool: each staging half (16 MiB) is filled or emptied by up to 8 threads, and a thread started per
// half and joined after it costs some 40 us to start here, about as long as its share of the copy
// (2 MiB at ~20 GB/s is ~100 us): the Market-shaped re-ranking moves ~370 MB through the halves, 23 of them.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

namespace r4j {
namespace cu {

// Worker threads kept for the life of the process (detached and never stopped: a pool torn down at exit
// could still be in use by a late call on another thread). One job at a time: a caller holds `use_` from
// publishing its job until every part is copied, copies part 0 itself and waits for the workers' parts.
class CopyPool {
 public:
  static CopyPool &instance() {
    static CopyPool *pool = new CopyPool();  // never deleted on purpose: see above
    return *pool;
  }

  // Copies n bytes from `from` to `to` as `parts` parts of `part` bytes (the last one shorter): part 0 on the
  // calling thread, part p on worker p. Parts whose worker could not be started are copied by the caller.
  // The ranges must not overlap. Safe to call from several threads (the calls take turns).
  void copy(char *to, const char *from, size_t n, size_t parts, size_t part) {
    if (parts <= 1 || part == 0) {
      if (n > 0) std::memcpy(to, from, n);
      return;
    }
    std::lock_guard<std::mutex> turn(use_);
    const size_t helpers = start_workers(parts - 1);
    {
      std::lock_guard<std::mutex> g(m_);
      to_ = to;
      from_ = from;
      n_ = n;
      part_ = part;
      active_ = helpers;
      pending_ = helpers;
      ++generation_;
    }
    if (helpers > 0) work_.notify_all();
    copy_part(0);
    for (size_t p = helpers + 1; p < parts; ++p) copy_part(p);
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [&] { return pending_ == 0; });
  }

  // Workers started so far (for tests).
  size_t workers() {
    std::lock_guard<std::mutex> g(m_);
    return started_;
  }

 private:
  CopyPool() = default;

  // Part p of the published job. The job's fields were written under m_ before the worker saw the new
  // generation under m_, and the caller does not publish another job before every part is done.
  void copy_part(size_t p) const {
    const size_t off = p * part_;
    if (off < n_) std::memcpy(to_ + off, from_ + off, std::min(part_, n_ - off));
  }

  // Makes sure `want` workers run (called with use_ held, before a job is published); returns how many do.
  size_t start_workers(size_t want) {
    std::unique_lock<std::mutex> lk(m_);
    while (started_ < want) {
      const size_t index = started_ + 1;
      const uint64_t now = generation_;  // a new worker takes part in jobs published after it started
      lk.unlock();
      try {
        std::thread(&CopyPool::work, this, index, now).detach();
      } catch (...) {  // no more threads to be had: the caller copies the rest
        lk.lock();
        break;
      }
      lk.lock();
      ++started_;
    }
    return std::min(want, started_);
  }

  // Worker `index` copies part `index` of every job that has a helper of that index.
  void work(size_t index, uint64_t seen) {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      work_.wait(lk, [&] { return generation_ != seen; });
      seen = generation_;
      if (index > active_) continue;  // this job has fewer parts
      lk.unlock();
      copy_part(index);
      lk.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex use_;  // one job at a time
  std::mutex m_;    // the job, the counters
  std::condition_variable work_, done_;
  uint64_t generation_ = 0;  // bumped for each job
  size_t started_ = 0;       // workers running, numbered 1..started_
  size_t active_ = 0;        // workers with a part in the current job: 1..active_
  size_t pending_ = 0;       // of those, still copying
  char *to_ = nullptr;
  const char *from_ = nullptr;
  size_t n_ = 0, part_ = 0;
};

}  // namespace cu
}  // namespace r4j
