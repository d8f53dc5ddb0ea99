"""The selection stage as functions a user calls: :func:`select` (candidates from a file) and :func:`solve`.

:func:`solve` samples with the model and selects, using one of two drivers around a
:class:`~clustering.pipeline.SelectionRun`:

* :func:`filter_while` runs a producer (the Ray sampling job writing a sample store) in the calling
  thread while a second thread streams the store's new candidates into the run, so filtering starts
  as soon as the first work unit lands, and stops once the producer has ended;
* :func:`sample_until_stable` draws rounds from any :class:`~sampling.candidate.Sampler` and stops when
  the top-k clusters have stayed the same for ``patience`` rounds, or at the sample cap.

Programs run on an executor (:mod:`alphacode.execution.executor`): this machine's sandbox, or a pool of
Ray actors when the command joins a cluster, so filtering grows with the cluster as sampling does.
The sandbox's zygotes and Ray's daemons start by fork, so :func:`solve` starts both before JAX loads
with the model (forking after JAX costs ~8x more and JAX warns of deadlocks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphacode.cluster import ray_session
from alphacode.errors import ConfigError, UserError
from alphacode.execution.executor import ExecutorOptions
from alphacode.fileio import atomic_write_text
from alphacode.model.export import DEFAULT_MODEL_DIR, LoadedModel, load_model, read_model_config
from alphacode.problems import Problem
from alphacode.provenance import provenance
from alphacode.samples import completion_prompt
from clustering.cache import ExecutionCache
from clustering.candidates import read_candidates
from clustering.model_inputs import INPUT_SOURCES, input_generator
from clustering.pipeline import DEFAULT_INPUTS, SelectionResult, SelectionRun, filter_batch_size, select_submissions
from sampling.candidate import Candidate, Sampler
from sampling.distributed import model_fingerprint, run_sampling
from sampling.model_sampler import ModelSampler, SamplingConfig
from sampling.store import SampleStore, iter_candidates
from sampling.units import derive_seed


def filter_while(produce: Callable[[], object], follow: Callable[[Callable[[], bool]], Iterable[Candidate]],
                 run: SelectionRun, batch_size: int = 64) -> float:
    """Call ``produce()`` here while another thread adds the candidates of ``follow(produced)`` to ``run`` in
    batches; returns the seconds ``produce`` took. That iterable blocks until more arrive and must end once
    ``produced()`` is true and it has read everything, so the wait is bounded. Errors are raised here."""
    failure: list[BaseException] = []
    produced = threading.Event()

    def consume() -> None:
        try:
            stream = iter(follow(produced.is_set))
            while batch := list(itertools.islice(stream, batch_size)):
                run.add(batch)
        except BaseException as err:  # handed to the calling thread
            failure.append(err)

    consumer = threading.Thread(target=consume, name="selection-filter", daemon=True)
    consumer.start()
    started = time.perf_counter()
    try:
        produce()
    finally:
        elapsed = time.perf_counter() - started
        produced.set()
        consumer.join()
    if failure:
        raise failure[0]
    return elapsed


@dataclass(frozen=True)
class AutoStop:
    """When ``--samples auto`` stops: after ``patience`` rounds of ``round_size`` samples that left the
    top ``k`` clusters unchanged, or once ``max_samples`` have been drawn."""

    round_size: int = 64
    patience: int = 2
    max_samples: int = 1024
    k: int = 10

    def __post_init__(self) -> None:
        if min(self.round_size, self.patience, self.max_samples, self.k) < 1:
            raise ConfigError(f"round size, patience, sample cap and k must be at least 1: {self}")


@dataclass(frozen=True)
class Rounds:
    """How an automatic run went: rounds drawn, samples used, whether the clusters settled, sampling seconds."""

    rounds: int
    samples: int
    stable: bool
    seconds: float


def sample_until_stable(problem: Problem, sampler: Sampler, run: SelectionRun, stop: AutoStop = AutoStop(),
                        seed: int = 0, on_round: Callable[[int, list[Candidate]], object] | None = None) -> Rounds:
    """Draw rounds into ``run`` until its top-k clusters (by signature, in order) have not changed for
    ``stop.patience`` rounds; ``on_round(round, candidates)`` sees each round (to store it, say)."""
    previous: list[tuple] | None = None
    rounds = unchanged = drawn = 0
    seconds = 0.0
    while True:
        size = min(stop.round_size, stop.max_samples - drawn)
        started = time.perf_counter()
        batch = [dataclasses.replace(c, unit=rounds, index=i)
                 for i, c in enumerate(sampler.sample(problem, size, derive_seed(seed, "round", rounds)))]
        seconds += time.perf_counter() - started
        if on_round is not None:
            on_round(rounds, batch)
        run.add(batch)
        rounds += 1
        drawn += len(batch)
        top = [c.signature for c in run.clusters()[:stop.k]]
        unchanged = unchanged + 1 if top and top == previous else 0
        previous = top
        if unchanged >= stop.patience or drawn >= stop.max_samples or not batch:
            return Rounds(rounds, drawn, unchanged >= stop.patience, seconds)


def select(problem: Problem, candidates: str | os.PathLike[str] | Iterable[Candidate], *, strategy: str = "cluster",
           num_inputs: int = DEFAULT_INPUTS, seed: int = 0, executor: ExecutorOptions = ExecutorOptions(),
           address: str | None = None) -> SelectionResult:
    """Pick 10 submissions for ``problem`` from candidates (or a candidates file, see
    :mod:`clustering.candidates`): filter, generate inputs, cluster, select; no model involved. The
    programs run on ``executor`` (on the Ray cluster at ``address`` or ``RAY_ADDRESS`` when it is Ray's)."""
    if isinstance(candidates, (str, os.PathLike)):
        candidates = read_candidates(candidates, problem.name, completion_prompt(problem))
    with executor.open(address) as box:
        result = select_submissions(problem, candidates, ExecutionCache(box, progress=sys.stderr.isatty()),
                                    strategy=strategy, num_inputs=num_inputs, seed=seed)
        return dataclasses.replace(result, execution=box.report())


@dataclass(frozen=True)
class SolveConfig:
    """Everything :func:`solve` needs besides the problem. ``samples`` is a count or ``"auto"`` (rounds of
    ``stop.round_size`` until the top clusters settle); ``sampling_workers`` counts model replicas on Ray
    (None: one per GPU, else per CPU; 0: sample in this process without Ray); ``executor`` says where the
    programs run (by default on Ray exactly when ``address`` or ``RAY_ADDRESS`` names a cluster)."""

    samples: int | str = 256
    strategy: str = "cluster"
    num_inputs: int = DEFAULT_INPUTS
    input_source: str = "mutation"
    seed: int = 0
    stop: AutoStop = AutoStop()
    sampling: SamplingConfig = SamplingConfig()
    checkpoint: str | os.PathLike[str] | None = None
    sampling_workers: int | None = None
    address: str | None = None
    executor: ExecutorOptions = ExecutorOptions()
    progress: bool = True

    def to_json(self) -> dict[str, Any]:
        """The resolved settings, as ``result.json`` records them (the model's directory, never None)."""
        data = dataclasses.asdict(self)
        del data["progress"]
        data.update(checkpoint=str(self.checkpoint or DEFAULT_MODEL_DIR), sampling=self.sampling.to_json())
        return json.loads(json.dumps(data, default=str))

    def __post_init__(self) -> None:
        if self.samples != "auto" and not (isinstance(self.samples, int) and self.samples >= 1):
            raise ConfigError(f"samples must be a positive number or 'auto', got {self.samples!r}")
        if self.input_source not in INPUT_SOURCES:
            raise ConfigError(f"input source must be one of {', '.join(INPUT_SOURCES)}, got {self.input_source!r}")


@dataclass(frozen=True)
class SolveResult:
    """The picks and stage summary of :func:`solve`, where the samples are, and how an automatic run went."""

    selection: SelectionResult
    store_dir: Path
    auto: Rounds | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.selection.to_json()
        if self.auto is not None:
            data["stats"]["auto"] = {"rounds": self.auto.rounds, "samples": self.auto.samples,
                                     "stable": self.auto.stable}
        return data


def solve(problem: Problem, out_dir: str | os.PathLike[str], config: SolveConfig = SolveConfig()) -> SolveResult:
    """Sample programs for ``problem`` with the model into ``out_dir/samples`` (filtering while sampling runs),
    run the survivors on generated inputs, cluster them and pick submissions; writes ``out_dir/result.json`` (the
    picks and statistics, with the resolved settings and the provenance)."""
    out = Path(out_dir)
    store_dir = out / "samples"
    read_model_config(config.checkpoint)  # a wrong checkpoint fails here, before Ray starts
    uses_ray = config.samples != "auto" and config.sampling_workers != 0
    auto = None
    with contextlib.ExitStack() as stack:
        if uses_ray or config.executor.resolve(config.address) == "ray":
            stack.enter_context(ray_session(config.address, config.sampling_workers))
        executor = stack.enter_context(config.executor.open(config.address))
        model = load_model(config.checkpoint)
        run = SelectionRun(problem, ExecutionCache(executor), input_generator(config.input_source, model),
                           num_inputs=config.num_inputs, seed=config.seed)
        if config.samples == "auto":
            auto = _solve_auto(problem, model, run, store_dir, config)
            sampling_s = auto.seconds
        else:
            sampling_s = _solve_fixed(problem, model, run, store_dir, config)
        picks = run.select(config.strategy, seed=config.seed)
        execution = executor.report()
    stats = run.stats()
    seconds = {"sample": sampling_s, **stats.seconds}
    selection = SelectionResult(tuple(picks), dataclasses.replace(stats, seconds=seconds), execution)
    result = SolveResult(selection, store_dir, auto)
    record = {**result.to_json(), "settings": {"problem": problem.name, **config.to_json()}, "provenance": provenance()}
    atomic_write_text(out / "result.json", json.dumps(record, indent=1) + "\n")
    return result


def _solve_auto(problem: Problem, model: LoadedModel, run: SelectionRun, store_dir: Path,
                config: SolveConfig) -> Rounds:
    """Rounds sampled in this process, each stored as a unit, until the top clusters settle."""
    if SampleStore(store_dir).finished_units(problem.name):
        raise UserError(f"{store_dir}: already holds samples of {problem.name}; use a new --out")
    stop = config.stop
    settings = {"model": model_fingerprint(model), "sampling": config.sampling.to_json(), "seed": config.seed,
                "auto": dataclasses.asdict(stop)}
    with SampleStore.open_for_writing(store_dir, settings, {problem.name: stop.max_samples}, stop.round_size) as store:
        return sample_until_stable(problem, ModelSampler(model, config.sampling), run, stop, config.seed,
                                   on_round=lambda r, batch: store.write_unit(problem.name, r, batch))


def _solve_fixed(problem: Problem, model: LoadedModel, run: SelectionRun, store_dir: Path,
                 config: SolveConfig) -> float:
    """A fixed number of samples drawn on Ray into the store, filtered as they land; the sampling seconds."""
    samples = int(config.samples)

    def produce() -> object:
        return run_sampling([problem], model, store_dir, samples, config=config.sampling,
                            unit_size=config.sampling.batch_size, seed=config.seed, workers=config.sampling_workers,
                            address=config.address, progress=config.progress)

    def follow(produced: Callable[[], bool]) -> Iterator[Candidate]:
        return iter_candidates(store_dir, problem.name, samples=samples, follow=True, poll_s=0.2, writer_done=produced)

    return filter_while(produce, follow, run, batch_size=filter_batch_size(run.cache))
