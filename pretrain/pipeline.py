"""``alphacode pretrain``: corpus -> tokenizer -> pre-tokenized shards -> training, each step resumable.

Every stage writes under one work directory and is skipped when its output is already complete,
so rerunning the same command after a crash continues where it stopped (training resumes from its
last checkpoint). The shards are made with the seqio task of :mod:`pretrain.tasks` (TensorFlow is
imported only for that stage); the training stage needs only JAX.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax

from alphacode.data import load_shards, read_manifest
from alphacode.errors import UserError
from alphacode.lazy import lazy_import
from alphacode.model import ModelConfig, get_config
from alphacode.model.sharding import parse_mesh
from alphacode.tokenizer import Tokenizer, train_tokenizer
from alphacode.train import ArrayBatches, TrainConfig, Trainer, TrainSummary
from pretrain.corpus import (
    HELDOUT_FRACTION,
    build_corpus,
    default_corpus_sources,
    is_heldout,
    iter_corpus,
    tokenizer_texts,
)
from pretrain.corpus import read_manifest as read_corpus_manifest
from pretrain.objective import pretrain_loss

tasks = lazy_import("pretrain.tasks")  # seqio and TensorFlow (~20 s): only while shards are written

# (encoder, decoder) training lengths: AlphaCode's 1536/768 at full size, shorter for the CPU configs.
TRAIN_LENGTHS = {"tiny": (128, 128), "small": (256, 256)}
FULL_LENGTHS = (1536, 768)


@dataclass(frozen=True)
class PretrainPaths:
    """Where each stage of a pretraining run keeps its output."""

    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def tokenizer_prefix(self) -> Path:
        return self.root / "tokenizer"

    @property
    def tokenizer_model(self) -> Path:
        return self.root / "tokenizer.model"

    def shards(self, split: str) -> Path:
        return self.root / "data" / split

    @property
    def run(self) -> Path:
        return self.root / "run"


def train_lengths(config: ModelConfig) -> tuple[int, int]:
    return TRAIN_LENGTHS.get(config.name, FULL_LENGTHS)


def prepare_corpus(paths: PretrainPaths, sources: Sequence[str | os.PathLike[str]] | None, max_files: int | None) -> dict:
    """Build the corpus unless a complete one is there; the default sources are this Python's own code."""
    if (paths.corpus / "manifest.json").exists():
        return read_corpus_manifest(paths.corpus)
    return build_corpus(list(sources) if sources else default_corpus_sources(), paths.corpus, max_files=max_files)


def prepare_tokenizer(paths: PretrainPaths, vocab_size: int):  # -> alphacode.tokenizer.Tokenizer
    """Train the SentencePiece model unless it exists."""
    if paths.tokenizer_model.exists():
        return Tokenizer.load(paths.tokenizer_model)
    return train_tokenizer(tokenizer_texts(paths.corpus), paths.tokenizer_prefix, vocab_size=vocab_size)


def prepare_shards(paths: PretrainPaths, lengths: tuple[int, int], max_examples: dict[str, int | None]) -> dict[str, dict]:
    """Write the train and valid shards through the seqio task unless they are complete."""
    manifests = {split: read_manifest(paths.shards(split)) for split in max_examples}
    if all(manifests.values()):
        return manifests
    task = tasks.register_pretraining_task("alphacode_pretrain", paths.corpus, paths.tokenizer_model)
    for split, limit in max_examples.items():
        if manifests[split] is None:
            manifests[split] = tasks.write_pretraining_shards(task, split, paths.shards(split), encoder_length=lengths[0],
                                                        decoder_length=lengths[1], max_examples=limit)
    return manifests


def pretrain(config: ModelConfig, train_config: TrainConfig, workdir: str | os.PathLike[str], *,
             corpus_sources: Sequence[str | os.PathLike[str]] | None = None, max_files: int | None = 4000,
             say=print) -> TrainSummary:
    """Run every stage; ``say`` reports each one in a line."""
    paths = PretrainPaths(Path(workdir))
    paths.root.mkdir(parents=True, exist_ok=True)
    corpus = prepare_corpus(paths, corpus_sources, max_files)
    say(f"corpus: {corpus['files']} files, {corpus['bytes'] / 2**20:.1f} MiB in {paths.corpus}")
    tokenizer = prepare_tokenizer(paths, config.vocab_size)
    say(f"tokenizer: vocabulary {tokenizer.vocab_size} in {paths.tokenizer_model}")
    if tokenizer.vocab_size != config.vocab_size:
        config = config.replace(vocab_size=tokenizer.vocab_size)
    lengths = train_lengths(config)
    needed = train_config.steps * train_config.batch_size
    manifests = prepare_shards(paths, lengths, {"train": needed, "valid": train_config.eval_batches * train_config.batch_size})
    say(f"shards: {manifests['train']['examples']} training and {manifests['valid']['examples']} valid "
        f"examples, encoder {lengths[0]} / decoder {lengths[1]} tokens")
    train = ArrayBatches(load_shards(paths.shards("train")), train_config.batch_size, seed=train_config.seed)
    valid = ArrayBatches(load_shards(paths.shards("valid")), train_config.batch_size, seed=0)
    trainer = Trainer(config, train_config, pretrain_loss, paths.run, example_lengths=lengths)
    say(f"training {config.name} for {train_config.steps} steps on {trainer.mesh.devices.size} device(s); "
        f"peak {trainer.peak_flops / 1e12:.2f} TFLOP/s ({trainer.peak_source}); checkpoints in {paths.run}")
    return trainer.train(train, valid)


def pretrain_command(config_name: str, workdir: str | os.PathLike[str] | None, *, steps: int, batch_size: int,
                     learning_rate: float, warmup_steps: int, checkpoint_every: int, mesh: str = "",
                     corpus_sources: Sequence[str | os.PathLike[str]] | None = None,
                     max_files: int | None = 4000) -> tuple[TrainSummary, Path]:
    """What ``alphacode pretrain`` does: check the request against the devices, then :func:`pretrain` in
    ``workdir`` (default ``runs/pretrain-CONFIG``); returns the summary and the work directory."""
    config = get_config(config_name)
    for source in corpus_sources or []:
        if not Path(source).exists():
            raise UserError(f"{source}: no such file or directory")
    sizes = parse_mesh(mesh) if mesh else {"data": jax.device_count()}
    split = sizes.get("data", 1) * sizes.get("fsdp", 1)
    if batch_size % split or split * sizes.get("tensor", 1) > jax.device_count():
        raise UserError(f"--batch-size {batch_size} and --mesh {mesh or 'data=all'} do not fit {jax.device_count()} "
                        f"device(s): the batch must divide by data x fsdp = {split}")
    root = Path(workdir or f"runs/pretrain-{config.name}")
    train = TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                        warmup_steps=min(warmup_steps, max(1, steps // 10)), mesh=mesh,
                        checkpoint_every=checkpoint_every, eval_every=checkpoint_every)
    return pretrain(config, train, root, corpus_sources=corpus_sources, max_files=max_files), root


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
        if not (corpus / "manifest.json").exists():  # raw sources: build a corpus first
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
