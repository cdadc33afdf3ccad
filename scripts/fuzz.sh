#!/usr/bin/env bash
# Coverage-guided fuzzing of reid4j's parsers with Jazzer (the @FuzzTest methods in the test sources).
#
#   scripts/fuzz.sh TARGET SECONDS     fuzz one target for about SECONDS (e.g. npy 600)
#   scripts/fuzz.sh all SECONDS        each target in turn, SECONDS each
#   scripts/fuzz.sh list               the targets
#
# Jazzer fuzzes one target per JVM and each @FuzzTest stops after its maxDuration (10 s), so a long
# run is a series of 10-second runs that resume from the corpus the previous one left
# (.cifuzz-corpus/, not committed). Prints per target the executions and findings, and appends a
# JSON line per target to FUZZ_JSON (default target/fuzz/summary.jsonl). Exit 1 on any finding:
# the failing input is saved and its stack trace printed; copy it into the target's seed folder
# under src/test/fuzz/ so that `mvn test` replays it from then on.
# Needs the test classes: runs `mvn -q test-compile` first.
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
mvn -B -q test-compile >/dev/null 2>&1 || { echo "fuzz.sh: mvn test-compile failed" >&2; exit 2; }

status=0
for t in "${selected[@]}"; do
  name="${t#*#}"
  log="target/fuzz/$name.log"
  : >"$log"
  runs=0 execs=0 found=0 start=$(date +%s)
  while :; do
    runs=$((runs + 1))
    JAZZER_FUZZ=1 mvn -B surefire:test@fuzz-corpora -Dtest="$t" -Dsurefire.failIfNoSpecifiedTests=false \
      >>"$log" 2>&1
    rc=$?
    if grep -aq "FuzzerSecurityIssue\|== Java Exception\|ERROR: libFuzzer\|deadly signal\|out-of-memory\|Tests run: .*Failures: [1-9]\|Tests run: .*Errors: [1-9]" "$log"; then
      found=1
    elif ((rc != 0)); then
      found=1
    fi
    execs=$(grep -ao "^Done [0-9]* runs" "$log" | awk '{s += $2} END {print s + 0}')
    ((found)) && break
    (($(date +%s) - start >= seconds)) && break
  done
  elapsed=$(($(date +%s) - start))
  printf '%-16s %10s executions in %4d s (%d runs)  %s\n' "$name" "$execs" "$elapsed" "$runs" \
    "$( ((found)) && echo "FINDING: see $log" || echo "no findings")"
  printf '{"target":"%s","executions":%d,"seconds":%d,"findings":%d,"date":"%s"}\n' "$name" "$execs" "$elapsed" \
    "$found" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$json"
  if ((found)); then
    status=1
    for c in crash-* timeout-* oom-* slow-unit-*; do   # libFuzzer writes the input into the working folder
      [[ -f "$c" ]] && mv "$c" "target/fuzz/$name-$c" && echo "  input: target/fuzz/$name-$c"
    done
    grep -a -A25 "== Java Exception\|FuzzerSecurityIssue\|FuzzTestFindingException" "$log" | head -40
  fi
done
exit $status
