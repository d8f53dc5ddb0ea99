"""Executors: this machine's sandbox and a pool of Ray actors give the same picks, stats and executions.

The Ray tests run ``alphacode select`` (and the selection stage in-process) on real ``ray start``
clusters: the session's one-node cluster in the default run, and in the slow run a two-node one
(``ray start --head --num-cpus 1`` and ``ray start --address ... --num-cpus 1``), which must run chunks
on both nodes. Killing an executor actor, or a whole worker node, in the middle of a run must leave the
picks and stats of the undisturbed run, with each (program, input) result counted once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from alphacode.cli import main
from alphacode.cluster import ray_session
from alphacode.errors import ConfigError
from alphacode.execution import Job, Outcome, Sandbox, SandboxError, Status, make_job
from alphacode.execution.executor import CRASH_NOTE, ExecutorOptions, LocalExecutor, RayExecutor, run_isolated
from alphacode.problems import Problem, Test
from clustering.cache import ExecutionCache
from clustering.pipeline import SelectionResult, select_submissions
from sampling.candidate import Candidate
from sampling.store import SampleStore
from tests.conftest import EXAMPLES
from tests.helpers.ray_cluster import Node, start_head, start_worker

PROBLEM = {"name": "largest", "description": "n, then n integers. Print the largest.",
           "public_tests": {"input": ["3\n1 5 2\n"], "output": ["5\n"]}}
READ = "n = int(input())\na = list(map(int, input().split()))\n"
# Three behaviours pass the example (two of them right), the rest do not: most of a pool is filtered out
# after one execution, and a few dozen programs run on the generated inputs.
PASSING = ["print(max(a))", "print(sorted(a)[-1])", "print(a[1])"]
FAILING = ["print(a[0])", "print(min(a))", "print(sum(a))", "print(1 / 0)", "print(n)"]
INPUTS = 4


def pool(size: int) -> list[Candidate]:
    """``size`` distinct trivial programs (a comment makes each distinct), one in 25 passing the example."""
    candidates = []
    for i in range(size):
        body = PASSING[i // 25 % 3] if i % 25 == 0 else FAILING[i % len(FAILING)]
        candidates.append(Candidate("largest", "python3", f"{READ}{body}  # {i}\n", logprob=-i / size, num_tokens=10))
    return candidates


def write_inputs(folder: Path, size: int) -> tuple[Path, Path]:
    problem, candidates = folder / "problem.json", folder / "candidates.jsonl"
    problem.write_text(json.dumps(PROBLEM))
    candidates.write_text("".join(json.dumps({"code": c.code, "language": c.language, "logprob": c.logprob,
                                              "num_tokens": c.num_tokens}) + "\n" for c in pool(size)))
    return problem, candidates


def comparable(result: SelectionResult | dict) -> tuple:
    """Picks and stats without the seconds: what must not depend on the executor."""
    data = result if isinstance(result, dict) else result.to_json()
    return data["submissions"], {k: v for k, v in data["stats"].items() if k != "seconds"}


def select_command(problem: Path, candidates: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "alphacode.cli", "select", str(problem), "--candidates", str(candidates),
            "--inputs", str(INPUTS), "--json", *extra]


def local_select(problem: Path, candidates: Path, capsys: pytest.CaptureFixture) -> dict:
    assert main(["select", str(problem), "--candidates", str(candidates), "--inputs", str(INPUTS), "--json",
                 "--executor", "local", "--workers", "2"]) == 0
    return json.loads(capsys.readouterr().out)


# --- the local executor and a program that brings its sandbox worker down -----------------------------------


class DyingWorkers:
    """A sandbox whose worker dies on the input ``die`` (as if a program had escaped and killed it), and which
    cannot run anything once ``broken``; everything else runs in the real sandbox, one job at a time."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.broken = False

    def iter_batch(self, jobs: Iterable[Job], progress: str | None = None) -> Iterator[tuple[int, list[Outcome]]]:
        for index, job in enumerate(jobs):
            if self.broken or b"die" in job.inputs:
                raise SandboxError("sandbox worker died (exit code -9)")
            yield index, self.sandbox.run_batch([job])[0]

    def run_batch(self, jobs: Sequence[Job]) -> list[list[Outcome]]:
        return [outcomes for _, outcomes in self.iter_batch(jobs)]


ECHO = "print(input())"


def test_a_program_that_brings_its_worker_down_gets_a_verdict_and_its_neighbours_their_results(sandbox) -> None:
    jobs = [make_job(ECHO, "python3", ["a", "b"]), make_job(ECHO, "python3", ["x", "die", "y"]),
            make_job("print(7)", "python3", [""]), make_job(ECHO, "python3", ["die"]), make_job(ECHO, "python3", ["z"])]
    results = run_isolated(DyingWorkers(sandbox), jobs)
    assert [[(o.status, o.stdout) for o in outcomes] for outcomes in results] == [
        [(Status.OK, b"a\n"), (Status.OK, b"b\n")],
        [(Status.OK, b"x\n"), (Status.SANDBOX_VIOLATION, b""), (Status.OK, b"y\n")],
        [(Status.OK, b"7\n")],
        [(Status.SANDBOX_VIOLATION, b"")],
        [(Status.OK, b"z\n")]]
    assert CRASH_NOTE in results[1][1].stderr_tail


