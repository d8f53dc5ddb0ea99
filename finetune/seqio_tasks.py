"""seqio tasks and the mixture of the fine-tuning examples, for users of seqio (the trainer never imports this).

One task per kind of example (``contest``, ``functions``, ``exercises``, ``test_inputs``), each yielding the rows
:class:`finetune.examples.MixtureRows` builds from that task alone, and a seqio mixture of them at the
experiment's rates. Every example is defined in :mod:`finetune.examples`; nothing is redefined here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import seqio

from alphacode.model.config import MLM_RATE
from finetune.examples import MIXTURE_RATES, MixtureRows, load_task_shards
from pretrain.seqio_tasks import register_rows_task


def register_finetune_tasks(name: str, tasks_dir: str | os.PathLike[str], tokenizer_model: str | os.PathLike[str],
                            batch_size: int, lengths: tuple[int, int], seed: int = 0, mlm_rate: float = MLM_RATE,
                            rates: Mapping[str, float] = MIXTURE_RATES) -> seqio.Mixture:
    """Register ``NAME_TASK`` for each task found under ``tasks_dir`` (``train/TASK``, ``valid/TASK``, as the
    fine-tuning run writes them) and the mixture ``NAME`` of those with a positive rate."""
    found = sorted({task for split in ("train", "valid") for task in load_task_shards(Path(tasks_dir) / split)})
    registered = {}
    for task in found:
        def rows(split: str, task: str = task) -> MixtureRows:
            return MixtureRows(load_task_shards(Path(tasks_dir) / split), {task: 1.0}, batch_size, lengths,
                               seed=seed + (split == "valid"), mlm_rate=mlm_rate)

        registered[task] = register_rows_task(f"{name}_{task}", rows, tokenizer_model, ("train", "valid"),
                                              extra_features=("correct",))
    if name in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove(name)
    return seqio.MixtureRegistry.add(name, [(registered[t].name, rates[t]) for t in found if rates.get(t, 0) > 0])
