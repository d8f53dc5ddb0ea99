"""The driver side of the sandbox: a pool of zygotes and a batch API that keeps every core busy.

>>> with Sandbox() as sandbox:
...     [outcome] = sandbox.run("print(int(input()) * 2)", "python3", [b"21\\n"])
...     outcome.stdout
b'42\\n'
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from alphacode.errors import CommandFailed, ConfigError, UserError
from alphacode.execution import pch
from alphacode.execution.protocol import COMPILE_FAILED, EXIT_SETUP, RUNNING, Isolation, Report, receive, send
from alphacode.execution.records import STDERR_TAIL, Job, Limits, Outcome, SandboxLanguage, Status

STALE_STAGING_S = 3600.0  # a compile's staging file older than this was left by a crashed worker
CACHE_BUDGET_BYTES = 4 * 2**30  # compiled binaries beyond this are removed, least recently used first ...
CACHE_GRACE_S = 30.0  # ... once unused this long (a job compiles its program again if it was removed)
TRIM_EVERY_BYTES = 256 * 2**20  # compiled since the last trim
MAX_WORKERS_PER_CORE = 4


class SandboxUnavailable(UserError, RuntimeError):
    """The machine cannot give the isolation untrusted code needs (and unsafe mode was not asked for)."""


class SandboxError(CommandFailed):
    """A sandbox worker failed in a way that is not the program's fault."""


class CacheUnwritable(CommandFailed):
    """A compiled binary could not be kept (a full disk): the machine's fault, so the run stops, no verdict."""