def test_a_sandbox_that_cannot_run_anything_is_the_machines_fault_not_the_programs(sandbox) -> None:
    broken = DyingWorkers(sandbox)
    broken.broken = True
    with pytest.raises(SandboxError):
        run_isolated(broken, [make_job(ECHO, "python3", ["a"])])


def test_local_executor_runs_in_order_and_counts_its_executions(sandbox) -> None:
    executor = LocalExecutor(sandbox)
    jobs = [make_job(f"print({i} * int(input()))", "python3", ["1", "2"]) for i in range(6)]
    assert [[o.stdout for o in r] for r in executor.run_batch(jobs)] == [[f"{i}\n".encode(), f"{2 * i}\n".encode()]
                                                                         for i in range(6)]
    report = executor.report()
    assert (report.executor, report.workers, report.executions) == ("local", 2, 12)


def test_ray_is_the_default_exactly_when_the_command_joins_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ExecutorOptions().resolve(None) == "local"
    assert ExecutorOptions().resolve("10.0.0.1:6379") == "ray"
    assert ExecutorOptions("local").resolve("10.0.0.1:6379") == "local"
    assert ExecutorOptions("ray").resolve(None) == "ray"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert ExecutorOptions().resolve(None) == "ray"
    with pytest.raises(ConfigError, match="executor must be one of local, ray"):
        ExecutorOptions("gpu")


# --- Ray: one node in the default run ------------------------------------------------------------------------


