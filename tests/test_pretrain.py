"""The pretraining data path: corpus -> tokenizer -> record shards -> rows -> trainer, and its experiments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from alphacode.config import TrainConfig, load_experiment
from alphacode.data import RecordShards, read_shard_manifest
from alphacode.errors import UserError
from alphacode.model import BOS_ID, EOS_ID, PAD_ID, get_config
from alphacode.model.config import MASK_ID
from alphacode.tokenizer import Tokenizer
from alphacode.train import Trainer
from pretrain.corpus import iter_corpus
from pretrain.examples import PretrainRows
from pretrain.objective import pretrain_loss
from pretrain.pipeline import PretrainData, prepare
from tests.conftest import ROOT

LENGTHS = (48, 40)
STDLIB = ["textwrap.py", "bisect.py", "heapq.py", "fractions.py", "colorsys.py", "shlex.py", "glob.py",
          "fnmatch.py", "string.py", "keyword.py", "numbers.py", "queue.py", "sched.py", "graphlib.py"]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of the standard library to build corpora from."""
    folder = tmp_path_factory.mktemp("source")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in STDLIB:
        shutil.copy(stdlib / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def prepared(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory with the corpus, a small tokenizer and the record shards."""
    workdir = tmp_path_factory.mktemp("pretrain")
    prepare(PretrainData(corpus=(str(source),), vocab_size=600, lengths=LENGTHS, shards=3), workdir, say=lambda _: None)
    return workdir


def test_rows_hold_the_random_split_objective(prepared: Path) -> None:
    tokenizer = Tokenizer.load(prepared / "tokenizer.model")
    files = [tokenizer.encode(f.content) for f in iter_corpus(prepared / "corpus")]
    data = PretrainRows(RecordShards(prepared / "tokens" / "train"), 64, LENGTHS, seed=0).rows(0, 0, 64)
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


def test_trainer_learns_from_the_rows(prepared: Path, tmp_path: Path) -> None:
    config = get_config("tiny", vocab_size=600, d_model=64, num_heads=4, head_dim=16, d_ff=128, decoder_layers=2,
                        encoder_layers=1)
    trainer = Trainer(config, TrainConfig(steps=60, batch_size=8, learning_rate=1e-2, warmup_steps=3, log_every=5,
                                          eval_every=60, checkpoint_every=60), pretrain_loss, tmp_path, example_lengths=LENGTHS)
    summary = trainer.train(PretrainRows(RecordShards(prepared / "tokens" / "train"), 8, LENGTHS),
                            PretrainRows(RecordShards(prepared / "tokens" / "valid"), 8, LENGTHS, seed=1), progress=False)
    assert summary.last_metrics["decoder_loss"] < 0.8 * summary.first_metrics["decoder_loss"]
    assert np.isfinite(summary.eval_metrics["loss"]) and summary.startup_seconds > 0
    assert summary.last_metrics["host_ms_per_step"] >= 0 and summary.last_metrics["batch_ms"] > 0
    assert (tmp_path / "metrics.jsonl").exists() and any((tmp_path / "tensorboard").iterdir())


def test_shards_are_reused_not_rewritten_and_carry_their_tokenizer(prepared: Path, source: Path, tmp_path: Path) -> None:
    before = (prepared / "tokens" / "train" / "manifest.json").stat().st_mtime_ns
    data = PretrainData(corpus=(str(source),), vocab_size=600, lengths=LENGTHS, shards=3)
    prepare(data, prepared, say=lambda _: None)
    assert (prepared / "tokens" / "train" / "manifest.json").stat().st_mtime_ns == before
    manifest = read_shard_manifest(prepared / "tokens" / "train")
    assert manifest["tokenizer"] == Tokenizer.load(prepared / "tokenizer.model").digest and len(manifest["shards"]) == 3
    # carried elsewhere: shards and tokenizer are used as they are, no corpus is built
    carried = prepare(PretrainData(tokens=str(prepared / "tokens"), tokenizer=str(prepared / "tokenizer.model")),
                      tmp_path, say=lambda _: None)
    assert carried.tokens == prepared / "tokens" and not (tmp_path / "corpus").exists()
    other = tmp_path / "other"
    prepare(PretrainData(corpus=(str(source),), vocab_size=500, lengths=LENGTHS), other, say=lambda _: None)
    with pytest.raises(Exception, match="made with another tokenizer"):
        prepare(PretrainData(tokens=str(prepared / "tokens"), tokenizer=str(other / "tokenizer.model")), tmp_path)


def record_lengths(shard_dir: Path) -> list[int]:
    shards = RecordShards(shard_dir)
    return [int(n) for i in range(len(shards)) for n in np.diff(shards.shard(i).streams["tokens"].offsets)]


def test_files_cut_at_max_file_tokens_and_only_reused_at_the_same_cut(prepared: Path, source: Path,
                                                                     tmp_path: Path) -> None:
    work = tmp_path / "cut"
    shutil.copytree(prepared / "corpus", work / "corpus")
    shutil.copy(prepared / "tokenizer.model", work / "tokenizer.model")
    data = PretrainData(corpus=(str(source),), vocab_size=600, max_file_tokens=100, lengths=LENGTHS, shards=3)
    cut = prepare(data, work, say=lambda _: None)
    whole = record_lengths(prepared / "tokens" / "train")
    assert record_lengths(cut.tokens / "train") == [min(n, 100) for n in whole] and max(whole) > 100
    with pytest.raises(UserError, match="max_file_tokens=100, not 0"):
        prepare(PretrainData(tokens=str(cut.tokens), tokenizer=str(cut.tokenizer), lengths=LENGTHS), tmp_path)


def test_prepare_finds_complete_work_and_needs_no_valid_split(prepared: Path, source: Path, tmp_path: Path) -> None:
    def never(message: str) -> None:
        raise AssertionError(f"made again: {message}")

    data = PretrainData(corpus=(str(source),), vocab_size=600, lengths=LENGTHS, shards=3)
    work = tmp_path / "work"
    shutil.copytree(prepared, work)
    shutil.rmtree(work / "tokens" / "valid")  # a corpus too small to hold a file out has no valid split
    assert prepare(data, work, never, build=False).tokens == work / "tokens"
    shutil.rmtree(work / "tokens")  # tokenizing cut short leaves only tokens.partial, never taken for complete
    (work / "tokens.partial" / "train").mkdir(parents=True)
    with pytest.raises(UserError, match="needs the same work directory"):
        prepare(data, work, never, build=False)
    prepare(data, work, lambda _: None)
    assert read_shard_manifest(work / "tokens" / "valid") is not None and not (work / "tokens.partial").exists()
    with pytest.raises(UserError, match="corpus: built by an earlier command from other sources, not these"):
        prepare(replace(data, corpus=(str(tmp_path),)), work, never, build=False)
    with pytest.raises(UserError, match="corpus: built by an earlier command from other max_files=4000, not these"):
        prepare(replace(data, max_files=10), work, never, build=False)


def test_the_training_path_imports_no_tensorflow() -> None:
    code = ("import sys, alphacode.train, alphacode.data, pretrain.objective, pretrain.pipeline, finetune.pipeline, "
            "finetune.objective; print('tensorflow' in sys.modules, 'seqio' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]


def test_seqio_task_yields_the_trainers_rows(prepared: Path) -> None:
    """One definition of the pretraining example: the seqio task holds exactly the rows of the numpy batches."""
    from pretrain.seqio_tasks import examples, register_pretraining_task

    task = register_pretraining_task("test_pretraining", prepared / "tokens", prepared / "tokenizer.model",
                                     batch_size=4, lengths=LENGTHS, seed=7)
    through_seqio = examples(task, "train", 12)
    rows = PretrainRows(RecordShards(prepared / "tokens" / "train"), 4, LENGTHS, seed=7)
    numpy_rows = [rows.row(step, r) for step in range(3) for r in range(4)]
    assert len(through_seqio) == 12
    for ours, theirs in zip(numpy_rows, through_seqio):
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key])
    valid = examples(task, "valid", 1)[0]
    np.testing.assert_array_equal(valid["decoder_target_tokens"], PretrainRows(
        RecordShards(prepared / "tokens" / "valid"), 4, LENGTHS, seed=8).row(0, 0)["decoder_target_tokens"])


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
    assert cli_main(["tokenizer", "train", "--corpus", str(source), "--out", f"{tmp_path}/"]) == 2  # not tmp/.model
    assert "a folder; give a file prefix" in capsys.readouterr().err


def test_experiments_resolve_override_and_guard_their_workdir(source: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    from alphacode.cli import main as cli_main

    experiment = load_experiment("pretrain-tiny", ["train.steps=5", "train.batch_size=8", "data.lengths=64,32",
                                                   "data.corpus=/a,/b", "train.seconds=none"])
    assert (experiment.train.steps, experiment.train.batch_size, experiment.data.lengths) == (5, 8, (64, 32))
    assert experiment.data.corpus == ("/a", "/b") and experiment.model.name == "tiny"
    broken_syntax, raising = tmp_path / "broken.py", tmp_path / "raising.py"
    broken_syntax.write_text("def get_config(:\n")
    raising.write_text("def get_config():\n    raise RuntimeError('boom')\n")
    returning = tmp_path / "returning.py"
    returning.write_text("def get_config():\n    pass\n")
    for argv, message in [
        (["--set", "nonexistent.key=1"], "--set nonexistent.key: no field 'nonexistent'"),
        (["--set", "train.steps=five"], "--set train.steps=five: expected int"),
        (["--set", "train.stepz=5"], "--set train.stepz: no field 'stepz'"),
        (["--set", "train"], "expected KEY=VALUE"),
        (["--experiment", "no-such-experiment"], "unknown experiment 'no-such-experiment'"),
        (["--experiment", "finetune-tiny"], "is a finetune experiment"),
        (["--set", "train.learning_rate=nan"], "--set train.learning_rate=nan: expected a finite number"),
        (["--set", "train.learning_rate=0"], "train: out of range: learning_rate=0.0"),
        (["--set", "model.num_kv_heads=0"], "model sizes must be at least 1, got num_kv_heads=0"),
        (["--set", "model.dtype=float8"], "dtype='float8': expected one of float32, bfloat16, float16"),
        (["--set", "model.rope_base=0"], "rope_base must be above 1, got 0.0"),
        (["--set", "data.lengths=1000,1000"], "data.lengths=(1000, 1000) exceed the model's max_encoder_length"),
        (["--set", "data.prefix_fraction=-1", "--set", "train.seed=-1"], "out of range: prefix_fraction=-1.0"),
        (["--set", "train.seed=-1"], "train: out of range: seed=-1"),
        (["--set", f"data.tokenizer={tmp_path}"], f"{tmp_path}: not a file; expected a tokenizer .model file"),
        (["--set", f"data.tokens={raising}"], f"{raising}: not a folder; expected record shards"),
        (["--experiment", str(tmp_path)], f"{tmp_path}: is a directory, not experiment file"),
        (["--experiment", str(broken_syntax)], f"{broken_syntax}:1: invalid syntax"),
        (["--experiment", str(raising)], f"{raising}: get_config() failed: RuntimeError: boom"),
        (["--experiment", str(returning)], f"{returning}: get_config() returned NoneType, not an Experiment"),
    ]:
        assert cli_main(["pretrain", *argv, "--workdir", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    small = ["pretrain", "--set", f"data.corpus={source}", "--set", "data.vocab_size=600", "--set",
             "model.vocab_size=600", "--set", "data.lengths=32,32", "--set", "model.d_model=32", "--set",
             "model.num_heads=2", "--set", "model.head_dim=16", "--set", "model.d_ff=64", "--set",
             "model.encoder_layers=1", "--set", "model.decoder_layers=1", "--set", "train.batch_size=4",
             "--workdir", str(tmp_path / "run")]
    assert cli_main([*small, "--steps", "2", "--set", f"data.corpus={tmp_path / 'typo'}"]) == 2
    assert "typo: no such file" in capsys.readouterr().err  # a run that failed before training records nothing,
    assert not (tmp_path / "run" / "config.json").exists()  # so the corrected command is not refused
    assert cli_main([*small, "--steps", "2"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["experiment"]["train"]["steps"] == 2 and saved["experiment"]["data"]["lengths"] == [32, 32]
    assert saved["provenance"]["version"] and "commit" in saved["provenance"]
    assert cli_main([*small, "--steps", "3"]) == 0  # more steps: trains on
    out = capsys.readouterr().out
    assert "resumed from step 2" in out and "speed: not measured (one step)" in out and "nan" not in out, out
    assert cli_main([*small, "--steps", "3"]) == 0
    assert "nothing to train: " in capsys.readouterr().out
    assert cli_main([*small, "--steps", "3", "--set", "data.vocab_size=700", "--prepare-only"]) == 2
    err = capsys.readouterr().err
    assert "tokenizer.model: has 600 pieces, but data.vocab_size is 700; set data.vocab_size=600" in err
    assert cli_main([*small, "--steps", "3", "--set", "train.learning_rate=0.1", "--set", "data.mlm_rate=0.2"]) == 2
    err = capsys.readouterr().err
    assert "differs in data.mlm_rate, train.learning_rate" in err and err.count("\n") == 1
    (tmp_path / "run" / "checkpoints" / "3" / "default" / "_METADATA").write_text("{")  # a damaged copy of the run
    assert cli_main([*small, "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("alphacode pretrain: error: ") == 1 and "checkpoints/3: unreadable checkpoint" in err
