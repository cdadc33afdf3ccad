// Runtime of the CUDA emulator (see cuda_runtime.h in this folder): device memory bookkeeping,
// streams, errors, and the fiber scheduler that runs a kernel's threads with real barriers.
//
// Host threads: every entry point (each cuda* call, each kernel launch) holds one process-wide lock,
// so host threads may call the emulator at once and their calls run one at a time, each whole, as a
// single device would run them in some order; the last error and the current device are per host
// thread, as CUDA keeps them.
#include "cuda_runtime.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define R4J_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define R4J_EMU_ASAN 1
#endif
#endif
#ifdef R4J_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#define R4J_EMU_LOCKED std::lock_guard<std::recursive_mutex> r4j_emu_locked_(::r4j_emu::api_mutex())

namespace r4j_emu {

Thread *g_thread = nullptr;
uint3 g_block_idx{0, 0, 0};
dim3 g_block_dim, g_grid_dim;

namespace {

// ---------------------------------------------------------------------------------------------
// Device memory bookkeeping.
std::map<uintptr_t, size_t> g_allocs;  // device allocations: start -> bytes
size_t g_allocated = 0;     // bytes held by g_allocs
size_t g_memory_limit = 0;  // 0: no limit
thread_local cudaError_t g_last_error = cudaSuccess;  // per host thread, as in CUDA
thread_local int g_device = 0;
int g_device_count = 1;
bool g_pools = true;
int g_shared_optin = 227 * 1024;  // shared memory a block may opt in to, as on an H100
int g_cc_major = 9, g_cc_minor = 0;  // compute capability reported, as an H100's

// Held by every entry point: one host thread's call runs at a time (recursive: calls nest).
std::recursive_mutex &api_mutex() {
  static std::recursive_mutex m;
  return m;
}

void drain_all();  // runs every queued stream item (see "Streams" below)

// Device memory still allocated when the process exits is a leak of the code under test (stream-ordered
// frees still queued are not: they run first).
void check_leaks_at_exit() {
  drain_all();
  if (g_allocs.empty()) return;
  std::fprintf(stderr, "cuda-emu: %zu device allocations (%zu bytes) were never freed\n", g_allocs.size(), g_allocated);
  std::fflush(stderr);
  _exit(3);
}

cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) g_last_error = e;
  return e;
}

// The allocation holding [p, p + bytes), or g_allocs.end().
std::map<uintptr_t, size_t>::const_iterator find_alloc(const void *p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return g_allocs.end();
  --it;
  if (a >= it->first && a + bytes <= it->first + it->second) return it;
  return g_allocs.end();
}

void complain(const char *fn, const std::string &what) { std::fprintf(stderr, "cuda-emu: %s: %s\n", fn, what.c_str()); }

// ---------------------------------------------------------------------------------------------
// Fibers. Every CUDA thread of the block being run is a fiber with its own stack; switching is
// cooperative, so at most one runs at any time.
constexpr size_t kStackBytes = size_t(256) << 10;
constexpr unsigned kMaxThreads = 1024;

enum class State { Ready, AtBlockBarrier, AtWarpOp, Done };

struct Fiber {
  Thread t;
  State state = State::Done;
  void *sp = nullptr;     // saved stack pointer (x86-64) while switched out
  char *stack = nullptr;  // lowest usable address
  char *low = nullptr;    // lowest stack pointer seen at a switch since the stack was last cleaned
  uint64_t warp_gen = 0;  // generation of the warp operation waited on
#if !defined(__x86_64__)
  ucontext_t uc;
#endif
};

struct Warp {
  unsigned size = 0;      // lanes in this warp (32 except maybe the last)
  unsigned arrived = 0;   // lanes waiting at the current operation
  unsigned done = 0;      // lanes that have returned (their fibers are Done)
  uint64_t gen = 0;       // completed operations
  const char *op = nullptr;
  unsigned mask = 0;
  uint64_t slot[2][32];   // values published, double-buffered by generation
};

std::vector<Fiber> g_fibers;
std::vector<Warp> g_warps;
unsigned g_nthreads = 0;
unsigned g_block_arrived = 0;
unsigned g_live = 0;
const char *g_kernel = "?";
void (*g_body)(void *) = nullptr;
void *g_ctx = nullptr;
std::vector<unsigned char> g_dyn_smem;
Fiber *g_cur = nullptr;

