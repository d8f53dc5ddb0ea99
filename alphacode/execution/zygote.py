"""The sandbox worker: a warm interpreter that forks one isolated child per execution.

Started by :class:`alphacode.execution.sandbox.Sandbox` as ``python -I -m alphacode.execution.zygote``
with a Unix socket as its standard input; the first message names the binary cache. At start it
enters new mount, network, PID, IPC and UTS namespaces (as root, or inside a user namespace
otherwise), builds a minimal read-only root (``/usr``, the interpreter's standard library, a few
device nodes, a size-capped ``/work`` tmpfs, the compiled-binary cache) on a tmpfs mounted over
the cache directory in its own namespace (so nothing is created on the host), and pivots into it.
It then serves executions: each request comes with the memfds of one execution (stdin, stdout,
stderr and, for Python, the code), which the zygote passes to a forked child without reading them,
so no program's data ever enters the memory later children are forked from. The child takes its
own uid, rlimits and seccomp filter and then either executes the Python program inside the forked
interpreter (no interpreter start per test) or execs a statically linked C++ binary. The zygote
watches the child's CPU clock and the wall clock, kills it on either limit, and reports what it
saw; the driver reads the outputs and gives the verdict. It never imports JAX or TensorFlow.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import fcntl
import gc
import io
import math
import os
import random
import resource
import select
import signal
import socket
import stat
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, replace

from alphacode.execution import _linux as linux
from alphacode.execution import policy
from alphacode.execution.protocol import COMPILE_FAILED, EXIT_SETUP, RUNNING, Isolation, Report, receive, send
from alphacode.execution.records import CXX_FLAGS, Limits, SandboxLanguage

# Modules contest programs commonly import: loaded once here so children do not pay for them.
PRELOADED = (
    "array", "bisect", "collections", "copy", "decimal", "fractions", "functools", "hashlib",
    "heapq", "itertools", "math", "operator", "random", "re", "statistics", "string", "typing",
)
RUNTIME_SLACK_BYTES = 16 * 1024 * 1024  # address space for the runtime itself (imports, stacks) on top of the limit
ADDRESS_SPACE_FACTOR = 2  # RLIMIT_AS allows twice the limit: the verdict comes from the measured peak
WORK_BYTES = 64 * 1024 * 1024
WORK_INODES = 4096
RETIRED_DIRECTORIES = 64  # /work is remounted (every retired work directory dropped at once) past this many
STATUS_FD = 3  # the child's phase pipe: "C" (did not compile) or "R" (running), then a Python program's token
SOURCE_FD = 4  # the code (Python) or source (C++ compile) memfd, closed before any untrusted code runs
TOKEN_BYTES = 16
# output_bytes caps each file g++ writes (the object, the static binary: about 2 MB for a contest program)
COMPILE_LIMITS = Limits(time_s=30.0, memory_bytes=1024**3, output_bytes=16 * 1024**2, wall_time_s=60.0,
                        max_threads=64)
GXX = ("/usr/bin/g++", *CXX_FLAGS, "-static", "-pipe", "-o", "prog", "main.cpp")


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


def _bind(source: str, root: str, *, writable: bool = False, target: str | None = None, device: bool = False,
          recursive: bool = True) -> None:
    """Bind-mount ``source`` at the same path under ``root`` (or at ``target``), read-only by default;
    only ``device`` binds may be opened as device nodes."""
    target = target or root + source
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    linux.mount(source, target, None, linux.MS_BIND | (linux.MS_REC if recursive else 0))
    flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_NOSUID | (0 if device else linux.MS_NODEV)
    linux.mount(None, target, None, flags | (0 if writable else linux.MS_RDONLY))


def _build_root(cache_dir: str, pch_dir: str | None) -> None:
    """Mount a tmpfs holding only what programs and g++ need, then pivot into it.

    The tmpfs goes over the cache directory itself (this namespace's mounts are private, so the host
    sees nothing), and the cache is bound back in through a descriptor opened before: no directory is
    created on the host, so a crashed run leaves none behind. The precompiled headers are bound
    read-only at ``/pch``."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    cache = os.open(cache_dir, os.O_PATH | os.O_DIRECTORY)
    pch = os.open(pch_dir, os.O_PATH | os.O_DIRECTORY) if pch_dir else None
    root = cache_dir
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
    _bind(f"/proc/self/fd/{cache}", root, writable=True, target=f"{root}/cache", recursive=False)  # not the root over it
    os.close(cache)
    if pch is not None:
        _bind(f"/proc/self/fd/{pch}", root, target=f"{root}/pch", recursive=False)
        os.close(pch)
    os.makedirs(f"{root}/.old")
    linux.pivot_root(root, f"{root}/.old")
    os.chdir("/")
    linux.umount("/.old", linux.MNT_DETACH)
    os.rmdir("/.old")
    linux.mount(None, "/", None, linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)


