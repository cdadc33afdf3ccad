#!/usr/bin/env bash
# Builds the native kernels with CUDA on a GPU machine (no Java, no network needed) and runs the
# GPU check driver: CUDA vs CPU results, then timings at the Market-1501 shape.
# Usage: scripts/gpu-check.sh [extra gpu_check args, e.g. --no-cpu-rerank or a seed]
# Environment: BUILD_DIR (default build-gpu), CUDA_ARCH (default: native, falling back to 90),
#              RUN_CPU_TESTS=0 to skip the CPU test drivers, SANITIZE=1 to add compute-sanitizer runs,
#              GPU_CHECK_JSON (default BUILD_DIR/gpu-check.json): device, check counts and timings;
#              GPU_CHECK_KIT=W/kit (scripts/device-kit.sh or device-bundle.sh) adds the Java stage,
#              scripts/gpu-eval-check.sh (eval through Java on the Market-shaped and MSMT17-sized cases), with
#              the Java CUDA tests when GPU_CHECK_TESTS=W/tests (device-bundle.sh) is given too.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-gpu}"
JOBS="$(nproc 2>/dev/null || echo 4)"

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
echo "== nvcc: $(nvcc --version 2>/dev/null | tail -n 1 || echo 'not found')"
echo "== GPUs:"
nvidia-smi -L || echo "(nvidia-smi failed)"

configure() {
  cmake -S src/main/cpp -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DREID4J_BUILD_DRIVERS=ON -DREID4J_CUDA_EMU=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$1"
}
ARCH="${CUDA_ARCH:-native}"
if ! configure "$ARCH"; then
  echo "== configuring for CUDA arch '$ARCH' failed, retrying with 90"
  rm -rf "$BUILD_DIR"
  ARCH=90
  configure "$ARCH"
fi
cmake --build "$BUILD_DIR" -j "$JOBS"

status=0
echo "== gpu_check (arch $ARCH)"
JSON="${GPU_CHECK_JSON:-$BUILD_DIR/gpu-check.json}"
timeout 300 "$BUILD_DIR/gpu_check" --json "$JSON" "$@" || status=$?
echo "== results for machines: $JSON"

# SANITIZE=1: also run the small checks under compute-sanitizer (memcheck, racecheck, synccheck):
# out-of-bounds device accesses, shared-memory races and barrier misuse on the real hardware.
if [ "${SANITIZE:-0}" != 0 ]; then
  for tool in memcheck racecheck synccheck; do
    echo "== compute-sanitizer --tool $tool gpu_check --no-timing --quick"
    timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 9 "$BUILD_DIR/gpu_check" --no-timing --quick \
      | grep -vE '^PASS ' || { echo "== compute-sanitizer $tool FAILED"; status=1; }
  done
fi

if [ "${RUN_CPU_TESTS:-1}" != 0 ]; then
  for t in "$BUILD_DIR"/test_cpu_*; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    timeout 120 "$t" || { echo "== $(basename "$t") FAILED"; status=1; }
  done
fi

if [ -n "${GPU_CHECK_KIT:-}" ]; then
  scripts/gpu-eval-check.sh "$GPU_CHECK_KIT" "${GPU_CHECK_TESTS:--}" "$BUILD_DIR/gpu-eval-check" || status=1
fi

echo "== GPUs:"
nvidia-smi -L || true
if [ "$status" -eq 0 ]; then echo "== gpu-check: OK"; else echo "== gpu-check: FAILED (status $status)"; fi
exit "$status"
