"""``alphacode finetune`` before training starts: which data it accepts, and what it may start from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alphacode.cli import main as cli_main
from alphacode.errors import CommandFailed
from alphacode.model.export import DEFAULT_MODEL_DIR, load_model, read_model_config

TOKENIZER = str(DEFAULT_MODEL_DIR / "tokenizer.model")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments each ``finetune`` call got; the call stops there (exit 1) instead of training."""
    import finetune.pipeline

    calls: list[dict[str, Any]] = []

    def stop(*args: Any, **kwargs: Any) -> None:
        calls.append(dict(zip(("config", "train_config", "workdir"), args), **kwargs))
        raise CommandFailed("stopped before training")

    monkeypatch.setattr(finetune.pipeline, "finetune", stop)
    return calls


def test_finetune_refuses_public_test_and_valid_files(public_layout: Path, tmp_path: Path, started: list,
                                                      capsys: pytest.CaptureFixture) -> None:
    for name, split in [("test-00000-of-00001.parquet", "test"), ("valid-00000-of-00001.parquet", "valid")]:
        argv = ["finetune", "--data", str(public_layout / name), "--workdir", str(tmp_path / "run"),
                "--tokenizer", TOKENIZER]
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name}: named as a public {split}-split file" in err
        assert "--allow-eval-splits" in err
        assert cli_main([*argv, "--allow-eval-splits"]) == 1  # asked for: it gets as far as training
        assert started.pop()["by_file_name"] is False
        assert capsys.readouterr().err == "alphacode finetune: stopped before training\n"
    assert cli_main(["finetune", "--data", str(public_layout), "--workdir", str(tmp_path / "run"),
                     "--tokenizer", TOKENIZER]) == 1
    assert started.pop()["by_file_name"] is True  # the directory: train-* files to train on, valid-* to evaluate
    assert not (tmp_path / "run").exists()


def shapes(tree: Any) -> Any:
    return {k: shapes(v) for k, v in tree.items()} if isinstance(tree, dict) else tree.shape


def test_finetune_starts_from_the_bundled_model_export(public_layout: Path, tmp_path: Path, started: list) -> None:
    assert cli_main(["finetune", "--init", str(DEFAULT_MODEL_DIR), "--data", str(public_layout),
                     "--workdir", str(tmp_path / "run")]) == 1
    call = started.pop()
    assert call["config"] == read_model_config(DEFAULT_MODEL_DIR)
    assert Path(call["tokenizer_model"]) == DEFAULT_MODEL_DIR / "tokenizer.model"
    assert shapes(call["init_params"]) == shapes(load_model(DEFAULT_MODEL_DIR).params)


def test_finetune_init_names_what_is_missing(tmp_path: Path, public_layout: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["finetune", "--init", str(tmp_path), "--data", str(public_layout)]) == 2
    assert "no config.json" in capsys.readouterr().err
