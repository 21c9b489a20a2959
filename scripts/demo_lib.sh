# Sourced by scripts/demo.sh and scripts/demo_real.sh (after ROOT, RUN_DIR, PY are set): the
# environment both demos run in, a clock that prints the total and the previous stage's time,
# the fit step that keeps an existing model, and the closing list of outputs.
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export WANDB_MODE=${WANDB_MODE:-offline}
# Two threads, whatever the machine's cores and load: a float sum in another order changes
# the last bits, training carries that into the AUROCs, and README's figures are from 2.
export PARAMEM_CPU_THREADS=${PARAMEM_CPU_THREADS:-2}
CFG=$ROOT/configs
paramem() { "$PY" -m paramem "$@"; }
start=$(date +%s)
last=$start
say() {
  local now; now=$(date +%s)
  printf '\n=== [%4ss, previous stage %ss] %s\n' "$(( now - start ))" "$(( now - last ))" "$*"
  last=$now
}

# fit_unless_model "<what the step does>" <paramem fit arguments>
fit_unless_model() {
  local what=$1; shift
  if [ -f "$RUN_DIR/model/config.json" ]; then
    say "model exists in $RUN_DIR/model: keeping it (delete $RUN_DIR to retrain)"
  else
    say "$what"
    paramem fit "$@" --run_dir "$RUN_DIR"
  fi
}

# list_outputs [extra output paths under RUN_DIR]
list_outputs() {
  say "done. Outputs in $RUN_DIR:"
  for f in model/ train_stream.json paraphrases.jsonl alignment.jsonl baselines.jsonl scores.jsonl metrics.json \
           metrics.csv roc.png histograms.png dose_response.png "$@"; do
    printf '  %-18s %s\n' "$f" "$(du -sh "$RUN_DIR/$f" 2>/dev/null | cut -f1)"
  done
  echo "  logs: lightning_logs/{fit,paraphrase,align,mia}/ (CSV), lightning_logs/wandb/ (offline W&B runs: wandb sync <dir>)"
}
