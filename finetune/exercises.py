"""Exercises checked by execution: corpus functions whose docstring examples pass when run in the sandbox.

A module-level function of a corpus' Python file qualifies when its docstring holds doctest examples
(``>>> call`` with the expected result below) and a program made of the file's imports, the function and
a doctest run of those examples passes in the sandbox (the examples are run, never trusted; a function
that needs more of its module than the imports, or a library the sandbox lacks, fails and is left out). The prompt
is the signature with the docstring, the target the body, as in the docstring-function task; these are
the rows of the ``exercises`` task of the fine-tuning mixture. The corpus builder already dropped any
file holding a HumanEval task (:mod:`alphacode.decontamination`).
"""

from __future__ import annotations

import ast
import doctest
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from alphacode.execution import Limits, Sandbox, Status, make_job
from alphacode.splits import SPLITS
from finetune.functions import FunctionExample, docstring_functions, parse_python, split_functions
from pretrain.corpus import iter_corpus

LIMITS = Limits()  # the usual contest limits
MAX_EXAMPLES = 10
_HARNESS = """

import doctest as __doctest
__runner = __doctest.DocTestRunner(verbose=False, optionflags=__doctest.NORMALIZE_WHITESPACE)
__test = __doctest.DocTestParser().get_doctest({name}.__doc__, dict(globals()), {name!r}, None, 0)
__result = __runner.run(__test, out=lambda text: None)
print({marker!r} if __result.attempted and not __result.failed else "failed")
"""


@dataclass(frozen=True)
class Exercise:
    """A function whose docstring examples passed: ``prompt + body`` is its source."""

    name: str
    prompt: str
    body: str


def candidates(source: str) -> Iterator[tuple[FunctionExample, str]]:
    """The functions of one file that have runnable-looking doctest examples, each with the file's absolute
    module-level imports as source."""
    tree = parse_python(source)
    if tree is None:
        return
    imports = "".join(ast.unparse(node) + "\n" for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
                      and not (isinstance(node, ast.ImportFrom) and node.level))
    docstrings = {node.name: ast.get_docstring(node) or "" for node in tree.body
                  if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    for function in docstring_functions(source, tree):
        docstring = docstrings.get(function.name, "")
        try:
            examples = doctest.DocTestParser().get_examples(docstring)
        except ValueError:
            continue
        if not examples or len(examples) > MAX_EXAMPLES or any(not e.want.strip() or "..." in e.want
                                                                or "Traceback" in e.want for e in examples):
            continue
        yield function, imports


def mine_exercises(corpus_dir: str | os.PathLike[str], sandbox: Sandbox) -> dict[str, list[Exercise]]:
    """Every qualifying function of the corpus whose examples pass in ``sandbox``, per split and each distinct
    prompt once, as :func:`finetune.functions.split_functions` splits the docstring functions."""
    mined: list[tuple[str, list[FunctionExample]]] = []
    imports: dict[str, str] = {}  # prompt -> the imports of the file where it first occurs
    for source in iter_corpus(corpus_dir):
        if source.language == "Python":
            found = list(candidates(source.content))
            mined.append((source.path, [function for function, _ in found]))
            for function, header in found:
                imports.setdefault(function.prompt, header)
    checked = [(split, function) for split, functions in split_functions(mined).items() for function in functions]
    marker = f"passed-{secrets.token_hex(8)}"  # a function that prints it cannot know it
    jobs = [make_job(imports[f.prompt] + "\n" + f.prompt + f.body + _HARNESS.format(name=f.name, marker=marker),
                     "python3", [""], LIMITS) for _, f in checked]
    outcomes = sandbox.run_batch(jobs, progress="checking exercises") if jobs else []
    exercises: dict[str, list[Exercise]] = {split: [] for split in SPLITS}
    for (split, function), (outcome,) in zip(checked, outcomes):
        lines = outcome.stdout.decode("utf-8", "replace").strip().splitlines() if outcome.status is Status.OK else []
        if lines and lines[-1] == marker:
            exercises[split].append(Exercise(function.name, function.prompt, function.body))
    return exercises
