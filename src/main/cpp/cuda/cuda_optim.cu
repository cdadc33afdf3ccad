// Optimiser arithmetic over many device tensors at once (r4j_cuda_unscale_grads, r4j_cuda_adam_step,
// and their variants that read the loss scale, the step counts and the overflow flag on the device):
// the trainer's AMP unscaling and Adam update over libtorch's parameters in a handful of launches
// instead of several small kernels per parameter tensor. The tensors' device pointers travel in the
// kernel's parameter block, up to kPerLaunch tensors per launch; grid.y picks the tensor and the
// blocks along x stride over its elements.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>

#include "cuda_common.cuh"

namespace {

using namespace r4j::cu;

constexpr int kPerLaunch = 24;     // tensors per launch: the parameter block stays far below 4 KiB
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocksX = 256;  // blocks per tensor; each strides over its tensor

// False for NaN and both infinities (a NaN compares false).
__device__ inline bool finite(float x) { return fabsf(x) <= FLT_MAX; }

struct UnscaleBatch {
  float *g[kPerLaunch];
  int64_t n[kPerLaunch];
};

struct AdamBatch {
  float *p[kPerLaunch];
  const float *g[kPerLaunch];
  float *m[kPerLaunch];
  float *v[kPerLaunch];
  int64_t n[kPerLaunch];
  float step_size[kPerLaunch];
  float bc2_sqrt[kPerLaunch];
};

__device__ inline void unscale_tensor(const UnscaleBatch &b, float inv_scale, float *found_inf) {
  const int t = blockIdx.y;
  float *g = b.g[t];
  const int64_t n = b.n[t];
  bool bad = false;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float x = g[i] * inv_scale;
    g[i] = x;
    bad |= !finite(x);
  }
  if (bad) *found_inf = 1.0f;  // every writer stores the same value
}

__global__ void unscale_kernel(UnscaleBatch b, float inv_scale, float *found_inf) {
  unscale_tensor(b, inv_scale, found_inf);
}

// The device values of the on-device AMP kernels travel in their parameter blocks, as the tensors' pointers do.
struct ScaleRef {
  const float *scale;
  float *found_inf;
};

// The factor read from the device: 1 / S in double, rounded to float, as the host computes it.
__global__ void unscale_dev_kernel(UnscaleBatch b, ScaleRef r) {
  unscale_tensor(b, static_cast<float>(1.0 / static_cast<double>(*r.scale)), r.found_inf);
}

// libtorch's Adam, element by element, in the order of its tensor operations:
// grad.add(p, wd); m.mul_(b1).add_(g, 1 - b1); v.mul_(b2).addcmul_(g, g, 1 - b2);
// denom = (v.sqrt() / bc2_sqrt).add_(eps); p.addcdiv_(m, denom, -step_size).
__device__ inline void adam_tensor(float *p, const float *g, float *m, float *v, int64_t n, float step_size,
                                   float bc2_sqrt, float beta1, float beta2, float eps, float weight_decay) {
  const float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float pi = p[i];
    float gi = g[i];
    if (weight_decay != 0.0f) gi = gi + pi * weight_decay;
    const float mi = m[i] * beta1 + gi * one_minus_b1;
    const float vi = v[i] * beta2 + one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    p[i] = pi - step_size * (mi / denom);
  }
}

__global__ void adam_kernel(AdamBatch b, float beta1, float beta2, float eps, float weight_decay) {
  const int t = blockIdx.y;
  adam_tensor(b.p[t], b.g[t], b.m[t], b.v[t], b.n[t], b.step_size[t], b.bc2_sqrt[t], beta1, beta2, eps,
              weight_decay);
}

struct AdamDevBatch {
  float *p[kPerLaunch];
  const float *g[kPerLaunch];
  float *m[kPerLaunch];
  float *v[kPerLaunch];
  int64_t n[kPerLaunch];
  double lr[kPerLaunch];
  int64_t *step[kPerLaunch];
  const float *skip;  // device; null: never skip
};