#if defined(__x86_64__)
void *g_sched_sp = nullptr;
extern "C" void r4j_emu_switch(void **save_sp, void *load_sp);
// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack, stores the
// stack pointer in *save_sp, and resumes the context whose stack pointer is load_sp.
asm(R"(
  .text
  .globl r4j_emu_switch
  .type r4j_emu_switch, @function
r4j_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size r4j_emu_switch, .-r4j_emu_switch
)");
#else
ucontext_t g_sched_uc;
#endif

#ifdef R4J_EMU_ASAN
void *g_fake_stack = nullptr;
const void *g_main_bottom = nullptr;
size_t g_main_size = 0;
#endif

void fiber_main();

// Switches from the scheduler to fiber f.
void enter(Fiber &f) {
  g_cur = &f;
  g_thread = &f.t;
#ifdef R4J_EMU_ASAN
  __sanitizer_start_switch_fiber(&g_fake_stack, f.stack, kStackBytes);
#endif
#if defined(__x86_64__)
  r4j_emu_switch(&g_sched_sp, f.sp);
  if (!f.low || static_cast<char *>(f.sp) < f.low) f.low = static_cast<char *>(f.sp);
#else
  swapcontext(&g_sched_uc, &f.uc);
#endif
#ifdef R4J_EMU_ASAN
  __sanitizer_finish_switch_fiber(g_fake_stack, nullptr, nullptr);
#endif
}

// Switches from the running fiber back to the scheduler (done: the fiber will not be resumed).
void leave(bool done) {
  Fiber &f = *g_cur;
#ifdef R4J_EMU_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(done ? nullptr : &fake, g_main_bottom, g_main_size);
#endif
#if defined(__x86_64__)
  r4j_emu_switch(&f.sp, g_sched_sp);
#else
  swapcontext(&f.uc, &g_sched_uc);
#endif
#ifdef R4J_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, &g_main_bottom, &g_main_size);
#endif
  (void)done;
}

void fiber_main() {
#ifdef R4J_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_main_bottom, &g_main_size);
#endif
  g_body(g_ctx);
  Fiber &f = *g_cur;
  f.state = State::Done;
  ++g_warps[f.t.warp].done;
  --g_live;
  leave(true);
  std::abort();  // never resumed
}

// Prepares fiber f to start at fiber_main on its own stack.
void arm(Fiber &f) {
  if (!f.stack) {
    const size_t guard = 4096;
    void *m = mmap(nullptr, kStackBytes + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) die("cannot map a fiber stack");
    mprotect(m, guard, PROT_NONE);  // overflow faults instead of corrupting the next stack
    f.stack = static_cast<char *>(m) + guard;
  }
#ifdef R4J_EMU_ASAN
  // Frames of the previous block's fiber that were still live at its last switch keep their
  // redzones poisoned; frames that returned cleaned up after themselves. So only the stack above
  // the lowest switch point (plus a margin) needs cleaning, not all 256 KiB (a shadow memset per
  // thread per block, which dominated fuzzing time).
  char *from = f.stack;
#if defined(__x86_64__)
  if (f.low) from = std::max(f.stack, f.low - 4096);
#endif
  __asan_unpoison_memory_region(from, static_cast<size_t>(f.stack + kStackBytes - from));
  f.low = nullptr;
#endif
#if defined(__x86_64__)
  uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack) + kStackBytes) & ~uintptr_t(15);
  uint64_t *s = reinterpret_cast<uint64_t *>(top);
  s[-1] = 0;                                              // fiber_main's (never used) return address
  s[-2] = reinterpret_cast<uint64_t>(&fiber_main);        // where r4j_emu_switch returns to
  for (int r = 3; r <= 8; ++r) s[-r] = 0;                 // rbp rbx r12 r13 r14 r15
  uint32_t csr[2];
  asm volatile("stmxcsr %0" : "=m"(csr[0]));
  asm volatile("fnstcw %0" : "=m"(csr[1]));
  std::memcpy(&s[-9], csr, 8);
  f.sp = &s[-9];
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = f.stack;
  f.uc.uc_stack.ss_size = kStackBytes;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, fiber_main, 0);
#endif
}

enum class Order { Forward, Reverse, Random };
Order g_order = Order::Random;
std::mt19937 g_rng(1);
bool g_configured = false;

void configure() {
  if (g_configured) return;
  g_configured = true;
  if (const char *s = std::getenv("R4J_EMU_SCHEDULE")) {
    const std::string v = s;
    if (v == "forward")
      g_order = Order::Forward;
    else if (v == "reverse")
      g_order = Order::Reverse;
    else if (v == "random")
      g_order = Order::Random;
    else {
      std::fprintf(stderr, "cuda-emu: R4J_EMU_SCHEDULE must be forward, reverse or random, got '%s'\n", s);
      std::exit(2);
    }
  }
  if (const char *s = std::getenv("R4J_EMU_SEED")) g_rng.seed((unsigned)std::strtoul(s, nullptr, 10));
}

