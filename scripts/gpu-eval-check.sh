#!/usr/bin/env bash
# The Java stage of the GPU check: evaluation through Java on a GPU machine without Java or Maven, from a device
# kit (scripts/device-kit.sh), and the Java CUDA tests when the test classes are at hand (scripts/device-bundle.sh).
#
#   scripts/gpu-eval-check.sh KIT [TESTS] [OUTDIR]
#     KIT     OUT/kit of scripts/device-kit.sh (launcher KIT/reid4j; its reid4j.jar holds the CUDA kernels)
#     TESTS   W/tests of scripts/device-bundle.sh (test-classes/ and JUnit's console launcher), or "-" for none
#     OUTDIR  logs and the JSON of each eval (default /tmp/gpu-eval-check)
#
# Steps: synthetic Market-shaped (3,368 x 15,913, d 2048) and MSMT17-sized (6,800 x 82,100) feature cases; on each,
# `eval --normalize` and `eval --normalize --rerank` with --backend cuda (scored on the device); on the Market case
# also --backend cpu and --backend cuda at --precision tf32x3 and tf32 (their score differences from fp32 printed),
# on the MSMT17-sized case re-ranking at tf32x3; a table of the in-process step times (ms) and a check that cuda and
# cpu agree (1e-6); then the Java CUDA tests. Exit status non-zero when any step or check failed.
# scripts/gpu-check.sh runs this when GPU_CHECK_KIT is set.
# Environment: GPU_EVAL_MSMT=0 skips the MSMT17-sized case; GPU_EVAL_CPU_MSMT=1 also runs it on the cpu backend;
# GPU_EVAL_AB=0 skips the A/B runs on cuda (without the warm-up of the device call, REID4J_EVAL_WARMUP=0; the
# driver's pageable copies instead of the staging buffers, R4J_CUDA_STAGING=0); GPU_EVAL_TF32=0 skips the
# tensor-core runs.
set -uo pipefail
if [[ $# -lt 1 || $# -gt 3 ]]; then sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
KIT="$(cd "$1" && pwd)" || exit 2
TESTS="${2:--}"
OUT="${3:-/tmp/gpu-eval-check}"
mkdir -p "$OUT/logs" && OUT="$(cd "$OUT" && pwd)"
R4J="$KIT/reid4j"
status=0

# CUDA runtime libraries: PyTorch's nvidia-* wheels and /usr/local/cuda
NV="$(python3 -c 'import nvidia;print(list(nvidia.__path__)[0])' 2>/dev/null || true)"
LIBS=""
[[ -n "$NV" && -d "$NV" ]] && LIBS="$(find "$NV" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)"
[[ -d /usr/local/cuda/lib64 ]] && LIBS="${LIBS:+$LIBS:}/usr/local/cuda/lib64"
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

step() { # step NAME LIMIT CMD...: log to OUT/logs/NAME.log, its tail here
  local name="$1" limit="$2"; shift 2
  echo "== $name"
  if timeout -k 10 "$limit" "$@" > "$OUT/logs/$name.log" 2>&1; then
    tail -n 4 "$OUT/logs/$name.log" | sed 's/^/   | /'
  else
    tail -n 20 "$OUT/logs/$name.log" | sed 's/^/   | /'
    echo "   FAILED (log: $OUT/logs/$name.log)"
    status=1
  fi
}

echo "== device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo none)"
rm -rf "$OUT/market" "$OUT/msmt"
step synth-market 300 "$R4J" synth --preset market --out "$OUT/market"
cases=(market)
if [[ "${GPU_EVAL_MSMT:-1}" != 0 ]]; then
  step synth-msmt 600 "$R4J" synth --out "$OUT/msmt" --ids 1700 --cams 8 --per-cam 6 --dim 2048 --distractors 400 \
    --junk 100 --noise 3 --seed 2
  cases+=(msmt)
fi
for c in "${cases[@]}"; do
  backends=(cuda)
  [[ "$c" == market || "${GPU_EVAL_CPU_MSMT:-0}" != 0 ]] && backends+=(cpu)
  for b in "${backends[@]}"; do
    step "eval-$c-$b" 600 "$R4J" eval --dir "$OUT/$c" --normalize --backend "$b" --json "$OUT/eval-$c-$b.json"
    step "eval-$c-$b-rerank" 900 "$R4J" eval --dir "$OUT/$c" --normalize --rerank --backend "$b" \
      --json "$OUT/eval-$c-$b-rerank.json"
  done
  if [[ "${GPU_EVAL_AB:-1}" != 0 ]]; then  # the device call without its warm-up; X through pageable copies
    for v in nowarm:REID4J_EVAL_WARMUP=0 pageable:R4J_CUDA_STAGING=0; do
      step "eval-$c-cuda-${v%%:*}" 600 env "${v#*:}" "$R4J" eval --dir "$OUT/$c" --normalize --backend cuda \
        --json "$OUT/eval-$c-cuda-${v%%:*}.json"
      step "eval-$c-cuda-rerank-${v%%:*}" 900 env "${v#*:}" "$R4J" eval --dir "$OUT/$c" --normalize --rerank \
        --backend cuda --json "$OUT/eval-$c-cuda-rerank-${v%%:*}.json"
    done
  fi
  [[ "${GPU_EVAL_TF32:-1}" == 0 ]] && continue
  if [[ "$c" == msmt ]]; then  # at N = 88,900 the distance pass is most of re-ranking: the split TF32 one
    step "eval-$c-cuda-rerank-tf32x3" 900 "$R4J" eval --dir "$OUT/$c" --normalize --rerank --backend cuda \
      --precision tf32x3 --json "$OUT/eval-$c-cuda-rerank-tf32x3.json"
  fi
  if [[ "$c" == market ]]; then  # the tensor-core distance passes: their mAP against fp32's
    for p in tf32x3 tf32; do
      step "eval-$c-cuda-$p" 600 "$R4J" eval --dir "$OUT/$c" --normalize --backend cuda --precision "$p" \
        --json "$OUT/eval-$c-cuda-$p.json"
      step "eval-$c-cuda-rerank-$p" 900 "$R4J" eval --dir "$OUT/$c" --normalize --rerank --backend cuda \
        --precision "$p" --json "$OUT/eval-$c-cuda-rerank-$p.json"
    done
  fi
done

echo "== in-process step times (ms) and scores"
python3 - "$OUT" <<'EOF' || status=1
import glob, json, os, sys
out = sys.argv[1]
rows, bad = {}, 0
for f in sorted(glob.glob(os.path.join(out, "eval-*.json"))):
    j = json.load(open(f))
    name = os.path.basename(f)[5:-5]
    rows[name] = j
    t = j.get("timings_ms", {})
    steps = ", ".join(f"{k} {v}" for k, v in t.items())
    print(f"   {name:26s} R1 {j['rank1']:.4f} mAP {j['mAP']:.4f} | {steps} | {j.get('backend', '?')[:40]}")
for name, j in rows.items():
    if "-cuda" not in name:
        continue
    ref = rows.get(name.replace("-cuda", "-cpu"))
    if ref is None:
        continue
    worst = max(abs(j[k] - ref[k]) for k in ("rank1", "rank5", "rank10", "mAP", "mINP"))
    ok = worst <= 1e-6
    bad += not ok
    print(f"   {'PASS' if ok else 'FAIL'} {name} vs cpu: largest score difference {worst:.2e}")
for name, j in rows.items():
    for p in ("-tf32x3", "-tf32"):
        if name.endswith(p) and name[: -len(p)] in rows:
            ref = rows[name[: -len(p)]]
            print(f"   INFO {name} vs fp32: mAP {100 * (j['mAP'] - ref['mAP']):+.4f} points, "
                  f"R1 {100 * (j['rank1'] - ref['rank1']):+.4f}, mINP {100 * (j['mINP'] - ref['mINP']):+.4f}")
for name, j in rows.items():
    for v in ("-nowarm", "-pageable"):
        if name.endswith(v) and name[: -len(v)] in rows:
            ref = rows[name[: -len(v)]]
            same = all(j[k] == ref[k] for k in ("rank1", "mAP", "mINP"))
            bad += not same
            a, b = list(ref["timings_ms"].items())[-1], list(j["timings_ms"].items())[-1]
            print(f"   {'INFO' if same else 'FAIL'} {name}: {b[0]} {b[1]} ms against {a[1]} ms"
                  f"{'' if same else ', scores differ'}")
sys.exit(1 if bad else 0)
EOF

if [[ "$TESTS" != "-" ]]; then
  console="$(ls "$TESTS"/junit-platform-console-standalone-*.jar 2>/dev/null | tail -1)"
  jre="$KIT/runtime/jre/bin/java"
  if [[ -z "$console" || ! -x "$jre" ]]; then
    echo "== java-cuda-tests"; echo "   FAILED: no JUnit console in $TESTS or no JRE in $KIT/runtime"; status=1
  else
    cp="$KIT/reid4j.jar:$(ls "$KIT"/lib/*.jar | paste -sd:):$TESTS/test-classes"
    sel=()
    for c in kernels.CudaKernelsTest kernels.BackendSelectionTest cli.CudaEvalCommandTest kernels.DeviceRowsTest \
        kernels.MiningMemoryTest gallery.GallerySearchTest kernels.PrecisionTest; do sel+=(--select-class "org.reid4j.$c"); done
    LD_LIBRARY_PATH="$KIT/runtime/syslib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" step java-cuda-tests 600 "$jre" \
      -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -jar "$console" execute --class-path "$cp" "${sel[@]}"
  fi
fi
if [[ "$status" -eq 0 ]]; then echo "== gpu-eval-check: OK"; else echo "== gpu-eval-check: FAILED"; fi
exit "$status"
