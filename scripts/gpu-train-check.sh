#!/usr/bin/env bash
# Training check on a GPU machine without Java or Maven: reid4j from a device kit (scripts/device-kit.sh)
# trains the BoT config on synthetic Market-1501-shaped images and is compared with plain PyTorch.
#
#   scripts/gpu-train-check.sh KIT GPU_NATIVES [OUTDIR]
#     KIT          OUT/kit of scripts/device-kit.sh (launcher KIT/reid4j)
#     GPU_NATIVES  folder of the libtorch CUDA natives jars (pytorch-*-linux-x86_64-gpu.jar, cuda-*.jar), or of
#                  their pieces (NAME.jar.part-NN + SHA256SUMS, from device-kit.sh), joined here on first use
#     OUTDIR       logs, tables and gpu-train-check.json (default /tmp/gpu-train-check); keep it small: the data
#                  and the runs (checkpoints) go to GPU_CHECK_WORK (default OUTDIR/work)
#
# Steps (each prints `== step`; a failed step is reported and the independent ones still run; the exit status
# is non-zero when any step or check failed): environment, info, synthetic data, BoT training with AMP and in
# FP32/TF32 on cuda, a 1-epoch CPU run, --resume, checkpoint extraction on cpu vs cuda, the PyTorch yardstick
# (scripts/torch-yardstick.py), a table with PASS/FAIL checks and OUTDIR/gpu-train-check.json.
#
# Environment:
#   GPU_CHECK_DEVICE   cuda (default) or cpu: the "GPU" runs on the CPU, to test this script's plumbing on a
#                      machine without a GPU (GPU_NATIVES then holds pytorch-*-linux-x86_64.jar)
#   GPU_CHECK_SET      extra train options for every run, e.g. "--set MODEL.BACKBONE=resnet18
#                      --set INPUT.SIZE_TRAIN=[64,32] --set INPUT.SIZE_TEST=[64,32]"
#   GPU_CHECK_QUICK=1  tiny data and 2+2 epochs (plumbing only)
#   GPU_CHECK_IDS / _TEST_IDS / _CAMS / _PER_CAM  (200 / 100 / 6 / 4), GPU_CHECK_SMALL_IDS (16)
#   GPU_CHECK_AMP_EPOCHS (4), GPU_CHECK_FP32_EPOCHS (3), GPU_CHECK_CPU_EPOCHS (1)
#   GPU_CHECK_WORK     data and runs (default OUTDIR/work); GPU_CHECK_CONFIG (configs/bot_r50_market.yml)
#   GPU_CHECK_YARDSTICK=0 skips PyTorch; REID4J_JAVA_OPTS passes on to the launcher
#   GPU_CHECK_AB=1     one more AMP run, "amp-ref", with REID4J_ADAM_KERNELS=0 REID4J_OVERLAP=0 (libtorch's Adam
#                      per tensor, the next batch loaded after the step: the step as it was), one AMP run,
#                      "amp-dev", with REID4J_AMP_ON_DEVICE=1 (loss scale, overflow verdict and Adam's step counts
#                      on the device: the step's numbers read one step late), and one more FP32 run, "fp32-ref",
#                      with REID4J_DEFER_READ=0 (each step's numbers read at its end): A/Bs on one card
#   GPU_CHECK_XBM=1    one more AMP run, "amp-xbm", with a 4,096-entry cross-batch memory (SOLVER.XBM.SIZE; on a
#                      GPU the memory is a tensor there): its images/s beside the amp run's
#   GPU_CHECK_SKIP     steps to leave out, any of: fp32 cpu resume extract (e.g. "cpu resume" for a short run)
#   GPU_CHECK_JFR=0    no Java Flight Recording of the amp run (by default it is recorded to OUTDIR/amp.jfr and
#                      step profile-amp prints where its threads spent their time: scripts/jfr-hotspots.py)
set -uo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="$(cd "$1" && pwd)" || exit 2
NATIVES="$(cd "$2" && pwd)" || exit 2
OUTDIR="${3:-/tmp/gpu-train-check}"
mkdir -p "$OUTDIR/logs" && OUTDIR="$(cd "$OUTDIR" && pwd)"
WORK="${GPU_CHECK_WORK:-$OUTDIR/work}"
mkdir -p "$WORK" && WORK="$(cd "$WORK" && pwd)"
DEV="${GPU_CHECK_DEVICE:-cuda}"
CONFIG="${GPU_CHECK_CONFIG:-$repo/configs/bot_r50_market.yml}"
QUICK="${GPU_CHECK_QUICK:-0}"
if [[ "$QUICK" != 0 ]]; then d_ids=12 d_test=6 d_cams=3 d_per=2 d_small=8 d_amp=2 d_fp32=2 d_cpu=1
else d_ids=200 d_test=100 d_cams=6 d_per=4 d_small=16 d_amp=4 d_fp32=3 d_cpu=1; fi
IDS="${GPU_CHECK_IDS:-$d_ids}" TEST_IDS="${GPU_CHECK_TEST_IDS:-$d_test}" CAMS="${GPU_CHECK_CAMS:-$d_cams}"
PER_CAM="${GPU_CHECK_PER_CAM:-$d_per}" SMALL_IDS="${GPU_CHECK_SMALL_IDS:-$d_small}"
AMP_EPOCHS="${GPU_CHECK_AMP_EPOCHS:-$d_amp}" FP32_EPOCHS="${GPU_CHECK_FP32_EPOCHS:-$d_fp32}"
CPU_EPOCHS="${GPU_CHECK_CPU_EPOCHS:-$d_cpu}"
read -r -a EXTRA_SET <<< "${GPU_CHECK_SET:-}"
NPROC="$(nproc 2>/dev/null || echo 4)"
WORKERS=$(( NPROC > 3 ? NPROC - 2 : 1 ))
STEPS="$OUTDIR/steps.tsv"
: > "$STEPS"
status=0
T0=$(date +%s)

