"""Pre-tokenized training records, and the model features every kind of training example becomes.

A stage tokenizes its records once (corpus files, or prompt/target pairs) into a *record shard
directory*: ``shard-NNNNN.npz`` files of token streams plus ``manifest.json`` (counts, the tokenizer's
digest, what made them). It can be made on one machine and carried to another, so an accelerator run
never tokenizes a corpus. Rows of a training batch are built from records with numpy alone
(:func:`encoder_decoder_features`); when the global batch of ``B`` rows is a multiple of the ``N`` shards,
row ``r`` draws from shard ``r * N // B``, so a process that builds only its own block of rows reads only its
share of the shards (otherwise the rows take the shards in turn, so none is drawn less often than another),
and a one-process run builds exactly the same rows.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from alphacode.errors import UserError
from alphacode.fileio import atomic_write, atomic_write_text, make_dirs, read_json_file
from alphacode.model.config import BOS_ID, EOS_ID, MASK_ID, MLM_RATE, PAD_ID

MANIFEST = "manifest.json"
ENCODER_FEATURES = ("encoder_input_tokens", "encoder_target_tokens", "encoder_loss_weights")
DECODER_FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")
FEATURES = ENCODER_FEATURES + DECODER_FEATURES  # what every training row holds (a task may add more)


def encoder_decoder_features(inputs: Sequence[int], targets: Sequence[int], encoder_length: int, decoder_length: int,
                             rng: np.random.Generator, mlm_rate: float = MLM_RATE) -> dict[str, np.ndarray]:
    """One example's model features: the encoder reads ``inputs`` (their beginning, when longer) with an
    ``mlm_rate`` share of the tokens replaced by ``MASK_ID`` for the MLM loss; the decoder reads BOS + the
    target shifted right and predicts ``targets`` (their first ``decoder_length - 1`` tokens) + EOS."""
    prompt = np.asarray(inputs, np.int32)[:encoder_length]
    target = np.append(np.asarray(targets, np.int32)[: decoder_length - 1], EOS_ID).astype(np.int32)
    masked = rng.random(len(prompt)) < mlm_rate
    features = {name: np.zeros(encoder_length, np.int32) for name in ENCODER_FEATURES}
    features["encoder_input_tokens"][: len(prompt)] = np.where(masked, MASK_ID, prompt)
    features["encoder_target_tokens"][: len(prompt)] = prompt
    features["encoder_loss_weights"][: len(prompt)] = masked & (prompt != PAD_ID)
    for name in DECODER_FEATURES:
        features[name] = np.zeros(decoder_length, np.int32)
    features["decoder_target_tokens"][: len(target)] = target
    features["decoder_input_tokens"][0] = BOS_ID
    features["decoder_input_tokens"][1: len(target)] = target[:-1]
    features["decoder_loss_weights"][: len(target)] = 1
    return features


def stack(rows: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A batch: one [B, ...] array per feature."""
    rows = list(rows)
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


