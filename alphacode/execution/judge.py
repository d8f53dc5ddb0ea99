"""Judging: run a program on a problem's tests in the sandbox and give a verdict per test and overall."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alphacode.execution.checker import FUNCTION_RESULT_SENTINEL, function_outputs_match, outputs_match
from alphacode.execution.records import DEFAULT_OUTPUT_CAP, Limits, Outcome, SandboxLanguage, Status
from alphacode.execution.sandbox import Sandbox, make_job
from alphacode.problems import Language, Problem, Solution, Test

DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024


class Verdict(str, enum.Enum):
    """A judge's verdict on one test or on a whole submission."""

    ACCEPTED = "ACCEPTED"
    WRONG_ANSWER = "WRONG_ANSWER"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    TIMEOUT = "TIMEOUT"
    MEMORY_LIMIT = "MEMORY_LIMIT"
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    COMPILE_ERROR = "COMPILE_ERROR"
    SANDBOX_VIOLATION = "SANDBOX_VIOLATION"


@dataclass(frozen=True)
class TestResult:
    """The verdict on one test, with what the execution cost."""

    __test__ = False  # not a pytest test class
    verdict: Verdict
    time_s: float
    cpu_time_s: float
    memory_bytes: int
    stderr_tail: str = ""


@dataclass(frozen=True)
class JudgeResult:
    """Per-test verdicts and the overall verdict: the first test that was not accepted decides it."""

    verdict: Verdict
    tests: tuple[TestResult, ...]

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "tests": [
                {"verdict": t.verdict.value, "time_s": round(t.time_s, 4), "cpu_time_s": round(t.cpu_time_s, 4),
                 "memory_bytes": t.memory_bytes}
                for t in self.tests
            ],
        }


def limits_for(problem: Problem) -> Limits:
    """The sandbox limits a problem asks for, with the usual contest defaults where it is silent;
    the output cap leaves room for twice the longest expected output."""
    longest = max((len(t.output.encode("utf-8")) for t in problem.tests()), default=0)
    return Limits(
        time_s=problem.time_limit or DEFAULT_TIME_LIMIT_S,
        memory_bytes=problem.memory_limit_bytes or DEFAULT_MEMORY_BYTES,
        output_bytes=max(DEFAULT_OUTPUT_CAP, 2 * longest + 4096),
    )


def test_verdict(outcome: Outcome, expected: str, function_style: bool = False) -> Verdict:
    """Turn a sandbox outcome into a verdict by checking its output against the expected one: the
    contest checker's way, or for a function-style problem's driver output, as a returned value (only
    from a run the sandbox saw complete, so no result can be printed before an early exit)."""
    if outcome.status is Status.OK:
        if function_style:
            accepted = outcome.completed and function_outputs_match(expected, outcome.stdout)
        else:
            accepted = outputs_match(expected, outcome.stdout)
        return Verdict.ACCEPTED if accepted else Verdict.WRONG_ANSWER
    return Verdict(outcome.status.value)


def verdict_from_outcomes(outcomes: Sequence[Outcome], tests: Sequence[Test], function_style: bool = False) -> JudgeResult:
    """Per-test verdicts (see :func:`test_verdict`) and the overall one."""
    results = tuple(
        TestResult(test_verdict(o, t.output, function_style), o.wall_time_s, o.cpu_time_s, o.peak_memory_bytes,
                   o.stderr_tail)
        for o, t in zip(outcomes, tests)
    )
    overall = next((r.verdict for r in results if r.verdict is not Verdict.ACCEPTED), Verdict.ACCEPTED)
    return JudgeResult(overall, results)


@dataclass(frozen=True)
class Submission:
    """A program to judge on a list of tests under given limits."""

    code: str
    language: SandboxLanguage
    tests: tuple[Test, ...]
    limits: Limits
    function_style: bool = False


_SANDBOX_LANGUAGES = {Language.PYTHON3: SandboxLanguage.PYTHON3, Language.CPP: SandboxLanguage.CPP}

_FUNCTION_DRIVER = """\
def __alphacode_call(source, entry_point, sentinel):
    import ast, builtins, io, os, sys
    arguments = ast.literal_eval(sys.stdin.read())
    sys.stdout.flush()
    saved = os.dup(1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.close(quiet)
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        namespace = {{"__name__": "__main__", "__builtins__": builtins}}
        exec(compile(source, "main.py", "exec"), namespace)
        result = namespace[entry_point](*arguments)
    finally:
        sys.stdout = stdout
        try:
            stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    os.write(1, (sentinel + "\\n" + repr(result) + "\\n").encode("utf-8", "backslashreplace"))


__alphacode_call({source!r}, {entry_point!r}, {sentinel!r})
"""


def runnable_code(problem: Problem, code: str, language: str | SandboxLanguage) -> str:
    """The program to run for ``code``: itself for stdin/stdout problems; for a function-style problem,
    a driver that reads the argument tuple from stdin, runs ``code`` and calls the entry point with every
    output of theirs discarded, then prints the sentinel and ``repr`` of the result (see
    :func:`~alphacode.execution.checker.function_outputs_match`), so one sandbox and judge serve both kinds."""
    if problem.entry_point is None:
        return code
    if SandboxLanguage(language) is not SandboxLanguage.PYTHON3:
        raise ValueError(f"{problem.name}: function-style problems take Python 3 programs, not {language}")
    return _FUNCTION_DRIVER.format(source=code, entry_point=problem.entry_point, sentinel=FUNCTION_RESULT_SENTINEL)


def make_submission(problem: Problem, code: str, language: str | SandboxLanguage, tests: str = "all",
                    limits: Limits | None = None) -> Submission:
    """A program for ``problem``, made runnable (see :func:`runnable_code`), to judge on one of its test sets."""
    lang = SandboxLanguage(language)
    return Submission(runnable_code(problem, code, lang), lang, problem.tests(tests), limits or limits_for(problem),
                      problem.entry_point is not None)


def solution_submission(problem: Problem, solution: Solution, tests: str = "all") -> Submission:
    """A problem's own (correct or incorrect) solution, to judge on its tests under its limits."""
    if solution.language not in _SANDBOX_LANGUAGES:
        raise ValueError(f"{problem.name}: the sandbox runs Python 3 and C++, not {solution.language.name}")
    return make_submission(problem, solution.solution, _SANDBOX_LANGUAGES[solution.language], tests)


def judge_many(sandbox: Sandbox, submissions: Sequence[Submission], progress: str | None = None) -> list[JudgeResult]:
    """Judge many submissions at once, spreading their executions over every sandbox worker; build them
    with :func:`make_submission` (or :func:`solution_submission`) so function-style problems get their driver."""
    jobs = [make_job(s.code, s.language, [t.input for t in s.tests], s.limits) for s in submissions]
    outcomes = sandbox.run_batch(jobs, progress=progress)
    return [verdict_from_outcomes(o, s.tests, s.function_style) for o, s in zip(outcomes, submissions)]


def judge(sandbox: Sandbox, code: str, language: str | SandboxLanguage, problem: Problem,
          tests: str = "all", limits: Limits | None = None) -> JudgeResult:
    """Judge one program on one of the problem's test sets (``public``, ``private``, ``generated``, ``all``)."""
    return judge_many(sandbox, [make_submission(problem, code, language, tests, limits)])[0]
