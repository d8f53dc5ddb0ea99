"""Training on many hosts, shown with two processes on this CPU (one device each, gloo over 127.0.0.1).

Both processes run the same ``alphacode pretrain`` / ``finetune`` command with their own ``--process-id``;
each builds only its rows of every global batch. The losses must equal a one-process run with the same
global batch; only process 0 writes metrics; a run whose two processes are SIGKILLed after a checkpoint
resumes exactly when the same two commands run again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

SMALL = ["--set", "model.vocab_size=500", "--set", "model.d_model=64", "--set", "model.num_heads=2",
         "--set", "model.head_dim=32", "--set", "model.d_ff=128", "--set", "model.encoder_layers=1",
         "--set", "model.decoder_layers=2", "--set", "train.batch_size=8", "--set", "train.log_every=1",
         "--set", "train.eval_batches=1", "--set", "train.learning_rate=3e-3"]
PRETRAIN = ["pretrain", "--experiment", "pretrain-tiny", *SMALL, "--set", "data.vocab_size=500",
            "--set", "data.lengths=48,40", "--set", "data.max_files=60", "--set", "data.shards=4"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(argv: list[str], workdir: Path, processes: int, log: Path) -> list[subprocess.Popen]:
    """``alphacode ARGV --workdir WORKDIR`` as ``processes`` cooperating processes (or one plain process)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu"}
    base = [sys.executable, "-m", "alphacode.cli", *argv, "--workdir", str(workdir)]
    if processes == 1:
        commands = [base]
    else:
        port = free_port()
        commands = [[*base, "--coordinator-address", f"127.0.0.1:{port}", "--num-processes", str(processes),
                     "--process-id", str(i)] for i in range(processes)]
    return [subprocess.Popen(command, cwd=ROOT, env=env, stdout=(log.parent / f"{log.name}.{i}").open("w"),
                             stderr=subprocess.STDOUT) for i, command in enumerate(commands)]


def finish(running: list[subprocess.Popen], log: Path, timeout: float = 300) -> None:
    for i, process in enumerate(running):
        assert process.wait(timeout=timeout) == 0, (log.parent / f"{log.name}.{i}").read_text()[-3000:]


