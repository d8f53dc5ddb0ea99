"""Sampling many problems on Ray: one model replica per actor, work units pulled from the driver.

The driver plans every work unit (:mod:`sampling.units`), skips those whose file is already in the
store, and keeps each actor fed with up to ``PREFETCH`` units so it never waits for the driver. Each
actor loads the model once (shipped through Ray's object store, so nodes need no shared disk),
compiles its decode loop once, and returns a unit's candidates; the driver writes each finished unit
atomically into the :class:`~sampling.store.SampleStore`. Nothing but the driver writes the store.

Faults: an actor that dies is restarted by Ray (``max_restarts``) and its unfinished calls are
retried there (``max_task_retries``); a unit whose worker is gone for good goes back in the queue for
the others. Because a unit's seed depends only on its name, a retried unit yields the same samples.
A killed driver loses at most the units in flight: rerunning the same command skips finished units.

Rerunning with more samples per problem keeps every stored sample: full units are skipped and a last
unit the smaller run cut short is topped up (:mod:`sampling.units`); with fewer, nothing is drawn.
``workers=0`` runs the same loop in this process without Ray (small jobs, tests).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from alphacode.cluster import ray_session
from alphacode.errors import CommandFailed, ConfigError, UserError
from alphacode.lazy import lazy_import
from alphacode.model.export import LoadedModel, load_model
from alphacode.problems import Problem, check_unique_names, load_problems
from sampling.candidate import Candidate
from sampling.model_sampler import ModelSampler, SamplingConfig, sample_length
from sampling.store import SampleStore
from sampling.units import WorkUnit, plan_units

ray = lazy_import("ray")  # ~1 s: only when a command samples on Ray

PREFETCH = 2  # units queued per actor: one running, one waiting, so the actor never idles on the driver


class WorkersLost(CommandFailed):
    """Every sampling worker died for good; finished units are in the store and a rerun resumes."""


@dataclass(frozen=True)
class FaultInjection:
    """For fault tests: the worker running unit ``unit`` of ``problem_id`` calls ``os._exit(1)``
    ``after_s`` seconds into it. It happens once: the worker creates ``marker`` before exiting, and
    an existing ``marker`` disarms the fault (so the restarted worker finishes the unit)."""

    problem_id: str
    unit: int
    marker: str
    after_s: float = 0.05


@dataclass(frozen=True)
class RunSummary:
    """What one run did (``workers`` 0: in this process). ``units_written`` counts top-ups, and
    ``samples_written`` only the samples drawn in this run. ``sampling_seconds`` runs from the first
    worker ready to the last unit written."""

    problems: int
    units_total: int
    units_skipped: int
    units_written: int
    samples_written: int
    new_programs: int
    units_retried: int
    workers: int
    seconds: float
    sampling_seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples_written / self.sampling_seconds if self.sampling_seconds > 0 else 0.0


class SamplingWorker:
    """The body of a Ray actor: one model replica, compiled once, that samples whole units.

    The model and the problems come as ``shared`` = [model ref, problems ref] with each call rather
    than as constructor arguments: the driver owns (and so keeps alive) both objects, and an actor
    restarted by Ray loads them again on its first call."""

    def __init__(self, config: SamplingConfig, fault: FaultInjection | None = None) -> None:
        self._config = config
        self._fault = fault
        self._sampler: Any = None
        self._problems: dict[str, Problem] = {}

    def _load(self, shared: list[Any]) -> None:
        if self._sampler is None:
            model, self._problems = ray.get(shared)
            sampler = ModelSampler(model, self._config)
            sampler.warmup()
            self._sampler = sampler

    def ready(self, shared: list[Any]) -> bool:
        """Load and compile; returns once the worker can sample."""
        self._load(shared)
        return True

    def run(self, unit: WorkUnit, shared: list[Any]) -> list[Candidate]:
        """The candidates of ``unit`` still missing from the store (:func:`draw_unit`)."""
        self._load(shared)
        fault = self._fault
        timer = None
        if fault and (fault.problem_id, fault.unit) == (unit.problem_id, unit.unit) and not os.path.exists(fault.marker):
            timer = threading.Timer(fault.after_s, _die, args=(fault.marker,))
            timer.start()
        candidates = draw_unit(self._sampler, self._problems[unit.problem_id], unit)
        if timer is not None:
            timer.cancel()
        return candidates


def draw_unit(sampler: ModelSampler, problem: Problem, unit: WorkUnit) -> list[Candidate]:
    """Samples ``unit.start`` onward of ``unit``, tagged with the unit index: the sampler draws the whole
    unit (the same samples again up to ``start``, which are dropped), as a top-up costs at most one unit."""
    return [dataclasses.replace(c, unit=unit.unit) for c in sampler.sample(problem, unit.size, unit.seed)[unit.start:]]


def _die(marker: str) -> None:
    with open(marker, "x"):
        pass
    os._exit(1)


def model_fingerprint(model: LoadedModel) -> str:
    """Identifies a model's weights and config without hashing every byte: shapes plus each
    parameter's first and last 4 KiB (two checkpoints of one run differ in all of them)."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(model.config), sort_keys=True).encode())
    digest.update(model.tokenizer.__getstate__()["model_proto"])

    def visit(tree: Any, prefix: str) -> None:
        if hasattr(tree, "items"):
            for key in sorted(tree):
                visit(tree[key], f"{prefix}/{key}")
            return
        data = np.ascontiguousarray(tree).view(np.uint8).reshape(-1)
        digest.update(f"{prefix}:{tree.shape}:{tree.dtype}".encode())
        digest.update(data[:4096].tobytes() + data[-4096:].tobytes())

    visit(model.params, "")
    return digest.hexdigest()[:32]


