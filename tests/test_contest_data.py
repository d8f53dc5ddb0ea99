"""The bundled contest problems are sound: each has Python 3 and C++ solutions, every correct solution is accepted
on all its tests and every incorrect one rejected on one (the default run compiles a fifth of the correct C++ ones,
``make test-all`` all of them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from alphacode.execution import Sandbox
from alphacode.execution.judge import judge_many, solution_submission
from alphacode.problems import Language, Solution, load_problems
from tests.conftest import ROOT

CONTEST = ROOT / "data" / "contest"


def test_problem_set_shape() -> None:
    problems = load_problems(CONTEST)
    assert len(problems) >= 150
    assert len({p.name for p in problems}) == len(problems)
    for p in problems:
        assert p.public_tests and p.private_tests and p.cf_rating and p.cf_tags, p.name
        assert {Language.PYTHON3, Language.CPP} <= {s.language for s in p.solutions}, p.name
        assert p.incorrect_solutions, p.name


def judge_solutions(sandbox: Sandbox, keep: Callable[[int, Solution], bool]) -> None:
    """Every incorrect solution rejected, and every correct one that ``keep(problem_index, solution)`` picks
    accepted."""
    problems = load_problems(CONTEST)
    correct = [(p, s) for i, p in enumerate(problems) for s in p.solutions if keep(i, s)]
    results = judge_many(sandbox, [solution_submission(p, s) for p, s in correct], progress="judging")
    assert [p.name for (p, _), r in zip(correct, results) if not r.accepted] == []
    # an incorrect solution needs one failing test: judge them a test at a time, so that one too slow to pass
    # spends one time limit, not one per test
    pending = [(p.name, solution_submission(p, s)) for p in problems for s in p.incorrect_solutions]
    accepted: list[str] = []  # on every one of its tests
    for k in range(max(len(sub.tests) for _, sub in pending)):
        accepted += [name for name, sub in pending if len(sub.tests) == k]
        pending = [(name, sub) for name, sub in pending if len(sub.tests) > k]
        results = judge_many(sandbox, [replace(sub, tests=sub.tests[k:k + 1], labels=sub.labels[k:k + 1])
                                       for _, sub in pending])
        pending = [(name, sub) for (name, sub), r in zip(pending, results) if r.accepted]
    assert accepted + [name for name, _ in pending] == []


def test_every_incorrect_and_python_solution_and_a_fifth_of_the_cpp_ones_get_their_verdicts(sandbox: Sandbox) -> None:
    """The default run's share (compiling every C++ solution takes 90 s here): every incorrect solution, every
    correct Python one, and the correct C++ ones of every fifth problem; the slow test below judges them all."""
    judge_solutions(sandbox, lambda i, s: s.language is Language.PYTHON3 or i % 5 == 0)


@pytest.mark.slow
def test_every_solution_gets_its_verdict(sandbox: Sandbox) -> None:
    judge_solutions(sandbox, lambda i, s: True)
