#!/usr/bin/env bash
# Load test of `reid4j serve` on a synthetic 100,000 x 512 gallery, server and load generator on this
# machine: search by feature (k = 10) at concurrency 1, 8, 32, 64, in the shared scan (the default,
# --max-batch 64), in micro-batches (--scan-rows 0) and one at a time (--max-batch 1), then
# optionally a soak at a fixed concurrency while
# the server's RSS is sampled every 10 s.
# usage: benchmarks/serve-load.sh [OUTDIR]       (default /tmp/reid4j-serve-load)
#   DURATION=30s WARMUP=5s LEVELS=1,8,32,64       per-level settings
#   SOAK=10m SOAK_CONCURRENCY=32                  also run the soak (batching on)
#   SERVE_ARGS="--packed-rows=off"                more serve options for every server started (rows are kept
#                                                 packed by default where the memory allows: --packed-rows auto)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-/tmp/reid4j-serve-load}"
duration="${DURATION:-30s}" warmup="${WARMUP:-5s}" levels="${LEVELS:-1,8,32,64}"
mkdir -p "$out"
cd "$root"
./reid4j -V
# 5,000 ids x 4 cameras x 5 images + 250 distractors/junk = 100,250 items of d = 512
[[ -f "$out/case/gallery_feats.npy" ]] || ./reid4j synth --out "$out/case" --ids 5000 --cams 4 --per-cam 5 --dim 512 \
  --distractors 200 --junk 50 --seed 1 > /dev/null
[[ -f "$out/gallery/MANIFEST.json" ]] || ./reid4j gallery import --dir "$out/case" --out "$out/gallery" | tail -1

serve_pid=""
stop_server() { if [[ -n "$serve_pid" ]]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi; serve_pid=""; }
trap stop_server EXIT
start_server() { # extra serve args
  # shellcheck disable=SC2086  # SERVE_ARGS holds several words on purpose
  ./reid4j serve --gallery "$out/gallery" --port 18080 --backend cpu ${SERVE_ARGS:-} "$@" > "$out/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 120); do grep -q "^serving" "$out/serve.log" 2>/dev/null && return; sleep 0.5; done
  echo "the server did not start:" >&2; cat "$out/serve.log" >&2; exit 1
}

# shared scan (the default), micro-batches of whole passes, and one query at a time
for mode in scan:64:32768 batched:64:0 unbatched:1:32768; do
  IFS=: read -r name batch rows <<< "$mode"
  start_server --max-batch "$batch" --scan-rows "$rows"
  ./reid4j loadtest --url http://127.0.0.1:18080 --op search --concurrency "$levels" --duration "$duration" \
    --warmup "$warmup" --seed 7 --json "$out/search-$name.json" | tee "$out/search-$name.txt"
  stop_server
done

if [[ -n "${SOAK:-}" ]]; then
  start_server
  ( while kill -0 "$serve_pid" 2>/dev/null; do
      echo "$(date +%s) $(ps -o rss= -p "$serve_pid")"; sleep 10
    done ) > "$out/soak-rss.txt" &
  ./reid4j loadtest --url http://127.0.0.1:18080 --op search --concurrency "${SOAK_CONCURRENCY:-32}" \
    --duration "$SOAK" --warmup 30s --seed 8 --json "$out/soak.json" | tee "$out/soak.txt"
  stop_server
  awk 'NR==1{min=$2;max=$2} {if($2<min)min=$2; if($2>max)max=$2; last=$2} END{printf "soak RSS (KB): first %d, min %d, max %d, last %d\n", first, min, max, last} NR==1{first=$2}' "$out/soak-rss.txt"
fi
echo "results in $out"
