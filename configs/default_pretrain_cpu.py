"""The default model's pretraining from scratch on a CPU (about 75 minutes on 2 cores): ``small`` on 6,000 files
of this machine's Python, encoder/decoder 128/384 with the split point in the first half of each file, as many
steps of 16 as fit the budget. A CPU sees ~30x fewer tokens than an accelerator in the same hour."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from pretrain.pipeline import PretrainData, PretrainLoss


def get_config() -> Experiment:
    return Experiment(
        name="default-pretrain-cpu", stage="pretrain",
        model=PRESETS["small"],
        train=TrainConfig(seconds=4500, batch_size=16, learning_rate=1e-3, max_warmup_steps=200),
        data=PretrainData(max_files=6000, vocab_size=8000, lengths=(128, 384), prefix_fraction=0.5),
        loss=PretrainLoss(),
    )
