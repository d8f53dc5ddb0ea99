"""Execution results kept per (program, input, limits), so no pair ever runs twice.

The results come from an :class:`~alphacode.execution.executor.Executor` (this machine's sandbox, or
a pool of Ray actors); keys and contents do not depend on which one ran them. Filtering, input
validation, clustering and hidden-test judging all go through one :class:`ExecutionCache`, which keeps
what they need of each execution (a verdict, or how it ended and a digest of its behaviour), never the
output itself: a pool of programs that print megabytes costs a few hundred bytes per execution. To
estimate n@k on many subsets of one pool, build one :class:`clustering.pipeline.SelectionRun` over
the whole pool (every program runs once on every input) and call ``run.select(strategy,
samples=subset)`` per subset: no new executions happen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alphacode.execution import Limits, Outcome, Status, make_job
from alphacode.execution.executor import Executor
from alphacode.execution.judge import Verdict, test_verdict
from alphacode.problems import Test
from clustering.signatures import Behaviour, behaviour
from sampling.candidate import program_key

OUTPUT_BUDGET = 64 * 2**20  # the outputs one executor batch may return at most, before they are reduced


def _key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:  # each part's length first, so no two lists of parts hash the same bytes
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Ran:
    """What clustering keeps of a program's run on a generated input: how it ended, and its behaviour."""

    status: Status
    behaviour: Behaviour


class ExecutionCache:
    """What programs did on inputs, each pair run through the executor's batch API on first request only.

    >>> cache = ExecutionCache(executor)
    >>> cache.verdicts([(code, "python3")], problem.public_tests, limits)   # runs once
    >>> cache.verdicts([(code, "python3")], problem.public_tests, limits)   # answered from memory
    """

    def __init__(self, executor: Executor, progress: bool = False) -> None:
        self.executor, self.progress = executor, progress  # progress: a bar per batch, labelled by the caller
        self._kept: dict[tuple[str, str, Limits], Any] = {}
        self.executions = 0
        self.hits = 0

    def verdicts(self, programs: Sequence[tuple[str, str]], tests: Sequence[Test], limits: Limits,
                 function_style: bool = False, label: str = "judging") -> list[list[Verdict]]:
        """Each program's verdict on each test; ``programs`` are ``(code, language)`` pairs."""
        keys = [_key("verdict", str(function_style), t.input, t.output) for t in tests]
        return self._run(programs, [t.input for t in tests], keys, limits,
                         lambda j, outcome: test_verdict(outcome, tests[j].output, function_style), label)

    def runs(self, programs: Sequence[tuple[str, str]], inputs: Sequence[str], limits: Limits,
             function_style: bool = False, label: str = "running") -> list[list[Ran]]:
        """How each program ended on each input, and what it did (:func:`clustering.signatures.behaviour`)."""
        keys = [_key("run", str(function_style), data) for data in inputs]
        return self._run(programs, inputs, keys, limits,
                         lambda j, outcome: Ran(outcome.status, behaviour(outcome, function_style)), label)

    def _run(self, programs: Sequence[tuple[str, str]], inputs: Sequence[str], keys: Sequence[str], limits: Limits,
             keep: Callable[[int, Outcome], Any], label: str) -> list[list[Any]]:
        """``keep(j, outcome)`` for every program on every ``inputs[j]`` (cached under ``keys[j]``); the missing
        pairs run in executor batches of one job per program, over all its missing inputs (as many jobs a batch as
        :data:`OUTPUT_BUDGET` holds at the output cap, and at least four per worker)."""
        programs_keys = [program_key(code, language) for code, language in programs]
        jobs, owners = [], []
        seen: set[str] = set()
        for (code, language), key in zip(programs, programs_keys):
            if key in seen:
                continue
            seen.add(key)
            missing = [j for j, input_key in enumerate(keys) if (key, input_key, limits) not in self._kept]
            if missing:
                jobs.append(make_job(code, language, [inputs[j] for j in missing], limits))
                owners.append((key, missing))
        step = max(4 * self.executor.workers, OUTPUT_BUDGET // (max(1, len(inputs)) * limits.output_bytes))
        for start in range(0, len(jobs), step):
            batch = self.executor.run_batch(jobs[start:start + step], progress=label if self.progress else None)
            for (key, missing), outcomes in zip(owners[start:start + step], batch):
                for j, outcome in zip(missing, outcomes):
                    self._kept[(key, keys[j], limits)] = keep(j, outcome)
                self.executions += len(missing)
        self.hits += len(programs_keys) * len(inputs) - sum(len(m) for _, m in owners)
        return [[self._kept[(key, input_key, limits)] for input_key in keys] for key in programs_keys]
