"""The default model's fine-tuning on a CPU (about 30 minutes on 2 cores), from ``default-pretrain-cpu``:
contest solutions, docstring functions, checked exercises and test inputs, encoder/decoder 384/512,
exported as int8."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from finetune.losses import FinetuneLossConfig
from finetune.pipeline import FinetuneData


def get_config() -> Experiment:
    return Experiment(
        name="default-finetune-cpu", stage="finetune",
        model=PRESETS["small"],
        train=TrainConfig(seconds=1800, batch_size=16, learning_rate=5e-4, max_warmup_steps=100),
        data=FinetuneData(init="runs/default-pretrain-cpu", lengths=(384, 512), max_functions=20000,
                          rates={"contest": 1.0, "functions": 0.5, "exercises": 0.5, "test_inputs": 0.25},
                          export="runs/default-finetune-cpu/export"),
        loss=FinetuneLossConfig(),
    )
