"""seqio tasks over the training examples, for users of seqio (the trainer never imports this module).

A task's examples are the rows the trainer's numpy batches hold (:mod:`pretrain.examples`,
:mod:`finetune.examples`), yielded one by one in batch order: model features, already tokenized, so
``get_dataset(..., feature_converter=seqio.PassThroughFeatureConverter())`` gives them unchanged.
Nothing about an example is defined here; this module only presents the one definition through seqio.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for our users

import numpy as np  # noqa: E402
import seqio  # noqa: E402
import tensorflow as tf  # noqa: E402

from alphacode.data import FEATURES, RecordShards  # noqa: E402
from alphacode.model.config import MLM_RATE
from pretrain.examples import PretrainRows  # noqa: E402


def register_rows_task(name: str, rows_of_split: Callable[[str], Any], tokenizer_model: str | os.PathLike[str],
                       splits: Iterable[str], extra_features: Iterable[str] = ()) -> seqio.Task:
    """Register (or replace) the task ``name`` whose split ``s`` yields the rows of ``rows_of_split(s)`` (an
    object with ``row(step, r)`` and ``batch_size``), step after step, each as model features."""
    vocabulary = seqio.SentencePieceVocabulary(str(tokenizer_model))
    names = (*FEATURES, *extra_features)

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        rows = rows_of_split(split)

        def generate() -> Iterable[dict[str, np.ndarray]]:
            for step in itertools.count():
                for r in range(rows.batch_size):
                    yield rows.row(step, r)

        return tf.data.Dataset.from_generator(
            generate, output_signature={k: tf.TensorSpec([None], tf.int32) for k in names})

    token = seqio.Feature(vocabulary, add_eos=False, required=False)
    flag = seqio.Feature(seqio.PassThroughVocabulary(2), add_eos=False, required=False)
    output_features = {k: token if k.endswith("tokens") else flag for k in names}
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    return seqio.TaskRegistry.add(name, source=seqio.FunctionDataSource(dataset_fn, splits=tuple(splits)),
                                  preprocessors=[], output_features=output_features)


def register_pretraining_task(name: str, tokens_dir: str | os.PathLike[str], tokenizer_model: str | os.PathLike[str],
                              batch_size: int, lengths: tuple[int, int], seed: int = 0, mlm_rate: float = MLM_RATE,
                              prefix_fraction: float = 1.0) -> seqio.Task:
    """The pretraining examples of a record shard directory (``train/``, ``valid/``), as :class:`PretrainRows`
    builds them for batches of ``batch_size`` (the valid split uses ``seed + 1``, as the trainer does)."""
    def rows(split: str) -> PretrainRows:
        return PretrainRows(RecordShards(os.path.join(tokens_dir, split)), batch_size, lengths,
                            seed=seed + (split == "valid"), mlm_rate=mlm_rate, prefix_fraction=prefix_fraction)

    return register_rows_task(name, rows, tokenizer_model, ("train", "valid"))


def examples(task: seqio.Task, split: str, count: int) -> list[Mapping[str, np.ndarray]]:
    """The first ``count`` examples of a task's split, as numpy."""
    dataset = task.get_dataset(sequence_length=None, split=split, shuffle=False)
    return list(dataset.take(count).as_numpy_iterator())
