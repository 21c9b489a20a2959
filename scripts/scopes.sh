#!/usr/bin/env bash
# Alignment scopes on the dial: rerun gradient alignment of a finished demo run in other
# scopes (same model, same paraphrases), join each with the run's baselines and report
# its dose-response. Each scope writes <RUN_DIR>/scopes/<scope>/ (alignment.jsonl,
# scores.jsonl, metrics.json/csv, dose_response.png); a summary table ends the output.
# PARAPHRASES picks the near-duplicates: the run's generated ones (default) or, as a
# control independent of the paraphraser, the corpus' reference near-duplicates
# (PARAPHRASES=<run_dir>/corpus/eval.jsonl OUT=<run_dir>/scopes_reference).
#   RUN_DIR=lightning_logs/demo SCOPES="head layers:1 layers:2 full" bash scripts/scopes.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${RUN_DIR:-lightning_logs/demo}
PY=${PY:-$ROOT/.venv/bin/python}
SCOPES=${SCOPES:-"head layers:1 layers:2 full"}
N_RESAMPLES=${N_RESAMPLES:-1000}
PARAPHRASES=${PARAPHRASES:-$RUN_DIR/paraphrases.jsonl}
OUT=${OUT:-$RUN_DIR/scopes}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=${WANDB_MODE:-offline}
for f in "$RUN_DIR/model/config.json" "$PARAPHRASES" "$RUN_DIR/baselines.jsonl"; do
  [ -e "$f" ] || { echo "paramem: error: $f missing: run the demo first (make demo)" >&2; exit 2; }
done
dirs=()
for spec in $SCOPES; do
  scope=${spec%%:*}
  n_layers=1
  [ "$spec" != "$scope" ] && n_layers=${spec#*:}
  out=$OUT/${spec/:/-}
  dirs+=("$out")
  echo "=== scope $spec -> $out"
  "$PY" -m paramem predict --config "$ROOT/configs/align/tiny.yaml" --run_dir "$out" --trainer.logger false \
    --trainer.enable_progress_bar false --model.init_args.model "$RUN_DIR/model" \
    --model.init_args.scope "$scope" --model.init_args.n_layers "$n_layers" \
    --data.init_args.source.init_args.path "$PARAPHRASES"
  "$PY" -c 'import sys; from paramem.score.join import write_scores; write_scores(*sys.argv[1:4])' \
    "$RUN_DIR/baselines.jsonl" "$out/alignment.jsonl" "$out/scores.jsonl"
  "$PY" -m paramem report --scores "[$out/scores.jsonl]" --out_dir "$out" --n_resamples "$N_RESAMPLES" > "$out/report.txt"
done
"$PY" - "${dirs[@]}" <<'EOF'
import json, sys
from pathlib import Path
from paramem.report.dose import format_dose_table

for d in map(Path, sys.argv[1:]):
    metrics = json.loads((d / "metrics.json").read_text())
    methods = [m for m in ("align_cosine", "calibrated/align_cosine", "align_inner", "calibrated/align_inner")
               if m in metrics["all"]]
    print(f"\nscope {d.name}\n" + format_dose_table(metrics, methods=methods))
EOF
