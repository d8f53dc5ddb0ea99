"""Candidate files: JSON Lines, one program per row, as ``alphacode select --candidates`` reads them.

A row holds ``code`` and ``language`` (``python3``, ``cpp``, or another spelling
:class:`alphacode.problems.Language` accepts), and optionally ``logprob`` (the sum of the token
log-probabilities), ``num_tokens`` and ``problem_id`` (which must then be the problem's name, so samples
of another problem never join the pool). Other fields are ignored.
"""

from __future__ import annotations

import math
import os
from typing import Any

from alphacode.errors import UserError
from alphacode.fileio import read_json_lines
from alphacode.problems import Language
from sampling.candidate import Candidate


class CandidateFileError(UserError, ValueError):
    """A candidates file that cannot be read; the message is one line naming the file, row and field."""


def _number(value: Any, where: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CandidateFileError(f"{where}: field '{name}': expected a finite number, got {value!r}"[:200])
    return float(value)


def parse_candidate(row: Any, problem_id: str, where: str) -> Candidate:
    """One row as a :class:`Candidate`; ``where`` names it in errors."""
    if not isinstance(row, dict):
        raise CandidateFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
    row_problem = row.get("problem_id")
    if row_problem is not None and row_problem != problem_id:
        raise CandidateFileError(f"{where}: field 'problem_id': {row_problem!r} is not this problem "
                                 f"({problem_id!r})"[:200])
    code, language = row.get("code"), row.get("language")
    if not isinstance(code, str):  # an empty program is a real (failing) sample a model can draw
        raise CandidateFileError(f"{where}: field 'code': expected program text")
    if not isinstance(language, str):
        raise CandidateFileError(f"{where}: field 'language': expected a string such as python3 or cpp")
    try:
        slug = Language.parse(language).slug
    except ValueError:
        raise CandidateFileError(f"{where}: field 'language': unknown language {language[:40]!r}") from None
    logprob = _number(row.get("logprob"), where, "logprob")
    tokens = row.get("num_tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
        raise CandidateFileError(f"{where}: field 'num_tokens': expected a positive whole number")
    return Candidate(problem_id, slug, code, logprob=logprob, num_tokens=tokens)


def read_candidates(path: str | os.PathLike[str], problem_id: str) -> list[Candidate]:
    """Every row of a candidates file (``.gz`` too), or :class:`CandidateFileError` for the first bad one."""
    candidates = [parse_candidate(row, problem_id, where) for where, row in read_json_lines(path, CandidateFileError)]
    if not candidates:
        raise CandidateFileError(f"{path}: no candidates (expected one JSON object per line)")
    return candidates
