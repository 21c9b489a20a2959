#!/usr/bin/env bash
# The whole method on the embedded default, each stage through the real CLI, chained in
# one run dir the way a user would: fit -> paraphrase -> align -> baselines + report.
# The model is trained on an exposure stream (members seen 1, 2, 4, 8 or 16 times among
# background text), so the report ends with a dose-response table: AUROC per method and
# exposure.
# Rerunning resumes: finished stages skip their done samples, an existing model is kept.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${RUN_DIR:-lightning_logs/demo}
PY=${PY:-$ROOT/.venv/bin/python}
CFG=$ROOT/configs
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export WANDB_MODE=${WANDB_MODE:-offline}
# Two threads, whatever the machine's cores and load: a float sum in another order changes
# the last bits, training carries that into the AUROCs, and README's figures are from 2.
export PARAMEM_CPU_THREADS=${PARAMEM_CPU_THREADS:-2}
paramem() { "$PY" -m paramem "$@"; }
start=$(date +%s)
say() { printf '\n=== [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

if [ -f "$RUN_DIR/model/config.json" ]; then
  say "model exists in $RUN_DIR/model: keeping it (delete $RUN_DIR to retrain)"
else
  say "1/4 paramem fit: tiny GPT-NeoX on one exposure stream (members x 1, 2, 4, 8, 16 among background text)"
  paramem fit --config "$CFG/fit/tiny.yaml" --run_dir "$RUN_DIR"
fi
say "2/4 paramem predict: near-duplicate paraphrases (beam 3 x 3, soft beam sampling)"
paramem predict --config "$CFG/paraphrase/tiny.yaml" --run_dir "$RUN_DIR"
say "3/4 paramem predict: gradient alignment (head scope, Gram trick)"
paramem predict --config "$CFG/align/tiny.yaml" --run_dir "$RUN_DIR"
say "4/4 paramem predict: MIA baselines, metrics with bootstrap CIs, figures, W&B (ends with the dose-response table)"
paramem predict --config "$CFG/mia/tiny.yaml" --run_dir "$RUN_DIR"

say "done. Outputs in $RUN_DIR:"
for f in model/ train_stream.json paraphrases.jsonl alignment.jsonl baselines.jsonl scores.jsonl metrics.json metrics.csv \
         roc.png histograms.png dose_response.png; do
  printf '  %-18s %s\n' "$f" "$(du -sh "$RUN_DIR/$f" 2>/dev/null | cut -f1)"
done
echo "  logs: lightning_logs/{fit,paraphrase,align,mia}/ (CSV), lightning_logs/wandb/ (offline W&B runs: wandb sync <dir>)"
