"""Problem records and loaders in the CodeContests layout.

One problem format for the whole system. Field names follow CodeContests (DeepMind's release and
its public Hugging Face copy). Accepted on input:

* one problem as a JSON object (``.json``), or a JSON array of problems;
* JSON Lines, one problem per line (``.jsonl``);
* the flattened Parquet layout of the Hugging Face copy (``.parquet``, read in record batches), or a
  directory of any of these (hidden folders, virtualenvs, ``site-packages``, ``node_modules`` and
  ``__pycache__`` are never searched).

A split (``train``, ``valid``, ``test``) of a directory in the public layout is its files named so;
of anything else, the problems :func:`alphacode.splits.split_of` puts there.

Tests and solutions may be given flattened (``{"input": [...], "output": [...]}``,
``{"language": [...], "solution": [...]}``) or as lists of objects. ``time_limit`` may be
``{"seconds": s, "nanos": n}`` or a number of seconds. Every malformed input raises
:class:`ProblemFormatError`, whose message names the file and the field.
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphacode.errors import UserError
from alphacode.execution.records import MAX_MEMORY_BYTES, MAX_TIME_S
from alphacode.fileio import TextFileError, atomic_write, atomic_write_text, read_user_text
from alphacode.lazy import lazy_import
from alphacode.splits import SPLITS, file_split, split_of

pa = lazy_import("pyarrow")  # ~0.3 s: only for Parquet files
pq = lazy_import("pyarrow.parquet")

PARQUET_BATCH_ROWS = 64  # a CodeContests row with its generated tests and solutions can take megabytes


class ProblemFormatError(UserError, ValueError):
    """A problem file is missing, unreadable or does not follow the layout; the message is one line."""

    def __init__(self, source: str, field_name: str, reason: str) -> None:
        self.source, self.field, self.reason = source, field_name, reason
        where = f"field '{field_name}'" if field_name else "file"
        super().__init__(f"{source}: {where}: {reason}")


class Language(enum.IntEnum):
    """Solution languages, numbered as CodeContests numbers them (PYTHON is Python 2)."""

    UNKNOWN_LANGUAGE = 0
    PYTHON = 1
    CPP = 2
    PYTHON3 = 3
    JAVA = 4

    @classmethod
    def parse(cls, value: str | int) -> Language:
        """Accept the enum value, its name, or a common spelling (``python3``, ``cpp``, ``c++``)."""
        if isinstance(value, bool):
            raise ValueError(f"not a language: {value!r}")
        if isinstance(value, int):
            return cls(value)
        key = value.strip().lower()
        if key in _LANGUAGE_ALIASES:
            return _LANGUAGE_ALIASES[key]
        raise ValueError(f"unknown language {value!r}")

    @property
    def slug(self) -> str:
        """Short lowercase name used on the command line and in prompts (``python3``, ``cpp``)."""
        return _LANGUAGE_SLUGS[self]


_LANGUAGE_SLUGS = {
    Language.UNKNOWN_LANGUAGE: "unknown",
    Language.PYTHON: "python2",
    Language.CPP: "cpp",
    Language.PYTHON3: "python3",
    Language.JAVA: "java",
}
_LANGUAGE_ALIASES = {
    **{lang.name.lower(): lang for lang in Language},
    **{slug: lang for lang, slug in _LANGUAGE_SLUGS.items()},
    "py": Language.PYTHON3,
    "py3": Language.PYTHON3,
    "c++": Language.CPP,
    "cxx": Language.CPP,
    "c++17": Language.CPP,
}


@dataclass(frozen=True)
class Test:
    """One test: the program's stdin and the expected stdout."""

    __test__ = False  # not a pytest test class
    input: str
    output: str


@dataclass(frozen=True)
class Solution:
    """A program written for a problem, correct or not depending on which list holds it."""

    language: Language
    solution: str


