"""`alphacode contest`: n@k and pass@k per problem from a sample store, the three report files, the CLI."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from alphacode.cli import main as cli_main
from alphacode.execution import Sandbox
from alphacode.metrics import pass_at_k
from alphacode.problems import Problem, load_problems
from alphacode.splits import in_split
from evaluation.contest import ContestConfig, build_report, write_report
from sampling.candidate import Candidate
from sampling.store import SampleStore, iter_candidates
from tests.conftest import EXAMPLES, ROOT

POOL = 12


def pool_of(problem: Problem, seed: int) -> list[Candidate]:
    """``POOL`` samples drawn from the problem's own correct and incorrect solutions, with made-up log-probs."""
    rng = random.Random(seed)
    programs = [(s, True) for s in problem.solutions] + [(s, False) for s in problem.incorrect_solutions]
    drawn = [programs[rng.randrange(len(programs))] for _ in range(POOL)]
    return [Candidate(problem.name, s.language.slug, s.solution, logprob=rng.uniform(-50, -5), num_tokens=10,
                      unit=0, index=i) for i, (s, _) in enumerate(drawn)]


def write_store(problems: list[Problem], store_dir: Path) -> None:
    with SampleStore.open_for_writing(store_dir, {"model": "test pools"}, {p.name: POOL for p in problems}, POOL) as store:
        for seed, problem in enumerate(problems):
            store.write_unit(problem.name, 0, pool_of(problem, seed))


