"""The default model's pretraining on one accelerator (H100/H200): ``base`` (22.6M parameters, d_model 512) in
bfloat16 with cuDNN's fused attention, on this machine's Python and C++ headers, batches of 256 x (192 + 512)
tokens with the split point in the first half of each file (most tokens under the decoder's loss), for as many
steps as fit the budget. Each file keeps its first 2,048 tokens, so the pre-tokenized shards (16.8 MiB for
24,760 files) travel with the accelerator run (benchmarks/gpu_run.sh) and the chip never waits on tokenizing."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from pretrain.pipeline import PretrainData, PretrainLoss


def get_config() -> Experiment:
    return Experiment(
        name="default-pretrain-gpu", stage="pretrain",
        model=PRESETS["base"].replace(dtype="bfloat16", attention="cudnn"),
        train=TrainConfig(seconds=270, batch_size=256, learning_rate=2e-3, max_warmup_steps=200),
        data=PretrainData(max_files=40000, vocab_size=8000, lengths=(192, 512), prefix_fraction=0.5,
                          max_file_tokens=2048),
        loss=PretrainLoss(),
    )
