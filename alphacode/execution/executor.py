"""Executors: what runs batches of jobs for the selection stage, here or across a Ray cluster.

An :class:`Executor` takes jobs (program, inputs, limits) and returns one list of outcomes per job,
in the jobs' order; :class:`~clustering.cache.ExecutionCache` sits on top of it, so cached results
and their keys are the same whichever executor ran them. :class:`LocalExecutor` is this machine's
:class:`~alphacode.execution.sandbox.Sandbox`; :class:`~alphacode.execution.executor.RayExecutor`
is a pool of Ray actors, each with its own sandbox on its node. Both run every batch through
:func:`run_isolated`, so a program that brings its sandbox worker down gets a verdict of its own
instead of failing the batch it came in.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from tqdm import tqdm

from alphacode.cluster import cluster_address, ray_session
from alphacode.errors import CommandFailed, ConfigError, first_line
from alphacode.execution.records import Job, Outcome, Status
from alphacode.execution.sandbox import Sandbox, SandboxError, SandboxOptions, SandboxUnavailable, make_job
from alphacode.lazy import lazy_import

ray = lazy_import("ray")  # ~1 s: only for the Ray executor

EXECUTORS = ("local", "ray")
CRASH_NOTE = "the program brought its sandbox worker down"
_PROBE = make_job("pass", "python3", [b""])
PREFETCH = 2  # chunks queued per actor: one running, one waiting, so no actor idles on the driver
CHUNKS_PER_ACTOR = 16  # a batch is cut into about this many chunks per actor: the last ones leave little idle
CHUNK_EXECUTIONS = (16, 256)  # fewest and most executions per chunk: Ray's per-call cost against balance
MAX_ATTEMPTS = 4  # a chunk whose actor (or node) is lost this many times fails its batch
POLL_S = 0.01  # how often the dispatcher looks for new chunks while others are running


class Executor(Protocol):
    """Runs batches of jobs; results come back in the order of ``jobs``. ``workers`` is how many
    executions it runs at once (callers size their batches by it); ``report`` says where they ran."""

    @property
    def workers(self) -> int: ...

    def run_batch(self, jobs: Sequence[Job], progress: str | None = None) -> list[list[Outcome]]: ...

    def report(self) -> ExecutionReport: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ExecutionReport:
    """Where a command's executions ran: the executor, its size (sandbox workers, or actors), the chunks
    it sent out and how many were sent again after their actor or node was lost, and per node the chunks
    and executions whose results were used (so each (program, input) result is counted once)."""

    executor: str
    workers: int
    chunks: int = 0
    chunks_retried: int = 0
    actors_replaced: int = 0
    nodes: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def executions(self) -> int:
        return sum(node["executions"] for node in self.nodes.values())

    def to_json(self) -> dict[str, Any]:
        return {"executor": self.executor, "workers": self.workers, "chunks": self.chunks,
                "chunks_retried": self.chunks_retried, "actors_replaced": self.actors_replaced,
                "executions": self.executions, "nodes": self.nodes}

    def summary(self) -> str:
        """One line for people: what ran where."""
        if self.executor == "local":
            return f"executor: local sandbox, {self.workers} workers, {self.executions} executions"
        return (f"executor: ray, {_count(self.workers, 'actor')} on {_count(len(self.nodes), 'node')}, "
                f"{_count(self.chunks, 'chunk')} (retried {self.chunks_retried}, actors replaced "
                f"{self.actors_replaced}), {self.executions} executions")


def run_isolated(sandbox: Sandbox, jobs: Sequence[Job], progress: str | None = None) -> list[list[Outcome]]:
    """``sandbox.run_batch(jobs, progress)``, except that a job whose worker fails does not fail the others: the jobs
    without a result run again, halved until the failing one is alone, then input by input; an input that
    still brings a worker down gets a ``SANDBOX_VIOLATION`` outcome, once a trivial program shows the sandbox
    itself still works (else the :class:`SandboxError` goes up: the fault is the machine's, not the program's)."""
    results: list[list[Outcome] | None] = [None] * len(jobs)
    try:
        for index, outcomes in sandbox.iter_batch(jobs, progress=progress):
            results[index] = outcomes
    except SandboxError:
        missing = [i for i, r in enumerate(results) if r is None]
        if len(jobs) == 1:
            results[0] = _run_alone(sandbox, jobs[0])
        else:
            half = len(missing) // 2 if len(missing) == len(jobs) else len(missing)
            for group in (missing[:half], missing[half:]):
                if group:
                    for i, outcomes in zip(group, run_isolated(sandbox, [jobs[i] for i in group])):
                        results[i] = outcomes
    return [r for r in results if r is not None]


def _run_alone(sandbox: Sandbox, job: Job) -> list[Outcome]:
    """One job that failed its worker: each input on its own, the ones that fail again judged as the program's."""
    if len(job.inputs) > 1:
        return [outcome for data in job.inputs for outcome in _run_alone(sandbox, replace(job, inputs=(data,)))]
    try:
        return sandbox.run_batch([job])[0]
    except SandboxError as err:
        [probe] = sandbox.run_batch([_PROBE])[0]  # a SandboxError here is the sandbox's own failure
        if probe.status is not Status.OK:
            raise SandboxError(f"the sandbox cannot run an empty program any more ({probe.status.value})") from err
        return [Outcome(Status.SANDBOX_VIOLATION, stderr_tail=f"{CRASH_NOTE} ({err})")] * len(job.inputs)