# run_step NAME TIMEOUT_S CMD...: output to OUTDIR/logs/NAME.log, its tail to the console, the result to steps.tsv
run_step() {
  local name="$1" limit="$2"; shift 2
  local log="$OUTDIR/logs/$name.log" t0 rc
  echo "== $name"
  echo "   \$ $*" | cut -c1-400
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$log" 2>&1
  rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [[ $rc -eq 0 ]]; then
    tail -n "${TAIL_OK:-3}" "$log" | tr '\r' '\n' | tail -n "${TAIL_OK:-3}" | cut -c1-200 | sed 's/^/   | /'
    echo "   ok ($dt s)"
    printf '%s\tok\t%s\t%s\n' "$name" "$dt" "$rc" >> "$STEPS"
  else
    tail -n 25 "$log" | tr '\r' '\n' | tail -n 25 | cut -c1-300 | sed 's/^/   | /'
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then echo "   FAILED: timed out after $limit s (log: $log)"
    else echo "   FAILED: exit status $rc after $dt s (log: $log)"; fi
    printf '%s\tFAILED\t%s\t%s\n' "$name" "$dt" "$rc" >> "$STEPS"
    status=1
  fi
  return $rc
}
skip_step() { echo "== $1"; echo "   skipped: $2"; printf '%s\tskipped\t0\t%s\n' "$1" "$2" >> "$STEPS"; }

echo "== environment"
# CUDA / cuDNN runtime libraries: the pip wheels of PyTorch (python3 -m pip's nvidia-* packages) and /usr/local/cuda
LIBS=""
NV="$(python3 -c 'import nvidia,os;print(os.path.dirname(nvidia.__file__) if getattr(nvidia,"__file__",None) else list(nvidia.__path__)[0])' 2>/dev/null || true)"
if [[ -n "$NV" && -d "$NV" ]]; then
  LIBS="$(find "$NV" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)"
  echo "   nvidia wheels: $NV ($(echo "$LIBS" | tr ':' '\n' | grep -c .) library folders)"
else
  echo "   no python3 'nvidia' package (CUDA wheels)"
