"""Judging: run a program on a problem's tests in the sandbox and give a verdict per test and overall."""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphacode.errors import UserError
from alphacode.execution.checker import (
    FUNCTION_RESULT_SENTINEL,
    Difference,
    first_difference,
    function_difference,
    function_outputs_match,
    outputs_match,
)
from alphacode.execution.records import DEFAULT_OUTPUT_CAP, SUFFIX_LANGUAGES, Limits, Outcome, SandboxLanguage, Status
from alphacode.execution.sandbox import Sandbox, SandboxOptions, make_job
from alphacode.fileio import read_user_text
from alphacode.problems import Language, Problem, Solution, Test

# A judge's verdict on one test or a whole submission: ACCEPTED, WRONG_ANSWER, or how the run ended when it
# did not end cleanly (every sandbox Status but OK, under the same name).
Verdict = enum.Enum("Verdict", {"ACCEPTED": "ACCEPTED", "WRONG_ANSWER": "WRONG_ANSWER",
                                **{s.name: s.value for s in Status if s is not Status.OK}}, type=str)


@dataclass(frozen=True)
class TestResult:
    """The verdict on one test, with what the execution cost and what a person needs to see why it failed:
    the test's kind and 1-based index among that kind, the first differing token of a wrong answer, and
    the tail of stderr (the compiler's output for a compile error)."""

    __test__ = False  # not a pytest test class
    verdict: Verdict
    time_s: float
    cpu_time_s: float
    memory_bytes: int
    stderr_tail: str = ""
    kind: str = ""
    index: int = 0
    difference: Difference | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": self.verdict.value, "kind": self.kind or None, "index": self.index or None,
                                "time_s": round(self.time_s, 4), "cpu_time_s": round(self.cpu_time_s, 4),
                                "memory_bytes": self.memory_bytes}
        if self.difference is not None:
            data["difference"] = {"token": self.difference.position + 1, "expected": self.difference.expected,
                                  "got": self.difference.got}
        if self.stderr_tail and self.verdict is not Verdict.ACCEPTED:
            data["stderr_tail"] = self.stderr_tail
        return data


@dataclass(frozen=True)
class JudgeResult:
    """Per-test verdicts and the overall verdict: the first test that was not accepted decides it."""

    verdict: Verdict
    tests: tuple[TestResult, ...]

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    @property
    def first_failure(self) -> tuple[int, TestResult] | None:
        """(0-based position, result) of the first test not accepted, or None when every test was."""
        return next(((i, t) for i, t in enumerate(self.tests) if t.verdict is not Verdict.ACCEPTED), None)

    def to_json(self) -> dict[str, Any]:
        failure = self.first_failure
        return {"verdict": self.verdict.value, "first_failed_test": None if failure is None else failure[0] + 1,
                "tests": [t.to_json() for t in self.tests]}


