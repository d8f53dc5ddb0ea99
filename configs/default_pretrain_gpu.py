"""The default model's pretraining on one accelerator (H100/H200): ``small`` in bfloat16 on 40,000 files,
batches of 256 x (256 + 256) tokens for as many steps as fit the budget. Carry pre-tokenized shards with
``--set data.tokens=DIR --set data.tokenizer=DIR/../tokenizer.model`` so the chip never waits on tokenizing."""

from alphacode.config import Experiment, TrainConfig
from alphacode.model.config import PRESETS
from pretrain.pipeline import PretrainData, PretrainLoss


def get_config() -> Experiment:
    return Experiment(
        name="default-pretrain-gpu", stage="pretrain",
        model=PRESETS["small"].replace(dtype="bfloat16"),
        train=TrainConfig(seconds=270, batch_size=256, learning_rate=2e-3, max_warmup_steps=200),
        data=PretrainData(max_files=40000, vocab_size=8000, lengths=(256, 256)),
        loss=PretrainLoss(),
    )