// The bias corrections from the device step count, in the host's double arithmetic; the step
// counts themselves move on only in count_steps_kernel, queued after this one, so that every
// block of a tensor reads the same count.
__global__ void adam_dev_kernel(AdamDevBatch b, double beta1, double beta2, float eps, float weight_decay) {
  if (b.skip != nullptr && *b.skip != 0.0f) return;
  const int t = blockIdx.y;
  const double step = static_cast<double>(*b.step[t] + 1);
  const float step_size = static_cast<float>(b.lr[t] / (1.0 - pow(beta1, step)));
  const float bc2_sqrt = static_cast<float>(sqrt(1.0 - pow(beta2, step)));
  adam_tensor(b.p[t], b.g[t], b.m[t], b.v[t], b.n[t], step_size, bc2_sqrt, static_cast<float>(beta1),
              static_cast<float>(beta2), eps, weight_decay);
}

__global__ void count_steps_kernel(AdamDevBatch b, int k) {
  if (b.skip != nullptr && *b.skip != 0.0f) return;
  const int t = threadIdx.x;
  if (t < k) *b.step[t] += 1;
}

struct ScaleState {
  float *scale;
  int64_t *good_steps;
  const float *found_inf;
  int64_t growth_interval;
};

__global__ void amp_update_kernel(ScaleState st) {
  if (*st.found_inf != 0.0f) {
    *st.scale = fmaxf(1.0f, *st.scale * 0.5f);
    *st.good_steps = 0;
  } else if (++*st.good_steps % st.growth_interval == 0) {
    const float doubled = *st.scale * 2.0f;
    if (finite(doubled)) *st.scale = doubled;
  }
}

int check_counts(const char *FN, int64_t count, const int64_t *numel) {
  if (count < 0) return r4j::fail(R4J_EINVAL, std::string(FN) + ": count " + std::to_string(count) + " is negative");
  if (count > 0 && numel == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": numel is null");
  for (int64_t i = 0; i < count; ++i)
    if (numel[i] < 0)
      return r4j::fail(R4J_EINVAL, std::string(FN) + ": numel[" + std::to_string(i) + "] = " +
                                       std::to_string(numel[i]) + " is negative");
  return R4J_OK;
}

int check_ptrs(const char *FN, const char *what, const void *const *ptrs, int64_t count, const int64_t *numel) {
  if (count > 0 && ptrs == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": " + what + " is null");
  for (int64_t i = 0; i < count; ++i)
    if (numel[i] > 0 && ptrs[i] == nullptr)
      return r4j::fail(R4J_EINVAL, std::string(FN) + ": " + what + "[" + std::to_string(i) + "] is null");
  return R4J_OK;
}

// The argument checks the two Adam entry points share: counts, and the four tensors of every parameter.
int check_adam_tensors(const char *FN, int64_t count, float *const *params, const float *const *grads,
                       float *const *exp_avg, float *const *exp_avg_sq, const int64_t *numel) {
  R4J_TRY(check_counts(FN, count, numel));
  R4J_TRY(check_ptrs(FN, "params", reinterpret_cast<const void *const *>(params), count, numel));
  R4J_TRY(check_ptrs(FN, "grads", reinterpret_cast<const void *const *>(grads), count, numel));
  R4J_TRY(check_ptrs(FN, "exp_avg", reinterpret_cast<const void *const *>(exp_avg), count, numel));
  return check_ptrs(FN, "exp_avg_sq", reinterpret_cast<const void *const *>(exp_avg_sq), count, numel);
}

// Slot k of an Adam launch batch (AdamBatch or AdamDevBatch): one parameter's four tensors.
template <typename Batch>
void put_adam_tensors(Batch &b, int k, float *p, const float *g, float *m, float *v, int64_t n) {
  b.p[k] = p;
  b.g[k] = g;
  b.m[k] = m;
  b.v[k] = v;
  b.n[k] = n;
}

unsigned blocks_for(int64_t largest) {
  const int64_t b = (largest + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(b, kMaxBlocksX)));
}

// For each run of at most kPerLaunch tensors: a fresh Batch, fill(batch, k, t) for its k-th slot from tensor t,
// then launch(batch, k, largest) (largest: the most elements of a tensor in the run, possibly 0); returns the
// first status that is not R4J_OK.
template <typename Batch, typename Fill, typename Launch>
int for_each_batch(int64_t count, const int64_t *numel, Batch init, Fill fill, Launch launch) {
  for (int64_t t0 = 0; t0 < count; t0 += kPerLaunch) {
    Batch b = init;
    int k = 0;
    int64_t largest = 0;
    for (int64_t t = t0; t < std::min(count, t0 + kPerLaunch); ++t, ++k) {
      fill(b, k, t);
      largest = std::max(largest, numel[t]);
    }
    R4J_TRY(launch(b, k, largest));
  }
  return R4J_OK;
}

