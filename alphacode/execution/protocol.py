"""What the driver and its zygotes say to each other over a Unix socket: pickles of plain data, with the
files of an execution passed alongside as descriptors, and the isolation report.

Both ends are trusted code of this package; untrusted programs never see the socket. A program's code,
input and output travel only in memfds the driver creates: the zygote hands them to the child it forks
and never reads them, so no later child can find them in its memory.
"""

from __future__ import annotations

import array
import os
import pickle
import socket
from dataclasses import dataclass, field

MAX_MESSAGE = 1 << 14  # requests and reports are a few hundred bytes: programs' data travel in memfds
MAX_FDS = 8
_TRUNCATED = int(socket.MSG_TRUNC | socket.MSG_CTRUNC)


@dataclass
class Isolation:
    """What the zygote managed to enable; the driver refuses untrusted code without the essentials."""

    mode: str = "none"  # "root", "userns" or "none"
    network: bool = False
    pid: bool = False
    filesystem: bool = False
    uid: bool = False
    seccomp: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """All of it, the separate uid included: without one (user-namespace mode) a program could
        change what the zygote itself can write and limit."""
        return self.network and self.pid and self.filesystem and self.seccomp and self.uid


COMPILE_FAILED = "compile-failed"  # the Python program did not compile (the child said so before running it)
RUNNING = "running"  # set-up finished and the program (or g++) was started
EXIT_SETUP = 109  # the sandbox could not set the child up, or exec the program (verdicts never read exit codes)


@dataclass(frozen=True)
class Report:
    """What the zygote observed of one execution: the kernel's view (wait status, rusage), its own
    kills, and the phase the child reached as told on a pipe closed before any untrusted code runs.
    ``completed``: a Python program's module code returned normally (proved by a per-execution token)."""

    exit_code: int | None
    signal: int | None
    cpu_time_s: float
    wall_time_s: float
    peak_memory_bytes: int
    killed: str | None = None  # "cpu" or "wall" when the zygote killed it
    phase: str | None = None
    completed: bool = False
    binary: bool = False  # compile only: the binary is in the cache
    fault: str | None = None  # compile only: the machine's failure to keep the binary (a full disk), not the program's


def send(sock: socket.socket, obj: object, fds: list[int] | tuple[int, ...] = ()) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"sandbox message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], ancillary)


def receive(sock: socket.socket) -> tuple[object, list[int]] | None:
    """The next message and the descriptors that came with it (the caller closes them); None at end of stream."""
    data, ancillary, flags, _ = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize))
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if not data or flags & _TRUNCATED:
        for fd in fds:
            os.close(fd)
        if not data:
            return None
        raise ValueError("truncated sandbox message")
    return pickle.loads(data), list(fds)
