"""The shared trainer: loss goes down, a SIGKILLed run resumes exactly, sharded steps agree."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def run_tiny(workdir: Path, steps: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.helpers.train_tiny", str(workdir), str(steps), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def result(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    first = run_tiny(tmp_path / "straight", 30)
    straight = result(first)
    killed = run_tiny(tmp_path / "killed", 30, "--kill-at", "25")
    assert killed.returncode == -signal.SIGKILL
    # saves are asynchronous: the step-20 save may have died with the process, the step-10 one is complete
    assert (tmp_path / "killed" / "checkpoints" / "10").is_dir()
    rerun = run_tiny(tmp_path / "killed", 30)
    resumed = result(rerun)
    assert "resumed from" not in first.stdout
    assert re.search(r"^resumed from step (10|20)$", rerun.stdout, re.MULTILINE), rerun.stdout[-2000:]
    assert abs(resumed["loss"] - straight["loss"]) < 1e-6
    logged = [json.loads(line)["step"] for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["split"] == "train"]
    assert logged == list(range(1, 31))  # the steps the killed run logged after its checkpoint were dropped, once
    assert abs(resumed["checksum"] - straight["checksum"]) < 1e-4 * straight["checksum"]
    assert straight["loss"] < 0.6 * straight["first_loss"]


def test_sharded_train_step_matches_single_device(tmp_path: Path) -> None:
    single = result(run_tiny(tmp_path / "single", 4, "--devices", "8", "--mesh", "data=1"))
    assert single["devices"] == 8
    for mesh in ("data=2,fsdp=2,tensor=2", "fsdp=4,tensor=2"):
        sharded = result(run_tiny(tmp_path / mesh.replace(",", "_"), 4, "--devices", "8", "--mesh", mesh))
        assert abs(sharded["loss"] - single["loss"]) < 1e-4, (mesh, sharded, single)
        assert abs(sharded["checksum"] - single["checksum"]) < 1e-4 * single["checksum"]
