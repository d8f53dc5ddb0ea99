"""The pretraining data path: seqio task -> feature converter -> shards -> trainer."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from alphacode.data import load_shards, read_manifest
from alphacode.model import BOS_ID, EOS_ID, PAD_ID, get_config
from alphacode.model.config import MASK_ID
from alphacode.train import ArrayBatches, TrainConfig, Trainer
from pretrain.corpus import build_corpus, iter_corpus
from pretrain.objective import pretrain_loss
from pretrain.pipeline import PretrainPaths, prepare_shards, prepare_tokenizer
from tests.conftest import ROOT

LENGTHS = (48, 40)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> PretrainPaths:
    """A small corpus (a slice of the standard library), a small tokenizer and shards."""
    source = tmp_path_factory.mktemp("source")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ["textwrap.py", "bisect.py", "heapq.py", "fractions.py", "colorsys.py", "shlex.py", "glob.py",
                 "fnmatch.py", "string.py", "keyword.py", "numbers.py", "queue.py", "sched.py", "graphlib.py"]:
        shutil.copy(stdlib / name, source / name)
    paths = PretrainPaths(tmp_path_factory.mktemp("pretrain"))
    build_corpus([source], paths.corpus)
    prepare_tokenizer(paths, vocab_size=600)
    prepare_shards(paths, LENGTHS, {"train": 64, "valid": 8})
    return paths


def test_shards_hold_the_random_split_objective(prepared: PretrainPaths) -> None:
    from alphacode.tokenizer import Tokenizer

    manifest = read_manifest(prepared.shards("train"))
    assert manifest["features"]["encoder_input_tokens"] == LENGTHS[0]
    assert manifest["features"]["decoder_target_tokens"] == LENGTHS[1]
    data = load_shards(prepared.shards("train"))
    tokenizer = Tokenizer.load(prepared.tokenizer_model)
    files = [tokenizer.encode(f.content) for f in iter_corpus(prepared.corpus)]
    assert len(data["encoder_input_tokens"]) == manifest["examples"] > 0
    masked_total = 0
    for i in range(len(data["encoder_input_tokens"])):
        enc_in, enc_target = data["encoder_input_tokens"][i], data["encoder_target_tokens"][i]
        weights, dec_in, dec_target = data["encoder_loss_weights"][i], data["decoder_input_tokens"][i], data["decoder_target_tokens"][i]
        prefix = enc_target[enc_target != PAD_ID].tolist()
        target = dec_target[dec_target != PAD_ID].tolist()
        # masking: only masked positions differ, and they carry the loss
        np.testing.assert_array_equal(weights.astype(bool), (enc_in == MASK_ID) & (enc_target != PAD_ID))
        np.testing.assert_array_equal(enc_in[weights == 0], enc_target[weights == 0])
        masked_total += int(weights.sum())
        # decoder inputs are BOS + targets shifted right
        assert dec_in[0] == BOS_ID and (dec_in[1:len(target)] == dec_target[:len(target) - 1]).all()
        # encoder prefix and decoder target are adjacent pieces of one tokenized file
        body = target[:-1] if target and target[-1] == EOS_ID else target
        assert any(_adjacent(f, prefix, body) for f in files), i
    assert 0.05 < masked_total / sum((data["encoder_target_tokens"] != PAD_ID).sum(1)) < 0.3


def _adjacent(tokens: list[int], prefix: list[int], body: list[int]) -> bool:
    joined = prefix + body
    n = len(joined)
    return any(tokens[start:start + n] == joined for start in range(len(tokens) - n + 1))


def test_trainer_learns_from_the_shards(prepared: PretrainPaths, tmp_path: Path) -> None:
    config = get_config("tiny", vocab_size=600, d_model=64, num_heads=4, head_dim=16, d_ff=128, decoder_layers=2,
                        encoder_layers=1)
    trainer = Trainer(config, TrainConfig(steps=30, batch_size=8, learning_rate=3e-3, warmup_steps=3, log_every=5,
                                          eval_every=30, checkpoint_every=30), pretrain_loss, tmp_path, example_lengths=LENGTHS)
    summary = trainer.train(ArrayBatches(load_shards(prepared.shards("train")), 8),
                            ArrayBatches(load_shards(prepared.shards("valid")), 8), progress=False)
    assert summary.last_metrics["decoder_loss"] < 0.8 * summary.first_metrics["decoder_loss"]
    assert np.isfinite(summary.eval_metrics["loss"])
    assert (tmp_path / "metrics.jsonl").exists() and any((tmp_path / "tensorboard").iterdir())


def test_shards_are_reused_not_rewritten(prepared: PretrainPaths) -> None:
    before = (prepared.shards("train") / "manifest.json").stat().st_mtime_ns
    prepare_shards(prepared, LENGTHS, {"train": 64, "valid": 8})
    assert (prepared.shards("train") / "manifest.json").stat().st_mtime_ns == before


def test_trainer_module_does_not_import_tensorflow() -> None:
    code = "import sys, alphacode.train, alphacode.data, pretrain.objective; print('tensorflow' in sys.modules, 'seqio' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]


def test_tokenizer_cli_trains_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from alphacode.cli import main as cli_main

    source = tmp_path / "src"
    source.mkdir()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ["textwrap.py", "heapq.py", "shlex.py", "glob.py", "string.py", "queue.py", "sched.py", "fractions.py"]:
        shutil.copy(stdlib / name, source / name)
    assert cli_main(["tokenizer", "train", "--corpus", str(source), "--vocab-size", "400", "--out", str(tmp_path / "tok")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "tok.model").exists() and "vocabulary 400" in out
    assert "NOT exact" not in out
    assert cli_main(["tokenizer", "train", "--corpus", str(tmp_path / "missing")]) == 2
