"""``alphacode select``: submissions and stage summary, JSON output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alphacode.cli import main
from tests.conftest import ROOT

PROBLEM = {"name": "largest", "description": "n (1 ≤ n ≤ 20), then n integers a_i (1 ≤ a_i ≤ 1000). Print the largest.",
           "public_tests": {"input": ["3\n1 5 2\n"], "output": ["5\n"]}}
ROWS = [
    {"code": "n = int(input())\nprint(max(map(int, input().split())))\n", "language": "python3", "logprob": -3.0},
    {"code": "input()\nprint(input().split()[1])\n", "language": "python3", "logprob": -1.0},
    {"code": "input()\nprint(max(int(v) for v in input().split()))\n", "language": "python3"},
    {"code": "input()\nprint(input().split()[0])\n", "language": "python3"},
]


@pytest.fixture
def files(tmp_path):
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(PROBLEM))
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return problem, candidates


def test_select_prints_submissions_and_stage_summary(files, capsys):
    problem, candidates = files
    assert main(["select", str(problem), "--candidates", str(candidates), "--inputs", "6"]) == 0
    out = capsys.readouterr().out
    assert "== submission 1/3: cluster size 2, python3, candidate 1 of" in out
    assert "== submission 2/3: cluster size 1, python3, candidate 2 of" in out
    assert "sampled 4, distinct 4, passed filter 3 (3 samples), clusters 2" in out
    assert "rejected: WRONG_ANSWER 1" in out and "seconds: filter" in out


@pytest.mark.parametrize("strategy, first", [("cluster", 0), ("codet", 0), ("logprob", 1), ("random", None)])
def test_select_json_for_every_strategy(files, capsys, strategy, first):
    problem, candidates = files
    assert main(["select", str(problem), "--candidates", str(candidates), "--inputs", "6", "--strategy", strategy,
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"submissions", "stats", "execution"} and len(data["submissions"]) == 3
    assert data["execution"]["executor"] == "local" and data["execution"]["executions"] == data["stats"]["executions"]
    assert set(data["submissions"][0]) == {"code", "language", "cluster_size"}
    if first is not None:
        assert data["submissions"][0]["code"] == ROWS[first]["code"]
    assert data["stats"]["passed_filter"] == 3 and data["stats"]["clusters"] == 2


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "no candidates"),
    ("not json\n", "jsonl:1: not JSON"),
    ('{"code": "print(1)"}\n', "jsonl:1: field 'language'"),
    ('{"code": "print(1)", "language": "python3"}\n{"code": 5, "language": "python3"}\n', "jsonl:2: field 'code'"),
    ('{"code": "print(1)", "language": "python3", "logprob": [1]}\n', "field 'logprob'"),
    ('{"code": "print(1)", "language": "python3", "problem_id": "other"}\n', "jsonl:1: field 'problem_id'"),
])
def test_bad_candidate_files_exit_2_with_one_line(files, capsys, content, message):
    problem, candidates = files
    if content is None:
        candidates.unlink()
    else:
        candidates.write_text(content)
    assert main(["select", str(problem), "--candidates", str(candidates)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("alphacode select: error: ") and message in captured.err


def test_bad_problem_file_exits_2(files, capsys):
    problem, candidates = files
    problem.write_text('{"name": "x"}')
    assert main(["select", str(problem), "--candidates", str(candidates)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_select_does_not_import_jax(files):
    problem, candidates = files
    code = ("import sys; from alphacode.cli import main; "
            f"code = main(['select', {str(problem)!r}, '--candidates', {str(candidates)!r}, '--inputs', '2', '--json']); "
            "sys.exit(3 if 'jax' in sys.modules else code)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stats"]["sampled"] == 4


@pytest.mark.parametrize("flags, message", [
    (["--inputs", "100000000"], "inputs: expected 1 to 1000"),
    (["--workers", "100000"], "workers: 100000 sandbox workers"),  # refused before any worker starts
])
def test_settings_beyond_what_a_machine_can_run_exit_2(files, capsys, flags, message):
    problem, candidates = files
    assert main(["select", str(problem), "--candidates", str(candidates), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