# ----------------------------------------------------------------------------------------------
# The zygote proper.


class Zygote:
    """Serves ``("run", language, key, limits)`` and ``("compile", key, pch)`` requests, each arriving with
    the memfds of one execution, and answers a :class:`Report` of what it observed."""

    def __init__(self, uid: int, cache_dir: str, pch_dir: str | None, isolation: Isolation,
                 filters: dict[str, linux.SeccompProgram], exec_path: linux.ExecPath, baseline_vm: int) -> None:
        self.uid = uid
        self.cache_dir = cache_dir
        self.pch_dir = pch_dir
        self.isolation = isolation
        self.filters = filters
        self.exec_path = exec_path
        self.baseline_vm = baseline_vm
        self.work_root = "/work" if isolation.filesystem else cache_dir + "/work"
        os.makedirs(self.work_root, exist_ok=True)
        self.retired = self.empty_inodes = 0
        if isolation.filesystem:
            self._mount_work()

    # -- per-execution set-up, in the child -------------------------------------------------

    def _enter_child(self, limits: Limits, workdir: str, fds: list[int], status: int, profile: str,
                     memory_slack: int) -> None:
        """Everything between fork and running untrusted code; any failure ends the child.

        ``fds`` (stdin, stdout, stderr, and the code or source where there is one) become descriptors
        0-2 and ``SOURCE_FD``, the phase pipe ``STATUS_FD``; every other descriptor is closed."""
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (*fds, status)]
        for target, fd in zip((0, 1, 2), moved):
            os.dup2(fd, target)
        os.dup2(moved[-1], STATUS_FD, inheritable=False)
        if len(fds) > 3:
            os.dup2(moved[3], SOURCE_FD, inheritable=False)
        os.closerange(SOURCE_FD + 1, 65536)
        os.setsid()  # its own session, so the scheduler's autogroups share CPU time by program, not by thread
        os.chdir(workdir)
        cpu = math.ceil(limits.time_s) + 1
        memory = ADDRESS_SPACE_FACTOR * limits.memory_bytes + memory_slack
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
        # its own session leaves the terminal's signals behind: it dies with the zygote instead (set after
        # the uid change, which clears it)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if profile in self.filters:
            self.filters[profile].install()

    def _child_python(self, token: bytes) -> None:
        """Compile and run the program from ``SOURCE_FD``. The phase pipe says "C" if it does not compile,
        else "R" before it runs; ``token`` follows only once its module code has returned normally and the
        interpreter's exit steps have run, which nothing the program prints or exits with can imitate."""
        source = _read_all(SOURCE_FD)
        os.close(SOURCE_FD)
        try:
            compiled = compile(source, "main.py", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
            traceback.print_exc(limit=0)
            os.write(STATUS_FD, b"C")
            os._exit(1)
        del source
        os.write(STATUS_FD, b"R")
        status, completed = 0, False
        try:
            exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
            completed = True
        except SystemExit as exit_request:
            status = _exit_status(exit_request.code)
        except BaseException as err:  # the traceback as ``python3 main.py`` prints it, without this frame
            traceback.print_exception(type(err), err, err.__traceback__.tb_next if err.__traceback__ else None)
            status = 1
        try:  # what a normal interpreter exit does: join threads, run atexit handlers, flush
            if "threading" in sys.modules:
                sys.modules["threading"]._shutdown()
            atexit._run_exitfuncs()
            for stream in (sys.stdout, sys.__stdout__, sys.stderr, sys.__stderr__):
                stream.flush()
        except SystemExit as exit_request:
            status, completed = _exit_status(exit_request.code), False
        except BaseException:
            status, completed = status or 1, False
        if completed and status == 0:
            os.write(STATUS_FD, token)
        os._exit(status)

    def _child_compile(self, argv: list[str]) -> None:
        """Copy the source from ``SOURCE_FD`` into ``main.cpp`` (in the kernel) and exec g++ with ``argv``."""
        with open("main.cpp", "wb") as out:
            size = os.fstat(SOURCE_FD).st_size
            copied = 0
            while copied < size:
                copied += os.sendfile(out.fileno(), SOURCE_FD, copied, size - copied) or size
        os.close(SOURCE_FD)
        os.write(STATUS_FD, b"R")
        os.execve(argv[0], argv, {"PATH": "/usr/bin", "TMPDIR": os.getcwd(), "LANG": "C"})

    # -- supervision, in the zygote -----------------------------------------------------------

    def _mount_work(self) -> None:
        linux.mount("tmpfs", self.work_root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                    f"size={WORK_BYTES},nr_inodes={WORK_INODES},mode=0711")
        usage = os.statvfs(self.work_root)
        self.retired, self.empty_inodes = 0, usage.f_files - usage.f_ffree

    @contextlib.contextmanager
    def _workdir(self) -> Iterator[str]:
        """A fresh, private working directory owned by the sandbox uid, given up afterwards.

        The zygote never walks what a program left (its depth, names and permissions are the program's
        to choose, and its names are its data): the directory is handed to root with no permissions,
        and the whole ``/work`` tmpfs is dropped and mounted again once anything was written there or
        left in it (or after ``RETIRED_DIRECTORIES`` executions; after every one without a separate uid).
        Its name is random, so no later program can find it to read the times or sizes a program set."""
        workdir = f"{self.work_root}/{os.urandom(16).hex()}"
        os.mkdir(workdir, 0o700)
        handle = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if self.isolation.uid:
                os.fchown(handle, self.uid, self.uid)
            yield workdir
        finally:
            if self.isolation.uid:
                os.fchown(handle, 0, 0)
            os.fchmod(handle, 0)
            os.close(handle)
            self._give_up(workdir)

    def _work_bytes(self) -> int:
        """What the files in the work tmpfs take now (its memory, which no process's peak shows)."""
        usage = os.statvfs(self.work_root)
        return (usage.f_blocks - usage.f_bfree) * usage.f_frsize

    def _give_up(self, workdir: str) -> None:
        if not self.isolation.filesystem:
            _remove_tree(workdir)
            return
        self.retired += 1
        usage = os.statvfs(self.work_root)
        if (not self.isolation.uid or usage.f_bfree < usage.f_blocks or self.retired >= RETIRED_DIRECTORIES
                or usage.f_files - usage.f_ffree > self.empty_inodes + self.retired):  # it left an empty file
            linux.umount(self.work_root, linux.MNT_DETACH)
            self._mount_work()

    def _execute(self, limits: Limits, fds: list[int], profile: str, target: str, memory_slack: int,
                 workdir: str, argv: list[str] | None = None, count_files: bool = False) -> Report:
        """Fork, set up, run ``target`` (a path to exec; the code is in ``fds`` for Python; g++'s ``argv``
        to compile) in ``workdir``, supervise, and report what was seen; with ``count_files``, the most the
        work tmpfs held while it ran is memory it used too."""
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        token = os.urandom(TOKEN_BYTES)
        try:
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:
                try:
                    self._enter_child(limits, workdir, fds, status_w, profile=profile, memory_slack=memory_slack)
                    if profile == "python":
                        self._child_python(token)
                    elif profile == "cpp":
                        os.write(STATUS_FD, b"R")
                        self.exec_path.execve(target, [target])
                    else:
                        self._child_compile(argv or list(GXX))
                except BaseException:
                    traceback.print_exc()
                os._exit(EXIT_SETUP)
            os.close(status_w)
            status_w = -1
            killed, rusage, wait_status, wall, files = self._supervise(pid, limits, started, count_files)
            said = os.read(status_r, 1 + TOKEN_BYTES + 1)
        finally:
            os.close(status_r)
            if status_w >= 0:
                os.close(status_w)
        phase = {b"C": COMPILE_FAILED, b"R": RUNNING}.get(said[:1])
        return Report(exit_code=os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None,
                      signal=os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None,
                      cpu_time_s=rusage.ru_utime + rusage.ru_stime, wall_time_s=wall,
                      peak_memory_bytes=rusage.ru_maxrss * 1024 + files, killed=killed, phase=phase,
                      completed=phase == RUNNING and said[1:] == token)

    def _supervise(self, pid: int, limits: Limits, started: float,
                   count_files: bool) -> tuple[str | None, resource.struct_rusage, int, float, int]:
        """Wait for the child; kill it once its CPU time or the wall clock passes the limit. Also returns the
        most the work tmpfs held at any poll (with ``count_files``; files deleted before exit count too)."""
        pidfd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            clock = linux.process_cpu_clock(pid)
            interval_ms = max(1, min(20, int(limits.time_s * 1000 / 50)))
            killed, files = None, 0
            while not poller.poll(interval_ms):
                if count_files:
                    files = max(files, self._work_bytes())
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
            if count_files:
                files = max(files, self._work_bytes())
            return killed, rusage, wait_status, time.monotonic() - started, files
        finally:
            os.close(pidfd)

    # -- requests -----------------------------------------------------------------------------

    def run(self, language: str, key: str | None, limits: Limits, fds: list[int]) -> Report:
        """One execution: a Python program (its code in ``fds``) or the cached C++ binary ``key``."""
        if language == SandboxLanguage.PYTHON3.value:
            profile, slack, target = "python", self.baseline_vm, ""
        else:
            profile, slack, target = "cpp", RUNTIME_SLACK_BYTES, os.path.join(self.cache_dir, os.path.basename(key))
        with self._workdir() as workdir:
            return self._execute(limits, fds, profile, target, slack, workdir, count_files=self.isolation.filesystem)

    def compile(self, key: str, pch: str | None, fds: list[int]) -> Report:
        """Compile C++ with g++ inside the sandbox (offering the precompiled headers of directory ``pch``, which
        g++ uses only if they suit it); on success the binary lands in the cache as ``key``."""
        argv = list(GXX)
        if pch and self.pch_dir:
            argv += ["-I", os.path.join(self.pch_dir, os.path.basename(pch))]
        with self._workdir() as workdir:
            try:
                report = self._execute(COMPILE_LIMITS, fds, "compile", GXX[0], 0, workdir, argv)
            finally:
                self._reap_strays()
            if report.exit_code == 0 and report.killed is None:
                try:
                    if _cache_binary(workdir, self.cache_dir, key):
                        return replace(report, binary=True)
                except OSError as err:
                    return replace(report, fault=f"cannot write the binary cache ({err.strerror or err})")
            return report

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

    def calibrate(self) -> int:
        """The peak memory of a child that runs nothing: the runtime's own share of every Python program's."""
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        return os.wait4(pid, 0)[2].ru_maxrss * 1024

    def serve(self, sock: socket.socket) -> None:
        """Answer requests until the driver closes the socket; the descriptors of each are closed once answered."""
        while (message := receive(sock)) is not None:
            _reap_zombies()  # as PID 1 of its namespace the zygote inherits every orphan
            (kind, *args), fds = message
            try:
                result: Report | Exception = self.compile(*args, fds) if kind == "compile" else self.run(*args, fds)
            except Exception as err:  # report, keep serving: one bad job must not take the worker down
                result = err
            finally:
                for fd in fds:
                    os.close(fd)
            send(sock, result)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _cache_binary(workdir: str, cache_dir: str, key: str) -> bool:
    """Copy ``prog`` from the work directory into the cache as ``key`` (in the kernel; a regular file only)."""
    try:
        source = os.open(f"{workdir}/prog", os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    staging = f"{cache_dir}/.{os.path.basename(key)}.{os.urandom(8).hex()}.tmp"
    try:
        size = os.fstat(source).st_size
        if not stat.S_ISREG(os.fstat(source).st_mode):
            return False
        out = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o711)  # run, never read, by programs
        try:
            copied = 0
            while copied < size:
                sent = os.sendfile(out, source, copied, size - copied)
                if not sent:
                    break
                copied += sent
        finally:
            os.close(out)
        os.replace(staging, f"{cache_dir}/{os.path.basename(key)}")
        return True
    finally:
        os.close(source)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)


