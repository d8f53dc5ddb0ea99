"""``alphacode finetune``: problems -> seqio fine-tuning shards -> training from a pretrained checkpoint.

Like pretraining, each stage writes under one work directory and is skipped when complete, so the
same command resumes; the shards carry the examples to machines without TensorFlow.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from alphacode.data import load_shards, read_manifest, write_shards
from alphacode.errors import UserError
from alphacode.lazy import lazy_import
from alphacode.model import ModelConfig, get_config
from alphacode.model.export import load_model, tokenizer_file
from alphacode.problems import split_files
from alphacode.splits import EVALUATION_SPLITS, file_split
from alphacode.train import ArrayBatches, TrainConfig, Trainer, TrainSummary
from finetune.losses import FinetuneLossConfig
from finetune.objective import finetune_loss
from pretrain.pipeline import FULL_LENGTHS

tasks = lazy_import("finetune.tasks")  # seqio and TensorFlow: only while shards are written

TRAIN_LENGTHS = {"tiny": (256, 256), "small": (384, 384)}  # statements are longer than code-file prefixes


def finetune(config: ModelConfig, train_config: TrainConfig, workdir: str | os.PathLike[str], *, data: str | os.PathLike[str],
             tokenizer_model: str | os.PathLike[str], init_params: object | None = None,
             loss_config: FinetuneLossConfig = FinetuneLossConfig(), by_file_name: bool = True,
             say=print) -> TrainSummary:
    """Write the train/valid shards of ``data`` (unless present) and train on them; splits follow the files'
    names in the public CodeContests layout unless ``by_file_name`` is False (then the hash rule)."""
    root = Path(workdir)
    lengths = TRAIN_LENGTHS.get(config.name, FULL_LENGTHS)
    shard_dirs = {split: root / "data" / split for split in ("train", "valid")}
    if not all(read_manifest(d) for d in shard_dirs.values()):
        tasks.register_finetune_task("alphacode_finetune", data, tokenizer_model, by_file_name=by_file_name)
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
                     losses: FinetuneLossConfig = FinetuneLossConfig(),
                     allow_eval_splits: bool = False) -> tuple[TrainSummary, Path]:
    """What ``alphacode finetune`` does: start from ``init`` (a model export such as the bundled model, or a
    pretraining run's ``run/`` directory, with the tokenizer beside it) or a fresh ``config_name`` model, then
    :func:`finetune` in ``workdir``. Data whose files are named as public valid or test files is refused
    unless ``allow_eval_splits`` (then every file is split by the hash rule)."""
    if not Path(data).exists():
        raise UserError(f"{data}: no such file or directory")
    files = split_files(data)
    held_out = [f for split in EVALUATION_SPLITS for f in files.get(split, [])]
    if held_out and "train" not in files and not allow_eval_splits:
        raise UserError(f"{held_out[0]}: named as a public {file_split(held_out[0])}-split file; fine-tuning "
                        f"trains on train-*.parquet files only (pass --allow-eval-splits to train on it anyway)")
    init_params = None
    if init:
        loaded = load_model(init)
        config, init_params = loaded.config, loaded.params
    else:
        config = get_config(config_name)
    tokenizer_model = Path(tokenizer or (tokenizer_file(Path(init)) if init else ""))
    if not tokenizer_model.is_file():
        raise UserError(f"{tokenizer_model}: no tokenizer model; pass --tokenizer (the pretraining run's tokenizer.model)")
    root = Path(workdir or f"runs/finetune-{config.name}")
    train = TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                        warmup_steps=max(1, steps // 10), checkpoint_every=checkpoint_every, eval_every=checkpoint_every)
    summary = finetune(config, train, root, data=data, tokenizer_model=tokenizer_model, init_params=init_params,
                       loss_config=losses, by_file_name=not allow_eval_splits)
    return summary, root
