"""More fine-tuning for the bundled model on a CPU (300 steps of 16, about 90 minutes on 2 cores): from
``alphacode/default_model`` (pretrained and fine-tuned on an H100), on the 154 contest problems (Python 3 and C++ solutions of the train
split), docstring functions and checked exercises mined from this machine's Python, and test inputs, with
the decoder length (512) covering the bundled solutions so every program is learned up to its EOS."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from alphacode.model.export import DEFAULT_MODEL_DIR
from finetune.losses import FinetuneLossConfig
from finetune.pipeline import FinetuneData


def get_config() -> Experiment:
    return Experiment(
        name="default-continue-cpu", stage="finetune",
        model=PRESETS["small"],
        train=TrainConfig(steps=300, batch_size=16, learning_rate=3e-4, max_warmup_steps=50),
        data=FinetuneData(init=str(DEFAULT_MODEL_DIR), lengths=(384, 512), max_functions=20000,
                          rates={"contest": 1.0, "functions": 0.25, "exercises": 0.25, "test_inputs": 0.25},
                          export="runs/default-continue-cpu/export"),
        loss=FinetuneLossConfig(),
    )
