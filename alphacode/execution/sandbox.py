"""The driver side of the sandbox: a pool of zygotes and a batch API that keeps every core busy.

>>> with Sandbox() as sandbox:
...     [outcome] = sandbox.run("print(int(input()) * 2)", "python3", [b"21\\n"])
...     outcome.stdout
b'42\\n'
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from alphacode.errors import UserError
from alphacode.execution.protocol import Isolation, receive, send
from alphacode.execution.records import Job, Limits, Outcome, SandboxLanguage, Status


class SandboxUnavailable(UserError, RuntimeError):
    """The machine cannot give the isolation untrusted code needs (and unsafe mode was not asked for)."""


class SandboxError(RuntimeError):
    """A sandbox worker failed in a way that is not the program's fault."""


def default_cache_dir() -> Path:
    """Where compiled C++ binaries are kept between runs, keyed by source hash."""
    base = os.environ.get("ALPHACODE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "alphacode")
    return Path(base) / "cpp"


class _Worker:
    """One zygote process and the pipe pair that talks to it."""

    def __init__(self, cache_dir: Path, unsafe: bool) -> None:
        self.root = tempfile.mkdtemp(prefix="alphacode-root-")
        argv = [sys.executable, "-I", "-m", "alphacode.execution.zygote", self.root, str(cache_dir)]
        if unsafe:
            argv.append("--unsafe-no-isolation")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                        cwd="/", close_fds=True)
        self.wfd, self.rfd = self.process.stdin.fileno(), self.process.stdout.fileno()
        hello = receive(self.rfd)
        if hello is None:
            self.close()
            raise SandboxError("sandbox worker exited during start-up")
        self.isolation = Isolation(**hello)

    def request(self, message: tuple) -> object:
        try:
            send(self.wfd, message)
            reply = receive(self.rfd)
        except OSError as err:  # a broken pipe: the zygote is gone
            raise SandboxError(f"sandbox worker unreachable ({err})") from err
        if reply is None:
            raise SandboxError(f"sandbox worker died (exit code {self.process.wait()})")
        if isinstance(reply, Exception):
            raise SandboxError(f"sandbox worker failed: {reply!r}") from reply
        return reply

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class Sandbox:
    """Runs untrusted Python 3 and C++ programs in isolated, resource-limited processes.

    ``workers`` zygotes (default: one per core) each run one execution at a time. C++ programs are
    compiled once per distinct source (inside the sandbox) and cached on disk in ``cache_dir``,
    which is made world-readable so the sandbox's unprivileged uid can run the binaries.
    """

    def __init__(self, workers: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 unsafe_no_isolation: bool = False) -> None:
        if sys.platform != "linux":
            raise SandboxUnavailable("the sandbox needs Linux (namespaces, seccomp, rlimits)")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.chmod(0o755)  # the sandbox uid must reach the binaries; nothing else lives here
        self.unsafe = unsafe_no_isolation
        self._size = workers or os.cpu_count() or 1
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._compile_locks: dict[str, threading.Lock] = {}
        self._compile_errors: dict[str, Outcome] = {}
        self._lock = threading.Lock()
        first = self._spawn()
        self.isolation = first.isolation
        if not self.isolation.complete and not self.unsafe:
            self.close()
            raise SandboxUnavailable(
                "refusing to run untrusted code without isolation: " + "; ".join(self.isolation.problems or ["unknown"])
                + " (pass --unsafe-no-isolation to run anyway)")
        for _ in range(self._size - 1):
            self._spawn()

    def _spawn(self, idle: bool = True) -> _Worker:
        worker = _Worker(self.cache_dir, self.unsafe)
        with self._lock:
            self._workers.append(worker)
        if idle:
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
        """Worker thread: run jobs on idle zygotes until the sentinel; every job gets a result posted."""
        while (item := pending.get()) is not None:
            index, job = item
            worker = self._idle.get()
            result: list[Outcome] | BaseException
            try:
                result = self._run_job(worker, job)
            except SandboxError as err:
                result = err
                worker = self._replace(worker)
            except BaseException as err:  # surface anything unexpected to the caller
                result = err
            finally:
                if worker is not None:
                    self._idle.put(worker)
                done.put((index, result))

    def _replace(self, worker: _Worker) -> _Worker | None:
        """Swap a broken zygote for a fresh one (None if none can start: the pool shrinks)."""
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.close()
        try:
            return self._spawn(idle=False)
        except (SandboxError, OSError):
            return None

    def _run_job(self, worker: _Worker, job: Job) -> list[Outcome]:
        if not job.inputs:
            return []
        target = job.code
        if job.language is SandboxLanguage.CPP:
            target = job.code_hash
            failed = self._compile(worker, job.code, target)
            if failed is not None:
                return [failed] * len(job.inputs)
        return worker.request(("run", job.language.value, target, list(job.inputs), job.limits))

    def _compile(self, worker: _Worker, code: str, key: str) -> Outcome | None:
        """Compile once per distinct source; the compile error outcome if it does not compile."""
        if (self.cache_dir / key).exists():
            return None
        with self._lock:
            lock = self._compile_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._compile_errors:
                return self._compile_errors[key]
            if (self.cache_dir / key).exists():
                return None
            outcome = worker.request(("compile", code, key))
            if outcome.status is not Status.OK:
                self._compile_errors[key] = outcome
                return outcome
            return None


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

    def open(self, cache_dir: str | os.PathLike[str] | None = None) -> Sandbox:
        return Sandbox(workers=self.workers, cache_dir=cache_dir, unsafe_no_isolation=self.unsafe_no_isolation)
