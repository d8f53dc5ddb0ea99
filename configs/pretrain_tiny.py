"""The CPU smoke run of pretraining: ``tiny`` on 4,000 files of this machine's Python, 200 steps of 16 x (128 + 128) tokens."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from pretrain.pipeline import PretrainData, PretrainLoss


def get_config() -> Experiment:
    return Experiment(
        name="pretrain-tiny", stage="pretrain",
        model=PRESETS["tiny"],
        train=TrainConfig(steps=200, batch_size=16, learning_rate=2e-3, checkpoint_every=100, eval_every=100,
                          log_every=10),
        data=PretrainData(max_files=4000, vocab_size=8000, lengths=(128, 128)),
        loss=PretrainLoss(),
    )
