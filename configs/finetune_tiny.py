"""The CPU smoke run of fine-tuning: ``tiny`` from the ``pretrain-tiny`` run, 200 steps of 16 x (256 + 256) tokens
on the default mixture: the contest problems' train split, the corpus' docstring functions and the exercises among
them whose examples pass, and the test-input task."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from finetune.losses import FinetuneLossConfig
from finetune.pipeline import FinetuneData


def get_config() -> Experiment:
    return Experiment(
        name="finetune-tiny", stage="finetune",
        model=PRESETS["tiny"],
        train=TrainConfig(steps=200, batch_size=16, learning_rate=1e-3, checkpoint_every=100, eval_every=100,
                          log_every=10),
        data=FinetuneData(problems="data/contest", init="runs/pretrain-tiny", lengths=(256, 256)),
        loss=FinetuneLossConfig(),
    )