def losses(workdir: Path) -> dict[int, float]:
    """The training loss at every logged step (a resumed run's later lines replace earlier ones)."""
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["loss"] for row in rows if row["split"] == "train"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A few dozen stdlib files: enough text for a 500-piece tokenizer."""
    import shutil
    import sysconfig

    source = tmp_path_factory.mktemp("src")
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:60]:
        shutil.copy(path, source / path.name)
    return ["--set", f"data.corpus={source}"]


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_exactly_after_sigkill(tmp_path: Path, corpus: list[str]) -> None:
    argv = [*PRETRAIN, *corpus, "--set", "train.steps=10", "--set", "train.checkpoint_every=3"]
    finish(launch(argv, tmp_path / "one", 1, tmp_path / "one.log"), tmp_path / "one.log")
    finish(launch(argv, tmp_path / "two", 2, tmp_path / "two.log"), tmp_path / "two.log")
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(one) == sorted(two) == list(range(1, 11))
    assert all(abs(one[s] - two[s]) < 1e-4 for s in one), (one, two)
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len([line for line in lines if '"train"' in line]) == 10  # one writer: process 0
    assert "train:" not in (tmp_path / "two.log.1").read_text()  # no progress bar from process 1
    assert "step 1:" in (tmp_path / "two.log.0").read_text() and "step 1:" not in (tmp_path / "two.log.1").read_text()

    killed = tmp_path / "killed"
    running = launch(argv, killed, 2, tmp_path / "killed.log")
    deadline = time.monotonic() + 300
    while not (killed / "checkpoints" / "3").is_dir():
        assert time.monotonic() < deadline and all(p.poll() is None for p in running), "no checkpoint before the end"
        time.sleep(0.02)
    for process in running:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert max(losses(killed)) < 10
    finish(launch(argv, killed, 2, tmp_path / "again.log"), tmp_path / "again.log")
    assert "resumed from step" in (tmp_path / "again.log.0").read_text()
    resumed = losses(killed)
    assert all(abs(resumed[s] - one[s]) < 1e-4 for s in one), (resumed, one)

    pretrained = ["--init", str(tmp_path / "one"), *SMALL, "--set", "train.steps=2", "--set", "data.lengths=64,48",
                  "--set", "data.max_functions=50"]
    finish(launch(["finetune", *pretrained], tmp_path / "ft1", 1, tmp_path / "ft1.log"), tmp_path / "ft1.log")
    finish(launch(["finetune", *pretrained], tmp_path / "ft2", 2, tmp_path / "ft2.log"), tmp_path / "ft2.log")
    ft1, ft2 = losses(tmp_path / "ft1"), losses(tmp_path / "ft2")
    assert sorted(ft1) == sorted(ft2) == [1, 2] and all(abs(ft1[s] - ft2[s]) < 1e-4 for s in ft1), (ft1, ft2)


def test_each_process_builds_only_its_rows_of_the_same_batches(tmp_path: Path, corpus: list[str]) -> None:
    """Fast check of the mechanism behind the slow test: the rows two processes build are the rows one process
    builds, and each process touches only its share of the record shards."""
    from alphacode.cli import main as cli_main
    from alphacode.data import RecordShards
    from pretrain.examples import PretrainRows

    assert cli_main([*PRETRAIN, *corpus, "--workdir", str(tmp_path), "--prepare-only"]) == 0
    rows = PretrainRows(RecordShards(tmp_path / "tokens" / "train"), 8, (48, 40), seed=0)
    whole = rows.rows(3, 0, 8)
    first, second = (PretrainRows(RecordShards(tmp_path / "tokens" / "train"), 8, (48, 40), seed=0)
                     for _ in range(2))
    halves = [first.rows(3, 0, 4), second.rows(3, 4, 8)]
    for key, value in whole.items():
        assert (value == [*halves[0][key], *halves[1][key]]).all(), key
    assert len(first.shards._loaded) == len(second.shards._loaded) == 2  # of the 4 shards
    assert set(first.shards._loaded).isdisjoint(second.shards._loaded)


def test_a_process_that_cannot_see_the_prepared_data_says_the_hosts_must_share_the_workdir(tmp_path: Path) -> None:
    """On many hosts only process 0 prepares the data; the others find it in the same work directory."""
    from alphacode.hosts import UnsharedWorkdir
    from finetune import pipeline as finetune_pipeline
    from pretrain import pipeline as pretrain_pipeline

    with pytest.raises(UnsharedWorkdir, match="needs the same work directory"):
        pretrain_pipeline.prepare(pretrain_pipeline.PretrainData(), tmp_path / "pretrain", build=False)
    data = finetune_pipeline.FinetuneData(problems=str(ROOT / "data" / "contest"),
                                          tokenizer=str(ROOT / "alphacode" / "default_model" / "tokenizer.model"))
    with pytest.raises(UnsharedWorkdir, match="needs the same work directory"):
        finetune_pipeline.prepare(data, tmp_path / "finetune", build=False)


def test_host_flags_are_checked_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A coordinator address without a usable port crashed (an IndexError, a segfault in gRPC) or hung."""
    from alphacode.cli import main as cli_main

    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for address, process, message in [
            ("nonsense", 0, "'nonsense': expected HOST:PORT, with a port in 1..65535"),
            ("127.0.0.1:abc", 0, "expected HOST:PORT"), (":45200", 0, "expected HOST:PORT"),
            ("127.0.0.1:99999", 0, "expected HOST:PORT"), ("127.0.0.1:1", 5, "--process-id 5 is not in 0..1"),
            (f"127.0.0.1:{taken}", 0, f"port {taken} is not free here"),
        ]:
            argv = ["pretrain", "--experiment", "pretrain-tiny", "--coordinator-address", address, "--num-processes",
                    "2", "--process-id", str(process), "--workdir", str(tmp_path / "run")]
            assert cli_main(argv + (["--prepare-only"] if process else [])) == 2
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, err
