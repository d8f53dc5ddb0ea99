"""``alphacode pretrain``: corpus -> tokenizer -> pre-tokenized shards -> training, each step resumable.

Every stage writes under one work directory and is skipped when its output is already complete,
so rerunning the same command after a crash continues where it stopped (training resumes from its
last checkpoint). The shards are made with the seqio task of :mod:`pretrain.tasks` (TensorFlow is
imported only for that stage); the training stage needs only JAX.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alphacode.model import ModelConfig
from alphacode.train import TrainConfig, TrainSummary

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
    from pretrain.corpus import build_corpus, default_corpus_sources, read_manifest

    if (paths.corpus / "manifest.json").exists():
        return read_manifest(paths.corpus)
    return build_corpus(list(sources) if sources else default_corpus_sources(), paths.corpus, max_files=max_files)


def prepare_tokenizer(paths: PretrainPaths, vocab_size: int):  # -> alphacode.tokenizer.Tokenizer
    """Train the SentencePiece model unless it exists."""
    from alphacode.tokenizer import Tokenizer, train_tokenizer
    from pretrain.corpus import HELDOUT_FRACTION

    if paths.tokenizer_model.exists():
        return Tokenizer.load(paths.tokenizer_model)
    return train_tokenizer(paths.corpus, paths.tokenizer_prefix, vocab_size=vocab_size, holdout_fraction=HELDOUT_FRACTION)


def prepare_shards(paths: PretrainPaths, lengths: tuple[int, int], max_examples: dict[str, int | None]) -> dict[str, dict]:
    """Write the train and validation shards through the seqio task unless they are complete."""
    from alphacode.data import read_manifest

    manifests = {split: read_manifest(paths.shards(split)) for split in max_examples}
    if all(manifests.values()):
        return manifests
    from pretrain.tasks import register_pretraining_task, write_pretraining_shards

    task = register_pretraining_task("alphacode_pretrain", paths.corpus, paths.tokenizer_model)
    for split, limit in max_examples.items():
        if manifests[split] is None:
            manifests[split] = write_pretraining_shards(task, split, paths.shards(split), encoder_length=lengths[0],
                                                        decoder_length=lengths[1], max_examples=limit)
    return manifests


def pretrain(config: ModelConfig, train_config: TrainConfig, workdir: str | os.PathLike[str], *,
             corpus_sources: Sequence[str | os.PathLike[str]] | None = None, max_files: int | None = 4000,
             say=print) -> TrainSummary:
    """Run every stage; ``say`` reports each one in a line."""
    from alphacode.data import load_shards
    from alphacode.train import ArrayBatches, Trainer
    from pretrain.objective import pretrain_loss

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
    manifests = prepare_shards(paths, lengths, {"train": needed, "validation": train_config.eval_batches * train_config.batch_size})
    say(f"shards: {manifests['train']['examples']} training and {manifests['validation']['examples']} validation "
        f"examples, encoder {lengths[0]} / decoder {lengths[1]} tokens")
    train = ArrayBatches(load_shards(paths.shards("train")), train_config.batch_size, seed=train_config.seed)
    valid = ArrayBatches(load_shards(paths.shards("validation")), train_config.batch_size, seed=0)
    trainer = Trainer(config, train_config, pretrain_loss, paths.run, example_lengths=lengths)
    say(f"training {config.name} for {train_config.steps} steps on {trainer.mesh.devices.size} device(s); "
        f"peak {trainer.peak_flops / 1e12:.2f} TFLOP/s ({trainer.peak_source}); checkpoints in {paths.run}")
    return trainer.train(train, valid)
