"""A precompiled ``<bits/stdc++.h>``: built once per machine by the sandbox's driver from the system's
own header, mounted read-only inside the sandbox, so a contest program that includes it compiles in
about 0.3 s instead of 1.2 s.

GCC takes ``bits/stdc++.h.gch`` from an include directory searched before the header's own only when
the same compiler built it with compatible flags; otherwise it reads the header as usual (a plain
compile). Each PCH lives in a directory named by a hash of the compiler's version and target, the
flags and the header file, so a changed compiler or flag set gets its own; no program ever writes
there (it is built outside the sandbox, from no program's input, and bound read-only inside).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from alphacode.execution.records import CXX_FLAGS

GXX = "/usr/bin/g++"
HEADER = "bits/stdc++.h"
BUILD_TIMEOUT_S = 300.0
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}


def identity() -> tuple[str, str]:
    """(key, header path): the key names the PCH directory valid for this compiler, target and flags."""
    version = subprocess.run([GXX, "--version"], capture_output=True, text=True, check=True, env=_ENV).stdout
    target = subprocess.run([GXX, "-dumpmachine"], capture_output=True, text=True, check=True, env=_ENV).stdout
    searched = subprocess.run([GXX, *CXX_FLAGS, "-x", "c++", "-E", "-v", os.devnull], capture_output=True,
                              text=True, check=True, env=_ENV).stderr
    lines = searched.splitlines()
    start = lines.index("#include <...> search starts here:") + 1
    dirs = [line.strip() for line in lines[start:lines.index("End of search list.")]]
    header = next(os.path.join(d, HEADER) for d in dirs if os.path.isfile(os.path.join(d, HEADER)))
    stat = os.stat(header)
    described = "\0".join([version, target, *CXX_FLAGS, header, str(stat.st_size), str(stat.st_mtime_ns)])
    return hashlib.sha256(described.encode()).hexdigest()[:32], header


def ensure(root: Path) -> str | None:
    """The key of a PCH under ``root`` valid for the sandbox's compiler and flags, built now if absent
    (one process builds it; others wait); None when it cannot be had, and compiles go without it."""
    try:
        key, header = identity()
    except (OSError, ValueError, StopIteration, subprocess.SubprocessError):
        return None
    if (root / key / f"{HEADER}.gch").is_file():
        return key
    try:
        with open(root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (root / key / f"{HEADER}.gch").is_file():
                _build(root, key, header)
    except (OSError, subprocess.SubprocessError):
        return None
    return key


def _build(root: Path, key: str, header: str) -> None:
    """Build the PCH beside its place and rename it in; under the lock, so whatever else is here is
    stale (a crashed build, or a PCH of a compiler or flags no longer used) and goes."""
    for old in root.iterdir():
        if old.is_dir() and old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        (staging / "bits").mkdir()
        subprocess.run([GXX, *CXX_FLAGS, "-x", "c++-header", header, "-o", str(staging / f"{HEADER}.gch")],
                       capture_output=True, check=True, timeout=BUILD_TIMEOUT_S, env=_ENV)
        for path in (staging, staging / "bits"):
            path.chmod(0o755)  # the sandbox's uid reads it; only this driver's user writes
        os.rename(staging, root / key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
