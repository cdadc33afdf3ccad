#!/usr/bin/env bash
# Every GPU check of the project in one call, on a lent GPU machine without Java (the repository is the working
# directory), once the parts of scripts/device-bundle.sh have been copied into one folder. Steps in order of
# priority, each under its own time limit, so that a short device budget still gets the most important ones:
#
#   train   scripts/gpu-train-check.sh: BoT training on cuda, AMP and FP32, against PyTorch; with an A/B run of the
#           step as it was (GPU_CHECK_AB=1) and without the CPU, resume and extract steps
#   eval    scripts/gpu-eval-check.sh: eval through Java on the Market-shaped and MSMT17-sized cases (scored on the
#           device), cuda vs cpu, and the Java CUDA kernel tests
#   junit   the training tests on the GPU (MultiTensorAdamTest, AmpOnDeviceTest, CudaTrainingTest)
#   kernels scripts/gpu-check.sh: the C++ driver (CUDA vs CPU, timings at the Market shape)
#   kernels-wait  for a check started earlier by scripts/device-kernels-bg.sh (in the first upload call): waits
#           until its timings are done (at most 300 s) and pauses it (its sanitizer runs) until the other steps
#           are over; its log is KERNELS_LOG (default /tmp/r4j-kernels.log). Put it first.
#
#   scripts/device-session.sh PARTS [OUT]       PARTS: the folder holding part-0 .. part-N; OUT default /tmp/dsess
# Environment: DEVICE_SESSION_STEPS (default "train eval junit kernels"), DEVICE_SESSION_DEADLINE (seconds from the
# start after which no step runs on: each step's time limit is cut to what is left, a step with under 30 s left is
# skipped; default none), GPU_CHECK_AMP_EPOCHS (3), GPU_CHECK_FP32_EPOCHS (2); the variables of the scripts it
# calls pass through.
set -uo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
PARTS="$(cd "$1" && pwd)" || exit 2
OUT="${2:-/tmp/dsess}"
W="$OUT/w"
mkdir -p "$W" "$OUT"
STEPS="${DEVICE_SESSION_STEPS:-train eval junit kernels}"
status=0
T0=$(date +%s)
say() { echo "== [$(( $(date +%s) - T0 )) s] $*"; }
# limit N: N, or the seconds left before DEVICE_SESSION_DEADLINE when fewer
limit() {
  local left=$(( ${DEVICE_SESSION_DEADLINE:-1000000} - ($(date +%s) - T0) ))
  (( left < $1 )) && echo "$left" || echo "$1"
}

if [[ ! -d "$W/kit" ]]; then
  say "joining $(ls "$PARTS"/part-* | wc -l) parts"
  cat $(ls "$PARTS"/part-* | sort -t- -k2 -n) | tar xf - -C "$W" || { echo "cannot unpack the parts"; exit 1; }
fi
[[ -x "$W/kit/runtime/jre/bin/java" ]] || "$W/kit/reid4j" --version > /dev/null 2>&1 # unpacks the kit's JRE
NV="$(python3 -c 'import nvidia;print(list(nvidia.__path__)[0])' 2>/dev/null || true)"
if [[ -n "$NV" ]]; then
  export LD_LIBRARY_PATH="$(find "$NV" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

paused=""
resume_kernels() { [[ -n "$paused" ]] && kill -CONT -- "-$paused" 2>/dev/null; paused=""; }
trap resume_kernels EXIT  # a paused check runs on when this script ends, however it ends

for step in $STEPS; do
  if (( $(limit 30) < 30 )); then say "$step skipped: under 30 s left before DEVICE_SESSION_DEADLINE"; status=1; continue; fi
  case "$step" in
    train)
      say "train"
      GPU_CHECK_AB="${GPU_CHECK_AB:-1}" GPU_CHECK_SKIP="${GPU_CHECK_SKIP:-cpu resume extract}" \
        GPU_CHECK_AMP_EPOCHS="${GPU_CHECK_AMP_EPOCHS:-3}" GPU_CHECK_FP32_EPOCHS="${GPU_CHECK_FP32_EPOCHS:-2}" \
        GPU_CHECK_WORK="$OUT/train-work" timeout "$(limit 420)" scripts/gpu-train-check.sh "$W/kit" "$W/gpu-natives" \
        "$OUT/train" || status=1 ;;
    eval)
      say "eval"
      timeout "$(limit 420)" scripts/gpu-eval-check.sh "$W/kit" "$W/tests" "$OUT/eval" || status=1 ;;
    junit)
      say "junit (training tests on the GPU)"
      cp="$W/kit/reid4j.jar:$(ls "$W"/kit/lib/*.jar "$W"/gpu-natives/*.jar | paste -sd:):$W/tests/test-classes"
      LD_LIBRARY_PATH="$W/kit/runtime/syslib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout "$(limit 300)" "$W/kit/runtime/jre/bin/java" \
        -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -jar "$(ls "$W"/tests/junit-platform-console-standalone-*.jar)" \
        execute --class-path "$cp" --select-class org.reid4j.train.MultiTensorAdamTest --select-class org.reid4j.train.AmpOnDeviceTest \
        --select-class org.reid4j.train.CudaTrainingTest 2>&1 | tail -25 || status=1 ;;
    kernels-wait)
      log="${KERNELS_LOG:-/tmp/r4j-kernels.log}"
      say "kernels-wait ($log)"
      for _ in $(seq 1 150); do grep -q "results for machines\|KERNELS EXIT" "$log" 2>/dev/null && break; sleep 2; done
      grep -E "^(TIME|INFO|FAIL|---|gpu_check)|^r4j_cuda|TFLOP" "$log" | cut -c1-160
      pid="$(pgrep -f 'r4j-kernels-build' | head -1 || true)"
      pgid="$( [[ -n "$pid" ]] && ps -o pgid= -p "$pid" | tr -d ' ' || true)"
      if [[ -n "$pgid" ]] && kill -STOP -- "-$pgid" 2>/dev/null; then paused="$pgid"; say "kernels paused until the end"; fi ;;
    kernels)
      say "kernels (C++ driver)"
      BUILD_DIR="$OUT/build-gpu" RUN_CPU_TESTS=0 timeout "$(limit 480)" scripts/gpu-check.sh --no-cpu-rerank || status=1 ;;
    *) echo "unknown step $step (train, eval, junit, kernels, kernels-wait)"; status=1 ;;
  esac
done
say "done, status $status"
exit "$status"
