"""From a stream of candidate programs to k submissions: filter, generate inputs, cluster, select.

:class:`SelectionRun` holds one problem's pool and grows with it: ``add`` filters each batch of
candidates on the public tests as it arrives (so filtering runs while sampling continues), and
``select`` clusters the survivors and applies a strategy. Every execution goes through an
:class:`~clustering.cache.ExecutionCache`; ``select(..., samples=subset)`` re-selects from any subset
of the pool without running anything new. :func:`select_submissions` is the one-call form
(``alphacode select`` uses it); ``solve`` and ``contest`` keep a run per problem to grow or re-select it.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from alphacode.errors import ConfigError
from alphacode.execution import Limits
from alphacode.execution.executor import ExecutionReport
from alphacode.execution.judge import Verdict, limits_for, runnable_code
from alphacode.execution.records import SANDBOX_LANGUAGES, Status
from alphacode.problems import Problem
from clustering.cache import ExecutionCache
from clustering.inputs import InputGenerator, MutationInputGenerator
from clustering.signatures import Cluster, Program, cluster_programs
from clustering.strategies import Strategy, get_strategy
from sampling.candidate import Candidate, program_key

DEFAULT_INPUTS = 20
MAX_INPUTS = 1000  # every distinct program runs on each, so a signature of more costs more than it tells
OVERSAMPLE = 2
VALIDATORS = 16
GENERATED_TIME_S = 1.0
BATCH_PER_WORKER = 32  # candidates filtered per batch and execution worker: a cluster gets batches its size
UNSUPPORTED = "UNSUPPORTED_LANGUAGE"


@dataclass(frozen=True)
class Pick:
    """One submission: the program, the size of its cluster (in samples) and its first sample's position."""

    code: str
    language: str
    cluster_size: int
    position: int


@dataclass(frozen=True)
class Stats:
    """What each stage did and how long it took (seconds per stage: filter, inputs, cluster, select);
    ``executions`` counts the sandbox runs this pool caused (cache hits excluded)."""

    sampled: int
    distinct: int
    passed_filter: int
    passed_filter_samples: int
    rejected: dict[str, int]
    inputs_generated: int
    inputs_kept: int
    clusters: int
    executions: int
    seconds: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


@dataclass(frozen=True)
class SelectionResult:
    """The submissions in order, the stage summary, and where the programs ran (when the command knows)."""

    submissions: tuple[Pick, ...]
    stats: Stats
    execution: ExecutionReport | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"submissions": [{"code": p.code, "language": p.language, "cluster_size": p.cluster_size}
                                for p in self.submissions],
                "stats": self.stats.to_json()}
        if self.execution is not None:
            data["execution"] = self.execution.to_json()
        return data


@dataclass
class _Entry:
    """A distinct program of the pool and what the filter said of it (None: passed)."""

    key: str
    code: str
    language: str
    runnable: str
    positions: list[int] = field(default_factory=list)
    rejection: str | None = None


def _score(candidate: Candidate) -> float | None:
    """The mean token log-probability, or the total where the token count is unknown."""
    return candidate.mean_logprob if candidate.num_tokens else candidate.logprob


