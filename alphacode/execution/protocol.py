"""What the driver and its zygotes say to each other: length-prefixed pickles, and the isolation report.

Both ends are trusted code of this package; untrusted programs never see these pipes.
"""

from __future__ import annotations

import os
import pickle
import struct
from dataclasses import dataclass, field

_HEADER = struct.Struct("!Q")


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


def send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int) -> object | None:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    if body is None:
        return None
    return pickle.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, remaining = [], n
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
