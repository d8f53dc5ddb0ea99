"""`alphacode judge` on the bundled examples: accepted solutions, and the usual failure verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alphacode.cli import main as cli_main
from alphacode.execution import Sandbox
from alphacode.execution.judge import Verdict, judge, judge_many, solution_submission
from alphacode.problems import Language, load_problem
from tests.conftest import EXAMPLES

PROBLEMS = sorted(EXAMPLES.glob("*.json"))
SOLUTIONS = sorted(EXAMPLES.glob("*/solution.*"))


def test_examples_are_bundled() -> None:
    assert len(PROBLEMS) >= 5
    for path in PROBLEMS:
        problem = load_problem(path)
        assert problem.public_tests and problem.private_tests, path
        assert any(s.language is Language.PYTHON3 for s in problem.solutions), path
        assert (EXAMPLES / path.stem / "solution.py").read_text() in [s.solution for s in problem.solutions]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[f"{p.parent.name}/{p.name}" for p in SOLUTIONS])
def test_bundled_solution_is_accepted_by_the_cli(solution: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["judge", str(solution), "--problem", str(EXAMPLES / f"{solution.parent.name}.json"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["verdict"] == "ACCEPTED"
    assert all(t["verdict"] == "ACCEPTED" and t["time_s"] >= 0 for t in report["tests"])


def test_incorrect_solutions_are_rejected(sandbox: Sandbox) -> None:
    problems = [load_problem(p) for p in PROBLEMS]
    submissions = [solution_submission(p, s) for p in problems for s in p.incorrect_solutions]
    assert submissions
    assert all(not r.accepted for r in judge_many(sandbox, submissions))


@pytest.mark.parametrize(
    ("program", "verdict"),
    [
        ("print('definitely wrong')", Verdict.WRONG_ANSWER),
        ("raise RuntimeError('crash')", Verdict.RUNTIME_ERROR),
        ("import sys\nsys.exit(1)", Verdict.RUNTIME_ERROR),
        ("while True:\n    pass", Verdict.TIMEOUT),
    ],
)
def test_failure_verdicts(sandbox: Sandbox, program: str, verdict: Verdict) -> None:
    problem = load_problem(PROBLEMS[0])
    started = time.monotonic()
    result = judge(sandbox, program, "python3", problem, tests="public")
    assert result.verdict is verdict
    assert all(t.verdict is verdict for t in result.tests)
    limit = problem.time_limit or 2.0
    per_test = (time.monotonic() - started) / len(result.tests)
    assert per_test < limit + 0.5  # an endless loop ends within the time limit plus a small margin


def test_long_expected_output_fits_the_cap(sandbox: Sandbox) -> None:
    from alphacode.problems import Problem, Test

    n = 100_000
    problem = Problem(name="many", description="print 1..n", public_tests=(Test(f"{n}\n", "\n".join(map(str, range(1, n + 1)))),))
    result = judge(sandbox, "n = int(input())\nprint('\\n'.join(map(str, range(1, n + 1))))", "python3", problem)
    assert result.verdict is Verdict.ACCEPTED


def test_cli_text_output_and_bad_input(tmp_path: Path) -> None:
    problem = PROBLEMS[0]
    solution = EXAMPLES / problem.stem / "solution.py"
    run = [sys.executable, "-m", "alphacode.cli", "judge"]
    done = subprocess.run(run + [str(solution), "--problem", str(problem), "--tests", "public"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.splitlines()[-1].startswith("verdict: ACCEPTED")
    for args, message in [
        ([str(tmp_path / "missing.py"), "--problem", str(problem)], "missing.py: no such file"),
        ([str(solution), "--problem", str(tmp_path / "missing.json")], "missing.json: file: no such file"),
        ([str(tmp_path), "--problem", str(problem)], "is a directory"),
    ]:
        failed = subprocess.run(run + args, capture_output=True, text=True)
        assert failed.returncode == 2 and message in failed.stderr and failed.stderr.count("\n") == 1
    unknown = tmp_path / "prog.rb"
    unknown.write_text("puts 1")
    failed = subprocess.run(run + [str(unknown), "--problem", str(problem)], capture_output=True, text=True)
    assert failed.returncode == 2 and "--language" in failed.stderr


def test_help_lists_subcommands() -> None:
    done = subprocess.run([sys.executable, "-m", "alphacode.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "judge" in done.stdout