@dataclass(frozen=True)
class Problem:
    """A competitive-programming problem with its tests and reference solutions.

    With ``entry_point`` set the problem is function-style (HumanEval): a program defines that function,
    a test's input is a Python literal of the argument tuple and its output the ``repr`` of the result.
    """

    name: str
    description: str
    public_tests: tuple[Test, ...] = ()
    private_tests: tuple[Test, ...] = ()
    generated_tests: tuple[Test, ...] = ()
    solutions: tuple[Solution, ...] = ()
    incorrect_solutions: tuple[Solution, ...] = ()
    cf_rating: int = 0
    cf_tags: tuple[str, ...] = ()
    difficulty: int = 0
    time_limit: float | None = None
    memory_limit_bytes: int = 0
    source: int = 0
    entry_point: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def tests(self, which: str = "all") -> tuple[Test, ...]:
        """The tests of one kind (``public``, ``private``, ``generated``) or ``all`` of them in that order."""
        groups = {
            "public": self.public_tests,
            "private": self.private_tests,
            "generated": self.generated_tests,
        }
        if which == "all":
            return self.public_tests + self.private_tests + self.generated_tests
        if which not in groups:
            raise ValueError(f"unknown test set {which!r}; expected public, private, generated or all")
        return groups[which]


# ----------------------------------------------------------------------------------------------
# Parsing: every check raises ProblemFormatError naming the file and the field.