std::string where() {
  char buf[64];
  std::snprintf(buf, sizeof buf, " (block %u,%u,%u thread %u,%u,%u)", g_block_idx.x, g_block_idx.y, g_block_idx.z,
                g_thread ? g_thread->idx.x : 0, g_thread ? g_thread->idx.y : 0, g_thread ? g_thread->idx.z : 0);
  return buf;
}

// A warp operation cannot complete once one of its lanes has returned.
void check_warp_not_abandoned(unsigned w) {
  const Warp &wp = g_warps[w];
  if (wp.arrived == 0) return;
  for (unsigned l = 0; l < wp.size; ++l) {
    const Fiber &f = g_fibers[w * 32 + l];
    if (f.state == State::Done) {
      std::string m = std::string(wp.op) + " with mask covering lane " + std::to_string(l) +
                      ", which has returned (warp " + std::to_string(w) + ")";
      die(m.c_str());
    }
  }
}

// Runs the current block to completion.
void run_block() {
  for (unsigned i = 0; i < g_nthreads; ++i) {
    Fiber &f = g_fibers[i];
    f.state = State::Ready;
    arm(f);
  }
  for (auto &w : g_warps) {
    w.arrived = 0;
    w.done = 0;
    w.gen = 0;
    w.op = nullptr;
  }
  g_block_arrived = 0;
  g_live = g_nthreads;
  std::vector<unsigned> order(g_nthreads);
  for (unsigned i = 0; i < g_nthreads; ++i) order[i] = i;
  while (g_live > 0) {
    if (g_order == Order::Reverse)
      std::reverse(order.begin(), order.end());
    else if (g_order == Order::Random)
      std::shuffle(order.begin(), order.end(), g_rng);
    bool progressed = false;
    for (unsigned i : order) {
      Fiber &f = g_fibers[i];
      if (f.state != State::Ready) continue;
      enter(f);
      progressed = true;
      if (f.state == State::Done) {
        check_warp_not_abandoned(f.t.warp);
        // threads that returned no longer count at __syncthreads
        if (g_block_arrived > 0 && g_block_arrived == g_live) {
          for (unsigned j = 0; j < g_nthreads; ++j)
            if (g_fibers[j].state == State::AtBlockBarrier) g_fibers[j].state = State::Ready;
          g_block_arrived = 0;
        }
      }
    }
    if (!progressed) {
      unsigned at_block = 0, at_warp = 0;
      for (unsigned j = 0; j < g_nthreads; ++j) {
        at_block += g_fibers[j].state == State::AtBlockBarrier;
        at_warp += g_fibers[j].state == State::AtWarpOp;
      }
      std::string m = "deadlock: " + std::to_string(at_block) + " threads wait at __syncthreads and " +
                      std::to_string(at_warp) + " at a warp operation (divergent barrier)";
      g_thread = nullptr;
      die(m.c_str());
    }
  }
}

}  // namespace

[[noreturn]] void die(const char *what) {
  if (g_thread == nullptr)  // not inside a kernel: a queued copy or memset, or an API call
    std::fprintf(stderr, "cuda-emu: %s\n", what);
  else
    std::fprintf(stderr, "cuda-emu: kernel %s%s: %s\n", g_kernel, where().c_str(), what);
  std::fflush(stderr);
  std::abort();
}

void syncthreads() {
  Fiber &f = *g_cur;
  f.state = State::AtBlockBarrier;
  if (++g_block_arrived == g_live) {  // the last one releases everybody, itself included
    for (unsigned j = 0; j < g_nthreads; ++j)
      if (g_fibers[j].state == State::AtBlockBarrier) g_fibers[j].state = State::Ready;
    g_block_arrived = 0;
  }
  leave(false);
}

