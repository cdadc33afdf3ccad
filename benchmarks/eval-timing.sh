#!/usr/bin/env bash
# Timed whole-process runs of `reid4j eval` (JVM start and .npy loading included) on synthetic cases,
# with peak RSS, against the dense NumPy yardstick in reference/ (in-process time) on the same files.
# usage: benchmarks/eval-timing.sh [OUTDIR]   (default /tmp/reid4j-eval-timing); numpy rows only where
#        python3 has numpy. Set SKIP_NUMPY_MARKET=1 to skip the slow (minutes) NumPy run at the Market shape.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-/tmp/reid4j-eval-timing}"
mkdir -p "$out"
cd "$root"
./reid4j info
run() { # name, then eval args
  local name="$1"; shift
  /usr/bin/time -f "%e s wall, %M KB peak RSS" -o "$out/$name.time" ./reid4j eval "$@" --json "$out/$name.json" > "$out/$name.log"
  echo "$name: $(cat "$out/$name.time")  $(grep -E '^time:' "$out/$name.log")"
}
for spec in "small:--ids 300 --cams 6 --per-cam 2 --dim 512 --distractors 500 --junk 100" \
            "medium:--ids 750 --cams 6 --per-cam 1 --dim 1024 --distractors 1000 --junk 200"; do
  name="${spec%%:*}"; args="${spec#*:}"
  [[ -f "$out/$name/query_feats.npy" ]] || ./reid4j synth --out "$out/$name" $args --seed 1 > /dev/null
  run "$name-eval" --dir "$out/$name" --normalize
  run "$name-rerank" --dir "$out/$name" --normalize --rerank
  if python3 -c 'import numpy' 2>/dev/null; then
    echo "$name numpy: $(python3 benchmarks/reference/rerank_eval_numpy.py "$out/$name")"
  fi
done
[[ -f "$out/market/query_feats.npy" ]] || ./reid4j synth --out "$out/market" --preset market --seed 1 > /dev/null
run market-eval --dir "$out/market" --normalize
run market-rerank --dir "$out/market" --normalize --rerank
if [[ -z "${SKIP_NUMPY_MARKET:-}" ]] && python3 -c 'import numpy' 2>/dev/null; then
  echo "market numpy: $(python3 benchmarks/reference/rerank_eval_numpy.py "$out/market")"
fi
