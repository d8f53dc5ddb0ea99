"""The sandbox worker: a warm interpreter that forks one isolated child per execution.

Started by :class:`alphacode.execution.sandbox.Sandbox` as ``python -I -m alphacode.execution.zygote``.
At start it enters new mount, network, PID, IPC and UTS namespaces (as root, or inside a user
namespace otherwise), builds a minimal read-only root (``/usr``, the interpreter's standard
library, a few device nodes, a size-capped ``/work`` tmpfs, the compiled-binary cache) and
pivots into it. It then serves jobs from the driver over a pipe. For each input it forks a
child that takes its own uid, rlimits and seccomp filter and then either executes the Python
program inside the forked interpreter (no interpreter start per test) or execs a statically
linked C++ binary. The zygote watches the child's CPU clock and the wall clock and kills it on
either limit. It never imports JAX or TensorFlow.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import gc
import io
import math
import os
import random
import resource
import select
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict

from alphacode.execution import _linux as linux
from alphacode.execution import policy
from alphacode.execution.protocol import Isolation, receive, send
from alphacode.execution.records import STDERR_TAIL, Limits, Outcome, SandboxLanguage, Status

# Modules contest programs commonly import: loaded once here so children do not pay for them.
PRELOADED = (
    "array", "bisect", "collections", "copy", "decimal", "fractions", "functools", "hashlib",
    "heapq", "itertools", "math", "operator", "random", "re", "statistics", "string", "typing",
)
EXIT_MEMORY = 107  # the program raised MemoryError
EXIT_SYNTAX = 108  # the program did not compile
EXIT_SETUP = 109  # the sandbox could not set the child up
RUNTIME_SLACK_BYTES = 16 * 1024 * 1024  # address space for the runtime itself (imports, stacks) on top of the limit
WORK_BYTES = 64 * 1024 * 1024
WORK_INODES = 4096
COMPILE_LIMITS = Limits(time_s=30.0, memory_bytes=2 * 1024**3, output_bytes=64 * 1024**2, wall_time_s=60.0, max_threads=64)
GXX = ("/usr/bin/g++", "-O2", "-std=c++17", "-static", "-pipe", "-o", "prog", "main.cpp")


# ----------------------------------------------------------------------------------------------
# Start-up: namespaces and the minimal root.


def _enter_namespaces(isolation: Isolation) -> None:
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS | linux.CLONE_NEWPID
    if os.geteuid() == 0:
        linux.unshare(flags)
        isolation.mode = "root"
        return
    uid, gid = os.geteuid(), os.getegid()
    linux.unshare(flags | linux.CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")
    isolation.mode = "userns"


def _bind(source: str, root: str, *, writable: bool = False, target: str | None = None, device: bool = False) -> None:
    """Bind-mount ``source`` at the same path under ``root`` (or at ``target``), read-only by default;
    only ``device`` binds may be opened as device nodes."""
    target = target or root + source
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
    flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_NOSUID | (0 if device else linux.MS_NODEV)
    linux.mount(None, target, None, flags | (0 if writable else linux.MS_RDONLY))


def _build_root(root: str, cache_dir: str) -> None:
    """Mount a tmpfs at ``root`` holding only what programs and g++ need, then pivot into it."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.mount("tmpfs", root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=0755")
    _bind("/usr", root)
    for name in ("lib", "lib32", "lib64", "libx32", "bin", "sbin"):
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            _bind(host, root)
    if os.path.exists("/etc/ld.so.cache"):
        _bind("/etc/ld.so.cache", root)
    stdlib = os.path.dirname(os.__file__)
    if not stdlib.startswith("/usr/"):
        _bind(os.path.dirname(stdlib), root)  # <prefix>/lib: the standard library and libpython
    for dev in ("null", "zero", "full", "random", "urandom"):
        _bind(f"/dev/{dev}", root, writable=True, device=True)
    os.makedirs(f"{root}/work")
    linux.mount("tmpfs", f"{root}/work", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                f"size={WORK_BYTES},nr_inodes={WORK_INODES},mode=0711")
    _bind(cache_dir, root, writable=True, target=f"{root}/cache")
    os.makedirs(f"{root}/.old")
    linux.pivot_root(root, f"{root}/.old")
    os.chdir("/")
    linux.umount("/.old", linux.MNT_DETACH)
    os.rmdir("/.old")
    linux.mount(None, "/", None, linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)