// for_each_batch over gradients alone (the unscaling), skipping runs whose tensors are all empty.
template <typename Launch>
int for_each_unscale_batch(int64_t count, float *const *grads, const int64_t *numel, Launch launch) {
  return for_each_batch(
      count, numel, UnscaleBatch{},
      [&](UnscaleBatch &b, int k, int64_t t) {
        b.g[k] = grads[t];
        b.n[k] = numel[t];
      },
      [&](const UnscaleBatch &b, int k, int64_t largest) { return largest == 0 ? R4J_OK : launch(b, k, largest); });
}

}  // namespace

extern "C" {

int r4j_cuda_unscale_grads(int64_t count, float *const *grads, const int64_t *numel, float inv_scale,
                           float *found_inf, void *stream) {
  static const char *FN = "r4j_cuda_unscale_grads";
  r4j::clear_error();
  R4J_TRY(check_counts(FN, count, numel));
  R4J_TRY(check_ptrs(FN, "grads", reinterpret_cast<const void *const *>(grads), count, numel));
  if (found_inf == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": found_inf is null");
  if (!std::isfinite(inv_scale))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": inv_scale " + std::to_string(inv_scale) + " is not finite");
  if (count == 0) return R4J_OK;
  R4J_TRY(prepare_device(FN));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return for_each_unscale_batch(count, grads, numel, [&](const UnscaleBatch &b, int k, int64_t largest) {
    unscale_kernel<<<dim3(blocks_for(largest), k), kThreads, 0, s>>>(b, inv_scale, found_inf);
    R4J_CU_LAUNCH("unscale_kernel");
    return R4J_OK;
  });
}

int r4j_cuda_adam_step(int64_t count, float *const *params, const float *const *grads, float *const *exp_avg,
                       float *const *exp_avg_sq, const int64_t *numel, const float *step_size,
                       const float *bc2_sqrt, float beta1, float beta2, float eps, float weight_decay,
                       void *stream) {
  static const char *FN = "r4j_cuda_adam_step";
  r4j::clear_error();
  R4J_TRY(check_adam_tensors(FN, count, params, grads, exp_avg, exp_avg_sq, numel));
  if (count > 0 && (step_size == nullptr || bc2_sqrt == nullptr))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": step_size or bc2_sqrt is null");
  const float hyper[] = {beta1, beta2, eps, weight_decay};
  for (float h : hyper)
    if (!std::isfinite(h)) return r4j::fail(R4J_EINVAL, std::string(FN) + ": a hyper-parameter is not finite");
  if (!(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f && eps >= 0.0f))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": betas must lie in [0, 1) and eps must be >= 0");
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(step_size[i]) || !(bc2_sqrt[i] > 0.0f) || !std::isfinite(bc2_sqrt[i]))
      return r4j::fail(R4J_EINVAL, std::string(FN) + ": step_size[" + std::to_string(i) + "] or bc2_sqrt[" +
                                       std::to_string(i) + "] is not finite and positive");
  if (count == 0) return R4J_OK;
  R4J_TRY(prepare_device(FN));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return for_each_batch(
      count, numel, AdamBatch{},
      [&](AdamBatch &b, int k, int64_t t) {
        put_adam_tensors(b, k, params[t], grads[t], exp_avg[t], exp_avg_sq[t], numel[t]);
        b.step_size[k] = step_size[t];
        b.bc2_sqrt[k] = bc2_sqrt[t];
      },
      [&](const AdamBatch &b, int k, int64_t largest) {
        if (largest == 0) return R4J_OK;
        adam_kernel<<<dim3(blocks_for(largest), k), kThreads, 0, s>>>(b, beta1, beta2, eps, weight_decay);
        R4J_CU_LAUNCH("adam_kernel");
        return R4J_OK;
      });
}

