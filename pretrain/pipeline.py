"""``alphacode pretrain``: corpus -> tokenizer -> pre-tokenized record shards -> training, each stage resumable.

An experiment (:mod:`alphacode.config`, ``configs/pretrain_*.py``) says everything: the model, the data
(:class:`PretrainData`), the loss weights and the training settings. Every stage writes under one work
directory and is skipped when its output is complete, so rerunning the same command continues where it
stopped. The data stages need no JAX (``prepare`` alone makes a shard directory to carry to an accelerator
machine, ``data.tokens`` points a run at one); on many hosts process 0 prepares them while the others wait.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphacode.config import Experiment, check_ranges, check_workdir, start_run
from alphacode.data import RecordShards, read_shard_manifest
from alphacode.errors import UserError
from alphacode.lazy import lazy_import
from alphacode.model.config import MLM_RATE
from alphacode.tokenizer import Tokenizer, train_tokenizer
from pretrain.corpus import (
    HELDOUT_FRACTION,
    build_corpus,
    ensure_corpus,
    is_corpus,
    is_heldout,
    iter_corpus,
    tokenizer_texts,
)
from pretrain.examples import PretrainRows, tokenize_corpus

# JAX and the trainer: only for training, after the data stages (which run without them)
hosts = lazy_import("alphacode.hosts")
training = lazy_import("alphacode.train")
objective = lazy_import("pretrain.objective")


@dataclass(frozen=True)
class PretrainData:
    """The pretraining data. ``corpus``: source trees or dumps (empty: this Python's own code), at most
    ``max_files`` files (0: all); ``tokenizer``/``tokens``: an existing tokenizer model / record shard
    directory (with ``train/``, and ``valid/`` if any) instead of making them; ``shards``: record shards per
    split; ``threads``: tokenizer threads (0: one per core); ``prefix_fraction``: the share of a file the random
    split point falls in (:mod:`pretrain.examples`); ``max_file_tokens``: keep only each file's first tokens
    (0: all; with a small ``prefix_fraction`` a long file's tail is seldom read, and capped shards travel)."""

    corpus: tuple[str, ...] = ()
    max_files: int = 4000
    vocab_size: int = 8000
    tokenizer: str | None = None
    tokens: str | None = None
    lengths: tuple[int, int] = (128, 128)
    mlm_rate: float = MLM_RATE
    prefix_fraction: float = 1.0
    shards: int = 8
    threads: int = 0
    max_file_tokens: int = 0

    def __post_init__(self) -> None:
        ranges = {"max_files": self.max_files >= 0, "max_file_tokens": self.max_file_tokens >= 0,
                  "threads": self.threads >= 0, "shards": self.shards >= 1, "lengths": min(self.lengths) >= 1,
                  "mlm_rate": 0 <= self.mlm_rate < 1, "prefix_fraction": 0 < self.prefix_fraction <= 1}
        check_ranges("data", self, ranges, "need max_files, max_file_tokens and threads >= 0 (0: all, or one per "
                     "core), shards and lengths >= 1, mlm_rate in [0, 1), prefix_fraction in (0, 1]")


@dataclass(frozen=True)
class PretrainLoss:
    """Decoder next-token loss plus ``mlm_weight`` x the encoder's masked-token loss."""

    mlm_weight: float = 1.0


@dataclass(frozen=True)
class Prepared:
    """What the data stages made (or found): the tokenizer and the record shards of each split."""

    tokenizer: Path
    tokens: Path
    vocab_size: int


def prepare(data: PretrainData, workdir: str | os.PathLike[str], say: Callable[[str], None] = print, *,
            build: bool = True) -> Prepared:
    """Corpus, tokenizer and record shards under ``workdir`` (each skipped when complete, or taken from
    ``data.tokenizer``/``data.tokens``). Needs no JAX. ``build=False`` only finds and checks them: what the
    other processes of a multi-host run do once process 0 made them."""
    root = Path(workdir)
    tokenizer_file = Path(data.tokenizer) if data.tokenizer else root / "tokenizer.model"
    tokens = Path(data.tokens) if data.tokens else root / "tokens"  # made whole, then renamed into place
    for given, what in ((data.tokenizer, "data.tokenizer"), (data.tokens, "data.tokens")):
        if given and not Path(given).exists():
            raise UserError(f"{given}: no such file or directory ({what})")
    if data.tokenizer and not Path(data.tokenizer).is_file():
        raise UserError(f"{data.tokenizer}: not a file; expected a tokenizer .model file (data.tokenizer)")
    if data.tokens and not Path(data.tokens).is_dir():
        raise UserError(f"{data.tokens}: not a folder; expected record shards, as --prepare-only makes (data.tokens)")
    if not build and not (tokenizer_file.exists() and tokens.is_dir()):
        raise hosts.UnsharedWorkdir(root)
    corpus = root / "corpus"
    # needed to make the tokenizer or tokens, or checked as what the tokens here were made from
    if not (tokenizer_file.exists() and tokens.is_dir()) or (is_corpus(corpus) and not data.tokens):
        ensure_corpus(corpus, data.corpus, data.max_files or None, say)
    if not tokenizer_file.exists():
        trained = train_tokenizer(tokenizer_texts(corpus), root / "tokenizer", vocab_size=data.vocab_size)
        say(f"tokenizer: vocabulary {trained.vocab_size} in {tokenizer_file}")
    tokenizer = Tokenizer.load(tokenizer_file)
    if not data.tokenizer and tokenizer.vocab_size != data.vocab_size:  # one an earlier command left here
        raise UserError(f"{tokenizer_file}: has {tokenizer.vocab_size} pieces, but data.vocab_size is "
                        f"{data.vocab_size}; set data.vocab_size={tokenizer.vocab_size}, or use a new --workdir")
    if not tokens.is_dir():
        started = time.perf_counter()
        partial = root / "tokens.partial"
        shutil.rmtree(partial, ignore_errors=True)
        encode = functools.partial(tokenizer.encode_batch, num_threads=data.threads)
        manifests = tokenize_corpus(corpus, encode, partial, shards=data.shards, max_tokens=data.max_file_tokens,
                                    metadata={"tokenizer": tokenizer.digest, "vocab_size": tokenizer.vocab_size,
                                              "max_file_tokens": data.max_file_tokens})
        partial.rename(tokens)
        say(f"tokens: {manifests['train']['records']} training and {manifests.get('valid', {}).get('records', 0)} "
            f"held-out files in {tokens} ({time.perf_counter() - started:.0f} s)")
    check_tokens(tokens, tokenizer, data.max_file_tokens)
    return Prepared(tokenizer_file, tokens, tokenizer.vocab_size)


def check_tokens(tokens: Path, tokenizer: Tokenizer, max_file_tokens: int = 0) -> None:
    """Record shards made with another tokenizer would train on wrong ids, and ones cut at another
    ``max_file_tokens`` on other data than the config says: refuse them. ``train/`` must be there; ``valid/`` is
    optional (a corpus too small to hold a file out has none)."""
    for split in ("train", "valid"):
        manifest = read_shard_manifest(tokens / split)
        if manifest is None:
            if split == "train":
                raise UserError(f"{tokens / split}: no record shards (make them with `alphacode pretrain "
                                f"--prepare-only`)")
            continue
        if manifest.get("tokenizer") != tokenizer.digest:
            raise UserError(f"{tokens / split}: made with another tokenizer than {tokenizer.digest[:12]}; "
                            f"use the tokenizer.model they were made with")
        if manifest.get("max_file_tokens", 0) != max_file_tokens:
            raise UserError(f"{tokens / split}: files cut at max_file_tokens={manifest.get('max_file_tokens', 0)}, "
                            f"not {max_file_tokens}; set data.max_file_tokens to match or make them again")


def pretrain(experiment: Experiment, workdir: str | os.PathLike[str], *, started: float | None = None,
             say: Callable[[str], None] = print, progress: bool = True) -> Any:  # -> alphacode.train.TrainSummary
    """Run (or resume) a pretraining experiment in ``workdir``; on many hosts every process calls this after
    :meth:`alphacode.hosts.Hosts.initialize`."""
    experiment.check_stage("pretrain")
    leader = hosts.is_leader()
    check_workdir(experiment, workdir)
    hosts.leader_first(lambda: prepare(experiment.data, workdir, say), "the data")
    prepared = prepare(experiment.data, workdir, lambda _: None, build=False)  # made by now: found and checked
    experiment.check_vocab(prepared.vocab_size)
    run_info = start_run(experiment, workdir, prepared.tokenizer, leader)
    data, train = experiment.data, experiment.train
    train_rows, valid_rows = (
        PretrainRows(RecordShards(prepared.tokens / split), train.batch_size, data.lengths, seed=train.seed + offset,
                     mlm_rate=data.mlm_rate, prefix_fraction=data.prefix_fraction)
        if read_shard_manifest(prepared.tokens / split) is not None else None
        for split, offset in (("train", 0), ("valid", 1)))
    if valid_rows is None and leader:
        say(f"{prepared.tokens}: no valid split: no held-out evaluation")
    loss = functools.partial(objective.pretrain_loss, mlm_weight=experiment.loss.mlm_weight)
    summary, _ = training.run_training(experiment.model, train, loss, workdir, train_rows, valid_rows,
                                       lengths=data.lengths, run_info=run_info, started=started, say=say,
                                       progress=progress)
    return summary


@dataclass(frozen=True)
class HeldOutRow:
    """The tokenizer on one language's held-out files: how well it compresses and whether it round-trips."""

    language: str
    files: int
    bytes_per_token: float
    exact: bool


@dataclass(frozen=True)
class TokenizerReport:
    """What ``alphacode tokenizer train`` did (``built_from``: the source tree a corpus was built from, if any)."""

    vocab_size: int
    held_out: tuple[HeldOutRow, ...]
    built_from: str | None = None
    corpus_files: int = 0
    corpus_bytes: int = 0


def train_corpus_tokenizer(corpus: str | os.PathLike[str], out_prefix: str | os.PathLike[str],
                           vocab_size: int = 8000) -> TokenizerReport:
    """Train the tokenizer on a built corpus (or on a source tree / dump, built into a scratch corpus first)
    and measure it on the corpus' held-out files, per language."""
    corpus = Path(corpus)
    if not corpus.exists():
        raise UserError(f"{corpus}: no such file or directory")
    with tempfile.TemporaryDirectory(prefix="alphacode-corpus-") as scratch:
        built = None
        if not is_corpus(corpus):  # raw sources: build a corpus first
            built = build_corpus([corpus], scratch)
            source, corpus = str(corpus), Path(scratch)
        tokenizer = train_tokenizer(tokenizer_texts(corpus), out_prefix, vocab_size=vocab_size)
        held_out: dict[str, list[str]] = defaultdict(list)
        for file in iter_corpus(corpus):
            if is_heldout(file.path, HELDOUT_FRACTION):
                held_out[file.language].append(file.content)
    rows = tuple(HeldOutRow(language, len(texts), tokenizer.bytes_per_token(texts),
                            all(tokenizer.decode(tokenizer.encode(t)) == t for t in texts))
                 for language, texts in sorted(held_out.items()))
    if built is None:
        return TokenizerReport(tokenizer.vocab_size, rows)
    return TokenizerReport(tokenizer.vocab_size, rows, source, built["files"], built["bytes"])
