"""``alphacode finetune``: problems -> seqio fine-tuning shards -> training from a pretrained checkpoint.

Like pretraining, each stage writes under one work directory and is skipped when complete, so the
same command resumes; the shards carry the examples to machines without TensorFlow.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from alphacode.checkpoint import load_checkpoint
from alphacode.data import load_shards, read_manifest, write_shards
from alphacode.errors import UserError
from alphacode.lazy import lazy_import
from alphacode.model import ModelConfig, get_config
from alphacode.train import ArrayBatches, TrainConfig, Trainer, TrainSummary
from finetune.losses import FinetuneLossConfig
from finetune.objective import finetune_loss
from pretrain.pipeline import FULL_LENGTHS

tasks = lazy_import("finetune.tasks")  # seqio and TensorFlow: only while shards are written

TRAIN_LENGTHS = {"tiny": (256, 256), "small": (384, 384)}  # statements are longer than code-file prefixes


def finetune(config: ModelConfig, train_config: TrainConfig, workdir: str | os.PathLike[str], *, data: str | os.PathLike[str],
             tokenizer_model: str | os.PathLike[str], init_params: object | None = None,
             loss_config: FinetuneLossConfig = FinetuneLossConfig(), say=print) -> TrainSummary:
    """Write the train/valid shards of ``data`` (unless present) and train on them."""
    root = Path(workdir)
    lengths = TRAIN_LENGTHS.get(config.name, FULL_LENGTHS)
    shard_dirs = {split: root / "data" / split for split in ("train", "valid")}
    if not all(read_manifest(d) for d in shard_dirs.values()):
        tasks.register_finetune_task("alphacode_finetune", data, tokenizer_model)
        for split, directory in shard_dirs.items():
            if read_manifest(directory) is None:
                dataset = tasks.finetune_dataset("alphacode_finetune", split, *lengths)
                write_shards(dataset.as_numpy_iterator(), directory, metadata={"data": str(data), "split": split})
    train_arrays, valid_arrays = (load_shards(d) for d in shard_dirs.values())
    say(f"examples: {len(train_arrays['correct'])} train, {len(valid_arrays['correct'])} valid; "
        f"encoder {lengths[0]} / decoder {lengths[1]} tokens")
    loss = functools.partial(finetune_loss, config=loss_config)
    trainer = Trainer(config, train_config, loss, root / "run", init_params=init_params, example_lengths=lengths)
    return trainer.train(ArrayBatches(train_arrays, train_config.batch_size, seed=train_config.seed),
                         ArrayBatches(valid_arrays, train_config.batch_size))


def finetune_command(data: str | os.PathLike[str], workdir: str | os.PathLike[str] | None, *, config_name: str = "tiny",
                     init: str | os.PathLike[str] | None = None, tokenizer: str | os.PathLike[str] | None = None,
                     steps: int, batch_size: int, learning_rate: float, checkpoint_every: int,
                     losses: FinetuneLossConfig = FinetuneLossConfig()) -> tuple[TrainSummary, Path]:
    """What ``alphacode finetune`` does: start from ``init`` (a pretraining run's ``run/`` directory, with the
    tokenizer beside it) or a fresh ``config_name`` model, then :func:`finetune` in ``workdir``."""
    if not Path(data).exists():
        raise UserError(f"{data}: no such file or directory")
    init_params = None
    if init:
        try:
            config, init_params = load_checkpoint(init)
        except FileNotFoundError as err:
            raise UserError(str(err)) from None
    else:
        config = get_config(config_name)
    tokenizer_model = Path(tokenizer or (Path(init) / ".." / "tokenizer.model" if init else ""))
    if not tokenizer_model.is_file():
        raise UserError(f"{tokenizer_model}: no tokenizer model; pass --tokenizer (the pretraining run's tokenizer.model)")
    root = Path(workdir or f"runs/finetune-{config.name}")
    train = TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                        warmup_steps=max(1, steps // 10), checkpoint_every=checkpoint_every, eval_every=checkpoint_every)
    summary = finetune(config, train, root, data=data, tokenizer_model=tokenizer_model, init_params=init_params,
                       loss_config=losses)
    return summary, root
