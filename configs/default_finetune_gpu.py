"""The default model's fine-tuning on one accelerator, from ``default-pretrain-gpu`` (bfloat16, cuDNN's fused
attention): batches of 128 x (384 + 512) tokens (512 covers the longest bundled solution) on contest solutions,
docstring functions, checked exercises and test inputs at 1 : 0.5 : 0.5 : 0.25, exported as int8."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from finetune.losses import FinetuneLossConfig
from finetune.pipeline import FinetuneData


def get_config() -> Experiment:
    return Experiment(
        name="default-finetune-gpu", stage="finetune",
        model=PRESETS["base"].replace(dtype="bfloat16", attention="cudnn"),
        train=TrainConfig(seconds=120, batch_size=128, learning_rate=5e-4, max_warmup_steps=100),
        data=FinetuneData(init="runs/default-pretrain-gpu", lengths=(384, 512), max_functions=60000,
                          rates={"contest": 1.0, "functions": 0.5, "exercises": 0.5, "test_inputs": 0.25},
                          export="runs/default-finetune-gpu/export"),
        loss=FinetuneLossConfig(),
    )
