"""Sampling and selection together: a store filtered while it is written, ``--samples auto`` rounds, ``alphacode solve``."""

from __future__ import annotations

import json
import random
import time

import pytest

import alphacode
from alphacode.cli import main
from alphacode.problems import Problem
from clustering.cache import ExecutionCache
from clustering.pipeline import SelectionRun
from clustering.solve import AutoStop, filter_while, sample_until_stable
from sampling.candidate import Candidate
from sampling.store import SampleStore, StoreError, iter_candidates
from tests.conftest import EXAMPLES
from tests.test_clustering_pipeline import CORRECT, MIDDLE, PROBLEM, WRONG

UNIT = 4


def unit_of(codes: list[str], unit: int) -> list[Candidate]:
    return [Candidate(PROBLEM.name, "python3", code, unit=unit, index=i) for i, code in enumerate(codes)]


def test_store_is_filtered_while_it_is_written(sandbox, tmp_path):
    units = [[CORRECT[0], WRONG, MIDDLE, CORRECT[1]], [CORRECT[2], CORRECT[0], WRONG, WRONG], [MIDDLE] * UNIT]
    run = SelectionRun(PROBLEM, ExecutionCache(sandbox), num_inputs=6)
    seen_while_writing: list[int] = []

    def write() -> None:
        """The sampling job's part: a unit only after the reader has filtered the previous one."""
        with SampleStore.open_for_writing(tmp_path, {"model": "test"}, {PROBLEM.name: UNIT * len(units)}, UNIT) as store:
            for number, codes in enumerate(units):
                store.write_unit(PROBLEM.name, number, unit_of(codes, number))
                deadline = time.monotonic() + 60
                while run.stats().sampled < UNIT * (number + 1) and time.monotonic() < deadline:
                    time.sleep(0.02)
                seen_while_writing.append(run.stats().sampled)

    def follow(produced):
        return iter_candidates(tmp_path, PROBLEM.name, follow=True, poll_s=0.02, timeout_s=120, writer_done=produced)

    filter_while(write, follow, run, batch_size=UNIT)
    assert seen_while_writing == [4, 8, 12]
    stats = run.stats()
    assert (stats.sampled, stats.distinct, stats.passed_filter) == (12, 5, 4)
    picks = run.select("cluster")  # the popular wrong program wins here: 5 samples against 4
    assert [p.cluster_size for p in picks] == [5, 4, 4, 4] and [p.code for p in picks[:2]] == [MIDDLE, CORRECT[0]]


def test_filter_while_raises_the_readers_error(sandbox):
    def broken():
        yield Candidate(PROBLEM.name, "python3", CORRECT[0])
        raise OSError("store vanished")

    with pytest.raises(OSError, match="store vanished"):
        filter_while(lambda: None, lambda produced: broken(), SelectionRun(PROBLEM, ExecutionCache(sandbox), num_inputs=2),
                     batch_size=1)


def test_filter_while_stops_following_once_the_producer_has_ended(sandbox, tmp_path):
    def write_one_unit_of_two() -> None:
        with SampleStore.open_for_writing(tmp_path, {"model": "test"}, {PROBLEM.name: 2 * UNIT}, UNIT) as store:
            store.write_unit(PROBLEM.name, 0, unit_of([WRONG] * UNIT, 0))

    run = SelectionRun(PROBLEM, ExecutionCache(sandbox), num_inputs=2)
    with pytest.raises(StoreError, match="1 of 2 units and its sampling job has ended"):
        filter_while(write_one_unit_of_two, lambda produced: iter_candidates(
            tmp_path, PROBLEM.name, follow=True, poll_s=0.02, writer_done=produced), run, batch_size=UNIT)
    assert run.stats().sampled == UNIT