def _cache_base() -> Path:
    return Path(os.environ.get("ALPHACODE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "alphacode"))


def default_cache_dir() -> Path:
    """Where compiled C++ binaries are kept between runs, keyed by source hash."""
    return _cache_base() / "cpp"


def default_pch_dir() -> Path:
    """Where the machine's precompiled ``<bits/stdc++.h>`` is kept (see :mod:`alphacode.execution.pch`)."""
    return _cache_base() / "pch"


class _Worker:
    """One zygote process and the socket that talks to it."""

    def __init__(self, cache_dir: Path, pch_dir: Path | None, unsafe: bool) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        try:
            # its own session: the terminal's Ctrl-C is the driver's to handle (the zygote dies with it)
            self.process = subprocess.Popen([sys.executable, "-I", "-m", "alphacode.execution.zygote"], stdin=theirs,
                                            stdout=subprocess.DEVNULL, env=env, cwd="/", close_fds=True,
                                            start_new_session=True)
        finally:
            theirs.close()
        self.sock = ours
        try:
            send(ours, {"cache_dir": str(cache_dir), "pch_dir": pch_dir and str(pch_dir), "unsafe": unsafe})
            hello = receive(ours)
        except OSError:
            hello = None
        if hello is None:
            self.close()
            raise SandboxError("sandbox worker exited during start-up")
        info = hello[0]
        self.isolation = Isolation(**info["isolation"])
        self.runtime_bytes: int = info["runtime_bytes"]

    def request(self, message: tuple, fds: Sequence[int]) -> Report:
        try:
            send(self.sock, message, fds)
            reply = receive(self.sock)
        except OSError as err:  # a broken pipe: the zygote is gone
            raise SandboxError(f"sandbox worker unreachable ({err})") from err
        if reply is None:
            raise SandboxError(f"sandbox worker died (exit code {self.process.wait()})")
        result, extra = reply
        for fd in extra:
            os.close(fd)
        if isinstance(result, Exception):
            raise SandboxError(f"sandbox worker failed: {result!r}") from result
        return result

    def execute(self, message: tuple, stdin: bytes, code: int | None, output_cap: int) -> tuple[Report, bytes, str]:
        """One execution with fresh memfds for its stdin, stdout and stderr (and ``code``, the program's
        memfd, for Python): the report, the stdout (at most ``output_cap`` bytes) and the stderr's tail."""
        files = [_memfd("stdin", stdin), _memfd("stdout"), _memfd("stderr")]
        try:
            report = self.request(message, files if code is None else [*files, code])
            stdout = os.pread(files[1], min(os.fstat(files[1]).st_size, output_cap), 0)
            err_size = os.fstat(files[2]).st_size
            stderr = os.pread(files[2], STDERR_TAIL, max(0, err_size - STDERR_TAIL)).decode("utf-8", "replace")
        finally:
            for fd in files:
                os.close(fd)
        return report, stdout, stderr

    def close(self) -> None:
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Spawner:
    """Starts zygotes from one thread that lives as long as the sandbox: a zygote's parent-death signal
    fires when the thread that started it ends, so a worker started from a short-lived thread (a batch's,
    replacing a failed worker) would die with it."""

    def __init__(self, cache_dir: Path, pch_dir: Path | None, unsafe: bool) -> None:
        self._settings = (cache_dir, pch_dir, unsafe)
        self._requests: queue.Queue[queue.Queue | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="sandbox-spawner", daemon=True)
        self._thread.start()

    def spawn(self) -> _Worker:
        reply: queue.Queue[_Worker | BaseException] = queue.Queue(maxsize=1)
        self._requests.put(reply)
        result = reply.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self) -> None:
        while (reply := self._requests.get()) is not None:
            try:
                reply.put(_Worker(*self._settings))
            except BaseException as err:
                reply.put(err)

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join()


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def classify(report: Report, stdout: bytes, stderr: str, limits: Limits, memory_allowance: int) -> Outcome:
    """The status of one execution from what the sandbox itself observed: its own kills and the CPU
    time (``TIMEOUT``), the child's report that the program did not compile, the kernel's signals for
    a seccomp kill and the file-size limit, and the measured peak memory against ``memory_allowance``
    (the limit plus the runtime's own share). Never from the program's exit code or stderr text."""
    if report.killed or report.cpu_time_s > limits.time_s:
        status = Status.TIMEOUT
    elif report.phase == COMPILE_FAILED:
        status = Status.COMPILE_ERROR
    elif report.signal == signal.SIGSYS:
        status = Status.SANDBOX_VIOLATION
    elif report.signal == signal.SIGXFSZ:
        status = Status.OUTPUT_LIMIT
    elif report.peak_memory_bytes > memory_allowance:
        status = Status.MEMORY_LIMIT
    elif report.exit_code == 0 and report.phase == RUNNING:
        status = Status.OK
    else:
        status = Status.RUNTIME_ERROR
    return Outcome(status=status, stdout=stdout, stderr_tail=stderr, wall_time_s=report.wall_time_s,
                   cpu_time_s=report.cpu_time_s, peak_memory_bytes=report.peak_memory_bytes,
                   exit_code=report.exit_code, signal=report.signal, output_truncated=report.signal == signal.SIGXFSZ,
                   completed=report.completed)


class Sandbox:
    """Runs untrusted Python 3 and C++ programs in isolated, resource-limited processes.

    ``workers`` zygotes (default: one per core) each run one execution at a time. C++ programs are
    compiled once per distinct source (inside the sandbox) and cached on disk in ``cache_dir``, which
    the sandbox's unprivileged uid may traverse but not list, so it reaches a binary only by its name.
    A worker that fails is replaced, and the job it was running runs once more on another.
    """

    def __init__(self, workers: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 unsafe_no_isolation: bool = False) -> None:
        if sys.platform != "linux":
            raise SandboxUnavailable("the sandbox needs Linux (namespaces, seccomp, rlimits)")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        cores = os.cpu_count() or 1
        if workers is not None and workers > MAX_WORKERS_PER_CORE * cores:
            raise ConfigError(f"workers: {workers} sandbox workers on {cores} cores; at most "
                              f"{MAX_WORKERS_PER_CORE * cores} (each is a process that runs one program at a time)")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.chmod(0o711)  # the sandbox uid must reach the binaries, and no other program's by listing
        for leftover in self.cache_dir.glob(".*.tmp"):  # a crashed compile's staging file
            with contextlib.suppress(OSError):
                if time.time() - leftover.stat().st_mtime > STALE_STAGING_S:
                    leftover.unlink()
        trim_cache(self.cache_dir)
        self._compiled_bytes = 0  # since the last trim
        self.pch_dir: Path | None = default_pch_dir()
        try:
            self.pch_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError:  # no precompiled header then: every compile reads the header
            self.pch_dir = None
        self.unsafe = unsafe_no_isolation
        self._size = workers or os.cpu_count() or 1
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._compile_locks: dict[str, threading.Lock] = {}
        self._compile_errors: dict[str, Outcome] = {}
        self._lock = threading.Lock()
        self._pch_lock = threading.Lock()
        self._pch: str | None | bool = False  # False: not looked for yet
        self._spawner = _Spawner(self.cache_dir, self.pch_dir, self.unsafe)
        first = self._add_worker()
        self.isolation = first.isolation
        if not self.isolation.complete and not self.unsafe:
            self.close()
            raise SandboxUnavailable(
                "refusing to run untrusted code without isolation: " + "; ".join(self.isolation.problems or ["unknown"])
                + " (pass --unsafe-no-isolation to run anyway)")
        for _ in range(self._size - 1):
            self._add_worker()

    def _add_worker(self) -> _Worker:
        try:
            worker = self._spawner.spawn()
        except BaseException:
            self.close()
            raise
        with self._lock:
            self._workers.append(worker)
        self._idle.put(worker)
        return worker

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker; the sandbox cannot be used afterwards."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
        self._spawner.close()

    @property
    def workers(self) -> int:
        return self._size

    def run(self, code: str, language: str | SandboxLanguage, inputs: Sequence[bytes | str],
            limits: Limits | None = None) -> list[Outcome]:
        """Run one program on each input, each in a fresh process; one outcome per input."""
        return self.run_batch([make_job(code, language, inputs, limits)])[0]

    def run_batch(self, jobs: Sequence[Job], progress: str | None = None) -> list[list[Outcome]]:
        """Run many jobs on all workers; results come back in the order of ``jobs``."""
        results: list[list[Outcome]] = [[] for _ in jobs]
        for index, outcomes in self.iter_batch(jobs, progress=progress):
            results[index] = outcomes
        return results

    def iter_batch(self, jobs: Iterable[Job], progress: str | None = None) -> Iterator[tuple[int, list[Outcome]]]:
        """Yield ``(index, outcomes)`` as jobs finish, in completion order."""
        jobs = list(jobs)
        pending: queue.Queue[tuple[int, Job] | None] = queue.Queue()
        done: queue.Queue[tuple[int, list[Outcome] | BaseException]] = queue.Queue()
        for item in enumerate(jobs):
            pending.put(item)
        threads = [threading.Thread(target=self._drain, args=(pending, done), daemon=True)
                   for _ in range(min(self._size, len(jobs)))]
        for _ in threads:
            pending.put(None)
        for thread in threads:
            thread.start()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc=progress, unit="prog", leave=False)
        try:
            for _ in range(len(jobs)):
                index, result = done.get()
                if isinstance(result, BaseException):
                    raise result
                if bar:
                    bar.update()
                yield index, result
        finally:
            while not pending.empty():  # on early exit, let the threads finish quickly
                try:
                    pending.get_nowait()
                except queue.Empty:
                    break
            for _ in threads:
                pending.put(None)
            for thread in threads:
                thread.join()
            if bar:
                bar.close()

    def _drain(self, pending: queue.Queue, done: queue.Queue) -> None:
        """Worker thread: run jobs on idle zygotes until the sentinel; every job gets a result posted.
        A job whose zygote failed runs once more, on another (its replacement, if the pool had one)."""
        while (item := pending.get()) is not None:
            index, job = item
            result: list[Outcome] | BaseException
            try:
                try:
                    result = self._attempt(job)
                except SandboxError:
                    result = self._attempt(job)
            except BaseException as err:  # surface anything unexpected to the caller
                result = err
            done.put((index, result))

    def _attempt(self, job: Job) -> list[Outcome]:
        """Run ``job`` on an idle zygote; one that fails is replaced before the error goes up."""
        worker = self._take_worker()
        try:
            outcomes = self._run_job(worker, job)
        except SandboxError:
            self._replace(worker)
            raise
        except BaseException:
            self._idle.put(worker)
            raise
        self._idle.put(worker)
        return outcomes

    def _take_worker(self) -> _Worker:
        while True:
            try:
                return self._idle.get(timeout=1.0)
            except queue.Empty:
                with self._lock:
                    if not self._workers:
                        raise SandboxError("every sandbox worker failed and none could be started again") from None

    def _replace(self, worker: _Worker) -> None:
        """Swap a broken zygote for a fresh one (the pool shrinks if none can start)."""
        worker.close()
        try:
            fresh = self._spawner.spawn()
        except (SandboxError, OSError):
            fresh = None
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            if fresh is not None:
                self._workers.append(fresh)
        if fresh is not None:
            self._idle.put(fresh)

    def _run_job(self, worker: _Worker, job: Job) -> list[Outcome]:
        if not job.inputs:
            return []
        try:
            source = job.code.encode("utf-8")
        except UnicodeEncodeError as err:  # a lone surrogate: valid in JSON, not in a source file
            bad = Outcome(Status.COMPILE_ERROR, stderr_tail=f"main: not valid Unicode text ({err.reason} at "
                                                            f"character {err.start})")
            return [bad] * len(job.inputs)
        limits = job.limits
        if job.language is SandboxLanguage.CPP:
            allowance = max(limits.memory_bytes, worker.runtime_bytes)  # the launcher's pages count before exec
            outcomes = []
            # before each run the binary is marked used, or compiled if missing (the first time, or after a trim);
            # a source that does not compile gets its one compile error for every input
            for data in job.inputs:
                for _ in range(2):
                    outcome = self._compile(worker, source, job.code_hash) or classify(
                        *worker.execute(("run", job.language.value, job.code_hash, limits), data, None,
                                        limits.output_bytes), limits, allowance)
                    # removed between its check and its execve (a trim elsewhere): compile it and run once more
                    if outcome.exit_code != EXIT_SETUP or self._cached(job.code_hash):
                        break
                outcomes.append(outcome)
            return outcomes
        allowance = limits.memory_bytes + worker.runtime_bytes  # the interpreter's own pages come on top
        code = _memfd("code", source)
        try:
            return [classify(*worker.execute(("run", job.language.value, None, limits), data, code,
                                             limits.output_bytes), limits, allowance)
                    for data in job.inputs]
        finally:
            os.close(code)

    def _cached(self, key: str) -> bool:
        """Whether ``key``'s binary is in the cache, marking it used now (so no trim removes it while it runs)."""
        try:
            os.utime(self.cache_dir / key)
        except FileNotFoundError:
            return False
        except OSError:  # a cache this process may not write to: used as it is
            return (self.cache_dir / key).exists()
        return True

    def _compile(self, worker: _Worker, source: bytes, key: str) -> Outcome | None:
        """Compile once per distinct source; the compile error outcome if it does not compile."""
        if self._cached(key):
            return None
        with self._lock:
            lock = self._compile_locks.setdefault(key, threading.Lock())
            trim = self._compiled_bytes >= TRIM_EVERY_BYTES
            if trim:
                self._compiled_bytes = 0
        if trim:
            trim_cache(self.cache_dir)
        with lock:
            if key in self._compile_errors:
                return self._compile_errors[key]
            if self._cached(key):
                return None
            header = self._precompiled_header() if pch.HEADER.encode() in source else None
            code = _memfd("source", source)
            try:
                report, _, stderr = worker.execute(("compile", key, header), b"", code, 0)
            finally:
                os.close(code)
            if report.binary:
                with contextlib.suppress(OSError), self._lock:
                    self._compiled_bytes += (self.cache_dir / key).stat().st_size
                return None
            if report.fault:
                raise CacheUnwritable(f"{self.cache_dir}: {report.fault}")
            outcome = Outcome(Status.COMPILE_ERROR, stderr_tail=stderr, wall_time_s=report.wall_time_s,
                              cpu_time_s=report.cpu_time_s, exit_code=report.exit_code, signal=report.signal)
            self._compile_errors[key] = outcome
            return outcome


    def _precompiled_header(self) -> str | None:
        """The directory (under ``pch_dir``) of the precompiled ``<bits/stdc++.h>``, built on first need."""
        with self._pch_lock:
            if self._pch is False:
                self._pch = pch.ensure(self.pch_dir) if self.pch_dir is not None else None
            return self._pch


