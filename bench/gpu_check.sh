#!/usr/bin/env bash
# Every GPU benchmark in one go, on random-init pythia-shaped models:
#   alignment   pythia-2.8b (and 160m): 256-token texts, K=3, batch 16  (target: Gram <= 1.15x forward)
#   decoding    pythia-2.8b: decoder fast vs hf (bench/decode_bench.py), 512-token prompt, 256 new
#               tokens, batch 16: beam 3 x 3 soft sampling and greedy (target: fast <= 0.25 s/sample)
#   generation  pythia-2.8b: 512-token prompt, 256 new tokens, beam 3 x 3 soft sampling, batch 16,
#               through ParaphraseGenerator.process (decoder: fast, the default)
#   demo-real   `make demo-real` end to end, when the Makefile has it (its time)
#   baselines   pythia-2.8b and pythia-160m: BaselineScorer.process throughput
# Under 10 minutes on one H100/H200: each benchmark has its own timeout, capped by what is
# left of the total budget, so one slow part cannot eat the rest.
#
#   bash bench/gpu_check.sh          # GPU (falls back to --cpu when CUDA is unavailable)
#   bash bench/gpu_check.sh --cpu    # tiny shapes on CPU, < 3 min: tests this script
#
# Output: a table on stdout; logs, JSONs and summary.md under $OUT/gpu_check when $OUT is
# set, else bench/out/gpu_check. BUDGET_S overrides the total budget (seconds).
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python; fi
fi

MODE=gpu
if [[ "${1:-}" == "--cpu" ]]; then
  MODE=cpu
elif ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "[gpu_check] no CUDA device: running the --cpu variant"
  MODE=cpu
fi

DEST="${OUT:-bench/out}/gpu_check"
mkdir -p "$DEST"
rm -f "$DEST"/*.json "$DEST"/*.log "$DEST/status.txt" "$DEST/summary.md"
STATUS="$DEST/status.txt"
: > "$STATUS"

if [[ $MODE == gpu ]]; then BUDGET=${BUDGET_S:-560}; else BUDGET=${BUDGET_S:-200}; fi
T0=$(date +%s)

# run NAME LIMIT_S CMD...: run with min(LIMIT_S, time left) seconds; never aborts the script.
run() {
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - T0) ))
  if (( left < 20 )); then
    echo "[gpu_check] $name: skipped (budget spent)"; echo "$name skipped-budget" >> "$STATUS"; return 0
  fi
  (( limit > left )) && limit=$left
  echo "[gpu_check] $name (limit ${limit}s): $*"
  local t=$(date +%s) rc=0
  timeout --kill-after=15 "$limit" "$@" > "$DEST/$name.log" 2>&1 || rc=$?
  local dt=$(( $(date +%s) - t ))
  if (( rc == 0 )); then
    echo "$name ok ${dt}s" >> "$STATUS"
  elif (( rc == 124 || rc == 137 )); then
    echo "$name timeout ${dt}s" >> "$STATUS"
  else
    echo "$name failed-rc$rc ${dt}s" >> "$STATUS"
  fi
  tail -n 8 "$DEST/$name.log" | sed 's/^/    /'
  echo "    -> $(tail -n 1 "$STATUS")"
}

if [[ $MODE == gpu ]]; then
  "$PY" -c 'import torch; print("[gpu_check]", torch.cuda.get_device_name(), torch.__version__)'
  nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>/dev/null || true
  DEV=(--device cuda --dtype bf16)
  "$PY" -c 'import vllm; print("[gpu_check] vllm", vllm.__version__)' 2>/dev/null || echo "[gpu_check] vllm: not installed"
  run decode_2p8b 200 "$PY" bench/decode_bench.py --shape pythia-2.8b "${DEV[@]}" --modes beam_soft,greedy \
      --prompt-tokens 500 --new-tokens 256 --batch-size 16 --repeats 1 --json "$DEST/decode_2p8b.json"
  run align_2p8b 150 "$PY" bench/align_bench.py --shape pythia-2.8b "${DEV[@]}" --seq-len 256 --k 3 \
      --batch-size 16 --n-samples 64 --n-ref-samples 2 --repeats 2 --json "$DEST/align_2p8b.json"
  run generate_2p8b 220 "$PY" bench/generate_bench.py --shape pythia-2.8b "${DEV[@]}" --prompt-tokens 512 \
      --new-tokens 256 --batch-size 16 --n-samples 16 --n-samples-b1 2 --n-paramem-b1 1 --repeats 1 \
      --json "$DEST/generate_2p8b.json"
  run baselines_2p8b 120 "$PY" bench/baselines_bench.py --shape pythia-2.8b "${DEV[@]}" --seq-len 256 --k 3 \
      --batch-size 16 --n-samples 64 --repeats 2 --json "$DEST/baselines_2p8b.json"
  run baselines_160m 90 "$PY" bench/baselines_bench.py --shape pythia-160m "${DEV[@]}" --seq-len 256 --k 3 \
      --batch-size 16 --n-samples 64 --repeats 2 --json "$DEST/baselines_160m.json"
  run align_160m 90 "$PY" bench/align_bench.py --shape pythia-160m "${DEV[@]}" --seq-len 256 --k 3 \
      --batch-size 16 --n-samples 64 --n-ref-samples 4 --repeats 2 --json "$DEST/align_160m.json"
  if grep -q '^demo-real:' Makefile; then run demo_real 240 make demo-real; fi
else
  CPU=(--device cpu --threads 1)
  run decode_tiny 60 "$PY" bench/decode_bench.py --shape tiny "${CPU[@]}" --modes beam_soft,greedy \
      --new-tokens 16 --batch-size 4 --repeats 1 --json "$DEST/decode_tiny.json"
  run align_embedded 60 "$PY" bench/align_bench.py --shape embedded "${CPU[@]}" --seq-len 32 --k 3 \
      --batch-size 8 --n-samples 16 --n-ref-samples 4 --repeats 2 --json "$DEST/align_embedded.json"
  run generate_tiny 70 "$PY" bench/generate_bench.py --shape tiny "${CPU[@]}" --batch-size 16 \
      --n-samples 32 --n-samples-b1 8 --repeats 2 --json "$DEST/generate_tiny.json"
  run baselines_tiny 40 "$PY" bench/baselines_bench.py --shape tiny "${CPU[@]}" --n-samples 64 --repeats 2 \
      --json "$DEST/baselines_tiny.json"
fi

echo
echo "[gpu_check] mode=$MODE total $(( $(date +%s) - T0 ))s (budget ${BUDGET}s); status:"
sed 's/^/    /' "$STATUS"
echo
shopt -s nullglob
jsons=("$DEST"/*.json)
"$PY" bench/summarize.py "${jsons[@]}" --status "$STATUS" --md "$DEST/summary.md"
echo
echo "[gpu_check] logs, JSONs and summary.md in $DEST"
# Fail (after writing everything) when any benchmark did not finish.
! grep -qv ' ok ' "$STATUS"