@pytest.mark.parametrize("stored_units", [2, 4])  # 2: a larger run was interrupted; 4: it completed
def test_solve_reads_only_the_samples_asked_for_from_a_store_planned_larger(sandbox, tmp_path, capsys, monkeypatch,
                                                                           stored_units):
    out = tmp_path / "solve"
    with SampleStore.open_for_writing(out / "samples", {"model": "test"}, {"staircase-rows": 4 * UNIT}, UNIT) as store:
        for unit in range(stored_units):
            store.write_unit("staircase-rows", unit, [Candidate("staircase-rows", "python3", f"print({unit})",
                                                                unit=unit, index=i) for i in range(UNIT)])
    asked: list[int] = []
    monkeypatch.setattr("clustering.solve.load_model", lambda checkpoint: object())
    monkeypatch.setattr("clustering.solve.read_model_config", lambda checkpoint: None)
    monkeypatch.setattr("clustering.solve.run_sampling", lambda problems, model, store, samples, **kw: asked.append(samples))
    args = ["solve", str(EXAMPLES / "staircase-rows.json"), "--checkpoint", str(tmp_path), "--samples", str(2 * UNIT),
            "--batch-size", str(UNIT), "--inputs", "2", "--workers", "1", "--out", str(out), "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stats = printed["stats"]
    assert asked == [2 * UNIT] and (stats["sampled"], stats["distinct"]) == (2 * UNIT, 2)  # units 0 and 1 only
    record = json.loads((out / "result.json").read_text())
    assert {k: v for k, v in record.items() if k not in ("settings", "provenance")} == printed
    assert record["settings"]["checkpoint"] == str(tmp_path) and record["settings"]["samples"] == 2 * UNIT
    assert record["settings"]["sampling"]["batch_size"] == UNIT and record["settings"]["problem"] == "staircase-rows"
    assert record["provenance"]["version"] == alphacode.__version__ and record["provenance"]["date"].endswith("+00:00")


class PoolSampler:
    """Draws from a fixed list of programs with replacement: a stand-in for a model."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.calls = 0

    def sample(self, problem: Problem, n: int, seed: int) -> list[Candidate]:
        self.calls += 1
        rng = random.Random(seed)
        return [Candidate(problem.name, "python3", rng.choice(self.codes), logprob=-1.0, num_tokens=1) for _ in range(n)]


def test_auto_stops_once_the_top_clusters_settle(sandbox):
    run = SelectionRun(PROBLEM, ExecutionCache(sandbox), num_inputs=6)
    stored: list[int] = []
    rounds = sample_until_stable(PROBLEM, PoolSampler(CORRECT + [MIDDLE, WRONG]), run,
                                 AutoStop(round_size=8, patience=2, max_samples=200), seed=1,
                                 on_round=lambda r, batch: stored.append(len(batch)))
    assert rounds.stable and rounds.rounds == 3 and rounds.samples == 24 == sum(stored) == run.stats().sampled
    assert {p.code for p in run.clusters()[0].members} == set(CORRECT)


def test_auto_stops_at_the_cap(sandbox):
    sampler = PoolSampler([f"input()\nprint(max(map(int, input().split())) + {i} * 0)\n" for i in range(40)])
    run = SelectionRun(PROBLEM, ExecutionCache(sandbox), num_inputs=3)
    rounds = sample_until_stable(PROBLEM, sampler, run, AutoStop(round_size=4, patience=3, max_samples=10, k=1))
    assert rounds.samples == 10 and rounds.rounds == 3 and sampler.calls == 3


def test_auto_settings_are_checked():
    with pytest.raises(ValueError):
        AutoStop(round_size=0)


@pytest.mark.slow
@pytest.mark.parametrize("samples, workers", [("auto", "0"), ("8", "1"), ("8", "0")])  # 1: on Ray, 0: in process
def test_solve_cli_with_a_tiny_model(tiny_model_dir, tmp_path, capsys, samples, workers):
    out = tmp_path / "solve"
    args = ["solve", str(EXAMPLES / "staircase-rows.json"), "--checkpoint", str(tiny_model_dir), "--samples", samples,
            "--round-size", "4", "--max-samples", "8", "--batch-size", "4", "--max-tokens", "16", "--out", str(out),
            "--inputs", "3", "--sampling-workers", workers, "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["stats"]["sampled"] == 8
    assert set(data["stats"]["seconds"]) == {"sample", "filter", "inputs", "cluster", "select"}
    assert ("auto" in data["stats"]) == (samples == "auto")
    record = json.loads((out / "result.json").read_text())
    assert {k: v for k, v in record.items() if k not in ("settings", "provenance")} == data
    assert sum(1 for _ in iter_candidates(out / "samples", "staircase-rows")) == 8
