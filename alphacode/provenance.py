"""Where a result came from: the package version, the git commit of the code that ran, and when.

Every report a command writes (``contest``'s and ``humaneval``'s ``report.json``, ``solve``'s
``result.json``) carries this block beside its resolved ``settings``, so a figure can be traced back
to the code and the run that produced it.
"""

from __future__ import annotations

import datetime
import functools
import subprocess
from pathlib import Path
from typing import Any

from alphacode import __version__

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def source_commit() -> tuple[str | None, bool | None]:
    """(commit, whether tracked files differ from it) of the checkout this code runs from; (None, None) when it
    does not run from a git checkout (an installed wheel) or git is missing."""
    if not (SOURCE_ROOT / ".git").exists():
        return None, None
    try:
        head = subprocess.run(["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        status = subprocess.run(["git", "-C", str(SOURCE_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """``{"version", "commit", "dirty", "date"}``: the package version, the git commit (None where unknown),
    whether the checkout had uncommitted changes, and the UTC time now (ISO 8601)."""
    commit, dirty = source_commit()
    return {"version": __version__, "commit": commit, "dirty": dirty,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
