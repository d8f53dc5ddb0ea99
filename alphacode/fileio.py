"""Atomic file writes (a crash leaves the old file or the new one, never half of one), and reading
the text and JSON Lines files users name with one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from alphacode.errors import UserError


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


class TextFileError(UserError, ValueError):
    """A file the user named cannot be read as UTF-8 text; the message is one line naming it."""


def read_user_text(path: str | os.PathLike[str], expected: str) -> str:
    """The UTF-8 text of ``path``, gunzipped when its name ends in ``.gz``; a missing, unreadable or
    binary file raises :class:`TextFileError` (``expected`` names what a directory should have been,
    e.g. "a program file")."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TextFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TextFileError(f"{path}: is a directory, expected {expected}") from None
    except UnicodeDecodeError:
        raise TextFileError(f"{path}: not UTF-8 text") from None
    except EOFError:
        raise TextFileError(f"{path}: truncated gzip file") from None
    except OSError as err:
        raise TextFileError(f"{path}: {err.strerror or err}") from None


def read_json_lines(path: str | os.PathLike[str], error: type[ValueError]) -> Iterator[tuple[str, Any]]:
    """("FILE:N", value) for every non-blank line of a JSON Lines file (``.gz`` too); an unreadable
    file, or a line that is not JSON, raises ``error`` naming the file (and line)."""
    try:
        text = read_user_text(path, "a JSON Lines file")
    except TextFileError as err:
        raise error(str(err)) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            raise error(f"{where}: not JSON ({getattr(err, 'msg', 'too deeply nested')})") from None
        yield where, value