def _remove_tree(path: str) -> None:
    """Remove a directory tree of any depth, names and permissions, without recursion: each directory's
    subdirectories are moved up beside it before it is removed, so no path or descriptor stack grows.
    Only used where there is no private ``/work`` tmpfs to drop (no filesystem isolation)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    top = os.open(path, flags)
    try:
        os.fchmod(top, 0o700)
        while names := [(e.name, e.is_dir(follow_symlinks=False)) for e in os.scandir(top)]:
            for name, is_dir in names:
                if not is_dir:
                    os.unlink(name, dir_fd=top)
                    continue
                inner = os.open(name, flags, dir_fd=top)
                try:
                    os.fchmod(inner, 0o700)
                    for child in [(e.name, e.is_dir(follow_symlinks=False)) for e in os.scandir(inner)]:
                        if child[1]:
                            os.rename(child[0], f".moved-{os.urandom(8).hex()}", src_dir_fd=inner, dst_dir_fd=top)
                        else:
                            os.unlink(child[0], dir_fd=inner)
                finally:
                    os.close(inner)
                os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)


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
    standard library, and ``sys`` names no host path; signals a program may meet take their default action.
    """
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8", errors="replace")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16),
                                                   encoding="utf-8")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                   errors="backslashreplace", write_through=True)
    sys.argv = ["main.py"]
    sys.orig_argv = ["python3", "main.py"]
    sys.executable = sys._base_executable  # the interpreter itself, not the host's virtualenv
    sys.prefix, sys.exec_prefix = sys.base_prefix, sys.base_exec_prefix
    sys.path = [p for p in sys.path if p.startswith(os.path.dirname(os.__file__))]
    os.environ.clear()
    atexit._clear()  # exit handlers of the zygote's own imports are not the program's
    for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _build_filters(exec_address: int) -> dict[str, bytes | str]:
    """Compile the seccomp profiles in a throw-away child, so libseccomp never loads into the zygote.

    Every mapping the zygote holds makes each fork slower; libseccomp and its imports doubled it.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        ours.close()
        try:
            result = {p: policy.build_bpf(p, exec_address) for p in policy.PROFILES}
        except BaseException as err:  # a missing libseccomp surfaces as OSError, AttributeError or RuntimeError
            result = {"error": f"seccomp unavailable ({err!r})"}
        send(theirs, result)
        os._exit(0)
    theirs.close()
    message = receive(ours)
    ours.close()
    os.waitpid(pid, 0)
    result = message[0] if message is not None else None
    return result if isinstance(result, dict) else {"error": "seccomp filter builder died"}


def main() -> None:
    """Entry point: ``python -I -m alphacode.execution.zygote`` with a Unix socket as standard input,
    on which the driver first sends ``{"cache_dir": ..., "pch_dir": ..., "unsafe": ...}`` (kept out of the
    command line, which programs could otherwise read)."""
    sock = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    message = receive(sock)
    if message is None:
        return
    config, _ = message
    cache_dir, pch_dir, unsafe = config["cache_dir"], config["pch_dir"], config["unsafe"]
    del message, config
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
            sock.close()
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        isolation.network = isolation.pid = True
        try:
            _build_root(cache_dir, pch_dir)
            isolation.filesystem = True
            cache_dir, pch_dir = "/cache", pch_dir and "/pch"
        except OSError as err:
            isolation.problems.append(f"filesystem isolation unavailable ({err})")
        isolation.uid = isolation.mode == "root"
    uid = random.randrange(1 << 20, 1 << 30) if isolation.uid else os.getuid()
    zygote, runtime_bytes = None, 0
    if isolation.complete or unsafe:
        zygote = Zygote(uid, cache_dir, pch_dir, isolation, filters, exec_path, baseline_vm)
        _prepare_interpreter_for_programs()
        gc.collect()
        gc.freeze()  # children's collections then skip the zygote's objects instead of copying their pages
        runtime_bytes = zygote.calibrate()
    send(sock, {"isolation": asdict(isolation), "runtime_bytes": runtime_bytes})
    if zygote is not None:
        zygote.serve(sock)


if __name__ == "__main__":
    main()
