#!/usr/bin/env bash
# Run a recipe grid: every stage per combination, one run dir each (resumable: rerun the
# same command after a crash). Each stage composes configs/experiments/base/<stage>.yaml
# with the benchmark's small override configs/experiments/<benchmark>/<stage>.yaml.
#   bash scripts/sweep.sh mimir   [extra paramem args, e.g. --trainer.devices 4]
#   bash scripts/sweep.sh wikimia
#   bash scripts/sweep.sh tofu
# MODELS / DOMAINS / SPLITS / LENGTHS env vars narrow the grid. MODELS are the targets; the
# paraphraser is the recipe's instruct model (PARAPHRASER=<hub id or dir> replaces it).
set -euo pipefail
bench=${1:?usage: scripts/sweep.sh mimir|wikimia|tofu [paramem args]}; shift
PY=${PY:-python}
MODELS=${MODELS:-"EleutherAI/pythia-160m EleutherAI/pythia-1.4b EleutherAI/pythia-2.8b"}
DOMAINS=${DOMAINS:-"arxiv dm_mathematics github hackernews pile_cc pubmed_central wikipedia_(en)"}
SPLITS=${SPLITS:-"ngram_13_0.8 ngram_7_0.2"}
LENGTHS=${LENGTHS:-"32 64 128"}
base=configs/experiments/base
cfg=configs/experiments/$bench

stages() {  # run_dir model [source overrides: the paraphrase stage reads the benchmark itself;
            # align and mia read <run_dir>/paraphrases.jsonl]
  local run_dir=$1 model=$2; shift 2
  local paraphraser=()
  [ -n "${PARAPHRASER:-}" ] && paraphraser=(--model.init_args.model "$PARAPHRASER")
  "$PY" -m paramem predict --config "$base/paraphrase.yaml" --config "$cfg/paraphrase.yaml" --run_dir "$run_dir" \
    "${paraphraser[@]}" "$@" "${EXTRA[@]}"
  for stage in align mia; do
    "$PY" -m paramem predict --config "$base/$stage.yaml" --config "$cfg/$stage.yaml" --run_dir "$run_dir" \
      --model.init_args.model "$model" "${EXTRA[@]}"
  done
}
EXTRA=("$@")
case $bench in
  mimir)
    for split in $SPLITS; do for domain in $DOMAINS; do for model in $MODELS; do
      stages "runs/mimir/$split/$domain/${model##*/}" "$model" \
        --data.init_args.source.init_args.domain "$domain" --data.init_args.source.init_args.split "$split"
    done; done; done ;;
  wikimia)
    for length in $LENGTHS; do for model in $MODELS; do
      stages "runs/wikimia/length$length/${model##*/}" "$model" --data.init_args.source.init_args.length "$length"
    done; done ;;
  tofu)
    stages "runs/tofu/forget10/tofu_ft_llama2-7b" "${TOFU_MODEL:-locuslab/tofu_ft_llama2-7b}" ;;
  *) echo "unknown benchmark $bench (mimir, wikimia, tofu)" >&2; exit 2 ;;
esac
