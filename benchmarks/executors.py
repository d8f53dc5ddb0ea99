"""Executions/s of the local executor (1 and 2 sandbox workers) and the Ray executor (1 and 2 actors), in one run.

    .venv/bin/python benchmarks/executors.py [--programs 2000] [--cpp-programs 8] [--cpp-inputs 250] [--repeats 2]

The same pools through every executor: ``--programs`` distinct trivial Python programs, each on one
input (what filtering a pool on one example test costs per sample), and ``--cpp-programs`` C++ programs
on ``--cpp-inputs`` inputs each (binaries compiled in a warm-up pass that is timed separately, per
distinct program, since a new C++ sample costs a compile before its first run). The Ray executor runs
on a local Ray with 2 CPUs started here, its actors started (and the chunks' code warm) before timing.
Each configuration runs ``--repeats`` times in turn (local 1, local 2, Ray 1, Ray 2, again), because
these machines are noisy; the figures are the best of the repeats, every repeat is printed. Target:
the Ray executor with 2 actors at >= 85% of the local executor with 2 workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray  # noqa: E402

from alphacode.execution import Job, Sandbox, Status, make_job  # noqa: E402
from alphacode.execution.executor import Executor, LocalExecutor, RayExecutor  # noqa: E402

INPUT = b"3\n1 5 2\n"
PYTHON = "n = int(input())\na = list(map(int, input().split()))\nprint(max(a))  # {i}\n"
CPP = ("#include <cstdio>\nint main() {{ int n, best = 0; scanf(\"%d\", &n); for (int i = 0; i < n; i++) {{ int x; "
       "scanf(\"%d\", &x); if (x > best) best = x; }} printf(\"%d\\n\", best + {i} - {i}); return 0; }}\n")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--cpp-programs", type=int, default=8)
    parser.add_argument("--cpp-inputs", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=2)
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
        "local, 2 workers": lambda: LocalExecutor(Sandbox(workers=2, cache_dir=cache_dir)),
        "ray, 1 actor": lambda: RayExecutor(actors=1),
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
    ratio = max(rates[("ray, 2 actors", "python3")]) / max(rates[("local, 2 workers", "python3")])
    print(f"ray with 2 actors / local with 2 workers (python3): {ratio:.0%} (target >= 85%)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"command: .venv/bin/python benchmarks/executors.py --programs {args.programs} --cpp-programs "
          f"{args.cpp_programs} --cpp-inputs {args.cpp_inputs} --repeats {args.repeats}")


if __name__ == "__main__":
    main()
