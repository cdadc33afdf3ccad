#!/usr/bin/env bash
# Cuts everything a Java-less GPU machine needs for the training check into upload-sized parts: the device kit
# (scripts/device-kit.sh), libtorch's CUDA natives, and the test classes with JUnit's console launcher (to run the
# GPU tests there). For a machine reached by uploads of at most ~64 MiB each, where a folder survives between
# uploads.
#
#   mvn -B -q -DskipTests package && scripts/device-bundle.sh DIR      # DIR/part-0 .. part-N (58 MiB each)
#   # there, after copying every part into one folder P:
#   mkdir -p W && cat P/part-? | tar xf - -C W           # (part-? sorts correctly up to 10 parts)
#   scripts/gpu-train-check.sh W/kit W/gpu-natives       # e.g. GPU_CHECK_AB=1 GPU_CHECK_SKIP="cpu resume extract"
#   W/kit/runtime/jre/bin/java -jar W/tests/junit-platform-console-standalone-*.jar execute \
#     --class-path "W/kit/reid4j.jar:$(ls W/kit/lib/*.jar W/gpu-natives/*.jar | paste -sd:):W/tests/test-classes" \
#     --select-class org.reid4j.train.MultiTensorAdamTest --select-class org.reid4j.train.AmpOnDeviceTest \
#     --select-class org.reid4j.train.CudaTrainingTest
#   (the kit's JRE is unpacked by the first `W/kit/reid4j` call; put W/kit/runtime/syslib and the CUDA / cuDNN
#   libraries on LD_LIBRARY_PATH)
# Environment: PART_MIB (default 58), M2 (default ~/.m2/repository), BUNDLE_SM (e.g. 90 for an H100 / H200: keep
# only that architecture's machine code in libtorch's CUDA natives, scripts/fatbin-prune.py; 9 parts become 5).
set -euo pipefail
[[ $# -eq 1 ]] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$1"
M2="${M2:-$HOME/.m2/repository}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
KIT_MAX_MIB=70 SPLIT_MIB=0 "$here/scripts/device-kit.sh" "$stage" >&2
if [[ -n "${BUNDLE_SM:-}" ]]; then
  for j in "$stage"/gpu-natives/pytorch-*-gpu.jar; do
    python3 "$here/scripts/fatbin-prune.py" "$j" "$j.pruned" "$BUNDLE_SM" >&2 && mv "$j.pruned" "$j"
  done
fi
mkdir -p "$stage/tests"
[[ -d "$here/target/test-classes" ]] || { echo "device-bundle: no target/test-classes (run mvn test-compile)" >&2; exit 1; }
cp -r "$here/target/test-classes" "$stage/tests/"
console="$(ls "$M2"/org/junit/platform/junit-platform-console-standalone/*/junit-platform-console-standalone-*.jar 2>/dev/null | tail -1 || true)"
if [[ -z "$console" ]]; then
  (cd "$here" && mvn -B -q dependency:get -Dtransitive=false \
    -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1) >&2
  console="$(ls "$M2"/org/junit/platform/junit-platform-console-standalone/*/junit-platform-console-standalone-*.jar | tail -1)"
fi
cp "$console" "$stage/tests/"
rm -rf "$DIR" && mkdir -p "$DIR"
(cd "$stage" && tar cf - kit gpu-natives tests) | split -d -a 1 -b "${PART_MIB:-58}M" - "$DIR/part-"
n=$(ls "$DIR" | wc -l)
(( n <= 10 )) || { echo "device-bundle: $n parts: raise PART_MIB (part-? globbing needs at most 10)" >&2; exit 1; }
ls -l "$DIR" | tail -n +2 | awk '{printf "   %-8s %6.1f MiB\n", $9, $5/1048576}'
echo "== device-bundle: $n parts in $DIR"