int r4j_cuda_unscale_grads_dev(int64_t count, float *const *grads, const int64_t *numel, const float *scale,
                               float *found_inf, void *stream) {
  static const char *FN = "r4j_cuda_unscale_grads_dev";
  r4j::clear_error();
  R4J_TRY(check_counts(FN, count, numel));
  R4J_TRY(check_ptrs(FN, "grads", reinterpret_cast<const void *const *>(grads), count, numel));
  if (found_inf == nullptr || scale == nullptr)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": found_inf or scale is null");
  if (count == 0) return R4J_OK;
  R4J_TRY(prepare_device(FN));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return for_each_unscale_batch(count, grads, numel, [&](const UnscaleBatch &b, int k, int64_t largest) {
    unscale_dev_kernel<<<dim3(blocks_for(largest), k), kThreads, 0, s>>>(b, ScaleRef{scale, found_inf});
    R4J_CU_LAUNCH("unscale_dev_kernel");
    return R4J_OK;
  });
}

int r4j_cuda_adam_step_dev(int64_t count, float *const *params, const float *const *grads, float *const *exp_avg,
                           float *const *exp_avg_sq, const int64_t *numel, const double *lr, int64_t *const *step,
                           double beta1, double beta2, float eps, float weight_decay, const float *skip,
                           void *stream) {
  static const char *FN = "r4j_cuda_adam_step_dev";
  r4j::clear_error();
  R4J_TRY(check_adam_tensors(FN, count, params, grads, exp_avg, exp_avg_sq, numel));
  if (count > 0 && (lr == nullptr || step == nullptr))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": lr or step is null");
  for (int64_t i = 0; i < count; ++i) {
    if (step[i] == nullptr) return r4j::fail(R4J_EINVAL, std::string(FN) + ": step[" + std::to_string(i) + "] is null");
    if (!std::isfinite(lr[i]) || lr[i] < 0)
      return r4j::fail(R4J_EINVAL, std::string(FN) + ": lr[" + std::to_string(i) + "] is not finite and >= 0");
  }
  const double hyper[] = {beta1, beta2, eps, weight_decay};
  for (double h : hyper)
    if (!std::isfinite(h)) return r4j::fail(R4J_EINVAL, std::string(FN) + ": a hyper-parameter is not finite");
  if (!(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0 && eps >= 0.0f))
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": betas must lie in [0, 1) and eps must be >= 0");
  if (count == 0) return R4J_OK;
  R4J_TRY(prepare_device(FN));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  AdamDevBatch init{};
  init.skip = skip;
  return for_each_batch(
      count, numel, init,
      [&](AdamDevBatch &b, int k, int64_t t) {
        put_adam_tensors(b, k, params[t], grads[t], exp_avg[t], exp_avg_sq[t], numel[t]);
        b.lr[k] = lr[t];
        b.step[k] = step[t];
      },
      [&](const AdamDevBatch &b, int k, int64_t largest) {
        if (largest > 0) {
          adam_dev_kernel<<<dim3(blocks_for(largest), k), kThreads, 0, s>>>(b, beta1, beta2, eps, weight_decay);
          R4J_CU_LAUNCH("adam_dev_kernel");
        }
        count_steps_kernel<<<1, kPerLaunch, 0, s>>>(b, k);  // tensors of numel 0 count their step too
        R4J_CU_LAUNCH("count_steps_kernel");
        return R4J_OK;
      });
}

int r4j_cuda_amp_update_scale(float *scale, int64_t *good_steps, const float *found_inf, int64_t growth_interval,
                              void *stream) {
  static const char *FN = "r4j_cuda_amp_update_scale";
  r4j::clear_error();
  if (scale == nullptr || good_steps == nullptr || found_inf == nullptr)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": scale, good_steps or found_inf is null");
  if (growth_interval <= 0)
    return r4j::fail(R4J_EINVAL, std::string(FN) + ": growth_interval " + std::to_string(growth_interval) +
                                     " must be > 0");
  R4J_TRY(prepare_device(FN));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  amp_update_kernel<<<1, 1, 0, s>>>(ScaleState{scale, good_steps, found_inf, growth_interval});
  R4J_CU_LAUNCH("amp_update_kernel");
  return R4J_OK;
}

}  // extern "C"