class _Parser:
    """Validates one problem mapping; ``source`` names the file (and line) for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field_name: str, reason: str) -> ProblemFormatError:
        return ProblemFormatError(self.source, field_name, reason)

    def text(self, value: Any, field_name: str) -> str:
        if not isinstance(value, str):
            raise self.fail(field_name, f"expected a string, got {_kind(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(field_name, "not valid Unicode text (a lone surrogate)") from None
        return value

    def integer(self, value: Any, field_name: str, default: int = 0) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field_name, f"expected an integer, got {_kind(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise self.fail(field_name, f"expected an integer, got {value!r}")
        return int(value)

    def text_list(self, value: Any, field_name: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(field_name, f"expected a list of strings, got {_kind(value)}")
        return [self.text(item, f"{field_name}[{i}]") for i, item in enumerate(value)]

    def pairs(self, value: Any, field_name: str, keys: tuple[str, str], what: str) -> list[tuple[tuple[Any, str], ...]]:
        """A field given flattened (``{a: [...], b: [...]}``) or as a list of ``{a, b}`` objects, as one
        ``((a, its field name), (b, its field name))`` per item, so each value is checked and blamed by name."""
        first, second = keys
        if isinstance(value, Mapping):
            missing = set(keys) - value.keys()
            if missing:
                raise self.fail(field_name, f"flattened {what} need '{first}' and '{second}' lists, missing {sorted(missing)}")
            columns = [value[first], value[second]]
            for key, column in zip(keys, columns):
                if not isinstance(column, list):
                    raise self.fail(f"{field_name}.{key}", f"expected a list, got {_kind(column)}")
            if len(columns[0]) != len(columns[1]):
                raise self.fail(field_name, f"{len(columns[0])} {first}s but {len(columns[1])} {second}s")
            return [((a, f"{field_name}.{first}[{i}]"), (b, f"{field_name}.{second}[{i}]"))
                    for i, (a, b) in enumerate(zip(*columns))]
        if isinstance(value, list):
            found = []
            for i, item in enumerate(value):
                name = f"{field_name}[{i}]"
                if not isinstance(item, Mapping) or not set(keys) <= item.keys():
                    raise self.fail(name, f"expected an object with '{first}' and '{second}'")
                found.append(((item[first], f"{name}.{first}"), (item[second], f"{name}.{second}")))
            return found
        raise self.fail(field_name, f"expected a list of {what} or {{{first}: [...], {second}: [...]}}, got {_kind(value)}")

    def tests(self, value: Any, field_name: str) -> tuple[Test, ...]:
        if value is None:
            return ()
        return tuple(Test(self.text(i, i_name), self.text(o, o_name))
                     for (i, i_name), (o, o_name) in self.pairs(value, field_name, ("input", "output"), "tests"))

    def language(self, value: Any, field_name: str) -> Language:
        try:
            if isinstance(value, (str, int)):
                return Language.parse(value)
        except ValueError as err:
            raise self.fail(field_name, str(err)) from None
        raise self.fail(field_name, f"expected a language name or number, got {_kind(value)}")

    def solutions(self, value: Any, field_name: str) -> tuple[Solution, ...]:
        if value is None:
            return ()
        return tuple(Solution(self.language(lang, lang_name), self.text(code, code_name))
                     for (lang, lang_name), (code, code_name)
                     in self.pairs(value, field_name, ("language", "solution"), "solutions"))

    def time_limit(self, value: Any) -> float | None:
        if value is None:
            return None
        out_of_range = f"expected 0 to {MAX_TIME_S:.0f} seconds"
        try:
            if isinstance(value, Mapping):
                seconds = self.integer(value.get("seconds"), "time_limit.seconds")
                nanos = self.integer(value.get("nanos"), "time_limit.nanos")
                limit = seconds + nanos / 1e9
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                limit = float(value)
            else:
                raise self.fail("time_limit", f"expected seconds or {{seconds, nanos}}, got {_kind(value)}")
        except OverflowError:  # an integer beyond any float
            raise self.fail("time_limit", out_of_range) from None
        if not math.isfinite(limit) or not 0 <= limit <= MAX_TIME_S:
            raise self.fail("time_limit", f"{out_of_range}, got {limit!r}")
        return limit or None

    def entry_point(self, value: Any) -> str | None:
        if value is None:
            return None
        name = self.text(value, "entry_point")
        if not name.isidentifier():
            raise self.fail("entry_point", f"expected a Python function name, got {name!r}")
        return name

    def problem(self, data: Any) -> Problem:
        if not isinstance(data, Mapping):
            raise self.fail("", f"expected a JSON object describing a problem, got {_kind(data)}")
        if "description" not in data:
            raise self.fail("description", "missing")
        tags = data.get("cf_tags")
        memory = self.integer(data.get("memory_limit_bytes"), "memory_limit_bytes")
        if not 0 <= memory <= MAX_MEMORY_BYTES:
            raise self.fail("memory_limit_bytes", f"expected 0 to 2**40 bytes, got {memory}")
        known = {f for f in Problem.__dataclass_fields__ if f != "extra"}
        return Problem(
            name=self.text(data.get("name", ""), "name"),
            description=self.text(data["description"], "description"),
            public_tests=self.tests(data.get("public_tests"), "public_tests"),
            private_tests=self.tests(data.get("private_tests"), "private_tests"),
            generated_tests=self.tests(data.get("generated_tests"), "generated_tests"),
            solutions=self.solutions(data.get("solutions"), "solutions"),
            incorrect_solutions=self.solutions(data.get("incorrect_solutions"), "incorrect_solutions"),
            cf_rating=self.integer(data.get("cf_rating"), "cf_rating"),
            cf_tags=tuple(self.text_list(tags, "cf_tags")) if tags is not None else (),
            difficulty=self.integer(data.get("difficulty"), "difficulty"),
            time_limit=self.time_limit(data.get("time_limit")),
            memory_limit_bytes=memory,
            source=self.integer(data.get("source"), "source"),
            entry_point=self.entry_point(data.get("entry_point")),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def problem_from_dict(data: Any, source: str = "<dict>") -> Problem:
    """Build a :class:`Problem` from a decoded JSON/Parquet row in either test layout."""
    return _Parser(source).problem(data)


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The flattened CodeContests layout (as in the Hugging Face copy); JSON- and Parquet-ready."""

    def tests(ts: tuple[Test, ...]) -> dict[str, list[str]]:
        return {"input": [t.input for t in ts], "output": [t.output for t in ts]}

    def solutions(ss: tuple[Solution, ...]) -> dict[str, list]:
        return {"language": [int(s.language) for s in ss], "solution": [s.solution for s in ss]}

    limit = problem.time_limit or 0.0
    seconds = int(limit)
    return {
        **dict(problem.extra),
        "name": problem.name,
        "description": problem.description,
        "public_tests": tests(problem.public_tests),
        "private_tests": tests(problem.private_tests),
        "generated_tests": tests(problem.generated_tests),
        "source": problem.source,
        "difficulty": problem.difficulty,
        "solutions": solutions(problem.solutions),
        "incorrect_solutions": solutions(problem.incorrect_solutions),
        "cf_rating": problem.cf_rating,
        "cf_tags": list(problem.cf_tags),
        "time_limit": {"seconds": seconds, "nanos": round((limit - seconds) * 1e9)} if problem.time_limit else None,
        "memory_limit_bytes": problem.memory_limit_bytes,
        "entry_point": problem.entry_point,
    }


