"""seqio tasks for pretraining: AlphaCode's random-split objective with encoder MLM masking.

Each corpus file is tokenized and split at a uniformly random point. The prefix (its last
``inputs`` tokens) goes to the encoder with a fraction of the tokens replaced by ``MASK_ID``; the
rest (its first ``targets`` tokens, then EOS) is the decoder's target. :class:`MLMFeatureConverter`
turns these into the encoder-decoder's model features, which :func:`write_pretraining_shards` saves
as pre-tokenized shards (:mod:`alphacode.data`) for training on any machine.

This module imports TensorFlow and seqio; the trainer never imports it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for our users

import seqio  # noqa: E402
import tensorflow as tf  # noqa: E402

from alphacode.data import write_shards  # noqa: E402
from alphacode.model.config import BOS_ID, MASK_ID, PAD_ID  # noqa: E402
from pretrain.corpus import HELDOUT_FRACTION, is_heldout, iter_corpus  # noqa: E402

SPLITS = ("train", "valid")


def corpus_texts(corpus_dir: str | os.PathLike[str], split: str) -> Iterator[str]:
    """File contents of one split: a stable hash of the path holds out ``HELDOUT_FRACTION`` for the valid split."""
    for source in iter_corpus(corpus_dir):
        if is_heldout(source.path, HELDOUT_FRACTION) == (split == "valid"):
            yield source.content


def _as_targets(dataset: tf.data.Dataset) -> tf.data.Dataset:
    return dataset.map(lambda text: {"targets": text}, num_parallel_calls=tf.data.AUTOTUNE)


def mask_tokens(tokens: tf.Tensor, seed: tf.Tensor, mlm_rate: float) -> tf.Tensor:
    """Replace a seeded ``mlm_rate`` share of ``tokens`` with ``MASK_ID`` (the encoder's MLM input)."""
    masked = tf.random.stateless_uniform(tf.shape(tokens), seed=seed) < mlm_rate
    return tf.where(masked, tf.constant(MASK_ID, tokens.dtype), tokens)


@seqio.map_over_dataset(num_seeds=2)
def _split_and_mask(features: Mapping[str, tf.Tensor], seeds: tf.Tensor, encoder_length: int,
                    mlm_rate: float) -> dict[str, tf.Tensor]:
    tokens = features["targets"]
    n = tf.size(tokens)
    split = tf.random.stateless_uniform([], seed=seeds[0], minval=1, maxval=tf.maximum(n, 2), dtype=tf.int32)
    split = tf.minimum(split, n)
    prefix = tokens[:split][-encoder_length:]
    return {"inputs": mask_tokens(prefix, seeds[1], mlm_rate), "mlm_targets": prefix, "targets": tokens[split:]}


def random_split_and_mask(dataset: tf.data.Dataset, sequence_length: Mapping[str, int],
                          mlm_rate: float = 0.15) -> tf.data.Dataset:
    """seqio preprocessor: the random split point and the encoder's MLM masking (seeded by seqio)."""
    return _split_and_mask(dataset, encoder_length=sequence_length["inputs"], mlm_rate=mlm_rate)


class MLMFeatureConverter(seqio.EncDecFeatureConverter):
    """The encoder-decoder features plus the encoder's MLM targets and loss weights (no packing)."""

    TASK_FEATURES = {
        **seqio.EncDecFeatureConverter.TASK_FEATURES,
        "mlm_targets": seqio.FeatureConverter.FeatureSpec(dtype=tf.int32),
    }
    MODEL_FEATURES = {
        **seqio.EncDecFeatureConverter.MODEL_FEATURES,
        "encoder_target_tokens": seqio.FeatureConverter.FeatureSpec(dtype=tf.int32),
        "encoder_loss_weights": seqio.FeatureConverter.FeatureSpec(dtype=tf.int32),
    }

    def __init__(self, passthrough_features: Mapping[str, seqio.FeatureConverter.FeatureSpec] | None = None) -> None:
        super().__init__(pack=False, bos_id=BOS_ID, passthrough_features=passthrough_features)

    def _convert_example(self, features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        converted = dict(super()._convert_example(features))
        masked = (features["inputs"] == MASK_ID) & (features["mlm_targets"] != PAD_ID)
        converted["encoder_target_tokens"] = features["mlm_targets"]
        converted["encoder_loss_weights"] = tf.cast(masked, tf.int32)
        return converted

    def get_model_feature_lengths(self, task_feature_lengths: Mapping[str, int]) -> dict[str, int]:
        lengths = dict(super().get_model_feature_lengths(task_feature_lengths))
        lengths["encoder_target_tokens"] = lengths["encoder_loss_weights"] = task_feature_lengths["inputs"]
        return lengths


def register_task(name: str, **task: Any) -> seqio.Task:
    """Add a seqio task, replacing one of the same name (a rerun may point it at other files)."""
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    return seqio.TaskRegistry.add(name, **task)


def register_pretraining_task(name: str, corpus_dir: str | os.PathLike[str], tokenizer_model: str | os.PathLike[str],
                              mlm_rate: float = 0.15) -> seqio.Task:
    """Register (or replace) the seqio task ``name`` over a corpus built by :mod:`pretrain.corpus`."""
    vocabulary = seqio.SentencePieceVocabulary(str(tokenizer_model))
    corpus_dir = str(corpus_dir)

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        return tf.data.Dataset.from_generator(lambda: corpus_texts(corpus_dir, split),
                                              output_signature=tf.TensorSpec([], tf.string))

    output_features = {
        "inputs": seqio.Feature(vocabulary, add_eos=False),
        "targets": seqio.Feature(vocabulary, add_eos=True),
        "mlm_targets": seqio.Feature(vocabulary, add_eos=False),
    }
    return register_task(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=SPLITS),
        preprocessors=[
            _as_targets,
            seqio.preprocessors.tokenize,
            functools.partial(random_split_and_mask, mlm_rate=mlm_rate),
            seqio.preprocessors.append_eos_after_trim,
        ],
        output_features=output_features,
    )


def write_pretraining_shards(task: seqio.Task, split: str, out_dir: str | os.PathLike[str], *,
                             encoder_length: int, decoder_length: int, max_examples: int | None = None,
                             seed: int = 0) -> dict[str, Any]:
    """Run the task's split through the feature converter and save it as pre-tokenized shards."""
    lengths = {"inputs": encoder_length, "targets": decoder_length, "mlm_targets": encoder_length}
    dataset = seqio.get_dataset(task.name, task_feature_lengths=lengths, dataset_split=split, shuffle=False,
                                num_epochs=1, feature_converter=MLMFeatureConverter(), seed=seed)
    return write_shards(dataset.as_numpy_iterator(), Path(out_dir), max_examples=max_examples,
                        metadata={"task": task.name, "split": split, "lengths": lengths, "seed": seed})
