"""``alphacode finetune`` before training starts: which data it accepts, and what it may start from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alphacode.cli import main as cli_main
from alphacode.errors import CommandFailed
from alphacode.model.export import DEFAULT_MODEL_DIR, load_model
from tests.conftest import ROOT

TOKENIZER = str(DEFAULT_MODEL_DIR / "tokenizer.model")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each fine-tuning run was about to train on; the run stops there (exit 1) instead of training."""
    import alphacode.train

    calls: list[dict[str, Any]] = []

    def stop(model: Any, config: Any, loss: Any, workdir: Any, source: Any, valid: Any, **kwargs: Any) -> None:
        calls.append({"model": model, "source": source, **kwargs})
        raise CommandFailed("stopped before training")

    monkeypatch.setattr(alphacode.train, "run_training", stop)
    return calls


def test_finetune_refuses_public_test_and_valid_files(public_layout: Path, tmp_path: Path, started: list,
                                                      capsys: pytest.CaptureFixture) -> None:
    small = ["--set", "data.init=none", "--set", f"data.tokenizer={TOKENIZER}", "--set", "model.vocab_size=8000",
             "--set", "data.rates.functions=0", "--set", "data.rates.exercises=0"]
    for name, split in [("test-00000-of-00001.parquet", "test"), ("valid-00000-of-00001.parquet", "valid")]:
        argv = ["finetune", "--data", str(public_layout / name), *small]
        assert cli_main([*argv, "--workdir", str(tmp_path / split)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name}: named as a public {split}-split file" in err
        assert "allow_eval_splits" in err
        assert cli_main([*argv, "--allow-eval-splits", "--workdir", str(tmp_path / f"{split}-allowed")]) == 1
        assert started.pop()["run_info"]["experiment"]["data"]["allow_eval_splits"] is True
        assert capsys.readouterr().err.endswith("alphacode finetune: stopped before training\n")
    afile = tmp_path / "afile.txt"
    afile.write_text("")
    argv = ["finetune", "--data", str(public_layout), *small, "--workdir", str(tmp_path / "run")]
    assert cli_main([*argv, "--set", f"data.export={afile}"]) == 2  # refused before the data, not after training
    assert capsys.readouterr().err.endswith(f"{afile}: exists and is not a folder (data.export)\n")
    assert cli_main([*argv, "--set", f"data.export={tmp_path / 'model'}"]) == 1
    started.pop()
    assert cli_main(argv) == 1  # the same run writing its model elsewhere (or nowhere) is not another experiment
    call = started.pop()  # the directory: train-* files to train on, valid-* to evaluate
    # the run keeps its tokenizer, so `--checkpoint` on it finds one wherever data.tokenizer was
    assert (tmp_path / "run" / "tokenizer.model").read_bytes() == Path(TOKENIZER).read_bytes()
    assert call["run_info"]["experiment"]["data"]["allow_eval_splits"] is False
    assert set(call["source"].tasks) == {"contest", "test_inputs"}


def shapes(tree: Any) -> Any:
    return {k: shapes(v) for k, v in tree.items()} if isinstance(tree, dict) else tree.shape


def test_finetune_starts_from_the_bundled_model_export(public_layout: Path, tmp_path: Path, started: list) -> None:
    assert cli_main(["finetune", "--experiment", "default-finetune-gpu", "--init", str(DEFAULT_MODEL_DIR),
                     "--data", str(public_layout), "--workdir", str(tmp_path / "run"),
                     "--set", "data.rates.functions=0", "--set", "data.rates.exercises=0"]) == 1
    call = started.pop()
    bundled = load_model(DEFAULT_MODEL_DIR)
    assert call["model"].replace(dtype="float32", name=bundled.config.name, attention="xla") == bundled.config
    assert call["init_checkpoint"] is None and shapes(call["init_params"]) == shapes(bundled.params)


def test_finetune_init_names_what_is_missing(tmp_path: Path, public_layout: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["finetune", "--init", str(tmp_path), "--data", str(public_layout),
                     "--workdir", str(tmp_path / "run")]) == 2
    assert "no config.json" in capsys.readouterr().err
    started = tmp_path / "started"  # a pretraining run killed before its first checkpoint
    (started / "checkpoints").mkdir(parents=True)
    assert cli_main(["finetune", "--init", str(started), "--data", str(public_layout),
                     "--workdir", str(tmp_path / "run2")]) == 2
    assert f"{started}: no checkpoint saved yet (data.init)" in capsys.readouterr().err


def test_task_shards_of_other_data_settings_are_refused(public_layout: Path, tmp_path: Path, started: list,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A run that failed after its tasks were made records no config; the corrected rerun was fed the old tasks."""
    small = ["--set", "data.init=none", "--set", f"data.tokenizer={TOKENIZER}", "--set", "model.vocab_size=8000",
             "--set", "data.rates.functions=0", "--set", "data.rates.exercises=0", "--workdir", str(tmp_path / "run")]
    assert cli_main(["finetune", "--data", str(public_layout), *small]) == 1
    started.pop()
    other = tmp_path / "other"
    other.mkdir()
    (other / "p.json").write_text((ROOT / "data" / "contest" / "plot-area.json").read_text())
    (tmp_path / "run" / "config.json").unlink()  # as if that run had failed before recording it
    assert cli_main(["finetune", "--data", str(other), *small]) == 2
    assert "tasks: made by an earlier command with other data settings (data.problems)" in capsys.readouterr().err
