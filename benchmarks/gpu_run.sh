#!/usr/bin/env bash
# The accelerator run behind the default model and the GPU figures, through the same experiments and commands as
# on any machine (needs jax, flax, optax, orbax, sentencepiece, numpy, pyarrow there; no TensorFlow, no Ray).
#
#   benchmarks/gpu_run.sh smoke|full DATA_DIR HUMANEVAL_JSONL_GZ OUT_DIR
#
# DATA_DIR is made here beforehand, so the accelerator never tokenizes (it must stay under the 64 MiB a call
# may carry; about 12,000 files of this machine's Python fit):
#   alphacode pretrain --experiment default-pretrain-gpu --prepare-only --workdir DATA_DIR/pretrain --set data.max_files=12000
#   alphacode finetune --experiment default-finetune-gpu --prepare-only --workdir DATA_DIR/finetune --set data.init=DATA_DIR/pretrain
#   rm -r DATA_DIR/pretrain/corpus
# smoke: versions, the decoding benchmark and both experiments at toy size (a few steps), to catch API drift
# before the long run. full: the training throughput (default experiment and 300m), pretraining and fine-tuning
# for their time budgets, the int8 export (OUT_DIR/model) and the evaluation samples. Environment:
# PRETRAIN_SECONDS (270), FINETUNE_SECONDS (40), TEMPERATURES (0.2,0.8), HUMANEVAL_SAMPLES (200),
# CONTEST_SAMPLES (1000; 0 skips), SKIP_THROUGHPUT, SKIP_TRAINING (set to skip a stage).
set -u
mode=$1 data=$2 humaneval=$3 out=$4
python=${PYTHON:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$out"
exec > >(tee -a "$out/gpu_run.log") 2>&1
stage() { echo "=== $(date +%T) $*"; }
work=/tmp/default-model
carried=(--set "data.tokens=$data/pretrain/tokens" --set "data.tokenizer=$data/pretrain/tokenizer.model")
tuning=(--set "data.init=$work/pretrain" --set "data.tokenizer=$data/pretrain/tokenizer.model" --set "data.export=$work/export")
stage versions
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
$python -c "import jax, flax, optax, orbax.checkpoint, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())"
mkdir -p $work/finetune && cp -r "$data/finetune/tasks" $work/finetune/
if [ "$mode" = smoke ]; then
  toy=(--set train.seconds=none --set train.steps=4 --set train.batch_size=8)
  stage decoding small; timeout 60 $python benchmarks/decoding.py --config small --samples 64 --new-tokens 128
  stage pretrain smoke; timeout 180 $python -m alphacode.cli pretrain --experiment default-pretrain-gpu --workdir $work/pretrain "${carried[@]}" "${toy[@]}"
  stage finetune smoke; timeout 180 $python -m alphacode.cli finetune --experiment default-finetune-gpu --workdir $work/finetune "${tuning[@]}" "${toy[@]}"
  stage done; exit 0
fi
if [ -z "${SKIP_THROUGHPUT:-}" ]; then
  stage throughput; timeout 240 $python benchmarks/train_throughput.py --experiments default-pretrain-gpu,300m --steps 20
fi
if [ -z "${SKIP_TRAINING:-}" ]; then
  stage pretrain; timeout $(( ${PRETRAIN_SECONDS:-270} + 120 )) $python -m alphacode.cli pretrain --experiment default-pretrain-gpu \
    --workdir $work/pretrain "${carried[@]}" --set train.seconds=${PRETRAIN_SECONDS:-270}
  stage finetune; timeout $(( ${FINETUNE_SECONDS:-40} + 120 )) $python -m alphacode.cli finetune --experiment default-finetune-gpu \
    --workdir $work/finetune "${tuning[@]}" --set train.seconds=${FINETUNE_SECONDS:-40}
  cp $work/pretrain/metrics.jsonl "$out/pretrain_metrics.jsonl"; cp $work/finetune/metrics.jsonl "$out/finetune_metrics.jsonl"
  [ -f $work/export/config.json ] && cp -r $work/export "$out/model"
fi
stage samples; timeout 150 $python benchmarks/draw_samples.py --model $work/export --out "$out" \
  --humaneval-file "$humaneval" --humaneval-samples ${HUMANEVAL_SAMPLES:-200} --temperatures ${TEMPERATURES:-0.2,0.8} \
  --contest-samples ${CONTEST_SAMPLES:-1000}
stage done