def trim_cache(cache_dir: Path, budget: int = CACHE_BUDGET_BYTES, grace_s: float = CACHE_GRACE_S) -> int:
    """Remove compiled binaries, least recently used first, until ``cache_dir`` holds at most ``budget`` bytes;
    a binary used within ``grace_s`` is kept (an execution may be about to run it). Returns the bytes removed."""
    entries = []
    with contextlib.suppress(OSError), os.scandir(cache_dir) as found:
        for entry in found:
            with contextlib.suppress(OSError):
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    entries.append((info.st_mtime, info.st_size, entry.path))
    excess = sum(size for _, size, _ in entries) - budget
    removed, now = 0, time.time()
    for used, size, path in sorted(entries):
        if removed >= excess or now - used < grace_s:
            break
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(path).st_mtime >= grace_s:  # not taken into use since the scan
                os.unlink(path)
                removed += size
    return removed


def make_job(code: str, language: str | SandboxLanguage, inputs: Sequence[bytes | str], limits: Limits | None = None) -> Job:
    """Build a :class:`Job`, encoding text inputs as UTF-8."""
    lang = SandboxLanguage(language.value if isinstance(language, SandboxLanguage) else language)
    data = tuple(i.encode("utf-8") if isinstance(i, str) else bytes(i) for i in inputs)
    return Job(code=code, language=lang, inputs=data, limits=limits or Limits())


@dataclass(frozen=True)
class SandboxOptions:
    """How a command's sandbox is opened: ``workers`` zygotes (default: one per core), and whether to run
    without full isolation where the machine lacks it (never by default)."""

    workers: int | None = None
    unsafe_no_isolation: bool = False

    def open(self) -> Sandbox:
        return Sandbox(workers=self.workers, unsafe_no_isolation=self.unsafe_no_isolation)
