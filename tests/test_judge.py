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


ADDITION = {"name": "addition", "description": "Print a + b.",
            "public_tests": {"input": ["2 3\n"], "output": ["5\n"]},
            "private_tests": {"input": ["10 20\n", "1 1\n"], "output": ["30\n", "2 \n"]}}


@pytest.fixture
def addition(tmp_path: Path) -> Path:
    path = tmp_path / "addition.json"
    path.write_text(json.dumps(ADDITION))
    return path


def judge_cli(tmp_path: Path, problem: Path, code: str, *flags: str, suffix: str = ".py") -> int:
    program = tmp_path / f"program{suffix}"
    program.write_text(code)
    return cli_main(["judge", str(program), "--problem", str(problem), *flags])


def test_exit_codes_follow_the_verdict(tmp_path: Path, addition: Path, capsys: pytest.CaptureFixture) -> None:
    """0 when every test is accepted, 1 for any failing verdict, 2 for bad input (as test runners do)."""
    assert judge_cli(tmp_path, addition, "a, b = map(int, input().split())\nprint(a + b)\n") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "verdict: ACCEPTED (3/3 tests passed)"
    for code in ["a, b = map(int, input().split())\nprint(a + b if a < 5 else a * b)\n",  # wrong on private 1
                 "raise SystemExit(3)\n", "while True:\n    pass\n", "def f(:\n"]:
        assert judge_cli(tmp_path, addition, code, "--tests", "private") == 1
        assert "first failing test: private test 1 (test 1)" in capsys.readouterr().out
    assert judge_cli(tmp_path, addition, "print(5)\n", "--problem", str(tmp_path / "missing.json")) == 2


def test_a_wrong_answer_shows_its_first_differing_token(tmp_path: Path, addition: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    code = "a, b = map(int, input().split())\nprint(a + b, 'EXTRA' if a == 10 else '')\n"
    assert judge_cli(tmp_path, addition, code) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:4] == ["test", "2", "private", "WRONG_ANSWER"]
    assert out[-2:] == ["first failing test: private test 1 (test 2): WRONG_ANSWER",
                        "  token 2: expected nothing, got 'extra'"]
    assert judge_cli(tmp_path, addition, "print(6)\n", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "WRONG_ANSWER" and report["first_failed_test"] == 1
    first = report["tests"][0]
    assert (first["kind"], first["index"]) == ("public", 1)
    assert first["difference"] == {"token": 1, "expected": "5", "got": "6"}
    assert [(t["kind"], t["index"]) for t in report["tests"]] == [("public", 1), ("private", 1), ("private", 2)]


def test_compile_errors_and_crashes_show_the_tail_of_their_output(tmp_path: Path, addition: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    assert judge_cli(tmp_path, addition, "def broken(:\n    pass\n", "--tests", "public") == 1
    out = capsys.readouterr().out
    tail = out[out.index("  compiler output (tail):"):].splitlines()
    assert "COMPILE_ERROR" in out and any("SyntaxError" in line for line in tail[1:])
    crash = "import sys\nprint('about to fail', file=sys.stderr)\nraise ValueError('bad')\n"
    assert judge_cli(tmp_path, addition, crash, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    first = report["tests"][0]
    assert first["verdict"] == "RUNTIME_ERROR" and "ValueError: bad" in first["stderr_tail"]
    assert "about to fail" in first["stderr_tail"] and "difference" not in first
    assert judge_cli(tmp_path, addition, "int main() { return 0 }\n", "--tests", "public", suffix=".cpp") == 1
    out = capsys.readouterr().out
    assert "COMPILE_ERROR" in out and "  compiler output (tail):" in out and "error" in out.split("(tail):")[1]


def test_a_directory_as_problem_must_hold_a_problem_file(tmp_path: Path, addition: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """``--problem DIR`` reads DIR's own problem files; an unrelated tree (a virtualenv's JSON) is never searched."""
    unrelated = tmp_path / "work"
    (unrelated / "venv" / "lib" / "site-packages" / "pkg").mkdir(parents=True)
    (unrelated / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (unrelated / "venv" / "lib" / "site-packages" / "pkg" / "data.json").write_text("{}")
    (unrelated / "sub").mkdir()
    (unrelated / "sub" / "other.json").write_text("{}")
    assert judge_cli(tmp_path, unrelated, "print(5)\n") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "work: file: is a directory holding no problem files" in err
    holder = tmp_path / "holder"
    holder.mkdir()
    (holder / "addition.json").write_text(addition.read_text())
    assert judge_cli(tmp_path, holder, "a, b = map(int, input().split())\nprint(a + b)\n") == 0


def test_judge_refuses_cpp_for_a_function_style_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    problem = {"name": "add", "description": "Write add(a, b).", "entry_point": "add",
               "public_tests": {"input": ["(1, 2)"], "output": ["3"]}}
    (tmp_path / "fn.json").write_text(json.dumps(problem))
    (tmp_path / "add.cpp").write_text("int add(int a, int b) { return a + b; }\n")
    assert cli_main(["judge", str(tmp_path / "add.cpp"), "--problem", str(tmp_path / "fn.json")]) == 2
    err = capsys.readouterr().err
    assert "add is function-style (entry_point 'add'): it takes a Python 3 program" in err and err.count("\n") == 1