def test_select_uses_the_cluster_RAY_ADDRESS_names_and_matches_the_local_executor(
        ray_head: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    problem, candidates = write_inputs(tmp_path, 200)
    local = local_select(problem, candidates, capsys)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_ADDRESS": ray_head}
    done = subprocess.run(select_command(problem, candidates), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Ray: joined the cluster at {ray_head} (from RAY_ADDRESS)" in done.stderr
    remote = json.loads(done.stdout)
    assert comparable(remote) == comparable(local)
    execution = remote["execution"]
    assert (execution["executor"], execution["workers"], len(execution["nodes"])) == ("ray", 1, 1)
    assert execution["executions"] == remote["stats"]["executions"] == local["stats"]["executions"]
    assert execution["chunks_retried"] == 0


def run_and_interrupt(address: str, candidates: list[Candidate], interrupt: Callable[[RayExecutor], None],
                      ) -> tuple[SelectionResult, RayExecutor]:
    """The selection stage on a Ray executor joined to ``address``; ``interrupt(executor)`` is called from
    another thread once the executor has returned a chunk and every actor of the pool has started and has
    chunks in hand."""
    problem = Problem(name="largest", description="", public_tests=(Test("3\n1 5 2\n", "5\n"),))
    with ray_session(address, None):
        executor = RayExecutor()
        try:
            def watch() -> None:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    busy = executor.actors()
                    if executor.report().chunks and len(busy) == executor.workers and all(a.chunks_in_flight
                                                                                           for a in busy):
                        interrupt(executor)
                        return
                    time.sleep(0.005)

            watcher = threading.Thread(target=watch)
            watcher.start()
            result = select_submissions(problem, candidates, ExecutionCache(executor), num_inputs=INPUTS)
            watcher.join()
            return result, executor
        finally:
            executor.close()


def reference(sandbox: Sandbox, candidates: list[Candidate]) -> SelectionResult:
    problem = Problem(name="largest", description="", public_tests=(Test("3\n1 5 2\n", "5\n"),))
    return select_submissions(problem, candidates, ExecutionCache(sandbox), num_inputs=INPUTS)


def kill_one_actor(executor: RayExecutor) -> None:
    os.kill(executor.actors()[0].pid, signal.SIGKILL)


def assert_same_and_counted_once(result: SelectionResult, undisturbed: SelectionResult, executor: RayExecutor) -> None:
    assert comparable(result) == comparable(undisturbed)
    report = executor.report()
    assert report.chunks_retried >= 1 and report.actors_replaced >= 1
    # the chunks whose results were used hold each (program, input) execution once: no more, no fewer
    assert report.executions == result.stats.executions == undisturbed.stats.executions


def test_an_actor_killed_mid_run_has_its_chunks_run_again_and_counted_once(ray_head: str, sandbox: Sandbox) -> None:
    candidates = pool(400)
    result, executor = run_and_interrupt(ray_head, candidates, kill_one_actor)
    assert_same_and_counted_once(result, reference(sandbox, candidates), executor)


def solve_store(out: Path) -> None:
    """Two units of four programs for ``staircase-rows`` in ``out/samples``, as a sampling run would leave them."""
    codes = ["print(0)", "print(1)", "print(2)", "print(3)"]
    with SampleStore.open_for_writing(out / "samples", {"model": "test"}, {"staircase-rows": 8}, 4) as store:
        for unit in range(2):
            store.write_unit("staircase-rows", unit, [Candidate("staircase-rows", "python3", f"{code}  # {unit}",
                                                                unit=unit, index=i) for i, code in enumerate(codes)])


def test_solve_filters_on_the_ray_executor_of_the_cluster_it_joins(ray_head: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``solve --address`` runs its programs on the cluster's executor by default (sampling is stubbed: the
    store is already full), with the local executor's picks and stats."""
    monkeypatch.setattr("clustering.solve.load_model", lambda checkpoint: object())
    monkeypatch.setattr("clustering.solve.read_model_config", lambda checkpoint: None)
    monkeypatch.setattr("clustering.solve.run_sampling", lambda *args, **kwargs: None)
    results = {}
    for name, flags in [("local", ["--executor", "local", "--sampling-workers", "0"]),
                        ("ray", ["--address", ray_head])]:
        solve_store(tmp_path / name)
        assert main(["solve", str(EXAMPLES / "staircase-rows.json"), "--checkpoint", str(tmp_path), "--samples", "8",
                     "--batch-size", "4", "--inputs", "2", "--out", str(tmp_path / name), "--json", *flags]) == 0
        results[name] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["ray"]["execution"]["executor"] == "ray" and results["local"]["execution"]["executor"] == "local"
    assert comparable(results["ray"]) == comparable(results["local"])
    assert results["ray"]["stats"]["sampled"] == 8


def test_solve_samples_and_filters_on_a_one_cpu_cluster(ray_head: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    """The sampling actor holds the cluster's only CPU: the executor's actor, started at the first batch to
    filter, waits for it instead of taking the CPU first (which would leave sampling waiting forever)."""
    done = subprocess.run([sys.executable, "-m", "alphacode.cli", "solve", str(EXAMPLES / "staircase-rows.json"),
                           "--checkpoint", str(tiny_model_dir), "--samples", "8", "--batch-size", "4", "--max-tokens",
                           "24", "--inputs", "2", "--address", ray_head, "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["stats"]["sampled"] == 8 and result["execution"]["executor"] == "ray"
    assert result["execution"]["executions"] == result["stats"]["executions"] > 0


# --- Ray: two nodes (slow) ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ray start --head --num-cpus 1`` and ``ray start --address ... --num-cpus 1``: its address."""
    logs = tmp_path_factory.mktemp("two-nodes")
    head, address = start_head(logs / "head.log")
    nodes = [head]
    try:
        nodes.append(start_worker(address, logs / "worker.log"))
        yield address
    finally:
        for node in reversed(nodes):
            node.stop()


@pytest.mark.slow
def test_select_spreads_chunks_over_both_nodes_with_the_local_executors_picks(
        two_nodes: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    problem, candidates = write_inputs(tmp_path, 2000)
    local = local_select(problem, candidates, capsys)
    done = subprocess.run(select_command(problem, candidates, "--executor", "ray", "--address", two_nodes),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    remote = json.loads(done.stdout)
    assert comparable(remote) == comparable(local)
    execution = remote["execution"]
    assert execution["workers"] == 2 and len(execution["nodes"]) == 2, execution
    assert all(node["chunks"] > 0 for node in execution["nodes"].values())
    assert execution["executions"] == remote["stats"]["executions"] == local["stats"]["executions"]


@pytest.mark.slow
def test_an_actor_killed_on_a_two_node_cluster_loses_nothing(two_nodes: str, sandbox: Sandbox) -> None:
    candidates = pool(2000)
    result, executor = run_and_interrupt(two_nodes, candidates, kill_one_actor)
    assert_same_and_counted_once(result, reference(sandbox, candidates), executor)


@pytest.mark.slow
def test_a_worker_node_that_dies_mid_run_has_its_chunks_run_on_the_others(
        two_nodes: str, sandbox: Sandbox, tmp_path: Path) -> None:
    """A third node joins for this test alone and crashes (every process of it killed at once) mid-run."""
    doomed: list[Node] = [start_worker(two_nodes, tmp_path / "doomed.log")]
    try:
        crashed: list[str] = []

        def crash_the_new_node(executor: RayExecutor) -> None:
            nodes = {a.node for a in executor.actors()}
            assert len(nodes) == 3, "one actor per node"
            doomed[0].crash()
            crashed.append("yes")

        candidates = pool(2000)
        result, executor = run_and_interrupt(two_nodes, candidates, crash_the_new_node)
        assert crashed
        assert_same_and_counted_once(result, reference(sandbox, candidates), executor)
    finally:
        doomed[0].stop()
