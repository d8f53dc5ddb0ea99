"""Training examples built with numpy alone, for machines without TensorFlow (GPU pods, the device).

The features are those of the seqio tasks (:class:`pretrain.tasks.MLMFeatureConverter`): the encoder
reads the prompt with an ``mlm_rate`` share of its tokens replaced by ``MASK_ID``, the decoder reads
BOS + the target shifted right and predicts the target + EOS. Sources here are pure functions of the
step number, so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from alphacode.fileio import atomic_write
from alphacode.model.config import BOS_ID, EOS_ID, MASK_ID, PAD_ID

T = TypeVar("T")
R = TypeVar("R")


def encoder_decoder_features(inputs: Sequence[int], targets: Sequence[int], encoder_length: int, decoder_length: int,
                             rng: np.random.Generator, mlm_rate: float = 0.15) -> dict[str, np.ndarray]:
    """One example's model features; ``inputs`` longer than the encoder keep their beginning,
    ``targets`` keep their first ``decoder_length - 1`` tokens, then EOS."""
    prompt = np.asarray(inputs, np.int32)[:encoder_length]
    target = np.append(np.asarray(targets, np.int32)[: decoder_length - 1], EOS_ID).astype(np.int32)
    masked = rng.random(len(prompt)) < mlm_rate
    features = {name: np.zeros(encoder_length, np.int32) for name in
                ("encoder_input_tokens", "encoder_target_tokens", "encoder_loss_weights")}
    features["encoder_input_tokens"][: len(prompt)] = np.where(masked, MASK_ID, prompt)
    features["encoder_target_tokens"][: len(prompt)] = prompt
    features["encoder_loss_weights"][: len(prompt)] = masked & (prompt != PAD_ID)
    for name in ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights"):
        features[name] = np.zeros(decoder_length, np.int32)
    features["decoder_target_tokens"][: len(target)] = target
    features["decoder_input_tokens"][0] = BOS_ID
    features["decoder_input_tokens"][1: len(target)] = target[:-1]
    features["decoder_loss_weights"][: len(target)] = 1
    return features


def stack(examples: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A batch: one [B, ...] array per feature."""
    examples = list(examples)
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


@dataclass(frozen=True)
class TokenStream:
    """Many token sequences in one flat array (``uint16`` fits an 8k vocabulary): sequence ``i`` is
    ``tokens[offsets[i]:offsets[i + 1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[int]]) -> TokenStream:
        arrays = [np.asarray(s, np.uint16) for s in sequences]
        offsets = np.zeros(len(arrays) + 1, np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        return cls(np.concatenate(arrays) if arrays else np.zeros(0, np.uint16), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]: self.offsets[i + 1]].astype(np.int32)

    def save(self, path: str | os.PathLike[str]) -> None:
        atomic_write(path, lambda f: np.savez(f, tokens=self.tokens, offsets=self.offsets))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TokenStream:
        with np.load(Path(path)) as archive:
            return cls(archive["tokens"], archive["offsets"])


class RandomSplitBatches:
    """AlphaCode's pretraining objective over a token stream: each row takes a random sequence,
    splits it at a uniformly random point, and gives the prefix's last ``encoder_length`` tokens to
    the encoder and the rest to the decoder."""

    def __init__(self, stream: TokenStream, batch_size: int, lengths: tuple[int, int], seed: int = 0,
                 mlm_rate: float = 0.15) -> None:
        if not len(stream):
            raise ValueError("the token stream holds no sequences")
        self.stream, self.batch_size, self.lengths, self.seed, self.mlm_rate = stream, batch_size, lengths, seed, mlm_rate

    def batch(self, step: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng((self.seed, step))
        rows = []
        for i in rng.integers(0, len(self.stream), self.batch_size):
            tokens = self.stream[int(i)]
            split = min(int(rng.integers(1, max(len(tokens), 2))), len(tokens))
            prefix = tokens[:split][-self.lengths[0]:]
            rows.append(encoder_decoder_features(prefix, tokens[split:], *self.lengths, rng, self.mlm_rate))
        return stack(rows)


@dataclass(frozen=True)
class Example:
    """A prompt and its target, token ids; ``correct`` feeds the value-conditioning losses."""

    inputs: np.ndarray
    targets: np.ndarray
    correct: bool = True


class MixtureBatches:
    """Rows drawn from several example lists at the given rates (each row picks a list, then an
    example), with a ``correct`` feature [B, 1] for the fine-tuning losses."""

    def __init__(self, sources: Mapping[str, Sequence[Example]], rates: Mapping[str, float], batch_size: int,
                 lengths: tuple[int, int], seed: int = 0, mlm_rate: float = 0.15) -> None:
        self.names = [name for name in sources if rates.get(name, 0) > 0 and sources[name]]
        if not self.names:
            raise ValueError("no source has both examples and a positive rate")
        weights = np.array([rates[name] for name in self.names], np.float64)
        self.probabilities = weights / weights.sum()
        self.sources, self.batch_size, self.lengths, self.seed, self.mlm_rate = sources, batch_size, lengths, seed, mlm_rate

    def batch(self, step: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng((self.seed, step))
        rows = []
        for source in rng.choice(len(self.names), self.batch_size, p=self.probabilities):
            examples = self.sources[self.names[source]]
            example = examples[int(rng.integers(len(examples)))]
            features = encoder_decoder_features(example.inputs, example.targets, *self.lengths, rng, self.mlm_rate)
            features["correct"] = np.array([int(example.correct)], np.int32)
            rows.append(features)
        return stack(rows)


def parallel_map(function: Callable[[T], R], items: Sequence[T], processes: int = 1) -> list[R]:
    """``[function(x) for x in items]``, over ``processes`` fresh worker processes when more than one
    (tokenizing and parsing a corpus are CPU-bound and independent per file)."""
    if processes <= 1 or len(items) < 64:
        return [function(x) for x in items]
    from multiprocessing import get_context

    with get_context("spawn").Pool(processes) as pool:
        return pool.map(function, items, chunksize=max(16, len(items) // (processes * 8)))
