"""Codex-style supervised examples: a standalone function's signature and docstring -> its body.

This is the form of HumanEval (the prompt is a signature with a docstring, the completion is the
body), mined from the Python files of the code corpus. Only module-level, undecorated functions
with a docstring and a body of a few lines qualify, which keeps out methods (that need their class)
and trivial stubs.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from alphacode.splits import SPLITS, split_of

MIN_BODY_LINES = 2
MAX_BODY_LINES = 60


@dataclass(frozen=True)
class FunctionExample:
    """``prompt`` ends after the docstring's line; ``prompt + body`` is the function's source."""

    name: str
    prompt: str
    body: str


def parse_python(source: str) -> ast.Module | None:
    """The syntax tree of a corpus file, or None if it does not parse (quietly: old files warn of escapes)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def docstring_functions(source: str, tree: ast.Module | None = None) -> list[FunctionExample]:
    """The qualifying functions of one Python file (none if it does not parse); ``tree``: its syntax tree, if
    the caller has parsed it already."""
    tree = tree or parse_python(source)
    if tree is None:
        return []
    lines = source.splitlines(keepends=True)
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.decorator_list:
            continue
        if ast.get_docstring(node) is None or len(node.body) < 2:
            continue
        docstring_end = node.body[0].end_lineno
        body = "".join(lines[docstring_end: node.end_lineno])
        body_lines = node.end_lineno - docstring_end
        if not MIN_BODY_LINES <= body_lines <= MAX_BODY_LINES or not body.strip():
            continue
        found.append(FunctionExample(node.name, "".join(lines[node.lineno - 1: docstring_end]), body))
    return found


def split_functions(mined: Iterable[tuple[str, list[FunctionExample]]]) -> dict[str, list[FunctionExample]]:
    """Functions mined per source (its path, then what :func:`docstring_functions` found), each
    distinct prompt once, in the split the problems' hash rule gives its path and name."""
    splits: dict[str, list[FunctionExample]] = {split: [] for split in SPLITS}
    seen: set[str] = set()
    for path, examples in mined:
        for example in examples:
            if example.prompt not in seen:
                seen.add(example.prompt)
                splits[split_of(f"{path}:{example.name}")].append(example)
    return splits
