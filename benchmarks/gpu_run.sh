#!/usr/bin/env bash
# The accelerator run behind README's GPU figures and the bundled default model (needs only jax,
# flax, optax, orbax, sentencepiece, pyarrow and numpy there: no TensorFlow, no Ray).
#
#   benchmarks/gpu_run.sh smoke|full TOKENIZER_MODEL HUMANEVAL_JSONL_GZ OUT_DIR
#
# smoke: versions, the decoding benchmark and a two-minute recipe at toy size, to catch API drift
# before the long run. full: decoding benchmarks, the default-model recipe (preset gpu: the corpus
# of that machine's Python, pretraining and fine-tuning sized by a timed probe), the evaluation
# samples (HumanEval and the contest test split) and the 300m training throughput. The model is
# exported under /tmp/default-model/export and copied to OUT_DIR/model, so a second call on the
# same (warm) machine can draw the samples a timed-out first call did not get to.
# Environment: PRESET (gpu), PRETRAIN_SECONDS, FINETUNE_SECONDS, RECIPE_TIMEOUT, SAMPLES_TIMEOUT,
# TEMPERATURES (0.2,0.4,0.8), HUMANEVAL_SAMPLES (200), CONTEST_SAMPLES (1000; 0 skips), and SKIP_DECODING, SKIP_RECIPE,
# SKIP_THROUGHPUT (set to skip a stage).
set -u
mode=$1 tokenizer=$2 humaneval=$3 out=$4
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$out"
exec > >(tee -a "$out/gpu_run.log") 2>&1
stage() { echo "=== $(date +%T) $*"; }
work=/tmp/default-model
mkdir -p $work && cp "$tokenizer" $work/tokenizer.model
stage versions
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, flax, optax, orbax.checkpoint as o, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())"
if [ "$mode" = smoke ]; then
  stage decoding small; timeout 60 python3 benchmarks/decoding.py --config small --samples 256 --new-tokens 512
  stage recipe smoke; timeout 120 python3 -m finetune.recipe --preset smoke --workdir /tmp/smoke --export "$out/smoke_model"
  stage draw smoke; timeout 60 python3 benchmarks/draw_samples.py --model "$out/smoke_model" --out /tmp/smoke_draw \
    --humaneval-file "$humaneval" --humaneval-samples 8 --temperatures 0.8 --contest-samples 8 --contest-batch 4 --max-tokens 32
  stage done; exit 0
fi
if [ -z "${SKIP_DECODING:-}" ]; then
  stage decoding tiny; timeout 45 python3 benchmarks/decoding.py --config tiny --samples 256 --new-tokens 512
  stage decoding small; timeout 45 python3 benchmarks/decoding.py --config small --samples 256 --new-tokens 512
fi
if [ -z "${SKIP_RECIPE:-}" ]; then
  stage recipe; timeout ${RECIPE_TIMEOUT:-330} python3 -m finetune.recipe --preset ${PRESET:-gpu} --workdir $work \
    --export $work/export --pretrain-seconds ${PRETRAIN_SECONDS:-120} --finetune-seconds ${FINETUNE_SECONDS:-45}
  cat $work/pretrain/metrics.jsonl $work/finetune/metrics.jsonl > "$out/metrics.jsonl" 2>/dev/null
  [ -f $work/export/config.json ] && cp -r $work/export "$out/model"
fi
stage samples; timeout ${SAMPLES_TIMEOUT:-130} python3 benchmarks/draw_samples.py --model $work/export --out "$out" \
  --humaneval-file "$humaneval" --humaneval-samples ${HUMANEVAL_SAMPLES:-200} --temperatures ${TEMPERATURES:-0.2,0.4,0.8} \
  --contest-samples ${CONTEST_SAMPLES:-1000}
if [ -z "${SKIP_THROUGHPUT:-}" ]; then
  stage throughput 300m; timeout 60 python3 benchmarks/train_throughput.py --configs 300m --steps 10 --batch-size 32
fi
stage done