def limits_for(problem: Problem) -> Limits:
    """The sandbox limits a problem asks for, with the usual contest defaults where it is silent;
    the output cap leaves room for twice the longest expected output."""
    longest = max((len(t.output.encode("utf-8")) for t in problem.tests()), default=0)
    usual = Limits()
    return Limits(
        time_s=problem.time_limit or usual.time_s,
        memory_bytes=problem.memory_limit_bytes or usual.memory_bytes,
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


def test_labels(problem: Problem, which: str = "all") -> tuple[tuple[str, int], ...]:
    """(kind, 1-based index among that kind) of each test in ``problem.tests(which)``, in the same order."""
    kinds = ("public", "private", "generated") if which == "all" else (which,)
    return tuple((kind, i) for kind in kinds for i in range(1, len(problem.tests(kind)) + 1))


def _difference(outcome: Outcome, expected: str, verdict: Verdict, function_style: bool) -> Difference | None:
    if verdict is not Verdict.WRONG_ANSWER:
        return None
    return (function_difference if function_style else first_difference)(expected, outcome.stdout)


def verdict_from_outcomes(outcomes: Sequence[Outcome], tests: Sequence[Test], function_style: bool = False,
                          labels: Sequence[tuple[str, int]] = ()) -> JudgeResult:
    """Per-test verdicts (see :func:`test_verdict`), each wrong answer with its first differing token, and
    the overall verdict; ``labels`` (see :func:`test_labels`) name the tests."""
    verdicts = [test_verdict(o, t.output, function_style) for o, t in zip(outcomes, tests)]
    names = list(labels) or [("", 0)] * len(verdicts)
    results = tuple(
        TestResult(v, o.wall_time_s, o.cpu_time_s, o.peak_memory_bytes, o.stderr_tail, kind, index,
                   _difference(o, t.output, v, function_style))
        for o, t, v, (kind, index) in zip(outcomes, tests, verdicts, names)
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
    labels: tuple[tuple[str, int], ...] = ()


# The sandbox language of each problem-solution language the sandbox runs.
SOLUTION_LANGUAGES = {Language.PYTHON3: SandboxLanguage.PYTHON3, Language.CPP: SandboxLanguage.CPP}

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
        raise ValueError(f"{problem.name}: function-style problems take Python 3 programs, not "
                         f"{SandboxLanguage(language).value}")
    return _FUNCTION_DRIVER.format(source=code, entry_point=problem.entry_point, sentinel=FUNCTION_RESULT_SENTINEL)


def make_submission(problem: Problem, code: str, language: str | SandboxLanguage, tests: str = "all",
                    limits: Limits | None = None) -> Submission:
    """A program for ``problem``, made runnable (see :func:`runnable_code`), to judge on one of its test sets."""
    lang = SandboxLanguage(language)
    return Submission(runnable_code(problem, code, lang), lang, problem.tests(tests), limits or limits_for(problem),
                      problem.entry_point is not None, test_labels(problem, tests))


def solution_submission(problem: Problem, solution: Solution, tests: str = "all") -> Submission:
    """A problem's own (correct or incorrect) solution, to judge on its tests under its limits."""
    if solution.language not in SOLUTION_LANGUAGES:
        raise ValueError(f"{problem.name}: the sandbox runs Python 3 and C++, not {solution.language.name}")
    return make_submission(problem, solution.solution, SOLUTION_LANGUAGES[solution.language], tests)


def judge_many(sandbox: Sandbox, submissions: Sequence[Submission], progress: str | None = None) -> list[JudgeResult]:
    """Judge many submissions at once, spreading their executions over every sandbox worker; build them
    with :func:`make_submission` (or :func:`solution_submission`) so function-style problems get their driver."""
    jobs = [make_job(s.code, s.language, [t.input for t in s.tests], s.limits) for s in submissions]
    outcomes = sandbox.run_batch(jobs, progress=progress)
    return [verdict_from_outcomes(o, s.tests, s.function_style, s.labels) for o, s in zip(outcomes, submissions)]


def judge(sandbox: Sandbox, code: str, language: str | SandboxLanguage, problem: Problem,
          tests: str = "all", limits: Limits | None = None) -> JudgeResult:
    """Judge one program on one of the problem's test sets (``public``, ``private``, ``generated``, ``all``)."""
    return judge_many(sandbox, [make_submission(problem, code, language, tests, limits)])[0]



def program_language(path: str | os.PathLike[str], given: str | None = None) -> str:
    """``given``, or the sandbox language of a program file by its suffix (``.py``, ``.cpp``, ...)."""
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_LANGUAGES:
        raise UserError(f"{path}: cannot tell the language from '{suffix or 'no suffix'}'; pass --language python3|cpp")
    return SUFFIX_LANGUAGES[suffix]


def judge_file(problem: Problem, program: str | os.PathLike[str], *, language: str | None = None, tests: str = "all",
               sandbox: SandboxOptions = SandboxOptions()) -> JudgeResult:
    """Judge the program in the file ``program`` on one of ``problem``'s test sets (what ``alphacode judge`` does)."""
    code = read_user_text(program, "a program file")
    language = program_language(program, language)
    if not problem.tests(tests):
        raise UserError(f"{problem.name}: field '{tests}_tests': no tests to judge on")
    if problem.entry_point is not None and language != SandboxLanguage.PYTHON3.value:
        raise UserError(f"{program}: {problem.name} is function-style (entry_point {problem.entry_point!r}): "
                        "it takes a Python 3 program")
    with sandbox.open() as box:
        return judge(box, code, language, problem, tests=tests)