uint64_t warp_exchange(unsigned mask, uint64_t mine, unsigned src, const char *op) {
  Fiber &f = *g_cur;
  Warp &w = g_warps[f.t.warp];
  const unsigned full = w.size == 32 ? 0xffffffffu : ((1u << w.size) - 1u);
  if (mask != full) {
    std::string m = std::string(op) + " with mask " + std::to_string(mask) + ": the emulator (and reid4j's kernels) " +
                    "use whole-warp masks only; this warp has " + std::to_string(w.size) + " lanes";
    die(m.c_str());
  }
  if (w.arrived == 0) {
    w.op = op;
    w.mask = mask;
  } else if (w.op != op && std::strcmp(w.op, op) != 0) {
    std::string m = std::string("lanes of one warp meet at different operations: ") + w.op + " and " + op;
    die(m.c_str());
  }
  if (w.done > 0)  // counted as lanes return, so that the common case costs no pass over the lanes
    for (unsigned l = 0; l < w.size; ++l)
      if (g_fibers[f.t.warp * 32 + l].state == State::Done) {
        std::string m = std::string(op) + " with mask covering lane " + std::to_string(l) + ", which has returned";
        die(m.c_str());
      }
  const uint64_t gen = w.gen;
  w.slot[gen & 1][f.t.lane] = mine;
  f.warp_gen = gen;
  f.state = State::AtWarpOp;
  if (++w.arrived == w.size) {
    for (unsigned l = 0; l < w.size; ++l) g_fibers[f.t.warp * 32 + l].state = State::Ready;
    w.arrived = 0;
    ++w.gen;
  }
  leave(false);
  if (src >= w.size) src = f.t.lane;
  return w.slot[gen & 1][src];
}

unsigned warp_match_any(unsigned mask, uint64_t value) {
  Fiber &f = *g_cur;
  const uint64_t gen = g_warps[f.t.warp].gen;
  warp_exchange(mask, value, f.t.lane, "__match_any_sync");
  const Warp &w = g_warps[f.t.warp];
  unsigned bits = 0;
  for (unsigned l = 0; l < w.size; ++l)
    if (w.slot[gen & 1][l] == value) bits |= 1u << l;
  return bits;
}

unsigned warp_ballot(unsigned mask, bool pred) {
  Fiber &f = *g_cur;
  const uint64_t gen = g_warps[f.t.warp].gen;
  warp_exchange(mask, pred ? 1 : 0, f.t.lane, "__ballot_sync");
  const Warp &w = g_warps[f.t.warp];
  unsigned bits = 0;
  for (unsigned l = 0; l < w.size; ++l)
    if (w.slot[gen & 1][l]) bits |= 1u << l;
  return bits;
}

void set_memory_limit(size_t bytes) { R4J_EMU_LOCKED; g_memory_limit = bytes; }
size_t live_allocations() {  // once the queued stream work (stream-ordered frees among it) has run
  R4J_EMU_LOCKED;
  drain_all();
  return g_allocs.size();
}
void set_device_count(int n) { R4J_EMU_LOCKED; g_device_count = n; }
void set_memory_pools(bool supported) { R4J_EMU_LOCKED; g_pools = supported; }
void set_shared_memory_optin(int bytes) { R4J_EMU_LOCKED; g_shared_optin = bytes; }
void set_compute_capability(int major, int minor) {
  R4J_EMU_LOCKED;
  g_cc_major = major;
  g_cc_minor = minor;
}

void *dynamic_shared() { return g_dyn_smem.empty() ? nullptr : g_dyn_smem.data(); }

bool is_device(const void *p, size_t bytes) { R4J_EMU_LOCKED; return find_alloc(p, bytes) != g_allocs.end(); }

namespace {
std::map<const void *, int> g_max_dynamic_smem;  // cudaFuncSetAttribute(MaxDynamicSharedMemorySize)

// The configuration checks of a launch, done when it is issued: an error is the launch's status.
cudaError_t check_launch(const char *name, const void *kernel, dim3 grid, dim3 block, size_t smem) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreads || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 ||
      grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
    complain(name, "invalid launch configuration: grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                       std::to_string(grid.z) + ", block " + std::to_string(block.x) + "x" + std::to_string(block.y) +
                       "x" + std::to_string(block.z));
    return set_error(cudaErrorInvalidConfiguration);
  }
  const auto lim = g_max_dynamic_smem.find(kernel);
  const size_t allowed = lim == g_max_dynamic_smem.end() ? 48 * 1024 : (size_t)lim->second;
  if (smem > allowed) {
    complain(name, "dynamic shared memory of " + std::to_string(smem) + " bytes is above the kernel's limit of " +
                       std::to_string(allowed) + " (48 KB unless raised with cudaFuncSetAttribute)");
    return set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

// Runs a checked grid now: run() once per CUDA thread, block after block.
void run_grid(const char *name, dim3 grid, dim3 block, size_t smem, const std::function<void()> &run) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  g_kernel = name;
  g_body = [](void *c) { (*static_cast<const std::function<void()> *>(c))(); };
  g_ctx = const_cast<std::function<void()> *>(&run);
  g_block_dim = block;
  g_grid_dim = grid;
  g_nthreads = (unsigned)threads;
  if (g_fibers.size() < g_nthreads) g_fibers.resize(g_nthreads);
  g_warps.assign((g_nthreads + 31) / 32, Warp{});
  for (unsigned w = 0; w < g_warps.size(); ++w) g_warps[w].size = std::min(32u, g_nthreads - w * 32);
  for (unsigned i = 0; i < g_nthreads; ++i) {
    Thread &t = g_fibers[i].t;
    t.idx = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    t.lane = i % 32;
    t.warp = i / 32;
  }
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        g_block_idx = uint3{x, y, z};
        g_dyn_smem.assign(smem, 0xFF);  // shared memory starts with garbage
        run_block();
      }
  g_thread = nullptr;
  g_kernel = "?";
}