def test_report_from_a_store_of_known_programs(tmp_path: Path, sandbox: Sandbox) -> None:
    problems = load_problems(EXAMPLES)
    write_store(problems, tmp_path / "samples")
    config = ContestConfig(budgets=(1, 4, POOL), samples=POOL, submissions=2, subsets=POOL)  # exact at k = 1, POOL
    report = build_report(problems, tmp_path / "samples", config, {"problems": "examples", "checkpoint": "none"},
                          {"sampling": 0.0}, sandbox, progress=False)
    write_report(report, tmp_path)
    for seed, (problem, row) in enumerate(zip(problems, report["problems"])):
        correct = {s.solution for s in problem.solutions}
        assert row["correct_samples"] == sum(c.code in correct for c in pool_of(problem, seed))
        for k in config.budgets:
            assert row["pass_at_k"][f"pass@{k}"] == pytest.approx(pass_at_k(POOL, row["correct_samples"], k))
            for strategy in config.strategies:
                rate = row["solve_rate"][strategy][f"2@{k}"]
                assert 0.0 <= rate <= 1.0
                if k in (1, POOL):  # enumerated exactly: selecting cannot beat submitting all k
                    assert rate <= row["pass_at_k"][f"pass@{k}"] + 1e-12
        for strategy in config.strategies:  # one subset at k = POOL: the estimate is the run on all samples
            full = row["first_k_samples"][strategy][str(POOL)]
            assert row["solve_rate"][strategy][f"2@{POOL}"] == float(full["solved"])
            assert full["submissions"] <= 2
    overall = report["overall"]
    assert overall["problems"] == len(problems)
    assert overall["filter"]["correct_samples"] == sum(p["correct_samples"] for p in report["problems"])
    cluster = overall["solve_rate"]["cluster"][f"2@{POOL}"]
    assert cluster["low"] <= cluster["value"] <= cluster["high"] and cluster["value"] > 0.5
    assert json.loads((tmp_path / "report.json").read_text()) == report
    markdown = (tmp_path / "report.md").read_text()
    assert "| cluster |" in markdown and "pass@k" in markdown and problems[0].name in markdown
    assert (tmp_path / "solve_rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_bad_requests(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    valid = str(ROOT / "data" / "contest")
    twice = tmp_path / "twice"
    twice.mkdir()
    for copy in ("a.json", "b.json"):
        (twice / copy).write_text((ROOT / "data" / "contest" / "plot-area.json").read_text())
    for argv, message in [
        ([valid, "--budgets", "10,100", "--samples", "50"], "cannot give a budget of 100"),
        ([valid, "--strategies", "best"], "unknown strategy 'best'"),
        ([valid, "--strategies", ","], "unknown strategy (none)"),
        ([str(tmp_path / "missing")], "no such file"),
        ([valid, "--checkpoint", str(tmp_path), "--budgets", "2"], "no config.json"),
        ([str(twice), "--budgets", "2"], "twice: field 'name': problem names must be unique, repeated: 'plot-area'"),
    ]:
        assert cli_main(["contest", *argv, "--report", str(tmp_path / "report")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def write_samples_file(path: Path, problems: list[Problem]) -> None:
    """The pools of :func:`pool_of` as ``draw_samples.py`` writes them, interleaved with another problem's rows."""
    rows = [{"problem_id": c.problem_id, "language": c.language, "code": c.code, "logprob": c.logprob,
             "num_tokens": c.num_tokens, "temperature": 0.25} for seed, p in enumerate(problems) for c in pool_of(p, seed)]
    rows[1:1] = [{"problem_id": "not-in-this-set", "language": "cpp", "code": "int main() {}"}]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def test_a_samples_file_is_judged_like_the_same_samples_drawn_into_the_store(tmp_path: Path, sandbox: Sandbox) -> None:
    from evaluation.contest import read_samples_file
    from sampling.store import import_candidates

    problems = load_problems(EXAMPLES)
    write_samples_file(tmp_path / "samples.jsonl.gz", problems)
    assert import_candidates(tmp_path / "file", read_samples_file(tmp_path / "samples.jsonl.gz", problems, POOL // 2),
                             {"samples_file_sha256": "x"}, unit_size=5) == len(problems) * (POOL // 2)
    drawn = read_samples_file(tmp_path / "samples.jsonl.gz", problems, POOL)
    assert import_candidates(tmp_path / "file", drawn, {"samples_file_sha256": "x"}, unit_size=5) == len(problems) * (POOL // 2)
    assert import_candidates(tmp_path / "file", drawn, {"samples_file_sha256": "x"}, unit_size=5) == 0  # resumed: all there
    write_store(problems, tmp_path / "store")
    for seed, problem in enumerate(problems):
        stored = [(c.code, c.language, c.logprob, c.unit, c.index) for c in iter_candidates(tmp_path / "file", problem.name)]
        assert [(c.code, c.language, c.logprob) for c in pool_of(problem, seed)] == [s[:3] for s in stored]
        assert [s[3:] for s in stored] == [(i // 5, i % 5) for i in range(POOL)]
    config = ContestConfig(budgets=(1, 4, POOL), samples=POOL, submissions=2, subsets=POOL)
    reports = [build_report(problems, tmp_path / store, config, {}, {}, sandbox, progress=False)["problems"]
               for store in ("file", "store")]
    for report in reports:  # every figure but the timings
        for row in report:
            del row["seconds"], row["stats"]["seconds"]
    assert reports[0] == reports[1]


def test_samples_file_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    problems = load_problems(EXAMPLES)
    write_samples_file(tmp_path / "samples.jsonl.gz", problems)
    (tmp_path / "bad.jsonl").write_text('{"code": "print(1)", "language": "python3"}\n')
    examples = str(EXAMPLES)
    for argv, message in [
        (["--samples-file", str(tmp_path / "samples.jsonl.gz"), "--budgets", "10,100"],
         f"has {POOL} samples, fewer than the 100 asked for ({len(problems)} of {len(problems)} problems are short)"),
        (["--samples-file", str(tmp_path / "bad.jsonl"), "--budgets", "1"], "jsonl:1: field 'problem_id'"),
        (["--samples-file", str(tmp_path / "missing.jsonl"), "--budgets", "1"], "missing.jsonl: no such file"),
    ]:
        assert cli_main(["contest", examples, *argv, "--report", str(tmp_path / "report")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):
        cli_main(["contest", examples, "--samples-file", "x", "--checkpoint", "y", "--report", str(tmp_path)])
    assert "not allowed with argument" in capsys.readouterr().err


def test_contest_cli_judges_a_samples_file_without_a_model(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*args: object) -> None:
        raise AssertionError("a samples file needs no model")

    monkeypatch.setattr("alphacode.model.export.load_model", no_model)
    problems = load_problems(EXAMPLES)
    write_samples_file(tmp_path / "samples.jsonl.gz", problems)
    argv = ["contest", str(EXAMPLES), "--samples-file", str(tmp_path / "samples.jsonl.gz"), "--budgets", f"4,{POOL}",
            "--subsets", "3", "--workers", "1", "--report", str(tmp_path / "report")]
    assert cli_main(argv) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["settings"]["samples_file"] == str(tmp_path / "samples.jsonl.gz")
    assert report["settings"]["samples_imported"] == len(problems) * POOL
    assert [p["correct_samples"] for p in report["problems"]] == [
        sum(c.code in {s.solution for s in p.solutions} for c in pool_of(p, seed)) for seed, p in enumerate(problems)]
    assert "solve rate" in capsys.readouterr().out


def test_contest_on_a_ray_executor_reports_what_the_local_executor_does(tmp_path: Path, ray_head: str,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """Every problem's programs go to the one Ray pool in chunks (problems several at a time); each figure but the
    timings is the local executor's."""
    problems = load_problems(EXAMPLES)
    write_samples_file(tmp_path / "samples.jsonl.gz", problems)
    argv = ["contest", str(EXAMPLES), "--samples-file", str(tmp_path / "samples.jsonl.gz"), "--budgets", f"4,{POOL}",
            "--subsets", "3"]
    reports = []
    for name, executor in [("local", ["--executor", "local"]), ("ray", ["--executor", "ray", "--address", ray_head])]:
        assert cli_main([*argv, *executor, "--report", str(tmp_path / name)]) == 0
        reports.append(json.loads((tmp_path / name / "report.json").read_text()))
    capsys.readouterr()
    local, remote = reports
    assert (local["execution"]["executor"], remote["execution"]["executor"]) == ("local", "ray")
    assert remote["execution"]["executions"] == remote["overall"]["clusters"]["executions"] > 0
    for report in reports:
        for row in report["problems"]:
            del row["seconds"], row["stats"]["seconds"]
    assert remote["problems"] == local["problems"]


@pytest.mark.slow
def test_contest_on_the_valid_split_with_the_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    """End to end on Ray: sampling into the store, per-problem selection tasks, the three report files;
    a rerun at a smaller budget reads the first samples of the same pools and draws nothing, and one at a
    larger budget keeps them and draws only the missing samples (topping up each problem's one unit of 16)."""
    argv = ["contest", str(ROOT / "data" / "contest"), "--split", "valid", "--checkpoint", str(tiny_model_dir),
            "--batch-size", "4", "--max-tokens", "24", "--subsets", "4", "--workers", "2", "--report", str(tmp_path)]
    (tmp_path / "standings.csv").write_text("solved,penalty\n2,30\n0,0\n")
    assert cli_main([*argv, "--budgets", "2,4", "--standings", str(tmp_path / "standings.csv")]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    valid = len(in_split(load_problems(ROOT / "data" / "contest"), "valid"))
    assert report["overall"]["problems"] == valid
    assert report["placement"]["participants"] == 3 and report["placement"]["rank"] >= 2
    assert report["overall"]["filter"]["samples"] == valid * 4 and report["settings"]["units_written"] == valid
    assert set(report["overall"]["solve_rate"]) == {"cluster", "codet", "logprob", "random"}
    assert (tmp_path / "report.md").exists() and (tmp_path / "solve_rate.png").stat().st_size > 10_000
    assert cli_main([*argv, "--budgets", "1,2"]) == 0
    again = json.loads((tmp_path / "report.json").read_text())
    assert again["settings"]["units_written"] == 0 and again["settings"]["units_reused"] == valid
    assert again["overall"]["filter"]["samples"] == valid * 2
    names = [p["name"] for p in report["problems"]]
    drawn = {name: list(iter_candidates(tmp_path / "samples", name)) for name in names}
    assert cli_main([*argv, "--budgets", "4,8"]) == 0
    grown = json.loads((tmp_path / "report.json").read_text())
    assert (grown["settings"]["units_written"], grown["settings"]["samples_drawn"]) == (valid, valid * 4)
    assert grown["overall"]["filter"]["samples"] == valid * 8
    for name in names:
        assert list(iter_candidates(tmp_path / "samples", name))[:4] == drawn[name]


def test_placement_among_standings(tmp_path: Path) -> None:
    from evaluation.contest import contest_result, place, read_standings

    standings_file = tmp_path / "standings.csv"
    standings_file.write_text("handle,solved,penalty\na,5,100\nb,3,40\nc,3,60\nd,3,60\ne,1,0\n")
    standings = read_standings(standings_file)
    standings_file.write_text("\ufeff" + standings_file.read_text())  # as Excel writes it
    assert read_standings(standings_file) == standings
    assert place(standings, 3, 60).rank == 3  # behind a and b, level with c and d
    assert place(standings, 6, 999).rank == 1 and place(standings, 0, 0).rank == 6
    assert place(standings, 3, 50).top_percent == pytest.approx(100 * 3 / 6)
    for text, message in [("solved\n1\n", "no 'penalty' column"), ("solved,penalty\n1,x\n", ":2: fields"),
                          ("solved,penalty\n", "no participants")]:
        standings_file.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_standings(standings_file)
    row = {"cluster": {"8": {"submissions": 3, "solved": True, "rejected_before_solved": 2}}}
    report = {"settings": {"budgets": [2, 8]},
              "problems": [{"first_k_samples": row},
                           {"first_k_samples": {"cluster": {"8": {"submissions": 10, "solved": False,
                                                                  "rejected_before_solved": None}}}}]}
    assert contest_result(report) == (1, 20)


def test_markdown_shows_the_placement(tmp_path: Path, sandbox: Sandbox) -> None:
    from evaluation.contest import render_markdown

    problems = load_problems(EXAMPLES)[:2]
    write_store(problems, tmp_path / "samples")
    config = ContestConfig(budgets=(POOL,), samples=POOL, strategies=("cluster",), subsets=1)
    report = build_report(problems, tmp_path / "samples", config, {"problems": "examples", "checkpoint": "none"},
                          {}, sandbox, progress=False)
    report["placement"] = {"solved": 2, "penalty": 10, "rank": 4, "participants": 8, "top_percent": 50.0}
    assert "would rank 4 of 8 (top 50.0%)" in render_markdown(report)


def test_problems_without_hidden_tests_are_skipped_not_solved(tmp_path: Path, sandbox: Sandbox) -> None:
    """With no hidden test every filtered program would be 'correct': such a problem is left out of every figure."""
    from dataclasses import replace

    from evaluation.contest import evaluate_problem, render_markdown

    judged = load_problems(EXAMPLES)[0]
    open_ended = replace(judged, name="no-hidden-tests", private_tests=(), generated_tests=())
    write_store([judged, open_ended], tmp_path / "samples")
    config = ContestConfig(budgets=(POOL,), samples=POOL, strategies=("cluster",), subsets=1)
    report = build_report([judged, open_ended], tmp_path / "samples", config, {"problems": "x", "checkpoint": "none"},
                          {}, sandbox, progress=False)
    assert [p["name"] for p in report["problems"]] == [judged.name]
    assert report["overall"]["problems"] == 1 and report["overall"]["skipped_problems"] == 1
    assert report["skipped"] == [{"name": "no-hidden-tests", "reason": report["skipped"][0]["reason"]}]
    assert "no hidden tests" in report["skipped"][0]["reason"]
    assert "Skipped (not in any figure): no-hidden-tests" in render_markdown(report)
    with pytest.raises(ValueError, match="no hidden tests"):
        evaluate_problem(open_ended, str(tmp_path / "samples"), config, sandbox)
    with pytest.raises(ValueError, match="hidden tests"):
        build_report([open_ended], tmp_path / "samples", config, {}, {}, sandbox, progress=False)


def test_contest_starts_ray_as_sampling_does_leaving_a_core_to_the_driver(tmp_path: Path, monkeypatch) -> None:
    import os

    import ray

    from evaluation.contest import run_contest

    class Started(Exception):
        pass

    def init(**kwargs: object) -> None:
        started.append(kwargs)
        raise Started

    started: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr("alphacode.model.export.load_model", lambda model_dir: object())
    with pytest.raises(Started):
        run_contest(load_problems(EXAMPLES)[:1], None, tmp_path, ContestConfig(budgets=(1,), samples=1), None, {})
    assert started[0]["address"] == "local" and started[0]["num_cpus"] == max(1, (os.cpu_count() or 1) - 1)


def test_a_report_folder_of_another_contest_run_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Its samples store refused the run with "use a new store", but the user names the --report folder."""
    problems = load_problems(EXAMPLES)
    write_samples_file(tmp_path / "a.jsonl.gz", problems)
    argv = ["contest", str(EXAMPLES), "--budgets", "1", "--samples", "2", "--report", str(tmp_path / "r"),
            "--workers", "1"]
    assert cli_main([*argv, "--samples-file", str(tmp_path / "a.jsonl.gz")]) == 0
    capsys.readouterr()
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes())
                                                        + b"\n"))
    assert cli_main([*argv, "--samples-file", str(tmp_path / "b.jsonl.gz")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'r'}: holds the samples of another contest run (written with samples_file_sha256=" in err
    assert err.endswith("use another --report\n") and err.count("\n") == 1