class SelectionRun:
    """The growing candidate pool of one problem, filtered as it grows.

    ``generator`` proposes ``OVERSAMPLE * num_inputs`` inputs once; an input is kept when most of
    the first ``VALIDATORS`` filtered programs run on it without error or timeout, and the first
    ``num_inputs`` kept ones make the signatures. Generated inputs are the size of the examples, so
    runs on them get at most ``GENERATED_TIME_S`` of CPU: a looping program then costs a second per
    input rather than the problem's full limit.
    """

    def __init__(self, problem: Problem, cache: ExecutionCache, generator: InputGenerator | None = None,
                 num_inputs: int = DEFAULT_INPUTS, seed: int = 0, limits: Limits | None = None) -> None:
        self.problem, self.cache, self.seed = problem, cache, seed
        self.function_style = problem.entry_point is not None
        self.generator = generator or MutationInputGenerator()
        if not 1 <= num_inputs <= MAX_INPUTS:
            raise ConfigError(f"inputs: expected 1 to {MAX_INPUTS} generated inputs per problem, got {num_inputs}")
        self.num_inputs = num_inputs
        self.limits = limits or limits_for(problem)
        self.generated_limits = replace(self.limits, time_s=min(self.limits.time_s, GENERATED_TIME_S))
        self._entries: dict[str, _Entry] = {}
        self._sample_keys: list[str] = []
        self._sample_scores: list[float | None] = []
        self._proposed: list[str] | None = None
        self._inputs: tuple[str, ...] = ()
        self._validated_by: tuple[str, ...] | None = None
        self._clusters = 0
        self._executions_before = cache.executions
        self.seconds: Counter[str] = Counter()

    def add(self, candidates: Iterable[Candidate]) -> None:
        """Take in a batch of candidates; their new distinct programs run on the public tests now."""
        started = time.perf_counter()
        new: dict[str, _Entry] = {}
        batch: list[tuple[_Entry, float | None]] = []
        for candidate in candidates:
            key = program_key(candidate.code, candidate.language)
            entry = self._entries.get(key) or new.get(key)
            if entry is None:
                entry = new[key] = self._entry(key, candidate)
            batch.append((entry, _score(candidate)))
        fresh = [e for e in new.values() if e.rejection is None]
        tests = self.problem.public_tests
        verdicts = self.cache.verdicts([(e.runnable, e.language) for e in fresh], tests, self.limits,
                                       self.function_style, label="filtering")
        for entry, row in zip(fresh, verdicts):
            entry.rejection = next((v.value for v in row if v is not Verdict.ACCEPTED), None)
        self._entries.update(new)  # the pool changes only once the batch is filtered
        for entry, score in batch:
            entry.positions.append(len(self._sample_keys))
            self._sample_keys.append(entry.key)
            self._sample_scores.append(score)
        self.seconds["filter"] += time.perf_counter() - started

    def _entry(self, key: str, candidate: Candidate) -> _Entry:
        if candidate.language not in SANDBOX_LANGUAGES:
            return _Entry(key, candidate.code, candidate.language, "", rejection=UNSUPPORTED)
        try:
            runnable = runnable_code(self.problem, candidate.code, candidate.language)
        except ValueError:
            return _Entry(key, candidate.code, candidate.language, "", rejection=UNSUPPORTED)
        return _Entry(key, candidate.code, candidate.language, runnable)

    def _survivors(self) -> list[_Entry]:
        return [e for e in self._entries.values() if e.rejection is None]

    def inputs(self) -> tuple[str, ...]:
        """The generated inputs the signatures use, validated on the pool's earliest survivors."""
        validators = self._survivors()[:VALIDATORS]
        keys = tuple(e.key for e in validators)
        if not validators or keys == self._validated_by:
            return self._inputs
        started = time.perf_counter()
        if self._proposed is None:
            public = {t.input for t in self.problem.public_tests}
            proposed = self.generator.generate(self.problem, OVERSAMPLE * self.num_inputs, self.seed)
            self._proposed = [i for i in dict.fromkeys(proposed) if i not in public]
        runs = self.cache.runs([(e.runnable, e.language) for e in validators], self._proposed,
                               self.generated_limits, self.function_style, label="validating inputs")
        kept = [data for j, data in enumerate(self._proposed)
                if 2 * sum(r[j].status is Status.OK for r in runs) > len(validators)]
        self._inputs, self._validated_by = tuple(kept[:self.num_inputs]), keys
        self.seconds["inputs"] += time.perf_counter() - started
        return self._inputs

    def programs(self, samples: Collection[int] | None = None) -> list[Program]:
        """The filtered programs with their signatures; with ``samples`` (positions in the order
        candidates were added), only that subset of the pool counts."""
        inputs = self.inputs()
        started = time.perf_counter()
        chosen = None if samples is None else set(samples)
        survivors = []
        for entry in self._survivors():
            positions = entry.positions if chosen is None else [p for p in entry.positions if p in chosen]
            if positions:
                survivors.append((entry, positions))
        runs = self.cache.runs([(e.runnable, e.language) for e, _ in survivors], inputs, self.generated_limits,
                               self.function_style, label="clustering")
        programs = []
        for (entry, positions), results in zip(survivors, runs):
            scores = [s for p in positions if (s := self._sample_scores[p]) is not None]
            programs.append(Program(entry.key, entry.code, entry.language, len(positions), positions[0],
                                    max(scores, default=None), tuple(r.behaviour for r in results)))
        self.seconds["cluster"] += time.perf_counter() - started
        return programs

    def clusters(self, samples: Collection[int] | None = None) -> list[Cluster]:
        """The filtered programs grouped by signature, largest first."""
        clusters = cluster_programs(self.programs(samples))
        self._clusters = len(clusters)
        return clusters

    def select(self, strategy: str | Strategy = "cluster", k: int = 10, samples: Collection[int] | None = None,
               seed: int = 0) -> list[Pick]:
        """Up to ``k`` submissions from the pool (or from the subset ``samples`` of it)."""
        chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
        clusters = self.clusters(samples)
        started = time.perf_counter()
        size = {p.key: c.size for c in clusters for p in c.members}
        picks = chosen.select([p for c in clusters for p in c.members], k, seed)
        self.seconds["select"] += time.perf_counter() - started
        return [Pick(p.code, p.language, size[p.key], p.first) for p in picks]

    def stats(self) -> Stats:
        """The stage summary so far; safe to call from another thread while ``add`` runs (a snapshot)."""
        entries = list(self._entries.values())
        survivors = [e for e in entries if e.rejection is None]
        rejected = Counter(e.rejection for e in entries if e.rejection is not None)
        return Stats(
            sampled=len(self._sample_keys), distinct=len(entries), passed_filter=len(survivors),
            passed_filter_samples=sum(len(e.positions) for e in survivors), rejected=dict(rejected.most_common()),
            inputs_generated=len(self._proposed or ()), inputs_kept=len(self._inputs), clusters=self._clusters,
            executions=self.cache.executions - self._executions_before,
            seconds={stage: self.seconds[stage] for stage in ("filter", "inputs", "cluster", "select")})


def filter_batch_size(cache: ExecutionCache) -> int:
    """How many candidates to filter at a time: at least 64, and :data:`BATCH_PER_WORKER` per execution worker
    of the cache's executor. Batching changes when programs run, never what they return."""
    return max(64, BATCH_PER_WORKER * cache.executor.workers)


def select_submissions(problem: Problem, candidates: Iterable[Candidate], cache: ExecutionCache,
                       strategy: str | Strategy = "cluster", k: int = 10, generator: InputGenerator | None = None,
                       num_inputs: int = DEFAULT_INPUTS, seed: int = 0,
                       batch_size: int | None = None) -> SelectionResult:
    """Filter ``candidates`` in batches (default: :func:`filter_batch_size`) as the iterable yields them, then
    cluster and pick ``k``."""
    run = SelectionRun(problem, cache, generator, num_inputs, seed)
    stream = iter(candidates)
    while batch := list(itertools.islice(stream, batch_size or filter_batch_size(cache))):
        run.add(batch)
    picks = run.select(strategy, k, seed=seed)
    return SelectionResult(tuple(picks), run.stats())
