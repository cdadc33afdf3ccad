// Internal helpers shared by the CPU (and CUDA) sources. Not part of the public API.
#pragma once
#include <cstdint>
#include <string>

#include "reid4j.h"

namespace r4j {

// Records a message for r4j_last_error() on this thread and returns the status code.
int fail(int status, const std::string &message);
// Clears the thread's message (call at the start of every public function).
void clear_error();

// Threads the CPU kernels use (set by r4j_cpu_set_threads, default: all cores).
int cpu_threads();

// Validates the common shape arguments; returns R4J_OK or a failure with a message naming `fn`.
int check_rows(const char *fn, const char *what, const void *ptr, int64_t rows, int64_t d);
int check_metric(const char *fn, int metric);
// k of a top-k against `cols` columns (named `cols_name` in the message) must be in [0, cols].
int check_k(const char *fn, int64_t k, int64_t cols, const char *cols_name);
// An output buffer `what` must not be null when the call writes to it (`needed`).
int check_out(const char *fn, const char *what, const void *ptr, bool needed);

}  // namespace r4j
