"""The shared trainer: loss goes down, a SIGKILLed run resumes exactly, sharded steps agree."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run_tiny(workdir: Path, steps: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.helpers.train_tiny", str(workdir), str(steps), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def result(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess:
    """A 30-step run from the start to the end, to compare interrupted ones with."""
    return run_tiny(tmp_path_factory.mktemp("straight"), 30)


def test_killed_run_resumes_to_the_same_result(tmp_path: Path, uninterrupted: subprocess.CompletedProcess) -> None:
    first = uninterrupted
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


def test_ctrl_c_saves_where_it_stopped_and_the_rerun_ends_alike(tmp_path: Path,
                                                                uninterrupted: subprocess.CompletedProcess) -> None:
    """The first Ctrl-C stops training before its next step and saves there, never halfway through a save
    (orbax's threads would flood the terminal); rerun, it ends as an uninterrupted run does."""
    straight = result(uninterrupted)
    stopped = run_tiny(tmp_path / "stopped", 30, "--interrupt-at", "14")
    assert result(stopped) == {"interrupted": True}
    assert "interrupted: saving after this step" in stopped.stderr and "Traceback" not in stopped.stderr
    saved = sorted(int(p.name) for p in (tmp_path / "stopped" / "checkpoints").iterdir() if p.name.isdigit())
    assert 10 < saved[-1] <= 15, saved  # its own save, where it stopped (periodic ones: every 10 steps)
    resumed = result(run_tiny(tmp_path / "stopped", 30))
    assert abs(resumed["loss"] - straight["loss"]) < 1e-6
    assert abs(resumed["checksum"] - straight["checksum"]) < 1e-4 * straight["checksum"]


def test_sharded_train_step_matches_single_device(tmp_path: Path) -> None:
    single = result(run_tiny(tmp_path / "single", 4, "--devices", "8", "--mesh", "data=1"))
    assert single["devices"] == 8
    for mesh in ("data=2,fsdp=2,tensor=2", "fsdp=4,tensor=2"):
        sharded = result(run_tiny(tmp_path / mesh.replace(",", "_"), 4, "--devices", "8", "--mesh", mesh))
        assert abs(sharded["loss"] - single["loss"]) < 1e-4, (mesh, sharded, single)
        assert abs(sharded["checksum"] - single["checksum"]) < 1e-4 * single["checksum"]


def test_learning_rate_is_warmup_then_cosine_as_optax_has_it() -> None:
    import optax

    from alphacode.config import TrainConfig
    from alphacode.train import learning_rate
    configs = (TrainConfig(steps=976, learning_rate=2e-3), TrainConfig(steps=5), TrainConfig(steps=40, warmup_steps=0))
    for config in configs:
        warmup = max(1, config.resolved().warmup_steps)
        optax_schedule = optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup,
                                                            max(config.steps, warmup + 1),
                                                            config.learning_rate * config.final_lr_fraction)
        for step in range(config.steps + 2):
            assert abs(learning_rate(config, step) - float(optax_schedule(step))) < 1e-9


def test_a_time_budget_plans_with_the_step_the_run_uses(tmp_path: Path) -> None:
    """The planner times the real step; the run then trains with that compilation, not a second one."""
    from alphacode.config import TrainConfig
    from alphacode.train import run_training
    from pretrain.objective import pretrain_loss
    from tests.helpers.train_tiny import ArrayBatches, tiny_model_and_examples

    config, arrays = tiny_model_and_examples()
    said: list[str] = []
    budget = TrainConfig(seconds=1.0, batch_size=8, log_every=5)
    summary, trainer = run_training(config, budget, pretrain_loss, tmp_path, ArrayBatches(arrays, 8), None,
                                    lengths=(16, 16), run_info={}, say=said.append, progress=False)
    assert said[0].startswith("plan: ") and summary.last_step == trainer.config.steps >= 10
    assert trainer.train_step._cache_size() == 1
    # the planned run's schedule, not the probe's: it ends at final_lr_fraction of the peak
    assert abs(summary.last_metrics["learning_rate"] - 0.1 * 2e-3) < 1e-6


def test_attention_that_falls_back_says_so(tmp_path: Path) -> None:
    """cuDNN's attention asked for on a CPU trains with XLA's: documented, but nothing said it at run time."""
    from alphacode.config import TrainConfig
    from alphacode.train import run_training
    from pretrain.objective import pretrain_loss
    from tests.helpers.train_tiny import ArrayBatches, tiny_model_and_examples

    config, arrays = tiny_model_and_examples()
    said: list[str] = []
    run_training(config.replace(attention="cudnn"), TrainConfig(steps=1, batch_size=8), pretrain_loss, tmp_path,
                 ArrayBatches(arrays, 8), None, lengths=(16, 16), run_info={}, say=said.append, progress=False)
    assert said[0].startswith("attention: xla, not cudnn")


def test_reading_a_run_is_quiet_and_one_of_another_structure_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fine-tuning from a run and loading its weights open its checkpoints read-only; orbax's notice of that
    would reach the user's terminal on every such command."""
    import numpy as np
    import orbax.checkpoint as ocp

    import jax

    from alphacode.checkpoint import latest_step, open_manager, restore_latest
    from alphacode.errors import UserError

    with open_manager(tmp_path) as manager:
        manager.save(3, args=ocp.args.StandardSave({"x": np.zeros(2)}))
    with caplog.at_level(logging.WARNING):
        assert latest_step(tmp_path) == 3
    assert not [record for record in caplog.records if "read only" in record.getMessage()]
    leaf = jax.ShapeDtypeStruct((2,), np.float32)
    other = {"x": leaf, "y": leaf}  # a run of another structure: not a damaged checkpoint
    with pytest.raises(UserError, match=r"checkpoints/3: does not fit this run's state"):
        restore_latest(tmp_path, other)


def test_a_checkpoint_of_random_bytes_is_one_line(tmp_path: Path) -> None:
    """A damaged copy's first failed read ends orbax's event loop; TensorStore's other reads then called back into
    it, each printing a traceback after the one-line error."""
    import numpy as np
    import orbax.checkpoint as ocp

    from alphacode.checkpoint import open_manager

    with open_manager(tmp_path) as manager:
        manager.save(1, args=ocp.args.StandardSave({f"w{i}": np.arange(4096.0) + i for i in range(24)}))
    data = [path for path in (tmp_path / "checkpoints" / "1").rglob("*") if path.parent.name == "d"]
    assert data
    for path in data:
        path.write_bytes(os.urandom(path.stat().st_size))
    script = ("import sys\nfrom alphacode.checkpoint import load_params\nfrom alphacode.errors import UserError\n"
              "try:\n    load_params(sys.argv[1])\nexcept UserError as err:\n    sys.exit(f'error: {err}')\n")
    for _ in range(3):  # the stray callbacks race the exit: most runs printed some
        run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120,
                             check=False)
        assert run.returncode == 1 and "unreadable checkpoint" in run.stderr
        assert run.stderr.count("\n") == 1, run.stderr
