"""The bundled contest problems are sound: each has Python 3 and C++ solutions, every correct solution is accepted
and every incorrect one rejected on all its tests."""

from __future__ import annotations

from alphacode.execution import Sandbox
from alphacode.execution.judge import judge_many, solution_submission
from alphacode.problems import Language, load_problems
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


def test_every_solution_gets_its_verdict(sandbox: Sandbox) -> None:
    problems = load_problems(CONTEST)
    correct = [solution_submission(p, s) for p in problems for s in p.solutions]
    incorrect = [solution_submission(p, s) for p in problems for s in p.incorrect_solutions]
    results = judge_many(sandbox, correct + incorrect, progress="judging")
    names = [p.name for p in problems for _ in p.solutions] + [p.name for p in problems for _ in p.incorrect_solutions]
    rejected_correct = [n for n, r in zip(names, results[: len(correct)]) if not r.accepted]
    accepted_incorrect = [n for n, r in zip(names[len(correct):], results[len(correct):]) if r.accepted]
    assert rejected_correct == [] and accepted_incorrect == []
