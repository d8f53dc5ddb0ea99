"""Execution results kept per (program, input, limits), so no pair ever runs twice.

The results come from an :class:`~alphacode.execution.executor.Executor` (this machine's sandbox, or
a pool of Ray actors); keys and contents do not depend on which one ran them. Filtering, input
validation, clustering and hidden-test judging all go through one :class:`ExecutionCache`. To
estimate n@k on many subsets of one pool, build one :class:`clustering.pipeline.SelectionRun` over
the whole pool (every program runs once on every input) and call ``run.select(strategy,
samples=subset)`` per subset: no new executions happen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from alphacode.execution import Limits, Outcome, make_job
from alphacode.execution.executor import Executor
from sampling.candidate import program_key


def _input_key(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class ExecutionCache:
    """Outcomes of programs on inputs, computed through the executor's batch API on first request only.

    >>> cache = ExecutionCache(executor)
    >>> cache.run([(code, "python3")], ["1 2\\n"], limits)   # runs once
    >>> cache.run([(code, "python3")], ["1 2\\n"], limits)   # answered from memory
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._outcomes: dict[tuple[str, str, Limits], Outcome] = {}
        self.executions = 0
        self.hits = 0

    def run(self, programs: Sequence[tuple[str, str]], inputs: Sequence[str], limits: Limits) -> list[list[Outcome]]:
        """One outcome per (program, input): ``programs`` are ``(code, language)`` pairs; the missing
        pairs run in one executor batch (one job per program, over all its missing inputs)."""
        keys = [program_key(code, language) for code, language in programs]
        input_keys = [_input_key(i) for i in inputs]
        jobs, owners = [], []
        seen: set[str] = set()
        for (code, language), key in zip(programs, keys):
            if key in seen:
                continue
            seen.add(key)
            missing = [i for i, ik in zip(inputs, input_keys) if (key, ik, limits) not in self._outcomes]
            if missing:
                jobs.append(make_job(code, language, missing, limits))
                owners.append((key, missing))
        for (key, missing), outcomes in zip(owners, self.executor.run_batch(jobs)):
            for data, outcome in zip(missing, outcomes):
                self._outcomes[(key, _input_key(data), limits)] = outcome
            self.executions += len(missing)
        results = [[self._outcomes[(key, ik, limits)] for ik in input_keys] for key in keys]
        self.hits += len(keys) * len(inputs) - sum(len(m) for _, m in owners)
        return results
