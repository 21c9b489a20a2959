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
# shellcheck source=scripts/demo_lib.sh
source "$ROOT/scripts/demo_lib.sh"

fit_unless_model "1/4 paramem fit: tiny GPT-NeoX on one exposure stream (members x 1, 2, 4, 8, 16 among background text)" \
  --config "$CFG/fit/tiny.yaml"
say "2/4 paramem predict: near-duplicate paraphrases (beam 3 x 3, soft beam sampling)"
paramem predict --config "$CFG/paraphrase/tiny.yaml" --run_dir "$RUN_DIR"
say "3/4 paramem predict: gradient alignment (head scope, Gram trick)"
paramem predict --config "$CFG/align/tiny.yaml" --run_dir "$RUN_DIR"
say "4/4 paramem predict: MIA baselines, metrics with bootstrap CIs, figures, W&B (ends with the dose-response table)"
paramem predict --config "$CFG/mia/tiny.yaml" --run_dir "$RUN_DIR"

list_outputs