// ---------------------------------------------------------------------------------------------
// Streams. Work issued to a stream (kernels, asynchronous copies and memsets, stream-ordered
// frees, event records and waits) is queued, not run: it runs when the host waits for it
// (cudaStreamSynchronize, cudaEventSynchronize, cudaDeviceSynchronize, a blocking cudaMemcpy or
// cudaFree, a copy to pageable host memory, which returns only when done), and then the streams'
// queues are interleaved in the schedule's order (R4J_EMU_SCHEDULE: random picks the next stream
// at random among those whose first item may run), each stream in its own order, a wait behind the
// record it waits for. So work on one stream that reads what another stream writes, without an
// event between them, may run before it, and a host buffer reused before the copy that reads it
// has been waited for is read late: both give wrong results here, as they can on a GPU. Copies
// from pageable host memory are taken when issued (as CUDA stages them); from page-locked memory
// (cudaMallocHost, cudaHostRegister) when they run. The legacy default stream (null) runs its work
// at once (see enqueue).
struct Op {
  uint64_t id;
  std::function<void()> run;    // the work (empty for a record or a wait)
  uint64_t waits_for = 0;       // a wait: the id of the record it waits for (0: none)
};
std::map<cudaStream_t, std::deque<Op>> g_queues;
uint64_t g_next_op = 1;
std::set<uint64_t> g_unfinished;  // ids of queued items not yet run

struct EventState {
  uint64_t record = 0;  // the id of its last record (0: never recorded)
};

void drain_through(uint64_t id);

bool op_ready(const Op &op) { return op.waits_for == 0 || g_unfinished.count(op.waits_for) == 0; }

// Work for the legacy default stream (null) runs at once: the training kernels run on libtorch's current
// stream, and the tests that emulate them read their results from libtorch's CPU tensors, without a CUDA
// call that could make the emulator run queued work first.
uint64_t enqueue(cudaStream_t s, std::function<void()> run, uint64_t waits_for = 0) {
  const uint64_t id = g_next_op++;
  if (s == nullptr) {
    if (waits_for != 0) drain_through(waits_for);
    if (run) run();
    return id;  // never queued: already done for a wait on it
  }
  g_queues[s].push_back(Op{id, std::move(run), waits_for});
  g_unfinished.insert(id);
  return id;
}

// Allocations of cudaMallocAsync on a stream: start -> the id of the point in that stream's queue
// from which the memory may be used (work on other streams must be ordered after it by an event).
std::map<uintptr_t, uint64_t> g_alloc_point;

// Runs queued items until done() holds (or everything has run).
void drain(const std::function<bool()> &done) {
  configure();
  while (!done()) {
    std::vector<cudaStream_t> ready;
    for (auto &q : g_queues)
      if (!q.second.empty() && op_ready(q.second.front())) ready.push_back(q.first);
    if (ready.empty()) {
      if (g_unfinished.empty()) return;
      die("deadlock: queued stream work waits for an event record that can never run");
    }
    cudaStream_t pick = ready.front();
    if (g_order == Order::Reverse) pick = ready.back();
    if (g_order == Order::Random) pick = ready[std::uniform_int_distribution<size_t>(0, ready.size() - 1)(g_rng)];
    std::deque<Op> &q = g_queues[pick];
    Op op = std::move(q.front());
    q.pop_front();
    if (op.run) op.run();
    g_unfinished.erase(op.id);
  }
}
void drain_all() {
  drain([] { return g_unfinished.empty(); });
}
void drain_through(uint64_t id) {
  drain([id] { return g_unfinished.count(id) == 0; });
}