# ----------------------------------------------------------------------------------------------
# Files.

_SUFFIXES = (".json", ".jsonl", ".parquet")


def _read_text(path: Path) -> str:
    try:
        return read_user_text(path, "a problem file")
    except TextFileError as err:
        raise ProblemFormatError(str(path), "", str(err).removeprefix(f"{path}: ")) from None


def _decode_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ProblemFormatError(source, "", f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except ValueError as err:  # e.g. an integer literal longer than Python converts
        raise ProblemFormatError(source, "", f"invalid JSON: {err}") from None
    except RecursionError:
        raise ProblemFormatError(source, "", "invalid JSON: nested too deeply") from None


def load_problem(path: str | os.PathLike[str]) -> Problem:
    """Load a file that holds exactly one problem (JSON object, or a one-row JSONL/Parquet file), or a
    directory whose own problem files (not its subfolders') hold exactly one."""
    path = Path(path)
    if path.is_dir():
        files = problem_files(path, recursive=False)
        if not files:
            raise ProblemFormatError(str(path), "", f"is a directory holding no problem files ({', '.join(_SUFFIXES)})")
        problems = [problem for f in files for problem in _iter_file(f)]
    else:
        problems = list(_iter_file(path))
    if len(problems) != 1:
        raise ProblemFormatError(str(path), "", f"expected one problem, found {len(problems)}")
    return problems[0]


_SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})


def _searched(folder: Path) -> bool:
    """Whether a folder under a problem directory may hold problems: not hidden, not a virtualenv or package cache."""
    return not (folder.name.startswith(".") or folder.name in _SKIPPED_FOLDERS or (folder / "pyvenv.cfg").exists())


