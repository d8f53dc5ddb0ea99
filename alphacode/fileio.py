"""Atomic file writes (a crash leaves the old file or the new one, never half of one), and reading
the text and JSON Lines files users name with one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from alphacode.errors import UserError


class UnwritablePath(UserError, OSError):
    """A path the user named cannot be written (its folder cannot be made, it is a directory, ...)."""


def make_dirs(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` (and its parents) if missing; one line naming it when that cannot be done."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnwritablePath(f"{path}: cannot create this folder ({err.strerror or err})") from None
    return path


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path`` (created as ``open`` would,
    so the umask sets its permissions)."""
    path = Path(path)
    make_dirs(path.parent)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise UnwritablePath(f"{path}: cannot write here ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        try:
            os.replace(tmp, path)
        except IsADirectoryError:
            raise UnwritablePath(f"{path}: is a directory, expected a file name") from None
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
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped, as editors on Windows write one),
    gunzipped when its name ends in ``.gz``; a missing, unreadable or binary file raises :class:`TextFileError`
    (``expected`` names what a directory should have been, e.g. "a program file")."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TextFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TextFileError(f"{path}: is a directory, expected {expected}") from None
    except UnicodeDecodeError:
        raise TextFileError(f"{path}: not UTF-8 text") from None
    except EOFError:
        raise TextFileError(f"{path}: truncated gzip file") from None
    except zlib.error as err:
        raise TextFileError(f"{path}: corrupt gzip data ({err})") from None
    except OSError as err:
        raise TextFileError(f"{path}: {err.strerror or err}") from None


JSON_ERRORS = (ValueError, RecursionError)  # json.loads: JSONDecodeError, over 4,300 digits in an int, nesting


def json_error(err: BaseException) -> str:
    """Why ``json.loads`` refused a text, in a few words."""
    if isinstance(err, RecursionError):
        return "too deeply nested"
    return getattr(err, "msg", None) or str(err)


def read_json_file(path: str | os.PathLike[str], error: Callable[[str], Exception]) -> Any:
    """The JSON value in ``path`` (``.gz`` too), or None if there is no such file (the caller says what that
    means); an unreadable file or invalid JSON raises ``error`` with one line naming the file."""
    path = Path(path)
    try:
        text = read_user_text(path, "a JSON file")
    except TextFileError as err:
        try:
            missing = not path.exists() and not path.is_symlink()
        except OSError:  # a folder on the way that cannot be searched: said by the read's own message
            missing = False
        if missing:
            return None
        raise error(str(err)) from None
    try:
        return json.loads(text)
    except JSON_ERRORS as err:
        raise error(f"{path}: not JSON ({json_error(err)})") from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except JSON_ERRORS:
        return False
    return True


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
        except JSON_ERRORS as err:
            if _is_json(text):  # a pretty-printed file
                raise error(f"{path}: one JSON document, not JSON Lines (one JSON value per line)") from None
            raise error(f"{where}: not JSON ({json_error(err)})") from None
        yield where, value