# ----------------------------------------------------------------------------------------------
# The zygote proper.


class Zygote:
    """Serves jobs: ``("run", language, code_or_binary, inputs, limits)`` and ``("compile", code, key)``."""

    def __init__(self, uid: int, cache_dir: str, isolation: Isolation, filters: dict[str, linux.SeccompProgram],
                 exec_path: linux.ExecPath, baseline_vm: int) -> None:
        self.uid = uid
        self.cache_dir = cache_dir
        self.isolation = isolation
        self.filters = filters
        self.exec_path = exec_path
        self.baseline_vm = baseline_vm
        self.work_root = "/work" if isolation.filesystem else cache_dir + "/work"
        os.makedirs(self.work_root, exist_ok=True)
        self.counter = 0

    # -- per-execution set-up, in the child -------------------------------------------------

    def _enter_child(self, limits: Limits, workdir: str, stdin: int, stdout: int, stderr: int,
                     profile: str, memory_slack: int) -> None:
        """Everything between fork and running untrusted code; any failure ends the child."""
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.closerange(3, 65536)
        os.chdir(workdir)
        cpu = math.ceil(limits.time_s) + 1
        memory = limits.memory_bytes + memory_slack
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        stack = min(limits.memory_bytes, 1 << 30)
        resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
        if self.isolation.uid:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_threads, limits.max_threads))
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)
        elif self.isolation.mode == "userns":
            linux.drop_capabilities()
        if profile in self.filters:
            self.filters[profile].install()

    def _child_python(self, code: str) -> None:
        status = 0
        try:
            compiled = compile(code, "main.py", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            traceback.print_exc(limit=0)
            os._exit(EXIT_SYNTAX)
        try:
            exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as exit_request:
            status = _exit_status(exit_request.code)
        except MemoryError:
            status = EXIT_MEMORY
        except BaseException:
            traceback.print_exc()
            status = 1
        try:  # what a normal interpreter exit does: join threads, run atexit handlers, flush
            if "threading" in sys.modules:
                sys.modules["threading"]._shutdown()
            atexit._run_exitfuncs()
            for stream in (sys.stdout, sys.__stdout__, sys.stderr, sys.__stderr__):
                stream.flush()
        except MemoryError:
            status = EXIT_MEMORY
        except SystemExit as exit_request:
            status = _exit_status(exit_request.code)
        except BaseException:
            status = status or 1
        os._exit(status)

    # -- supervision, in the zygote -----------------------------------------------------------

    @contextlib.contextmanager
    def _workdir(self) -> Iterator[str]:
        """A fresh, private working directory owned by the sandbox uid, removed afterwards."""
        self.counter += 1
        workdir = f"{self.work_root}/{self.counter}"
        os.mkdir(workdir, 0o700)
        try:
            if self.isolation.uid:
                os.chown(workdir, self.uid, self.uid)
            yield workdir
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _execute(self, limits: Limits, stdin_data: bytes, profile: str, target: str, memory_slack: int,
                 workdir: str, argv: list[str] | None = None) -> Outcome:
        """Fork, set up, run ``target`` (Python source or a path to exec) in ``workdir``, supervise and classify."""
        fds = [os.memfd_create(name) for name in ("stdin", "stdout", "stderr")]
        try:
            os.write(fds[0], stdin_data)
            os.lseek(fds[0], 0, os.SEEK_SET)
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:
                try:
                    self._enter_child(limits, workdir, *fds, profile=profile, memory_slack=memory_slack)
                    if profile == "python":
                        self._child_python(target)
                    elif profile == "cpp":
                        self.exec_path.execve(target, [target])
                    else:
                        os.execve(target, argv or [target], {"PATH": "/usr/bin", "TMPDIR": workdir, "LANG": "C"})
                except BaseException:
                    traceback.print_exc()
                os._exit(EXIT_SETUP)
            killed, rusage, wait_status, wall = self._supervise(pid, limits, started)
            size = os.fstat(fds[1]).st_size
            stdout = os.pread(fds[1], min(size, limits.output_bytes), 0)
            err_size = os.fstat(fds[2]).st_size
            stderr = os.pread(fds[2], STDERR_TAIL, max(0, err_size - STDERR_TAIL)).decode("utf-8", "replace")
        finally:
            for fd in fds:
                os.close(fd)
        return _classify(killed, rusage, wait_status, wall, limits, stdout, stderr)

    def _supervise(self, pid: int, limits: Limits, started: float) -> tuple[str | None, resource.struct_rusage, int, float]:
        """Wait for the child; kill it once its CPU time or the wall clock passes the limit."""
        pidfd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            clock = linux.process_cpu_clock(pid)
            interval_ms = max(1, min(20, int(limits.time_s * 1000 / 50)))
            killed = None
            while not poller.poll(interval_ms):
                try:
                    cpu = time.clock_gettime(clock)
                except OSError:
                    continue
                if cpu > limits.time_s:
                    killed = "cpu"
                elif time.monotonic() - started > limits.wall_s:
                    killed = "wall"
                if killed:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    break
            _, wait_status, rusage = os.wait4(pid, 0)
            return killed, rusage, wait_status, time.monotonic() - started
        finally:
            os.close(pidfd)

    # -- jobs ---------------------------------------------------------------------------------

    def run(self, language: str, target: str, inputs: list[bytes], limits: Limits) -> list[Outcome]:
        if language == SandboxLanguage.PYTHON3.value:
            profile, slack = "python", self.baseline_vm
        else:
            profile, slack = "cpp", RUNTIME_SLACK_BYTES
            target = os.path.join(self.cache_dir, target)
        outcomes = []
        for data in inputs:
            with self._workdir() as workdir:
                outcomes.append(self._execute(limits, data, profile, target, slack, workdir))
        return outcomes

    def compile(self, code: str, key: str) -> Outcome:
        """Compile C++ with g++ inside the sandbox; on success the binary lands in the cache as ``key``."""
        try:
            with self._workdir() as workdir:
                return self._compile_in(code, key, workdir)
        finally:
            self._reap_strays()

    def _compile_in(self, code: str, key: str, workdir: str) -> Outcome:
        with open(f"{workdir}/main.cpp", "w") as f:
            f.write(code)
        outcome = self._execute(COMPILE_LIMITS, b"", "compile", GXX[0], 0, workdir, argv=list(GXX))
        if outcome.status is Status.OK and os.path.isfile(f"{workdir}/prog"):
            staging = f"{self.cache_dir}/.{key}.{os.urandom(8).hex()}.tmp"
            shutil.copyfile(f"{workdir}/prog", staging)
            os.chmod(staging, 0o755)
            os.replace(staging, f"{self.cache_dir}/{key}")
            return outcome
        return Outcome(Status.COMPILE_ERROR, stderr_tail=outcome.stderr_tail, wall_time_s=outcome.wall_time_s,
                       cpu_time_s=outcome.cpu_time_s, exit_code=outcome.exit_code, signal=outcome.signal)

    def _reap_strays(self) -> None:
        """Kill anything still running under the sandbox uid (g++'s helpers if g++ was killed) and reap it."""
        if self.isolation.uid:
            killer = os.fork()
            if killer == 0:
                try:
                    os.setresuid(self.uid, self.uid, self.uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
        _reap_zombies()

    def serve(self, rfd: int, wfd: int) -> None:
        """Answer requests until the driver closes the pipe.

        ``("compile", code, key)`` answers an :class:`Outcome`; ``("run", language, target, inputs,
        limits)`` answers one outcome per input. One program per request, and its results are
        dropped once sent: a child is forked while the zygote holds nothing of another program.
        """
        while (request := receive(rfd)) is not None:
            _reap_zombies()  # as PID 1 of its namespace the zygote inherits every orphan
            kind, *args = request
            del request
            try:
                result = self.compile(*args) if kind == "compile" else self.run(*args)
            except Exception as err:  # report, keep serving: one bad job must not take the worker down
                result = err
            del args
            send(wfd, result)
            del result


def _reap_zombies() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _classify(killed: str | None, rusage: resource.struct_rusage, wait_status: int, wall: float, limits: Limits,
              stdout: bytes, stderr: str) -> Outcome:
    cpu = rusage.ru_utime + rusage.ru_stime
    exit_code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None
    sig = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    if killed or sig == signal.SIGXCPU or cpu > limits.time_s:
        status = Status.TIMEOUT
    elif sig == signal.SIGSYS:
        status = Status.SANDBOX_VIOLATION
    elif sig == signal.SIGXFSZ:
        status = Status.OUTPUT_LIMIT
    elif exit_code == EXIT_MEMORY or (exit_code != 0 and ("MemoryError" in stderr or "std::bad_alloc" in stderr)):
        status = Status.MEMORY_LIMIT
    elif exit_code == EXIT_SYNTAX:
        status = Status.COMPILE_ERROR
    elif exit_code == 0:
        status = Status.OK
    else:
        status = Status.RUNTIME_ERROR
    return Outcome(status=status, stdout=stdout, stderr_tail=stderr, wall_time_s=wall, cpu_time_s=cpu,
                   peak_memory_bytes=rusage.ru_maxrss * 1024, exit_code=exit_code, signal=sig,
                   output_truncated=sig == signal.SIGXFSZ)


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _prepare_interpreter_for_programs() -> None:
    """Make the interpreter look like a fresh ``python3 main.py`` once, so children need not each do it.

    The standard streams are new objects over fds 0-2 (each child points those fds at its own
    files before running the program); the environment is empty; the import path holds only the
    standard library; signals a program may meet take their default action.
    """
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8", errors="replace")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16),
                                                   encoding="utf-8")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                   errors="backslashreplace", write_through=True)
    sys.argv = ["main.py"]
    sys.path = [p for p in sys.path if p.startswith(os.path.dirname(os.__file__))]
    os.environ.clear()
    atexit._clear()  # exit handlers of the zygote's own imports are not the program's
    for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _build_filters(exec_address: int) -> dict[str, bytes | str]:
    """Compile the seccomp profiles in a throw-away child, so libseccomp never loads into the zygote.

    Every mapping the zygote holds makes each fork slower; libseccomp and its imports doubled it.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            result = {p: policy.build_bpf(p, exec_address) for p in policy.PROFILES}
        except BaseException as err:  # a missing libseccomp surfaces as OSError, AttributeError or RuntimeError
            result = {"error": f"seccomp unavailable ({err!r})"}
        send(wfd, result)
        os._exit(0)
    os.close(wfd)
    result = receive(rfd)
    os.close(rfd)
    os.waitpid(pid, 0)
    return result if isinstance(result, dict) else {"error": "seccomp filter builder died"}


def main() -> None:
    """Entry point: ``python -I -m alphacode.execution.zygote ROOT_DIR CACHE_DIR [--unsafe-no-isolation]``."""
    root, cache_dir = sys.argv[1], sys.argv[2]
    unsafe = "--unsafe-no-isolation" in sys.argv[3:]
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    for name in PRELOADED:
        __import__(name)
    isolation = Isolation()
    exec_path = linux.ExecPath()
    programs = _build_filters(exec_path.address)
    filters = {profile: linux.SeccompProgram(bpf) for profile, bpf in programs.items() if isinstance(bpf, bytes)}
    isolation.seccomp = len(filters) == len(policy.PROFILES)
    if not isolation.seccomp:
        isolation.problems.append(str(programs.get("error", "seccomp unavailable")))
    baseline_vm = _vm_size() + RUNTIME_SLACK_BYTES
    try:
        _enter_namespaces(isolation)
    except OSError as err:
        isolation.problems.append(f"namespaces unavailable ({err})")
    if isolation.mode != "none":
        pid = os.fork()
        if pid:  # the outer process only waits, so the zygote can be PID 1 of its namespace
            os.close(rfd)
            os.close(wfd)
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        isolation.network = isolation.pid = True
        try:
            _build_root(root, cache_dir)
            isolation.filesystem = True
            cache_dir = "/cache"
        except OSError as err:
            isolation.problems.append(f"filesystem isolation unavailable ({err})")
        isolation.uid = isolation.mode == "root"
    uid = random.randrange(1 << 20, 1 << 30) if isolation.uid else os.getuid()
    send(wfd, asdict(isolation))
    if isolation.complete or unsafe:
        zygote = Zygote(uid, cache_dir, isolation, filters, exec_path, baseline_vm)
        _prepare_interpreter_for_programs()
        gc.collect()
        gc.freeze()  # children's collections then skip the zygote's objects instead of copying their pages
        zygote.serve(rfd, wfd)


if __name__ == "__main__":
    main()
