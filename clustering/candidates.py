"""Candidate files: the programs ``alphacode select --candidates`` chooses from, as candidates of one problem.

Any samples file :mod:`alphacode.samples` reads; each program may carry ``language`` (``python3``, ``cpp``,
or another spelling :class:`alphacode.problems.Language` accepts; required in JSON Lines rows),
``logprob`` (the sum of the token log-probabilities) and ``num_tokens``; a problem named in a row
must be this problem, so samples of another problem never join the pool. Other fields are ignored.
"""

from __future__ import annotations

import math
import os
from typing import Any

from alphacode.problems import Language
from alphacode.samples import Sample, SamplesFormatError, read_samples
from sampling.candidate import Candidate


def _number(value: Any, where: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SamplesFormatError(f"{where}: field '{name}': expected a finite number, got {value!r}"[:200])
    return float(value)


def parse_candidate(sample: Sample, problem_id: str, prompt: str = "") -> Candidate:
    """One sample of ``problem_id`` as a :class:`Candidate` (a completion continues ``prompt``)."""
    where, row = sample.where, sample.row
    if sample.problem_id is not None and sample.problem_id != problem_id:
        raise SamplesFormatError(f"{where}: field 'problem_id': {sample.problem_id!r} is not this problem "
                                 f"({problem_id!r})"[:200])
    language = row.get("language")
    if not isinstance(language, str):
        raise SamplesFormatError(f"{where}: field 'language': expected a string such as python3 or cpp")
    try:
        slug = Language.parse(language).slug
    except ValueError:
        raise SamplesFormatError(f"{where}: field 'language': unknown language {language[:40]!r}") from None
    logprob = _number(row.get("logprob"), where, "logprob")
    tokens = row.get("num_tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
        raise SamplesFormatError(f"{where}: field 'num_tokens': expected a positive whole number")
    # an empty program is a real (failing) sample a model can draw
    return Candidate(problem_id, slug, sample.program(prompt), logprob=logprob, num_tokens=tokens)


def read_candidates(path: str | os.PathLike[str], problem_id: str, prompt: str = "") -> list[Candidate]:
    """Every program of a candidates file for ``problem_id``, or :class:`SamplesFormatError` for the first bad one."""
    candidates = [parse_candidate(s, problem_id, prompt) for s in read_samples(path, [problem_id], text_field="code")]
    if not candidates:
        raise SamplesFormatError(f"{path}: no candidates (expected one JSON object per line)")
    return candidates