// Page-locked host ranges: cudaMallocHost blocks and cudaHostRegister ranges (start -> bytes).
std::map<uintptr_t, size_t> g_pinned_blocks;
std::map<uintptr_t, size_t> g_registered;
bool in_ranges(const std::map<uintptr_t, size_t> &m, const void *p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}
bool is_pinned(const void *p, size_t bytes) {
  return in_ranges(g_pinned_blocks, p, bytes) || in_ranges(g_registered, p, bytes);
}

}  // namespace

void check_ready(const char *name, const void *p) {
  R4J_EMU_LOCKED;
  auto a = find_alloc(p, 0);
  if (a == g_allocs.end()) return;
  auto it = g_alloc_point.find(a->first);
  if (it != g_alloc_point.end() && g_unfinished.count(it->second)) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: uses memory from cudaMallocAsync before its stream reached the allocation "
                  "(order it with an event recorded after the allocation)", name);
    die(buf);
  }
}

cudaError_t queue_grid(const char *name, const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                       std::function<void()> run) {
  R4J_EMU_LOCKED;
  configure();
  const cudaError_t e = check_launch(name, kernel, grid, block, smem);
  if (e != cudaSuccess) return e;
  enqueue(stream, [name, grid, block, smem, run = std::move(run)]() { run_grid(name, grid, block, smem, run); });
  return cudaSuccess;
}

}  // namespace r4j_emu

// ---------------------------------------------------------------------------------------------
// Runtime API.
using namespace r4j_emu;

cudaError_t cudaGetDeviceCount(int *count) {
  R4J_EMU_LOCKED;
  *count = 0;
  if (g_device_count == 0) return set_error(cudaErrorNoDevice);
  *count = g_device_count;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  R4J_EMU_LOCKED;
  if (device < 0 || device >= g_device_count) return set_error(cudaErrorInvalidDevice);
  g_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int *device) {
  R4J_EMU_LOCKED;
  *device = g_device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
  R4J_EMU_LOCKED;
  if (device != 0) return set_error(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "reid4j CUDA emulator (CPU)");
  prop->totalGlobalMem = size_t(16) << 30;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->multiProcessorCount = 1;
  prop->maxThreadsPerBlock = 1024;
  prop->warpSize = 32;
  prop->major = g_cc_major;
  prop->minor = g_cc_minor;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_last_error; }

const char *cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorHostMemoryAlreadyRegistered: return "part or all of the requested memory range is already mapped";
    case cudaErrorHostMemoryNotRegistered: return "pointer does not correspond to a registered memory region";
  }
  return "unknown error";
}
const char *cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorHostMemoryAlreadyRegistered: return "cudaErrorHostMemoryAlreadyRegistered";
    case cudaErrorHostMemoryNotRegistered: return "cudaErrorHostMemoryNotRegistered";
  }
  return "cudaErrorUnknown";
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  R4J_EMU_LOCKED;
  const size_t total = g_memory_limit ? g_memory_limit : size_t(16) << 30;  // what cudaGetDeviceProperties says
  *total_bytes = total;
  *free_bytes = total > g_allocated ? total - g_allocated : 0;
  return cudaSuccess;
}

namespace {
cudaError_t allocate(void **ptr, size_t bytes) {
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (g_memory_limit && g_allocated + bytes > g_memory_limit) {
    drain_all();  // queued stream-ordered frees give their memory back once they have run
    if (g_allocated + bytes > g_memory_limit) return set_error(cudaErrorMemoryAllocation);
  }
  void *p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0 || !p) return set_error(cudaErrorMemoryAllocation);
  std::memset(p, 0xFF, bytes);  // cudaMalloc does not clear: make reads of unwritten memory visible
  g_allocs[reinterpret_cast<uintptr_t>(p)] = bytes;
  g_allocated += bytes;
  static bool leak_check = (std::atexit(check_leaks_at_exit), true);
  (void)leak_check;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void *ptr, const char *fn) {
  if (!ptr) return cudaSuccess;
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == g_allocs.end()) {
    complain(fn, "pointer is not the start of a device allocation");
    return set_error(cudaErrorInvalidDevicePointer);
  }
  g_allocated -= it->second;
  g_allocs.erase(it);
  g_alloc_point.erase(reinterpret_cast<uintptr_t>(ptr));
  std::free(ptr);
  return cudaSuccess;
}

