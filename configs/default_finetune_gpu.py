"""The default model's fine-tuning on one accelerator, from ``default-pretrain-gpu``: batches of 128 x
(384 + 384) tokens on the mixture, for the time budget, exported as int8."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from finetune.losses import FinetuneLossConfig
from finetune.pipeline import FinetuneData


def get_config() -> Experiment:
    return Experiment(
        name="default-finetune-gpu", stage="finetune",
        model=PRESETS["small"].replace(dtype="bfloat16"),
        train=TrainConfig(seconds=40, batch_size=128, learning_rate=5e-4, max_warmup_steps=100),
        data=FinetuneData(init="runs/default-pretrain-gpu", lengths=(384, 384), max_functions=60000,
                          export="runs/default-finetune-gpu/export"),
        loss=FinetuneLossConfig(),
    )
