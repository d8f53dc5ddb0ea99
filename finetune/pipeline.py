"""``alphacode finetune``: problems -> seqio fine-tuning shards -> training from a pretrained checkpoint.

Like pretraining, each stage writes under one work directory and is skipped when complete, so the
same command resumes; the shards carry the examples to machines without TensorFlow.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from alphacode.model import ModelConfig
from alphacode.train import TrainConfig, TrainSummary
from finetune.losses import FinetuneLossConfig
from pretrain.pipeline import FULL_LENGTHS

TRAIN_LENGTHS = {"tiny": (256, 256), "small": (384, 384)}  # statements are longer than code-file prefixes


def finetune(config: ModelConfig, train_config: TrainConfig, workdir: str | os.PathLike[str], *, data: str | os.PathLike[str],
             tokenizer_model: str | os.PathLike[str], init_params: object | None = None,
             loss_config: FinetuneLossConfig = FinetuneLossConfig(), say=print) -> TrainSummary:
    """Write the train/valid shards of ``data`` (unless present) and train on them."""
    from alphacode.data import load_shards, read_manifest, write_shards
    from alphacode.train import ArrayBatches, Trainer
    from finetune.objective import finetune_loss

    root = Path(workdir)
    lengths = TRAIN_LENGTHS.get(config.name, FULL_LENGTHS)
    shard_dirs = {split: root / "data" / split for split in ("train", "valid")}
    if not all(read_manifest(d) for d in shard_dirs.values()):
        from finetune.tasks import finetune_dataset, register_finetune_task

        register_finetune_task("alphacode_finetune", data, tokenizer_model)
        for split, directory in shard_dirs.items():
            if read_manifest(directory) is None:
                dataset = finetune_dataset("alphacode_finetune", split, *lengths)
                write_shards(dataset.as_numpy_iterator(), directory, metadata={"data": str(data), "split": split})
    train_arrays, valid_arrays = (load_shards(d) for d in shard_dirs.values())
    say(f"examples: {len(train_arrays['correct'])} train, {len(valid_arrays['correct'])} valid; "
        f"encoder {lengths[0]} / decoder {lengths[1]} tokens")
    loss = functools.partial(finetune_loss, config=loss_config)
    trainer = Trainer(config, train_config, loss, root / "run", init_params=init_params, example_lengths=lengths)
    return trainer.train(ArrayBatches(train_arrays, train_config.batch_size, seed=train_config.seed),
                         ArrayBatches(valid_arrays, train_config.batch_size))