def run_sampling(problems: Sequence[Problem], model: LoadedModel, store_dir: str | os.PathLike[str], samples: int, *,
                 config: SamplingConfig = SamplingConfig(), unit_size: int | None = None, seed: int = 0,
                 workers: int | None = None, address: str | None = None, max_restarts: int = 3,
                 fault: FaultInjection | None = None, progress: bool = True) -> RunSummary:
    """Draw ``samples`` candidates for each problem with ``model`` (a ``load_model`` result) into a store.

    Uses the Ray already initialised in this process, else joins ``address`` or ``RAY_ADDRESS``, else starts a
    local Ray (:func:`alphacode.cluster.connect_ray`).
    ``workers`` defaults to one per GPU (more workers than GPUs share them), or one per Ray CPU without
    GPUs; 0 samples in this process without Ray. ``unit_size`` (default: 4 batches) must be a multiple of
    the batch size. Rerunning with the same arguments resumes; with another ``samples``, it reuses the
    stored samples and draws only the missing ones."""
    started = time.monotonic()
    unit_size = resolve_unit_size(unit_size, config.batch_size)
    check_unique_names(problems, "problems")
    sample_length(config, model.config)  # here, before the store records the settings, not in a Ray actor
    settings = {"model": model_fingerprint(model), "sampling": config.to_json(), "seed": seed}
    with SampleStore.open_for_writing(store_dir, settings, {p.name: samples for p in problems}, unit_size) as store:
        units = plan_units([p.name for p in problems], samples, unit_size, seed)
        stored = {p.name: store.unit_rows(p.name) for p in problems}
        todo = [dataclasses.replace(u, start=stored[u.problem_id].get(u.unit, 0)) for u in units
                if stored[u.problem_id].get(u.unit, 0) < u.size]
        driver = _Driver(store, todo, total=samples * len(problems), progress=progress)
        driver.summary["units_skipped"] = len(units) - len(todo)
        if todo and workers == 0:
            driver.run_here(problems, model, config)
        elif todo:
            with ray_session(address, workers):
                driver.run(problems, model, config, workers, max_restarts, fault)
    ended = time.monotonic()
    return RunSummary(problems=len(problems), units_total=len(units), **driver.summary, seconds=ended - started,
                      sampling_seconds=ended - driver.first_ready if driver.first_ready else 0.0)