class LocalExecutor:
    """This machine's sandbox behind the executor interface (see :func:`run_isolated`)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._batches = self._executions = 0

    @property
    def workers(self) -> int:
        return self.sandbox.workers

    def run_batch(self, jobs: Sequence[Job], progress: str | None = None) -> list[list[Outcome]]:
        results = run_isolated(self.sandbox, jobs, progress)
        self._batches += 1
        self._executions += sum(len(job.inputs) for job in jobs)
        return results

    def report(self) -> ExecutionReport:
        return ExecutionReport("local", self.workers, self._batches,
                               nodes={"local": {"chunks": self._batches, "executions": self._executions}})

    def close(self) -> None:
        self.sandbox.close()


@dataclass(frozen=True)
class ExecutorOptions:
    """Which executor a command uses: ``kind`` "local", "ray", or None for Ray exactly when the command joins
    a cluster (``--address`` or ``RAY_ADDRESS``). ``sandbox.workers`` counts the local sandbox's workers, or
    the Ray executor's actors (one single-worker sandbox each; default: one per Ray CPU)."""

    kind: str | None = None
    sandbox: SandboxOptions = SandboxOptions()

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.kind!r}")

    def resolve(self, address: str | None) -> str:
        """"local" or "ray" for a command given ``address`` (or none)."""
        return self.kind or ("ray" if cluster_address(address) else "local")

    @contextlib.contextmanager
    def open(self, address: str | None = None) -> Iterator[Executor]:
        """The executor for the block, closed at its end; the Ray one joins (or starts) Ray as
        :func:`~alphacode.cluster.ray_session` does, unless Ray is already initialised here."""
        if self.resolve(address) == "local":
            executor = LocalExecutor(self.sandbox.open())
            try:
                yield executor
            finally:
                executor.close()
            return
        with ray_session(address, None):
            remote = RayExecutor(actors=self.sandbox.workers, unsafe_no_isolation=self.sandbox.unsafe_no_isolation)
            try:
                yield remote
            finally:
                remote.close()


class ExecutorLost(CommandFailed):
    """Every executor actor died and no replacement could start; nothing half-done was kept."""


class ExecutionWorker:
    """The body of one Ray actor: a one-worker sandbox of its own on its node, running chunks of jobs.

    A machine without the isolation the sandbox needs is reported by :meth:`ready` (so the driver can
    say which node) rather than by failing the actor's creation."""

    def __init__(self, unsafe_no_isolation: bool) -> None:
        self._sandbox: Sandbox | None = None
        self._unavailable: str | None = None
        try:
            self._sandbox = Sandbox(workers=1, unsafe_no_isolation=unsafe_no_isolation)
        except SandboxUnavailable as err:
            self._unavailable = str(err)

    def ready(self) -> tuple[str, int, str | None]:
        """(node id, process id, why the sandbox is unavailable or None)."""
        return ray.get_runtime_context().get_node_id(), os.getpid(), self._unavailable

    def run(self, jobs: list[Job]) -> list[list[Outcome]]:
        assert self._sandbox is not None, "run() on an actor whose sandbox did not start"
        return run_isolated(self._sandbox, jobs)

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()


