"""Executions/s of the local executor (1 and 2 sandbox workers) and the Ray executor (1 and 2 actors), in one run.

    .venv/bin/python benchmarks/executors.py [--programs 2000] [--cpp-programs 8] [--cpp-inputs 250] [--repeats 2]

The same pools through every executor: ``--programs`` distinct trivial Python programs, each on one
input (what filtering a pool on one example test costs per sample), and ``--cpp-programs`` C++ programs
(``bits/stdc++.h`` and iostreams, as contest programs are written) on ``--cpp-inputs`` inputs each, their
binaries compiled in a warm-up pass that is timed separately, per distinct program, since a new C++
sample costs a compile before its first run. The Ray executor runs
on a local Ray with 2 CPUs started here, its actors started (and the chunks' code warm) before timing.
Each configuration runs ``--repeats`` times in turn (local 1, Ray 1, local 2, Ray 2, again), because
these machines are shared and noisy: every repeat is printed, then the best of the repeats, and the
ratio of Ray with 2 actors to local with 2 workers within each repeat (measured one right after the
other) and its median. Target: the Ray executor with 2 actors at >= 85% of the local executor with 2
workers.

Last, the driver's own ceiling: ``--driver-candidates`` distinct candidates filtered by the selection
stage (:class:`~clustering.pipeline.SelectionRun`: keys, cache, verdicts) on an executor that answers
at once, i.e. how many samples per second one driver process can filter however large the cluster.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray  # noqa: E402

from alphacode.execution import Job, Outcome, Sandbox, Status, make_job  # noqa: E402
from alphacode.execution.executor import Executor, LocalExecutor, RayExecutor  # noqa: E402
from alphacode.problems import Problem, Test  # noqa: E402
from clustering.cache import ExecutionCache  # noqa: E402
from clustering.pipeline import SelectionRun  # noqa: E402
from sampling.candidate import Candidate  # noqa: E402

INPUT = b"3\n1 5 2\n"
PYTHON = "n = int(input())\na = list(map(int, input().split()))\nprint(max(a))  # {i}\n"
CPP = ("#include <bits/stdc++.h>\nusing namespace std;\nint main() {{ int n; cin >> n; vector<int> a(n); "
       "for (auto &x : a) cin >> x; cout << *max_element(a.begin(), a.end()) + {i} - {i} << endl; }}\n")


def pools(programs: int, cpp_programs: int, cpp_inputs: int) -> dict[str, list[Job]]:
    return {"python3": [make_job(PYTHON.format(i=i), "python3", [INPUT]) for i in range(programs)],
            "cpp": [make_job(CPP.format(i=i), "cpp", [INPUT] * cpp_inputs) for i in range(cpp_programs)]}


def timed(executor: Executor, jobs: Sequence[Job]) -> float:
    """Executions/s of one batch; every execution must print 5."""
    started = time.perf_counter()
    results = executor.run_batch(jobs)
    elapsed = time.perf_counter() - started
    assert all(o.status is Status.OK and o.stdout == b"5\n" for r in results for o in r), "a run failed"
    return sum(len(job.inputs) for job in jobs) / elapsed


class Instant:
    """An executor whose every execution prints 4 at once: what is left is the driver's own work."""

    workers = 1024

    def run_batch(self, jobs: Sequence[Job], progress: str | None = None) -> list[list[Outcome]]:
        return [[Outcome(Status.OK, stdout=b"4\n")] * len(job.inputs) for job in jobs]

    def close(self) -> None:
        pass


def driver_rate(candidates: int) -> float:
    """Candidates/s the selection stage filters when executions cost nothing (all wrong: filter only)."""
    problem = Problem(name="largest", description="", public_tests=(Test(INPUT.decode(), "5\n"),))
    pool = [Candidate("largest", "python3", PYTHON.format(i=i)) for i in range(candidates)]
    run = SelectionRun(problem, ExecutionCache(Instant()))
    started = time.perf_counter()
    for start in range(0, candidates, 32 * Instant.workers):
        run.add(pool[start:start + 32 * Instant.workers])
    return candidates / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--cpp-programs", type=int, default=8)
    parser.add_argument("--cpp-inputs", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--driver-candidates", type=int, default=200_000)
    args = parser.parse_args()
    jobs = pools(args.programs, args.cpp_programs, args.cpp_inputs)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
          f"python3: {args.programs} programs x 1 input; cpp: {args.cpp_programs} programs x {args.cpp_inputs} inputs")

    cache_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"alphacode-bench-cpp-{os.getpid()}"
    with Sandbox(workers=2, cache_dir=cache_dir) as box:  # a fresh cache: the compiles are timed
        started = time.perf_counter()
        box.run_batch([Job(j.code, j.language, j.inputs[:1], j.limits) for j in jobs["cpp"]])
        compile_s = (time.perf_counter() - started) / len(jobs["cpp"]) * 2  # two compile at a time
    print(f"cpp compile: about {compile_s:.2f} core-seconds per distinct program (g++ -O2 -static, in the sandbox)")

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    configurations: dict[str, Callable[[], Executor]] = {
        "local, 1 worker": lambda: LocalExecutor(Sandbox(workers=1, cache_dir=cache_dir)),
        "ray, 1 actor": lambda: RayExecutor(actors=1),
        "local, 2 workers": lambda: LocalExecutor(Sandbox(workers=2, cache_dir=cache_dir)),
        "ray, 2 actors": lambda: RayExecutor(actors=2),
    }
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        for repeat in range(args.repeats):
            for name, make in configurations.items():
                executor = make()
                try:
                    executor.run_batch([j for pool in jobs.values() for j in pool[:16]])  # start-up and warm-up
                    for language, pool in jobs.items():
                        rate = timed(executor, pool)
                        rates.setdefault((name, language), []).append(rate)
                        print(f"repeat {repeat + 1}: {name:<17} {language:<8} {rate:8.1f} executions/s")
                finally:
                    executor.close()
    finally:
        ray.shutdown()
        shutil.rmtree(cache_dir, ignore_errors=True)
    print("best of the repeats:")
    for language in jobs:
        base = max(rates[("local, 2 workers", language)])
        for name in configurations:
            best = max(rates[(name, language)])
            print(f"  {language:<8} {name:<17} {best:8.1f} executions/s  ({best / base:.0%} of local, 2 workers)")
    for language in jobs:
        ratios = [ray / local for ray, local in zip(rates[("ray, 2 actors", language)],
                                                    rates[("local, 2 workers", language)])]
        print(f"ray with 2 actors / local with 2 workers, {language}, per repeat: "
              + ", ".join(f"{r:.0%}" for r in ratios) + f"; median {statistics.median(ratios):.0%} (target >= 85%)")
    print(f"driver ceiling: {driver_rate(args.driver_candidates):,.0f} candidates/s filtered by one driver process "
          f"on an executor that answers at once ({args.driver_candidates:,} distinct candidates, one test)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"command: .venv/bin/python benchmarks/executors.py --programs {args.programs} --cpp-programs "
          f"{args.cpp_programs} --cpp-inputs {args.cpp_inputs} --repeats {args.repeats} "
          f"--driver-candidates {args.driver_candidates}")


if __name__ == "__main__":
    main()
