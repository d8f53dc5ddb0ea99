"""The pretraining example, defined once: AlphaCode's random split of a tokenized file, MLM on the encoder.

Each row takes one file of the corpus (tokenized once into record shards, :mod:`alphacode.data`),
splits it at a uniformly random point, and gives the prefix's last ``encoder_length`` tokens to the
encoder (an ``mlm_rate`` share of them masked for the MLM loss) and the rest to the decoder. AlphaCode
splits anywhere in the file (``prefix_fraction`` 1); its appendix notes that encoder-decoder models
then see only about a third of their tokens as decoder targets, so a smaller ``prefix_fraction`` (the
split falls in that first share of the file) puts more of every sequence under the decoder's loss. The numpy
batches the trainer reads (:class:`PretrainRows`) and the seqio task (:mod:`pretrain.seqio_tasks`) both
build their rows here, so they hold the same examples for the same records and seed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from alphacode.data import RecordShards, RowSource, encoder_decoder_features, row_rng, write_record_shards
from alphacode.model.config import MLM_RATE
from pretrain.corpus import HELDOUT_FRACTION, is_heldout, iter_corpus

ENCODE_FILES = 512  # files per call of the (multi-threaded) encoder: a progress step


def random_split(tokens: np.ndarray, rng: np.random.Generator, encoder_length: int,
                 prefix_fraction: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The pretraining example of one tokenized file: (the prefix's last ``encoder_length`` tokens, the rest),
    split at a uniformly random point of the file's first ``prefix_fraction`` (at least one token in the prefix)."""
    split = min(int(rng.integers(1, max(int(len(tokens) * prefix_fraction), 2))), len(tokens))
    return tokens[:split][-encoder_length:], tokens[split:]


class PretrainRows(RowSource):
    """Rows of pretraining batches of ``batch_size`` from record shards (one ``tokens`` stream): row ``r`` of
    ``step`` is a pure function of ``(seed, step, r)``."""

    def __init__(self, shards: RecordShards, batch_size: int, lengths: tuple[int, int], seed: int = 0,
                 mlm_rate: float = MLM_RATE, prefix_fraction: float = 1.0) -> None:
        self.shards, self.batch_size, self.lengths, self.seed, self.mlm_rate = shards, batch_size, lengths, seed, mlm_rate
        self.prefix_fraction = prefix_fraction

    def row(self, step: int, row: int) -> dict[str, np.ndarray]:
        rng = row_rng(self.seed, step, row)
        records = self.shards.for_row(step, row, self.batch_size).streams["tokens"]
        tokens = records[int(rng.integers(len(records)))]
        inputs, targets = random_split(tokens, rng, self.lengths[0], self.prefix_fraction)
        return encoder_decoder_features(inputs, targets, *self.lengths, rng, self.mlm_rate)


def tokenize_corpus(corpus_dir: str | os.PathLike[str], encode_batch: Callable[[list[str]], list[list[int]]],
                    out_dir: str | os.PathLike[str], *, shards: int = 8, max_tokens: int = 0,
                    metadata: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Tokenize a corpus (:mod:`pretrain.corpus`) into record shards per split under ``out_dir``: ``train``,
    and ``valid`` (the files its held-out rule keeps out), each file cut to its first ``max_tokens`` (0: whole);
    returns each split's manifest."""
    texts: dict[str, list[str]] = {"train": [], "valid": []}
    for source in iter_corpus(corpus_dir):
        texts["valid" if is_heldout(source.path, HELDOUT_FRACTION) else "train"].append(source.content)
    cut = slice(max_tokens or None)
    manifests = {}
    for split, files in texts.items():
        if not files:
            continue
        tokens: list[list[int]] = []
        with tqdm(total=len(files), desc=f"tokenizing {split}", unit="file", leave=False, disable=None) as bar:
            for start in range(0, len(files), ENCODE_FILES):  # a bar on a terminal: a big corpus takes minutes
                batch = files[start:start + ENCODE_FILES]
                tokens += [ids[cut] for ids in encode_batch(batch)]
                bar.update(len(batch))
        manifests[split] = write_record_shards({"tokens": tokens}, Path(out_dir) / split, shards=shards,
                                               metadata={"split": split, **(metadata or {})})
    return manifests