def problem_files(directory: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """The problem files (``.json``, ``.jsonl``, ``.parquet``) in ``directory``, sorted; ``recursive`` searches
    its subfolders too, but never hidden folders, virtualenvs, ``site-packages``, ``node_modules`` or caches."""
    found = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = [d for d in subfolders if recursive and _searched(Path(folder) / d)]
        found += [Path(folder) / n for n in names if Path(n).suffix in _SUFFIXES and not n.startswith(".")]
    return sorted(found)


def _files_at(path: Path) -> list[Path]:
    """``[path]`` for a file, or the problem files of a directory (at least one)."""
    if not path.is_dir():
        return [path]
    files = problem_files(path)
    if not files:
        raise ProblemFormatError(str(path), "", f"directory holds no {', '.join(_SUFFIXES)} files")
    return files


def split_files(spec: str | os.PathLike[str]) -> dict[str | None, list[Path]]:
    """The problem files at ``spec`` (a file or a directory) by the split their names declare (None: no
    split in the name). Files of the public layout mixed with others raise :class:`ProblemFormatError`:
    which rule would pick a split would then be a guess."""
    groups: dict[str | None, list[Path]] = {}
    for f in _files_at(Path(spec)):
        groups.setdefault(file_split(f), []).append(f)
    if None in groups and len(groups) > 1:
        named = next(files for split, files in groups.items() if split is not None)[0]
        raise ProblemFormatError(str(groups[None][0]), "", f"not named by split, beside {named.name}: keep files named "
                                 "train-/valid-/test-*.parquet (the public layout) apart from other problem files")
    return groups


def iter_problems(spec: str | os.PathLike[str], split: str | None = None, *,
                  by_file_name: bool = True) -> Iterator[Problem]:
    """Every problem at ``spec`` (a file or a directory of them), or those of one ``split``: in the public
    layout (``by_file_name``) only the files named by that split are read; otherwise every problem
    :func:`~alphacode.splits.split_of` puts in it. Reads one file (one Parquet record batch) at a time."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    path = Path(spec)
    if split is None:
        files = _files_at(path)
        by_files = False
    else:
        groups = split_files(path)
        by_files = by_file_name and None not in groups
        files = groups.get(split, []) if by_files else sorted(f for group in groups.values() for f in group)
    for f in files:
        for problem in _iter_file(f):
            if split is None or by_files or split_of(problem.name) == split:
                yield problem


def load_problems(spec: str | os.PathLike[str], split: str | None = None, *,
                  by_file_name: bool = True) -> list[Problem]:
    """Load every problem from a file (.json, .jsonl, .parquet) or a directory of such files, or only
    those of ``split`` (see :func:`iter_problems`)."""
    return list(iter_problems(spec, split, by_file_name=by_file_name))


def check_unique_names(problems: Iterable[Problem], source: str) -> None:
    """Where names identify a problem's samples, work units and report rows (sampling, contests), each may
    occur only once; ``source`` names the problems in the error."""
    seen: set[str] = set()
    for problem in problems:
        if problem.name in seen:
            raise ProblemFormatError(source, "name", f"problem names must be unique, repeated: {problem.name!r}")
        seen.add(problem.name)


def _iter_file(path: Path) -> Iterator[Problem]:
    if path.suffix == ".parquet":
        yield from _iter_parquet(path)
    elif path.suffix == ".jsonl":
        yield from _iter_jsonl(path)
    else:
        data = _decode_json(_read_text(path), str(path))
        if isinstance(data, list):
            yield from (problem_from_dict(row, f"{path}[{i}]") for i, row in enumerate(data))
        else:
            yield problem_from_dict(data, str(path))


def _iter_jsonl(path: Path) -> Iterator[Problem]:
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.strip():
            source = f"{path}:{lineno}"
            yield problem_from_dict(_decode_json(line, source), source)


def _parquet_batches(path: Path) -> Iterator[list[dict[str, Any]]]:
    """The rows of a Parquet file, one record batch at a time as Python dicts (never the whole file)."""
    if not path.exists():
        raise ProblemFormatError(str(path), "", "no such file")
    row_batches = None
    while True:
        try:  # pyarrow raises several unrelated types for unreadable files
            if row_batches is None:
                row_batches = pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS)
            batch = next(row_batches)
        except StopIteration:
            return
        except Exception as err:
            raise ProblemFormatError(str(path), "", f"not a readable Parquet file ({type(err).__name__})") from None
        yield batch.to_pylist()


def _iter_parquet(path: Path) -> Iterator[Problem]:
    row = 0
    for rows in _parquet_batches(path):
        for data in rows:
            yield problem_from_dict(data, f"{path}[row {row}]")
            row += 1


def save_problems(problems: Iterable[Problem], path: str | os.PathLike[str]) -> None:
    """Write problems in the flattened layout; the format follows the suffix (.json, .jsonl, .parquet)."""
    path = Path(path)
    rows = [problem_to_dict(p) for p in problems]
    if path.suffix == ".parquet":
        table = pa.Table.from_pylist(rows)
        atomic_write(path, lambda f: pq.write_table(table, f))
    elif path.suffix == ".jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        atomic_write_text(path, text)
    elif path.suffix == ".json":
        payload = rows[0] if len(rows) == 1 else rows
        text = json.dumps(payload, ensure_ascii=False, indent=1) + "\n"
        atomic_write_text(path, text)
    else:
        raise ValueError(f"{path}: unknown problem file suffix; use one of {', '.join(_SUFFIXES)}")