// The direction and bounds checks of a copy, at the time it is issued.
bool copy_ok(const char *fn, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  const bool dd = is_device(dst, bytes), sd = is_device(src, bytes);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = dd && !is_device(src, 0); break;
    case cudaMemcpyDeviceToHost: ok = sd && !is_device(dst, 0); break;
    case cudaMemcpyDeviceToDevice: ok = dd && sd; break;
    case cudaMemcpyHostToHost: ok = !is_device(dst, 0) && !is_device(src, 0); break;
    case cudaMemcpyDefault: ok = (dd || !is_device(dst, 0)) && (sd || !is_device(src, 0)); break;
  }
  if (!ok) {
    complain(fn, "copy of " + std::to_string(bytes) + " bytes (kind " + std::to_string((int)kind) +
                     ") leaves its device allocation or goes in the wrong direction");
    set_error(cudaErrorInvalidValue);
  }
  return ok;
}

// The bounds check of a memset, at the time it is issued.
bool memset_ok(const char *fn, void *ptr, size_t bytes) {
  if (is_device(ptr, bytes)) return true;
  complain(fn, std::to_string(bytes) + " bytes leave the device allocation");
  set_error(cudaErrorInvalidValue);
  return false;
}
}  // namespace

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
  R4J_EMU_LOCKED;
  return allocate(ptr, bytes);
}

// Stream-ordered allocation: the memory exists from the call on; the free runs in its stream's order.
// Using them on a device that reports no pools is an error, as on a real one.
cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t s) {
  R4J_EMU_LOCKED;
  if (!g_pools) return set_error(cudaErrorNotSupported);
  const cudaError_t e = allocate(ptr, bytes);
  if (e == cudaSuccess && *ptr && s != nullptr) g_alloc_point[reinterpret_cast<uintptr_t>(*ptr)] = enqueue(s, nullptr);
  return e;
}
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t s) {
  R4J_EMU_LOCKED;
  if (!g_pools) return set_error(cudaErrorNotSupported);
  if (!ptr) return cudaSuccess;
  if (g_allocs.find(reinterpret_cast<uintptr_t>(ptr)) == g_allocs.end()) return release(ptr, "cudaFreeAsync");
  enqueue(s, [ptr] { release(ptr, "cudaFreeAsync"); });
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
  R4J_EMU_LOCKED;
  if (device < 0 || device >= g_device_count) return set_error(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMemoryPoolsSupported: *value = g_pools ? 1 : 0; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = g_shared_optin; return cudaSuccess;
  }
  return set_error(cudaErrorInvalidValue);
}

cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value) {
  R4J_EMU_LOCKED;
  if (!func || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > g_shared_optin)
    return set_error(cudaErrorInvalidValue);
  g_max_dynamic_smem[func] = value;
  return cudaSuccess;
}
namespace {
char g_pool_token;
}
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device) {
  R4J_EMU_LOCKED;
  if (!g_pools || device < 0 || device >= g_device_count) return set_error(cudaErrorNotSupported);
  *pool = reinterpret_cast<cudaMemPool_t>(&g_pool_token);
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value) {
  R4J_EMU_LOCKED;
  if (pool != reinterpret_cast<cudaMemPool_t>(&g_pool_token) || attr != cudaMemPoolAttrReleaseThreshold || !value)
    return set_error(cudaErrorInvalidValue);
  return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {  // synchronises the device first, as cudaFree does
  R4J_EMU_LOCKED;
  drain_all();
  return release(ptr, "cudaFree");
}

cudaError_t cudaMallocHost(void **ptr, size_t bytes) {
  R4J_EMU_LOCKED;
  *ptr = bytes ? std::malloc(bytes) : nullptr;
  if (bytes && !*ptr) return set_error(cudaErrorMemoryAllocation);
  if (*ptr) g_pinned_blocks[reinterpret_cast<uintptr_t>(*ptr)] = bytes;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned) { return cudaMallocHost(ptr, bytes); }
cudaError_t cudaFreeHost(void *ptr) {
  R4J_EMU_LOCKED;
  drain_all();  // synchronises, as cudaFreeHost does: queued copies may still read the block
  g_pinned_blocks.erase(reinterpret_cast<uintptr_t>(ptr));
  std::free(ptr);
  return cudaSuccess;
}
// Page-locking is a no-op here, but its bookkeeping is checked as the driver does.
namespace {
void check_registered_at_exit() {
  if (g_registered.empty()) return;
  std::fprintf(stderr, "cuda-emu: %zu host ranges were registered and never unregistered\n", g_registered.size());
  std::fflush(stderr);
  _exit(3);
}
}  // namespace
cudaError_t cudaHostRegister(void *ptr, size_t bytes, unsigned) {
  R4J_EMU_LOCKED;
  if (!ptr || bytes == 0 || is_device(ptr, 0)) return set_error(cudaErrorInvalidValue);
  const uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  auto it = g_registered.upper_bound(a);
  if ((it != g_registered.end() && it->first < a + bytes) ||
      (it != g_registered.begin() && std::prev(it)->first + std::prev(it)->second > a))
    return set_error(cudaErrorHostMemoryAlreadyRegistered);
  g_registered[a] = bytes;
  static bool check = (std::atexit(check_registered_at_exit), true);
  (void)check;
  return cudaSuccess;
}
cudaError_t cudaHostUnregister(void *ptr) {
  R4J_EMU_LOCKED;
  drain_all();  // queued copies of the range run while it is still page-locked
  if (g_registered.erase(reinterpret_cast<uintptr_t>(ptr)) == 0) return set_error(cudaErrorHostMemoryNotRegistered);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  R4J_EMU_LOCKED;
  if (bytes == 0) return cudaSuccess;
  if (!copy_ok("cudaMemcpy", dst, src, bytes, kind)) return cudaErrorInvalidValue;
  drain_all();  // a blocking copy waits for the work issued before it
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  R4J_EMU_LOCKED;
  if (bytes == 0) return cudaSuccess;
  if (!copy_ok("cudaMemcpyAsync", dst, src, bytes, kind)) return cudaErrorInvalidValue;
  const bool from_host = !is_device(src, 0), to_host = !is_device(dst, 0);
  if (from_host && !is_pinned(src, bytes)) {  // pageable source: staged now, written in stream order
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char *>(src),
                                                               static_cast<const unsigned char *>(src) + bytes);
    enqueue(s, [dst, staged] {
      check_ready("cudaMemcpyAsync", dst);
      std::memcpy(dst, staged->data(), staged->size());
    });
    return cudaSuccess;
  }
  const uint64_t id = enqueue(s, [dst, src, bytes] {
    check_ready("cudaMemcpyAsync", dst);  // (host memory passes)
    check_ready("cudaMemcpyAsync", src);
    std::memmove(dst, src, bytes);
  });
  if (to_host && !is_pinned(dst, bytes)) drain_through(id);  // to pageable memory: returns when done
  return cudaSuccess;
}
cudaError_t cudaMemset(void *ptr, int value, size_t bytes) {
  R4J_EMU_LOCKED;
  if (bytes == 0) return cudaSuccess;
  if (!memset_ok("cudaMemset", ptr, bytes)) return cudaErrorInvalidValue;
  drain_all();
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t s) {
  R4J_EMU_LOCKED;
  if (bytes == 0) return cudaSuccess;
  if (!memset_ok("cudaMemsetAsync", ptr, bytes)) return cudaErrorInvalidValue;
  enqueue(s, [ptr, value, bytes] {
    check_ready("cudaMemsetAsync", ptr);
    std::memset(ptr, value, bytes);
  });
  return cudaSuccess;
}

namespace {
char g_stream_tokens[64];  // distinct non-null handles
unsigned g_next_stream = 0;
}  // namespace
cudaError_t cudaStreamCreate(cudaStream_t *s) {
  R4J_EMU_LOCKED;
  *s = reinterpret_cast<cudaStream_t>(&g_stream_tokens[g_next_stream++ % 64]);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { return cudaStreamCreate(s); }
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  R4J_EMU_LOCKED;
  drain([s] {
    auto it = g_queues.find(s);
    return it == g_queues.end() || it->second.empty();
  });
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }  // its queued work still runs, as on a GPU
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) {
  R4J_EMU_LOCKED;
  *e = reinterpret_cast<cudaEvent_t>(new EventState());
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  R4J_EMU_LOCKED;
  if (!e) return set_error(cudaErrorInvalidValue);
  reinterpret_cast<EventState *>(e)->record = enqueue(s, nullptr);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  R4J_EMU_LOCKED;
  if (!e) return set_error(cudaErrorInvalidValue);
  const uint64_t rec = reinterpret_cast<EventState *>(e)->record;
  if (rec != 0) enqueue(s, nullptr, rec);  // later work on s waits for the record as it stands now
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  R4J_EMU_LOCKED;
  if (!e) return set_error(cudaErrorInvalidValue);
  const uint64_t rec = reinterpret_cast<EventState *>(e)->record;
  if (rec != 0) drain_through(rec);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  R4J_EMU_LOCKED;
  delete reinterpret_cast<EventState *>(e);  // a record still queued keeps only its id
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  R4J_EMU_LOCKED;
  drain_all();
  return cudaSuccess;
}
