#!/usr/bin/env bash
# Coverage-guided fuzzing: reid4j's Java parsers with Jazzer (the @FuzzTest methods in the test
# sources), and the C API of reid4j.h with libFuzzer (src/test/cpp/fuzz/fuzz_kernels.cpp, built with
# clang and AddressSanitizer + UndefinedBehaviorSanitizer into target/fuzz-native): `kernels` fuzzes
# the CPU kernels, `kernels_cuda` the CUDA kernels run by the CUDA emulator (no GPU needed).
#
#   scripts/fuzz.sh TARGET SECONDS     fuzz one target for about SECONDS (e.g. npy 600)
#   scripts/fuzz.sh all SECONDS        each target in turn, SECONDS each
#   scripts/fuzz.sh list               the targets
#
# One JVM fuzzes a target for the whole SECONDS: the @FuzzTest annotation's maxDuration (10 s, what
# `mvn test` with JAZZER_FUZZ=1 would use) is overridden by a libFuzzer -max_total_time flag passed
# the way Jazzer's own command line passes libFuzzer flags to its JUnit engine
# (jazzer.internal.arg.N; libFuzzer takes the last value of a repeated flag). Each run resumes from
# the corpus of earlier runs (.cifuzz-corpus/, not committed). Prints per target the executions and
# findings, and appends a
# JSON line per target to FUZZ_JSON (default target/fuzz/summary.jsonl). Exit 1 on any finding:
# the failing input is saved and its stack trace printed; copy it into the target's seed folder
# under src/test/fuzz/ so that `mvn test` replays it from then on.
# Needs the test classes (runs `mvn -q test-compile` first) and, for the native targets, clang with
# libFuzzer and OpenMP (Debian: clang libomp-14-dev). Native seeds: src/test/fuzz/native/<target>/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS=(
  "org.reid4j.fuzz.ParserFuzzTests#npy"
  "org.reid4j.fuzz.ParserFuzzTests#idx"
  "org.reid4j.fuzz.ParserFuzzTests#yamlConfig"
  "org.reid4j.fuzz.ParserFuzzTests#configOverride"
  "org.reid4j.fuzz.ParserFuzzTests#checkpointMeta"
  "org.reid4j.fuzz.ParserFuzzTests#csvList"
  "org.reid4j.fuzz.ParserFuzzTests#image"
  "org.reid4j.fuzz.ParserFuzzTests#thresholdJson"
  "org.reid4j.model.SafetensorsFuzzTest#safetensors"
  "org.reid4j.kernels.KernelsFuzzTest#kernelsBoundary"
  "org.reid4j.serve.http.HttpFuzzTest#httpBody"
  "native#kernels"
  "native#kernels_cuda"
)

if [[ "${1:-}" == "list" || $# -lt 2 ]]; then
  for t in "${TARGETS[@]}"; do echo "${t#*#}"; done
  [[ "${1:-}" == "list" ]] && exit 0
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS" >&2
  exit 2
fi
want="$1"
seconds="$2"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }
selected=()
for t in "${TARGETS[@]}"; do
  if [[ "$want" == all || "${t#*#}" == "$want" ]]; then selected+=("$t"); fi
done
((${#selected[@]})) || { echo "fuzz.sh: unknown target '$want' (scripts/fuzz.sh list)" >&2; exit 2; }

json="${FUZZ_JSON:-target/fuzz/summary.jsonl}"
mkdir -p "$(dirname "$json")" target/fuzz
if [[ " ${selected[*]} " == *" org."* ]]; then
  mvn -B -q test-compile >/dev/null 2>&1 || { echo "fuzz.sh: mvn test-compile failed" >&2; exit 2; }
fi
if [[ " ${selected[*]} " == *" native#"* ]]; then
  command -v clang++ >/dev/null || { echo "fuzz.sh: the native targets need clang++ (Debian: apt-get install clang libomp-14-dev)" >&2; exit 2; }
  { CC=clang CXX=clang++ cmake -S src/main/cpp -B target/fuzz-native -DREID4J_FUZZ=ON -DREID4J_CUDA=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build target/fuzz-native -j "$(nproc)" --target fuzz_kernels; } \
    >target/fuzz/native-build.log 2>&1 || { tail -30 target/fuzz/native-build.log; echo "fuzz.sh: building fuzz_kernels failed (target/fuzz/native-build.log)" >&2; exit 2; }
fi

# One native target: libFuzzer on fuzz_kernels, one backend, resuming from .cifuzz-corpus/native/NAME.
fuzz_native() {
  local name=$1 seconds=$2 log=$3 corpus=".cifuzz-corpus/native/$1" seeds="src/test/fuzz/native/$1"
  mkdir -p "$corpus" target/fuzz/artifacts
  rm -f target/fuzz/artifacts/"$name"-*
  local backend=cpu
  [[ $name == kernels_cuda ]] && backend=cuda
  R4J_FUZZ_BACKEND=$backend OMP_WAIT_POLICY=passive \
    target/fuzz-native/fuzz_kernels -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
      -artifact_prefix="target/fuzz/artifacts/$name-" "$corpus" "$seeds" >>"$log" 2>&1
}

status=0
for t in "${selected[@]}"; do
  name="${t#*#}"
  log="target/fuzz/$name.log"
  : >"$log"
  found=0 start=$(date +%s)
  if [[ $t == native#* ]]; then
    fuzz_native "$name" "$seconds" "$log"
    rc=$?
  else
    JAZZER_FUZZ=1 mvn -B surefire:test@fuzz-corpora -Dtest="$t" -Dsurefire.failIfNoSpecifiedTests=false \
      -Djazzer.internal.arg.0=fuzz.sh -Djazzer.internal.arg.1=-max_total_time="$seconds" >>"$log" 2>&1
    rc=$?
  fi
  if grep -aq "FuzzerSecurityIssue\|== Java Exception\|ERROR: libFuzzer\|ERROR: AddressSanitizer\|runtime error:\|fuzz_kernels: \|deadly signal\|out-of-memory\|Tests run: .*Failures: [1-9]\|Tests run: .*Errors: [1-9]" "$log"; then
    found=1
  elif ((rc != 0)); then
    found=1
  fi
  execs=$(grep -ao "^Done [0-9]* runs" "$log" | awk '{s += $2} END {print s + 0}')
  elapsed=$(($(date +%s) - start))
  printf '%-16s %10s executions in %4d s  %s\n' "$name" "$execs" "$elapsed" \
    "$( ((found)) && echo "FINDING: see $log" || echo "no findings")"
  printf '{"target":"%s","executions":%d,"seconds":%d,"findings":%d,"date":"%s"}\n' "$name" "$execs" "$elapsed" \
    "$found" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$json"
  if ((found)); then
    status=1
    for c in crash-* timeout-* oom-* slow-unit-*; do   # Jazzer writes the input into the working folder
      [[ -f "$c" ]] && mv "$c" "target/fuzz/$name-$c" && echo "  input: target/fuzz/$name-$c"
    done
    ls target/fuzz/artifacts/"$name"-* 2>/dev/null | sed 's/^/  input: /'
    grep -a -A25 "== Java Exception\|FuzzerSecurityIssue\|FuzzTestFindingException\|ERROR: AddressSanitizer\|runtime error:\|fuzz_kernels: \|deadly signal" "$log" | head -40
  fi
done
exit $status
