"""The selection pipeline in the sandbox: filtering with rejection counts, clustering, the cache, streaming."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator

import pytest

from alphacode.execution import Limits, Outcome, Status
from alphacode.execution.judge import Verdict
from alphacode.problems import Problem, Test
from clustering.cache import ExecutionCache
from clustering.pipeline import SelectionRun, select_submissions
from sampling.candidate import Candidate

PROBLEM = Problem(
    name="largest", description="The first line holds n (1 ≤ n ≤ 20), the second n integers a_i (1 ≤ a_i ≤ 1000). "
                                "Print the largest.",
    public_tests=(Test("3\n1 5 2\n", "5\n"),), private_tests=(Test("4\n9 1 1 3\n", "9\n"),), time_limit=1.0)

CORRECT = [
    "n = int(input())\nprint(max(map(int, input().split())))\n",
    "input()\nvalues = [int(v) for v in input().split()]\nprint(max(values))\n",
    "import sys\ndata = sys.stdin.read().split()\nprint(sorted(map(int, data[1:]))[-1])\n",
]
MIDDLE = "input()\nprint(input().split()[1])\n"  # right on the example only
WRONG = "input()\nprint(input().split()[0])\n"
CRASH = "raise ValueError('no')\n"
SYNTAX = "print(\n"


def candidates(codes: list[str], language: str = "python3") -> list[Candidate]:
    return [Candidate(PROBLEM.name, language, code) for code in codes]


@pytest.fixture
def cache(sandbox) -> ExecutionCache:
    return ExecutionCache(sandbox)


def test_filter_counts_rejections_and_clusters_by_behaviour(cache):
    pool = candidates([CORRECT[0], MIDDLE, WRONG, CRASH, CORRECT[1], SYNTAX, CORRECT[0], CORRECT[2]])
    pool.append(Candidate(PROBLEM.name, "java", "class A {}"))
    run = SelectionRun(PROBLEM, cache, num_inputs=8)
    run.add(pool)
    clusters = run.clusters()
    assert [c.size for c in clusters] == [4, 1]  # CORRECT[0] was sampled twice
    assert {p.code for p in clusters[0].members} == set(CORRECT)
    assert clusters[1].members[0].code == MIDDLE
    stats = run.stats()
    assert (stats.sampled, stats.distinct, stats.passed_filter, stats.passed_filter_samples) == (9, 8, 4, 5)
    assert stats.rejected == {"WRONG_ANSWER": 1, "RUNTIME_ERROR": 1, "COMPILE_ERROR": 1, "UNSUPPORTED_LANGUAGE": 1}
    assert stats.inputs_kept == 8 and stats.clusters == 2 and set(stats.seconds) == {"filter", "inputs", "cluster", "select"}
    picks = run.select("cluster", k=10)
    assert [p.cluster_size for p in picks] == [4, 1, 4, 4]  # one per cluster, then round again
    assert picks[0].code == CORRECT[0] and picks[0].position == 0


def test_subsets_reselect_without_new_executions(cache):
    run = SelectionRun(PROBLEM, cache, num_inputs=6)
    run.add(candidates([MIDDLE, CORRECT[0], WRONG, CORRECT[1], MIDDLE]))
    full = run.select("cluster", k=2)
    assert [p.cluster_size for p in full] == [2, 2] and {full[0].code, full[1].code} == {MIDDLE, CORRECT[0]}
    before = cache.executions
    only_correct = run.select("cluster", k=10, samples=[1, 3])
    assert {p.code for p in only_correct} == {CORRECT[0], CORRECT[1]}
    assert [p.cluster_size for p in run.select("codet", k=1, samples=[0, 1, 4])] == [2]
    assert cache.executions == before
    again = SelectionRun(PROBLEM, cache, num_inputs=6)
    again.add(candidates([MIDDLE, CORRECT[0], WRONG, CORRECT[1], MIDDLE]))
    again.select("cluster")
    assert cache.executions == before and again.stats().executions == 0


def test_input_validation_drops_inputs_most_programs_crash_on(cache):
    class Fixed:
        def generate(self, problem: Problem, n: int, seed: int) -> list[str]:
            return ["2\n7 3\n", "2\nx y\n", "3\n4 4 8\n"][:n]

    run = SelectionRun(PROBLEM, cache, generator=Fixed(), num_inputs=2)
    run.add(candidates(CORRECT + [MIDDLE]))
    assert run.inputs() == ("2\n7 3\n", "3\n4 4 8\n")
    assert run.stats().inputs_generated == 3 and run.stats().inputs_kept == 2


def test_streaming_filters_each_batch_before_the_stream_ends(cache):
    seen_executions: list[int] = []

    def stream() -> Iterator[Candidate]:
        for i, code in enumerate(CORRECT + [MIDDLE, WRONG, CORRECT[0]]):
            seen_executions.append(cache.executions)
            yield Candidate(PROBLEM.name, "python3", code, logprob=-float(i), num_tokens=1)

    before = cache.executions
    result = select_submissions(PROBLEM, stream(), cache, strategy="logprob", num_inputs=4, batch_size=2)
    assert seen_executions[2] > before and seen_executions[4] > seen_executions[2]  # batches 1 and 2 ran already
    assert [p.code for p in result.submissions] == [CORRECT[0], CORRECT[1], CORRECT[2], MIDDLE]
    data = result.to_json()
    assert data["submissions"][0] == {"code": CORRECT[0], "language": "python3", "cluster_size": 4}
    assert data["stats"]["sampled"] == 6 and data["stats"]["passed_filter"] == 4


def test_nothing_passes_the_filter(cache):
    result = select_submissions(PROBLEM, candidates([WRONG, CRASH]), cache)
    assert result.submissions == () and result.stats.passed_filter == 0 and result.stats.clusters == 0


def test_cpp_and_python_programs_cluster_together(cache):
    cpp = ("#include <bits/stdc++.h>\nint main(){int n;std::cin>>n;int b=0;for(int i=0;i<n;i++){int x;std::cin>>x;"
           "b=std::max(b,x);}std::cout<<b<<std::endl;}\n")
    run = SelectionRun(PROBLEM, cache, num_inputs=5)
    run.add(candidates([CORRECT[0], MIDDLE]) + candidates([cpp], "cpp"))
    [top, _] = run.clusters()
    assert {p.language for p in top.members} == {"python3", "cpp"}


def test_function_style_problems_run_through_the_driver(cache):
    problem = Problem(name="add", description="", entry_point="add",
                      public_tests=(Test("(2, 3)", "5"), Test("(0, 0)", "0")))
    pool = [Candidate("add", "python3", code) for code in (
        "def add(a, b):\n    return a + b\n", "def add(x, y):\n    return y + x\n",
        "def add(a, b):\n    return a + b if a < 3 else a * b\n", "def add(a, b):\n    return a * b\n")]
    run = SelectionRun(problem, cache, num_inputs=6)
    run.add(pool)
    assert run.stats().rejected == {"WRONG_ANSWER": 1}
    assert [c.size for c in run.clusters()] == [2, 1]


class LoudExecutor:
    """Every program prints 64 KiB on every input (the output cap's worth), without running anything."""

    workers = 1

    def run_batch(self, jobs, progress=None):
        return [[Outcome(Status.OK, stdout=os.urandom(32 * 1024).hex().encode(), completed=True) for _ in job.inputs]
                for job in jobs]


def test_the_cache_keeps_verdicts_and_digests_not_outputs() -> None:
    """A pool of programs that print the output cap on every input held all of it in the driver's memory."""
    cache = ExecutionCache(LoudExecutor())
    programs = [(f"print({i})", "python3") for i in range(200)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runs = cache.runs(programs, [f"{j}\n" for j in range(4)], Limits())
        verdicts = cache.verdicts(programs, [Test("1\n", "1\n")], Limits())
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert {r.status for row in runs for r in row} == {Status.OK}
    assert len({r.behaviour for row in runs for r in row}) == 800
    assert {v for row in verdicts for v in row} == {Verdict.WRONG_ANSWER}
    assert kept < 2**20, kept  # 1,000 executions of 64 KiB each: 64 MB before, now a few hundred bytes each
    assert cache.executions == 1000 and cache.runs(programs[:1], ["0\n"], Limits()) == [[runs[0][0]]]