@dataclass(frozen=True)
class ActorInfo:
    """A started executor actor: its node, its process and the chunks it holds now."""

    node: str
    pid: int
    chunks_in_flight: int


@dataclass(eq=False)
class _Call:
    """One ``run_batch`` call waiting for its chunks."""

    results: list[list[Outcome] | None]
    chunks_left: int = 0
    bar: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.done.set()


@dataclass(eq=False)
class _Chunk:
    """Consecutive jobs of one call, sent to one actor at a time until an attempt returns."""

    call: _Call
    indices: list[int]
    jobs: list[Job]
    failures: int = 0

    @property
    def executions(self) -> int:
        return sum(len(job.inputs) for job in self.jobs)


@dataclass(eq=False)
class _Actor:
    handle: Any
    node: str = ""
    pid: int = 0
    in_flight: int = 0


class RayExecutor:
    """A pool of Ray actors (one per CPU of the cluster by default), each holding a one-worker sandbox on its node.

    ``run_batch`` cuts its jobs into chunks (consecutive jobs, :data:`CHUNK_EXECUTIONS`), one dispatcher
    thread keeps every started actor fed with up to :data:`PREFETCH` chunks (from any number of calling
    threads: a contest's problems share the pool), and the results go back in the jobs' order. The actors
    start at the first batch, so a command that samples on the same cluster first has its samplers placed.
    An actor or node that dies mid-chunk is replaced and its chunks run again elsewhere; only the attempt
    that returned is used, so each result is counted once. Ray must be initialised.
    """

    def __init__(self, actors: int | None = None, unsafe_no_isolation: bool = False) -> None:
        if actors is not None and actors < 1:
            raise ConfigError(f"need at least one actor, got {actors}")
        self._size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._unsafe = unsafe_no_isolation
        self._cond = threading.Condition()
        self._queue: deque[_Chunk] = deque()
        self._closed = False
        self._broken: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._actor_class: Any = None
        self._actors: list[_Actor] = []
        self._starting: dict[Any, _Actor] = {}
        self._in_flight: dict[Any, tuple[_Chunk, _Actor]] = {}
        self._replacements_left = 2 * self._size + 2
        self._last_error: BaseException | None = None
        self._chunks = self._retried = self._replaced = 0
        self._nodes: dict[str, dict[str, int]] = {}

    @property
    def workers(self) -> int:
        return self._size

    def run_batch(self, jobs: Sequence[Job], progress: str | None = None) -> list[list[Outcome]]:
        """Run ``jobs`` on the pool; results in the order of ``jobs``."""
        if not jobs:
            return []
        call = _Call([None] * len(jobs))
        chunks = self._split(jobs, call)
        call.chunks_left = len(chunks)
        if progress:
            call.bar = tqdm(total=len(jobs), desc=progress, unit="prog", leave=False)
        with self._cond:
            if self._closed or self._broken is not None:
                raise self._broken or RuntimeError("the executor is closed")
            self._queue.extend(chunks)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="ray-executor", daemon=True)
                self._thread.start()
            self._cond.notify()
        call.done.wait()
        if call.bar is not None:
            call.bar.close()
        if call.error is not None:
            raise call.error
        return [r for r in call.results if r is not None]

    def _split(self, jobs: Sequence[Job], call: _Call) -> list[_Chunk]:
        total = sum(len(job.inputs) for job in jobs)
        low, high = CHUNK_EXECUTIONS
        target = min(high, max(low, math.ceil(total / (self._size * CHUNKS_PER_ACTOR))))
        chunks: list[_Chunk] = []
        size = target  # executions in the last chunk: a full one starts the next
        for index, job in enumerate(jobs):
            if size >= target:
                chunks.append(_Chunk(call, [], []))
                size = 0
            chunks[-1].indices.append(index)
            chunks[-1].jobs.append(job)
            size += len(job.inputs)
        return chunks

    def actors(self) -> list[ActorInfo]:
        """The started actors now: where they run and how many chunks each holds."""
        with self._cond:
            return [ActorInfo(a.node, a.pid, a.in_flight) for a in self._actors if a.pid]

    def report(self) -> ExecutionReport:
        with self._cond:
            return ExecutionReport("ray", self._size, self._chunks, self._retried, self._replaced,
                                   {node: dict(counts) for node, counts in self._nodes.items()})

    def close(self) -> None:
        """Stop the dispatcher, let each actor close its sandbox, and end the actors."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        started = [a for a in self._actors if a.pid]
        if started:
            ray.wait([a.handle.close.remote() for a in started], num_returns=len(started), timeout=10)
        for actor in self._actors:
            ray.kill(actor.handle, no_restart=True)
        self._actors = []

    # --- the dispatcher thread -----------------------------------------------------------------

    def _serve(self) -> None:
        try:
            self._actor_class = ray.remote(num_cpus=1, max_restarts=0)(ExecutionWorker)
            for _ in range(self._size):
                self._start_actor()
            while True:
                with self._cond:
                    while not (self._closed or self._queue or self._in_flight):
                        self._cond.wait()
                    if self._closed:
                        break
                self._feed()
                refs = [*self._starting, *self._in_flight]
                if not refs:
                    raise ExecutorLost(f"all {self._size} executor actors died and none could be replaced "
                                       f"(last error: {first_line(self._last_error)})")
                ready, rest = ray.wait(refs, num_returns=1, timeout=POLL_S)
                if ready and rest:
                    ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
                for ref in ready:
                    self._settle(ref)
            self._fail_everything(RuntimeError("the executor was closed while a batch was running"))
        except BaseException as err:  # every waiting caller hears of it, and later calls too
            with self._cond:
                self._broken = err
            self._fail_everything(err)

    def _start_actor(self) -> None:
        actor = _Actor(self._actor_class.remote(self._unsafe))
        with self._cond:
            self._actors.append(actor)
        self._starting[actor.handle.ready.remote()] = actor

    def _feed(self) -> None:
        with self._cond:
            for actor in self._actors:
                while actor.pid and actor.in_flight < PREFETCH and self._queue:
                    chunk = self._queue.popleft()
                    if chunk.call.error is not None:
                        continue
                    actor.in_flight += 1
                    self._in_flight[actor.handle.run.remote(chunk.jobs)] = (chunk, actor)

    def _settle(self, ref: Any) -> None:
        if ref in self._starting:
            actor = self._starting.pop(ref)
            try:
                node, pid, unavailable = ray.get(ref)
            except ray.exceptions.RayError as err:
                self._lose(actor, err)
                return
            if unavailable is not None:
                raise SandboxUnavailable(f"Ray node {node}: {unavailable}")
            with self._cond:
                actor.node, actor.pid = node, pid
            return
        chunk, actor = self._in_flight.pop(ref)
        with self._cond:
            actor.in_flight -= 1
        try:
            outcomes = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as err:
            # the actor or its node died, or its sandbox failed: the chunk runs again on another actor
            self._retry(chunk, err)
            self._lose(actor, err)
            return
        call = chunk.call
        with self._cond:
            if call.error is not None:
                return
            for index, result in zip(chunk.indices, outcomes):
                call.results[index] = result
            self._chunks += 1
            counts = self._nodes.setdefault(actor.node, {"chunks": 0, "executions": 0})
            counts["chunks"] += 1
            counts["executions"] += chunk.executions
            call.chunks_left -= 1
        if call.bar is not None:
            call.bar.update(len(chunk.jobs))
        if not call.chunks_left:
            call.done.set()

    def _retry(self, chunk: _Chunk, error: BaseException) -> None:
        chunk.failures += 1
        if chunk.failures >= MAX_ATTEMPTS:
            chunk.call.fail(CommandFailed(f"a chunk of {len(chunk.jobs)} programs lost its executor {MAX_ATTEMPTS} "
                                          f"times (last error: {first_line(error)})"))
            return
        with self._cond:
            self._retried += 1
            self._queue.appendleft(chunk)

    def _lose(self, actor: _Actor, error: BaseException) -> None:
        """Drop a failed actor (once, however many of its chunks report it) and start a replacement."""
        self._last_error = error
        with self._cond:
            if actor not in self._actors:
                return
            self._actors.remove(actor)
        ray.kill(actor.handle, no_restart=True)
        if self._replacements_left > 0:
            self._replacements_left -= 1
            self._replaced += 1
            self._start_actor()

    def _fail_everything(self, error: BaseException) -> None:
        with self._cond:
            calls = {chunk.call for chunk in self._queue} | {chunk.call for chunk, _ in self._in_flight.values()}
            self._queue.clear()
        for call in calls:
            call.fail(error)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