fi
[[ -d /usr/local/cuda/lib64 ]] && LIBS="${LIBS:+$LIBS:}/usr/local/cuda/lib64"
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# libtorch natives: join pieces from device-kit.sh (NAME.jar.part-NN) where the whole jar is missing
shopt -s nullglob
jars_dir="$NATIVES"
parts=("$NATIVES"/*.jar.part-00)
if (( ${#parts[@]} > 0 )); then
  jars_dir="$WORK/natives"
  [[ -w "$NATIVES" ]] && jars_dir="$NATIVES"
  mkdir -p "$jars_dir"
  for p in "${parts[@]}"; do
    jar="$(basename "${p%.part-00}")"
    if [[ ! -f "$jars_dir/$jar" ]]; then
      echo "   joining $jar from $(ls "${p%-00}"-* | wc -l) pieces"
      cat "${p%-00}"-* > "$jars_dir/$jar.tmp" && mv "$jars_dir/$jar.tmp" "$jars_dir/$jar"
    fi
  done
  for j in "$NATIVES"/*.jar; do [[ "$jars_dir" == "$NATIVES" || -f "$jars_dir/$(basename "$j")" ]] || cp "$j" "$jars_dir/"; done
  if [[ -f "$NATIVES/SHA256SUMS" ]]; then
    if (cd "$jars_dir" && sha256sum --quiet -c "$NATIVES/SHA256SUMS"); then echo "   SHA256SUMS ok"
    else echo "   FAILED: the joined jars do not match SHA256SUMS"; status=1; fi
  fi
fi
EXTRA_CP="$(ls "$jars_dir"/*.jar 2>/dev/null | paste -sd:)"
export REID4J_EXTRA_CP="${EXTRA_CP}${REID4J_EXTRA_CP:+:$REID4J_EXTRA_CP}"
shopt -u nullglob
[[ -n "$EXTRA_CP" ]] || { echo "   FAILED: no jars in $NATIVES"; status=1; }
echo "   natives: $(echo "$EXTRA_CP" | tr ':' '\n' | xargs -r -n1 basename | paste -sd' ')"
echo "   device $DEV, $NPROC cores, data loader workers $WORKERS, extra options: ${GPU_CHECK_SET:-none}"
CARD="none"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi -L | sed 's/^/   /'
  CARD="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
else
  echo "   no nvidia-smi"
fi
R4J="$KIT/reid4j"

TAIL_OK=8 run_step info 300 "$R4J" info

echo "== data"
MARKET="$WORK/market" SMALL="$WORK/market-small"
rm -rf "$MARKET" "$SMALL"
run_step synth 180 "$R4J" synth --market-images "$MARKET" --ids "$IDS" --test-ids "$TEST_IDS" --cams "$CAMS" \
  --per-cam "$PER_CAM" --seed 1
run_step synth-small 120 "$R4J" synth --market-images "$SMALL" --ids "$SMALL_IDS" --test-ids $(( SMALL_IDS / 2 )) \
  --cams "$CAMS" --per-cam "$PER_CAM" --seed 2

RUNS="$WORK/runs"
common=(--config "$CONFIG" --set SOLVER.CHECKPOINT_PERIOD=1000 --set "DATALOADER.NUM_WORKERS=$WORKERS"
  --set SOLVER.LOG_PERIOD=10)
SKIP=" ${GPU_CHECK_SKIP:-} "
skipped() { [[ "$SKIP" == *" $1 "* ]]; }
# train NAME TIMEOUT DEVICE ROOT EPOCHS EVAL_PERIOD [more options]  (TRAIN_ENV: VAR=value words for env)
train() {
  local name="$1" limit="$2" device="$3" root="$4" epochs="$5" evalp="$6"; shift 6
  rm -rf "$RUNS/$name"
  run_step "train-$name" "$limit" env ${TRAIN_ENV:-} "$R4J" train "${common[@]}" --set "MODEL.DEVICE=$device" \
    --set "DATALOADER.ROOT=$root" --set "OUTPUT_DIR=$RUNS/$name" --set "SOLVER.MAX_EPOCHS=$epochs" \
    --set SOLVER.WARMUP_EPOCHS=1 --set "SOLVER.EVAL_PERIOD=$evalp" "$@" "${EXTRA_SET[@]}"
}
# The amp run under Java Flight Recording (JDK_JAVA_OPTIONS reaches the kit's java launcher): where the training
# thread's time goes, issuing libtorch work or waiting for it, is what decides the gap to PyTorch.
JFR_FILE="$OUTDIR/amp.jfr"
rm -f "$JFR_FILE"
jfr_env=""
[[ "${GPU_CHECK_JFR:-1}" != 0 ]] && jfr_env="JDK_JAVA_OPTIONS=-XX:StartFlightRecording=filename=$JFR_FILE,settings=profile"
TRAIN_ENV="$jfr_env" train amp 240 "$DEV" "$MARKET" "$AMP_EPOCHS" 2 --set SOLVER.AMP_ON_CUDA=true
amp_ok=$?
JFR_BIN="$KIT/runtime/jre/bin/jfr"
if [[ "${GPU_CHECK_JFR:-1}" == 0 ]]; then
  skip_step profile-amp "GPU_CHECK_JFR=0"
elif [[ ! -s "$JFR_FILE" ]]; then
  skip_step profile-amp "no recording at $JFR_FILE"
elif [[ ! -x "$JFR_BIN" ]]; then
  skip_step profile-amp "the kit's JRE has no jfr tool (a kit made before jdk.jfr was added)"
else
  TAIL_OK=32 run_step profile-amp 120 bash -c '"$1" print --stack-depth 12 --events \
    jdk.ExecutionSample,jdk.NativeMethodSample "$2" | python3 "$3" --threads 3 --top 8' _ "$JFR_BIN" "$JFR_FILE" \
    "$repo/scripts/jfr-hotspots.py"
fi
# The A/B runs not yet timed on a GPU come first (amp-dev, fp32-ref), the older amp-ref last: a session cut short
# by its deadline loses the comparison already made before.
if [[ "${GPU_CHECK_AB:-0}" != 0 ]]; then
  TRAIN_ENV="REID4J_AMP_ON_DEVICE=1" train amp-dev 240 "$DEV" "$MARKET" "$AMP_EPOCHS" 2 --set SOLVER.AMP_ON_CUDA=true
fi
if skipped fp32; then skip_step train-fp32 "GPU_CHECK_SKIP"; else
  train fp32 200 "$DEV" "$MARKET" "$FP32_EPOCHS" 1000 --set SOLVER.AMP_ON_CUDA=false
  if [[ "${GPU_CHECK_AB:-0}" != 0 ]]; then  # each step's numbers read at its end, as before
    TRAIN_ENV="REID4J_DEFER_READ=0" train fp32-ref 200 "$DEV" "$MARKET" "$FP32_EPOCHS" 1000 --set SOLVER.AMP_ON_CUDA=false
  fi
fi
if [[ "${GPU_CHECK_XBM:-0}" != 0 ]]; then
  train amp-xbm 240 "$DEV" "$MARKET" "$AMP_EPOCHS" 2 --set SOLVER.AMP_ON_CUDA=true --set SOLVER.XBM.SIZE=4096
fi
if [[ "${GPU_CHECK_AB:-0}" != 0 ]]; then
  TRAIN_ENV="REID4J_ADAM_KERNELS=0 REID4J_OVERLAP=0" train amp-ref 240 "$DEV" "$MARKET" "$AMP_EPOCHS" 2 --set SOLVER.AMP_ON_CUDA=true
fi
if skipped cpu; then skip_step train-cpu "GPU_CHECK_SKIP"; else train cpu 180 cpu "$SMALL" "$CPU_EPOCHS" 1000; fi

if skipped resume; then
  skip_step resume "GPU_CHECK_SKIP"
elif [[ $amp_ok -eq 0 ]]; then
  run_step resume 150 "$R4J" train "${common[@]}" --set "MODEL.DEVICE=$DEV" --set "DATALOADER.ROOT=$MARKET" \
    --set "OUTPUT_DIR=$RUNS/amp" --set "SOLVER.MAX_EPOCHS=$(( AMP_EPOCHS + 1 ))" --set SOLVER.WARMUP_EPOCHS=1 \
    --set SOLVER.EVAL_PERIOD=2 --set SOLVER.AMP_ON_CUDA=true "${EXTRA_SET[@]}" --resume
else
  skip_step resume "the amp run failed"
fi

# cross-device: the amp run's checkpoint, features of the small set's query/gallery on cpu and on DEV
XD="$WORK/cross-device"
rm -rf "$XD"
if skipped extract; then
  skip_step extract-cpu "GPU_CHECK_SKIP"
elif [[ $amp_ok -ne 0 ]]; then
  skip_step extract-cpu "the amp run failed"
elif ! "$R4J" extract --help 2>/dev/null | grep -q -- '--device'; then
  skip_step extract-cpu "extract has no --device option in this build"
else
  # A on the CPU, B on DEV (both cpu under GPU_CHECK_DEVICE=cpu: then it checks determinism only)
  for ab in "cpu a" "$DEV b"; do
    read -r d x <<< "$ab"
    run_step "extract-$d-$x" 180 "$R4J" extract --checkpoint "$RUNS/amp/checkpoints/last.pt" \
      --data "market1501:$SMALL" --out "$XD/$d-$x" --device "$d" \
      && run_step "eval-$d-$x" 60 "$R4J" eval --dir "$XD/$d-$x" --json "$XD/$d-$x.json"
  done
fi

# the PyTorch yardstick on the same card
YS="$OUTDIR/yardstick"
mkdir -p "$YS"
rm -f "$YS"/*.json
if [[ "${GPU_CHECK_YARDSTICK:-1}" == 0 ]]; then
  skip_step yardstick "GPU_CHECK_YARDSTICK=0"
elif [[ "$DEV" == cuda ]] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  for mode in amp fp32; do
    run_step "yardstick-$mode" 150 python3 "$repo/scripts/torch-yardstick.py" $([[ $mode == amp ]] && echo --amp) \
      && grep '^{' "$OUTDIR/logs/yardstick-$mode.log" | tail -1 > "$YS/$mode.json"
  done
elif [[ "$DEV" == cpu ]] && python3 -c 'import torch' 2>/dev/null; then
  for mode in amp fp32; do  # plumbing only: a few steps of small images on the CPU
    run_step "yardstick-$mode" 150 python3 "$repo/scripts/torch-yardstick.py" --device cpu --steps 2 --warmup 1 \
      --height 64 --width 32 --p 4 $([[ $mode == amp ]] && echo --amp) \
      && grep '^{' "$OUTDIR/logs/yardstick-$mode.log" | tail -1 > "$YS/$mode.json"
  done
else
  skip_step yardstick "python3 has no torch$([[ $DEV == cuda ]] && echo " with CUDA")"
fi

echo "== summary"
python3 - "$OUTDIR" "$WORK" "$DEV" "$CARD" "$STEPS" "$AMP_EPOCHS" "$(( $(date +%s) - T0 ))" "${GPU_CHECK_SET:-}" <<'PY'
import json, math, os, sys
out, work, dev, card, steps_file, amp_epochs, seconds, extra = sys.argv[1:9]
amp_epochs = int(amp_epochs)
runs = os.path.join(work, "runs")

def load_json(p):
    try:
        with open(p) as f:
            return json.load(f)
    except Exception:
        return None

def metrics(name):
    rows = []
    try:
        with open(os.path.join(runs, name, "metrics.jsonl")) as f:
            rows = [json.loads(l) for l in f if l.strip()]
    except Exception:
        pass
    return rows

def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None

report = {"card": card, "device": dev, "extra_options": extra, "seconds": int(seconds), "runs": {}, "checks": {},
          "steps": []}
for line in open(steps_file):
    name, st, dt, rc = line.rstrip("\n").split("\t")
    report["steps"].append({"step": name, "status": st, "seconds": int(dt), "detail": rc})
ab = any(s["step"] == "train-amp-ref" for s in report["steps"])
ab_dev = any(s["step"] == "train-amp-dev" for s in report["steps"])
xbm_run = any(s["step"] == "train-amp-xbm" for s in report["steps"])
ab32 = any(s["step"] == "train-fp32-ref" for s in report["steps"])
run_list = [("amp", dev, True)] + ([("amp-ref", dev, True)] if ab else []) + ([("amp-dev", dev, True)] if ab_dev else []) \
    + ([("amp-xbm", dev, True)] if xbm_run else []) \
    + [("fp32", dev, False)] + ([("fp32-ref", dev, False)] if ab32 else []) + [("cpu", "cpu", False)]
for name, device, amp in run_list:
    rows, summ = metrics(name), load_json(os.path.join(runs, name, "summary.json"))
    if name == "amp":
        rows = [r for r in rows if r.get("epoch", 0) <= amp_epochs]  # without the resumed epoch
    losses = [num(r.get("loss")) for r in rows]
    ev = [r for r in rows if num(r.get("mAP")) is not None]
    report["runs"][name] = {
        "device": device, "amp": amp and device == "cuda", "epochs": len(rows),
        "images_per_second": num(rows[-1].get("images_per_second")) if rows else None,
        "losses": losses, "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
        "rank1": num(ev[-1].get("rank1")) if ev else (num(summ.get("rank1")) if summ else None),
        "mAP": num(ev[-1].get("mAP")) if ev else (num(summ.get("mAP")) if summ else None),
        "summary_images_per_second": num(summ.get("images_per_second")) if summ else None,
        "summary_device": summ.get("device") if summ else None,
        "adam_multi_tensor_kernels": summ.get("adam_multi_tensor_kernels") if summ else None,
        "checkpoints": summ.get("checkpoints") if summ else None,
        "amp_state_on_device": summ.get("amp_state_on_device") if summ else None,
        "amp_skipped_steps": summ.get("amp_skipped_steps") if summ else None,
        "amp_loss_scale": summ.get("amp_loss_scale") if summ else None,
    }

def check(name, ok, detail):
    report["checks"][name] = {"pass": bool(ok), "detail": detail}

skipped_runs = {s["step"][len("train-"):] for s in report["steps"] if s["status"] == "skipped"}
for name in [n for n, _, _ in run_list if n != "cpu" and n not in skipped_runs]:
    r = report["runs"][name]
    fl, ll = r["first_loss"], r["last_loss"]
    check(f"{name}_loss_falls", fl is not None and ll is not None and r["epochs"] >= 2 and ll < fl,
          f"first {fl}, last {ll}, {r['epochs']} epochs")
    check(f"{name}_on_{dev}", r["summary_device"] == dev, f"summary.json device {r['summary_device']}")
for name in [n for n, _, _ in run_list if n not in skipped_runs]:
    r = report["runs"][name]
    check(f"{name}_evaluated", r["rank1"] is not None and r["mAP"] is not None, f"R1 {r['rank1']}, mAP {r['mAP']}")
resumed = metrics("amp")
summ = load_json(os.path.join(runs, "amp", "summary.json"))
if any(s["step"] == "resume" and s["status"] != "skipped" for s in report["steps"]):
    last_epoch = resumed[-1].get("epoch") if resumed else None
    check("resume_continues", last_epoch == amp_epochs + 1 and summ is not None and summ.get("epochs") == amp_epochs + 1,
          f"last metrics epoch {last_epoch}, summary epochs {summ.get('epochs') if summ else None}, expected {amp_epochs + 1}")
    report["runs"]["amp"]["resumed_epoch_images_per_second"] = num(resumed[-1].get("images_per_second")) if resumed else None
xd = os.path.join(work, "cross-device")
a, b = load_json(os.path.join(xd, "cpu-a.json")), load_json(os.path.join(xd, f"{dev}-b.json"))
if any(s["step"].startswith("extract") and s["status"] != "skipped" for s in report["steps"]):
    ma, mb = (num(a.get("mAP")) if a else None), (num(b.get("mAP")) if b else None)
    report["cross_device"] = {"cpu_mAP": ma, f"{dev}_mAP": mb, "cpu_rank1": a.get("rank1") if a else None,
                              f"{dev}_rank1": b.get("rank1") if b else None}
    check("cross_device_mAP", ma is not None and mb is not None and abs(ma - mb) < 0.005, f"cpu {ma}, {dev} {mb}")
ys = {}
for mode in ("amp", "fp32"):
    y = load_json(os.path.join(out, "yardstick", f"{mode}.json"))
    if y:
        ys[mode] = y
report["yardstick"] = ys
ratios = {}
for mode, run in [("amp", "amp"), ("amp", "amp-ref"), ("amp", "amp-dev"), ("amp", "amp-xbm"), ("fp32", "fp32"),
                  ("fp32", "fp32-ref")]:
    if run not in report["runs"]:
        continue
    r4 = report["runs"][run]["images_per_second"]
    pt = num(ys.get(mode, {}).get("images_per_second"))
    ratios[run] = r4 / pt if r4 and pt else None
report["reid4j_over_pytorch"] = ratios
failed_steps = [s["step"] for s in report["steps"] if s["status"] == "FAILED"]
report["failed_steps"] = failed_steps
report["pass"] = not failed_steps and all(c["pass"] for c in report["checks"].values())

def f(x, fmt):
    return format(x, fmt) if isinstance(x, (int, float)) else "-"

print(f"   card: {card}")
print(f"   {'run':<7} {'device':<6} {'amp':<5} {'epochs':>6} {'img/s':>8} {'loss first':>10} {'loss last':>9} {'R1':>7} {'mAP':>7}  {'PyTorch img/s':>13} {'reid4j/PT':>9}")
for name, _, _ in run_list:
    r = report["runs"][name]
    pt = num(ys.get(name.split("-")[0], {}).get("images_per_second")) if name != "cpu" else None
    ratio = ratios.get(name) if name != "cpu" else None
    print(f"   {name:<7} {r['device']:<6} {str(r['amp']).lower():<5} {r['epochs']:>6} {f(r['images_per_second'], '.1f'):>8} "
          f"{f(r['first_loss'], '.4f'):>10} {f(r['last_loss'], '.4f'):>9} {f(r['rank1'], '.4f'):>7} {f(r['mAP'], '.4f'):>7}"
          f"  {f(pt, '.1f'):>13} {f(ratio * 100 if ratio else None, '.1f') + ('%' if ratio else ''):>9}")
for name, _, _ in run_list:
    c = report["runs"][name].get("checkpoints")
    if c:
        print(f"   {name:<7} checkpoints {'in the background' if c.get('background') else 'at once'}: "
              f"{f(c.get('training_thread_seconds'), '.2f')} s of the training thread over {c.get('saves')} saves, "
              f"final wait {f(c.get('final_wait_seconds'), '.2f')} s")
for name, _, _ in run_list:
    r = report["runs"][name]
    if r.get("amp_skipped_steps") is not None:
        print(f"   {name:<7} AMP: {r['amp_skipped_steps']} steps skipped, final loss scale {f(r['amp_loss_scale'], '.0f')}, "
              f"state {'on the device' if r.get('amp_state_on_device') else 'read by the host every step'}")
if "cross_device" in report:
    print("   cross-device mAP: " + ", ".join(f"{k} {f(v, '.4f')}" for k, v in report["cross_device"].items()))
for name, c in report["checks"].items():
    print(f"   {'PASS' if c['pass'] else 'FAIL'}  {name}: {c['detail']}")
for s in report["steps"]:
    if s["status"] != "ok":
        print(f"   {s['status']:<7} step {s['step']}: {s['detail']}")
with open(os.path.join(out, "gpu-train-check.json.tmp"), "w") as fh:
    json.dump(report, fh, indent=1)
os.replace(os.path.join(out, "gpu-train-check.json.tmp"), os.path.join(out, "gpu-train-check.json"))
print(f"   wrote {os.path.join(out, 'gpu-train-check.json')} ({seconds} s in all)")
sys.exit(0 if report["pass"] else 1)
PY
py=$?
[[ $py -ne 0 ]] && status=1
if [[ $status -eq 0 ]]; then echo "== gpu-train-check: OK"; else echo "== gpu-train-check: FAILED"; fi
exit "$status"
