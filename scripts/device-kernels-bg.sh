#!/usr/bin/env bash
# Starts the C++ GPU check (scripts/gpu-check.sh: build, CUDA-vs-CPU checks, timings, then compute-sanitizer) in
# the background on a lent GPU machine and returns at once, so that it runs while the next calls upload the
# device bundle's parts (scripts/device-bundle.sh). It works on a copy of the repository in /tmp/r4j-kernels-repo
# (the next call's copy of the working tree may replace this one) and writes LOG (default /tmp/r4j-kernels.log),
# ending with "KERNELS EXIT <status>". scripts/device-session.sh's step "kernels-wait" waits for its timings and
# holds its sanitizer runs back while the training and eval steps time themselves.
#
#   scripts/device-kernels-bg.sh [LOG]        (extra gpu_check arguments in GPU_CHECK_ARGS, default "--msmt")
set -euo pipefail
LOG="${1:-/tmp/r4j-kernels.log}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO=/tmp/r4j-kernels-repo
rm -rf "$REPO" && mkdir -p "$REPO"
(cd "$here" && tar --exclude=./.dev --exclude=./target -cf - .) | tar xf - -C "$REPO"
: > "$LOG"
cd "$REPO"
setsid nohup bash -c "BUILD_DIR=/tmp/r4j-kernels-build RUN_CPU_TESTS=0 SANITIZE=\${SANITIZE:-1} \
  GPU_CHECK_JSON=\${GPU_CHECK_JSON:-/tmp/r4j-kernels.json} scripts/gpu-check.sh ${GPU_CHECK_ARGS:---msmt} \
  >> '$LOG' 2>&1; echo \"KERNELS EXIT \$?\" >> '$LOG'" > /dev/null 2>&1 < /dev/null &
echo "== device-kernels-bg: gpu-check.sh started in the background, log $LOG"