class RowSource:
    """Training batches built row by row: a subclass defines ``row(step, row)`` as a pure function of its seed, the
    step and the row, so any process builds any block of rows of any step, the same on every rerun."""

    batch_size: int

    def row(self, step: int, row: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def rows(self, step: int, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` of step ``step``'s global batch, stacked."""
        return stack(self.row(step, r) for r in range(start, stop))


def row_rng(seed: int, step: int, row: int) -> np.random.Generator:
    """The random stream of one row of one step's global batch: the same on every process and every rerun."""
    return np.random.default_rng((seed, step, row))


def shard_of_row(step: int, row: int, batch_size: int, shards: int) -> int:
    """The shard row ``row`` of step ``step``'s global batch draws from: contiguous blocks of rows share a shard
    when the batch divides evenly among the shards; otherwise rows and steps go round the shards in turn."""
    if batch_size % shards == 0:
        return row * shards // batch_size
    return (step * batch_size + row) % shards


@dataclass(frozen=True)
class TokenStream:
    """Many token sequences in one flat array (``uint16`` fits an 8k vocabulary, ``uint32`` is used above):
    sequence ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[int]]) -> TokenStream:
        arrays = [np.asarray(s, np.int64) for s in sequences]
        dtype = np.uint16 if all(a.max(initial=0) < 2**16 for a in arrays) else np.uint32
        offsets = np.zeros(len(arrays) + 1, np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        return cls(np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]: self.offsets[i + 1]].astype(np.int32)


@dataclass(frozen=True)
class Records:
    """One shard's records: named token streams of equal length (``tokens``, or ``inputs`` and ``targets``)
    and per-record integer flags (such as ``correct``)."""

    streams: Mapping[str, TokenStream]
    flags: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.streams.values())))


def write_record_shards(records: Mapping[str, Sequence[Sequence[int]]], out_dir: str | os.PathLike[str], *,
                        flags: Mapping[str, Sequence[int]] | None = None, shards: int = 8,
                        metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write records (``name -> token sequences``, all of one length, with optional per-record ``flags``) as
    up to ``shards`` compressed shards of consecutive records (fewer when there are fewer records), each
    atomically, then the manifest, which marks the directory complete."""
    out = make_dirs(out_dir)
    count = len(next(iter(records.values())))
    flags = {name: np.asarray(values, np.int32) for name, values in (flags or {}).items()}
    if any(len(v) != count for v in records.values()) or any(len(v) != count for v in flags.values()):
        raise ValueError("every record stream and flag needs one entry per record")
    bounds = np.linspace(0, count, max(1, min(shards, count)) + 1).astype(int)
    files = []
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        arrays: dict[str, np.ndarray] = {}
        for name, sequences in records.items():
            stream = TokenStream.from_sequences(sequences[start:stop])
            arrays[f"{name}.tokens"], arrays[f"{name}.offsets"] = stream.tokens, stream.offsets
        arrays.update({f"flag.{name}": values[start:stop] for name, values in flags.items()})
        file = f"shard-{index:05d}.npz"
        atomic_write(out / file, lambda handle, arrays=arrays: _savez_lzma(handle, arrays))
        files.append({"file": file, "records": int(stop - start)})
    manifest = {"records": count, "streams": sorted(records), "flags": sorted(flags), "shards": files,
                **(metadata or {})}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def _savez_lzma(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with LZMA instead of deflate, still read by ``np.load``: token streams shrink
    to about 35% of their uint16 bytes, not 46%, so more pre-tokenized data fits what an accelerator run carries."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_LZMA) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def read_shard_manifest(shard_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a complete record shard directory, or None if there is none (yet)."""
    return read_json_file(Path(shard_dir) / MANIFEST, UserError)


class RecordShards:
    """A record shard directory, each shard loaded when a row first needs it (so a process holds its share)."""

    def __init__(self, shard_dir: str | os.PathLike[str]) -> None:
        self.root = Path(shard_dir)
        manifest = read_shard_manifest(self.root)
        if manifest is None:
            raise UserError(f"{shard_dir}: no {MANIFEST}; not a complete record shard directory")
        if not manifest["records"]:
            raise UserError(f"{shard_dir}: holds no records")
        self.manifest = manifest
        self._loaded: dict[int, Records] = {}

    def __len__(self) -> int:
        return len(self.manifest["shards"])

    @property
    def records(self) -> int:
        return int(self.manifest["records"])

    def shard(self, index: int) -> Records:
        if index not in self._loaded:
            with np.load(self.root / self.manifest["shards"][index]["file"]) as archive:
                streams = {name: TokenStream(archive[f"{name}.tokens"], archive[f"{name}.offsets"])
                           for name in self.manifest["streams"]}
                flags = {name: archive[f"flag.{name}"] for name in self.manifest["flags"]}
            self._loaded[index] = Records(streams, flags)
        return self._loaded[index]

    def for_row(self, step: int, row: int, batch_size: int) -> Records:
        """The shard that row ``row`` of step ``step``'s global batch of ``batch_size`` rows draws from."""
        return self.shard(shard_of_row(step, row, batch_size, len(self)))