class _Driver:
    """The driver loop: keeps every actor fed, writes finished units, requeues the units of lost actors
    (or samples every unit itself, without Ray)."""

    def __init__(self, store: SampleStore, todo: list[WorkUnit], total: int, progress: bool) -> None:
        self.store = store
        self.todo = deque(todo)
        self.total = total
        self.progress = progress
        self.remaining: dict[str, int] = {}
        for unit in todo:
            self.remaining[unit.problem_id] = self.remaining.get(unit.problem_id, 0) + 1
        self.in_flight: dict[Any, tuple[WorkUnit, Any]] = {}
        self.shared: list[Any] = []
        self.alive: list[Any] = []
        self.first_ready: float | None = None
        self.last_error: BaseException | None = None
        self.summary = {"units_skipped": 0, "units_written": 0, "samples_written": 0, "new_programs": 0,
                        "units_retried": 0, "workers": 0}

    def _bar(self) -> Any:
        """A progress bar over this run's samples, starting at those already stored."""
        done = self.total - sum(u.size - u.start for u in self.todo)
        return tqdm(total=self.total, initial=done, unit="sample", desc="sampling", disable=not self.progress)

    def run_here(self, problems: Sequence[Problem], model: LoadedModel, config: SamplingConfig) -> None:
        """Sample every unit in this process, one after another."""
        by_name = {p.name: p for p in problems}
        sampler = ModelSampler(model, config)
        sampler.warmup()
        self.first_ready = time.monotonic()
        with self._bar() as bar:
            while self.todo:
                unit = self.todo.popleft()
                candidates = draw_unit(sampler, by_name[unit.problem_id], unit)
                self._write(unit, candidates)
                bar.update(len(candidates))

    def _feed(self, actor: Any) -> None:
        while self.todo and sum(a is actor for _, a in self.in_flight.values()) < PREFETCH:
            unit = self.todo.popleft()
            self.in_flight[actor.run.remote(unit, self.shared)] = (unit, actor)

    def _lose(self, actor: Any, error: BaseException) -> None:
        self.last_error = error
        if any(a is actor for a in self.alive):
            self.alive = [a for a in self.alive if a is not actor]
            ray.kill(actor, no_restart=True)

    def run(self, problems: Sequence[Problem], model: LoadedModel, config: SamplingConfig, workers: int | None,
            max_restarts: int, fault: FaultInjection | None) -> None:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = workers or max(1, gpus or int(resources.get("CPU", 1)))
        self.summary["workers"] = count
        share = min(1.0, gpus / count) if gpus else 0.0  # more workers than GPUs: they share the GPUs
        options: dict[str, Any] = {"num_cpus": 1, "num_gpus": share, "max_restarts": max_restarts,
                                   "max_task_retries": max_restarts}
        if 0 < share < 1:  # JAX would otherwise reserve 75% of the GPU's memory in each worker
            options["runtime_env"] = {"env_vars": {"XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 * share:.3f}"}}
        prompts = {p.name: Problem(name=p.name, description=p.description) for p in problems if p.name in self.remaining}
        actor_class = ray.remote(**options)(SamplingWorker)
        self.shared = [ray.put(model), ray.put(prompts)]
        self.alive = [actor_class.remote(config, fault) for _ in range(count)]
        actors = list(self.alive)
        starting = {actor.ready.remote(self.shared): actor for actor in actors}
        try:
            with self._bar() as bar:
                while self.todo or self.in_flight:
                    if not self.alive:
                        raise WorkersLost(f"all {count} sampling workers died; rerun to resume "
                                           f"(last error: {self.last_error})")
                    ref = ray.wait([*starting, *self.in_flight], num_returns=1)[0][0]
                    if ref in starting:
                        actor = starting.pop(ref)
                        try:
                            ray.get(ref)
                        except ray.exceptions.RayActorError as error:
                            self._lose(actor, error)
                            continue
                        self.first_ready = self.first_ready or time.monotonic()
                        self._feed(actor)
                        continue
                    unit, actor = self.in_flight.pop(ref)
                    try:
                        candidates = ray.get(ref)
                    except ray.exceptions.RayActorError as error:
                        self.todo.appendleft(unit)
                        self.summary["units_retried"] += 1
                        if not isinstance(error, ray.exceptions.ActorUnavailableError):
                            self._lose(actor, error)
                        for other in self.alive:
                            self._feed(other)
                        continue
                    self._write(unit, candidates)
                    bar.update(len(candidates))
                    self._feed(actor)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)

    def _write(self, unit: WorkUnit, candidates: list[Candidate]) -> None:
        self.summary["new_programs"] += self.store.write_unit(unit.problem_id, unit.unit, candidates)
        self.summary["units_written"] += 1
        self.summary["samples_written"] += len(candidates)
        self.remaining[unit.problem_id] -= 1
        if not self.remaining[unit.problem_id]:
            self.store.forget(unit.problem_id)


def resolve_unit_size(unit_size: int | None, batch_size: int) -> int:
    """Samples per work unit: ``unit_size``, by default four batches; it must be a whole number of batches."""
    unit_size = unit_size or 4 * batch_size
    if unit_size % batch_size:
        raise ConfigError(f"the unit size ({unit_size}) must be a multiple of the batch size ({batch_size})")
    return unit_size


def sample(problems: str | os.PathLike[str], out: str | os.PathLike[str], samples: int,
           config: SamplingConfig = SamplingConfig(), *, checkpoint: str | os.PathLike[str] | None = None,
           unit_size: int | None = None, seed: int = 0, workers: int | None = None,
           address: str | None = None) -> RunSummary:
    """What ``alphacode sample`` does: load the problems and the model (``None``: the bundled one) and
    :func:`run_sampling` them into the store at ``out``."""
    if not Path(problems).exists():
        raise UserError(f"{problems}: no such file or directory")
    resolve_unit_size(unit_size, config.batch_size)  # before the model loads
    loaded = load_problems(problems)
    check_unique_names(loaded, str(problems))
    model = load_model(checkpoint)
    return run_sampling(loaded, model, out, samples, config=config, unit_size=unit_size, seed=seed, workers=workers,
                        address=address)
