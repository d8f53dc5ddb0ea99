"""The two kinds of failure a command reports without a traceback.

Every stage raises :class:`UserError` (or a subclass: a bad problem file, a broken checkpoint, a
setting out of range) for mistakes in what the user gave, and :class:`CommandFailed` for work that
could not finish through no fault of the input. The CLI prints either as one line, exit 2 or 1.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user gave (a file, a field, a flag); the message is one line naming it."""


class ConfigError(UserError, ValueError):
    """A setting out of its range or of the wrong type (a ``ValueError`` too, for library callers)."""


class CommandFailed(RuntimeError):
    """The work could not finish for a reason that is not the user's (e.g. every worker died)."""


def first_line(error: BaseException | None) -> str:
    """An error's message for a one-line report: its first non-blank line (at most 200 characters), or the
    name of its type when it has no message."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__
