"""Conventions every command keeps: a version, ``python -m alphacode``, and help that shows each flag's default."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import alphacode
from alphacode import cli
from alphacode.cli import build_parser, main
from tests.conftest import ROOT


def parsers(parser: argparse.ArgumentParser, name: str = "alphacode") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


def test_version_and_the_module_entry_point(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "alphacode", "--version"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == f"alphacode {alphacode.__version__}\n"
    (tmp_path / "p.json").write_text(json.dumps({"name": "p", "description": "print 1",
                                                 "public_tests": [{"input": "", "output": "1"}]}))
    (tmp_path / "w.py").write_text("print(2)\n")
    failed = subprocess.run([sys.executable, "-m", "alphacode", "judge", "w.py", "--problem", "p.json"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 1 and "token 1: expected '1', got '2'" in failed.stdout


def test_help_shows_every_flags_default() -> None:
    checked = 0
    for name, parser in parsers(build_parser()):
        formatter = parser.formatter_class(prog=name)
        for action in parser._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            assert action.help, f"{name} {action.option_strings[0]}: no help text"
            if action.default is not None and action.default is not False:
                assert "default" in formatter._get_help_string(action), f"{name} {action.option_strings[0]}"
                checked += 1
    assert checked > 40
    text = subprocess.run([sys.executable, "-m", "alphacode", "humaneval", "--help"], capture_output=True, text=True,
                          cwd=ROOT, check=True).stdout
    assert "(default: 1,10,100)" in " ".join(text.split())


def test_provenance_names_the_version_commit_and_utc_date() -> None:
    import datetime

    from alphacode.provenance import provenance

    block = provenance()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert block["version"] == alphacode.__version__ and block["commit"] == head.stdout.strip()
    assert isinstance(block["dirty"], bool)
    when = datetime.datetime.fromisoformat(block["date"])
    assert when.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.UTC) - when).total_seconds()) < 60


def test_a_flag_mistake_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    for argv in (["contest", "probs", "--budgets", "0"], ["nope"], ["judge"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and ": error: " in err and "--help)" in err
    assert main(["solve", "x.json", "--top-q", "0"]) == 2  # named by the subcommand it was given to
    assert capsys.readouterr().err == ("alphacode solve: error: unrecognized arguments: --top-q 0 "
                                       "(see alphacode solve --help)\n")
    config = ROOT / "alphacode" / "default_model" / "config.json"
    assert main(["sample", "--problems", "examples", "--out", "x", "--checkpoint", str(config)]) == 2
    assert capsys.readouterr().err.endswith(f"{config}: a file; expected a model export or training directory\n")


def test_running_out_of_device_memory_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def exhausted(args: argparse.Namespace) -> int:
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 18419001575784 bytes.\nmore detail")

    monkeypatch.setattr(cli, "cmd_judge", exhausted)
    assert main(["judge", "x.py", "--problem", "p.json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of device memory (RESOURCE_EXHAUSTED: Out of memory" in err

    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_judge", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # anything else is a bug to see whole
        main(["judge", "x.py", "--problem", "p.json"])


def test_an_error_from_a_ray_actor_is_its_cause_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Ray re-raises an actor's error with its traceback in the message; the user gets the cause's line."""
    from alphacode.errors import ConfigError

    class RayTaskError(ConfigError):  # the shape of ray.exceptions.RayTaskError(ConfigError)
        def __init__(self) -> None:
            super().__init__("ray::SamplingWorker.ready() (pid=1)\n  File ...\nConfigError: max_new_tokens ...")
            self.cause = ConfigError("max_new_tokens 100000 is over the model's 768 (max_decoder_length)")

    def fails_in_an_actor(args: argparse.Namespace) -> int:
        raise RayTaskError()

    monkeypatch.setattr(cli, "cmd_judge", fails_in_an_actor)
    assert main(["judge", "x.py", "--problem", "p.json"]) == 2
    assert capsys.readouterr().err == ("alphacode judge: error: max_new_tokens 100000 is over the model's 768 "
                                       "(max_decoder_length)\n")


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`alphacode ... | head` closes the pipe early: that was a BrokenPipeError traceback."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output buffered until exit, as usual
    command = subprocess.Popen([sys.executable, "-m", "alphacode", "model-info", "--config", "41b"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    command.stdout.close()
    err = command.stderr.read()
    assert command.wait(timeout=120) == 141 and err == b""
