"""Problem loaders: every accepted layout, round trips, and one-line errors for malformed input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphacode.cli import main as cli_main
from alphacode.problems import (
    Language,
    Problem,
    ProblemFormatError,
    Solution,
    Test,
    load_problem,
    load_problems,
    problem_from_dict,
    problem_to_dict,
    save_problems,
)
from tests.conftest import PUBLIC_LAYOUT, write_hf_parquet

FLAT = {
    "name": "add",
    "description": "Add two numbers.",
    "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
    "private_tests": {"input": ["5 5\n", "0 0\n"], "output": ["10\n", "0\n"]},
    "generated_tests": {"input": [], "output": []},
    "solutions": {"language": [3, 2], "solution": ["print(sum(map(int, input().split())))", "int main(){}"]},
    "incorrect_solutions": {"language": [1], "solution": ["print 0"]},
    "cf_rating": 800,
    "cf_tags": ["math", "implementation"],
    "difficulty": 7,
    "time_limit": {"seconds": 1, "nanos": 500000000},
    "memory_limit_bytes": 268435456,
    "source": 2,
    "cf_contest_id": 4,
}
LISTS = {
    **FLAT,
    "public_tests": [{"input": "1 2\n", "output": "3\n"}],
    "private_tests": [{"input": "5 5\n", "output": "10\n"}, {"input": "0 0\n", "output": "0\n"}],
    "generated_tests": [],
    "solutions": [{"language": "python3", "solution": "print(sum(map(int, input().split())))"},
                  {"language": "CPP", "solution": "int main(){}"}],
    "incorrect_solutions": [{"language": 1, "solution": "print 0"}],
    "time_limit": 1.5,
}


def test_flat_and_list_layouts_give_the_same_problem() -> None:
    flat, lists = problem_from_dict(FLAT), problem_from_dict(LISTS)
    assert flat == lists
    assert flat.public_tests == (Test("1 2\n", "3\n"),)
    assert flat.solutions[0] == Solution(Language.PYTHON3, "print(sum(map(int, input().split())))")
    assert flat.solutions[1].language is Language.CPP
    assert flat.incorrect_solutions[0].language is Language.PYTHON  # 1 is Python 2 in CodeContests
    assert flat.time_limit == 1.5
    assert flat.extra == {"cf_contest_id": 4}
    assert flat.tests("all") == flat.public_tests + flat.private_tests


def test_language_numbers_follow_codecontests() -> None:
    assert [int(x) for x in (Language.PYTHON, Language.CPP, Language.PYTHON3, Language.JAVA)] == [1, 2, 3, 4]
    assert Language.parse("c++") is Language.CPP and Language.parse(3) is Language.PYTHON3


def test_minimal_problem_defaults() -> None:
    problem = problem_from_dict({"description": "x"})
    assert problem.name == "" and problem.tests() == () and problem.time_limit is None


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    problems = [problem_from_dict(FLAT), problem_from_dict({**LISTS, "name": "other", "time_limit": 2})]
    path = tmp_path / f"problems{suffix}"
    save_problems(problems, path)
    again = load_problems(path)
    assert again == problems
    save_problems(again, tmp_path / f"again{suffix}")
    assert load_problems(tmp_path / f"again{suffix}") == problems


def test_single_problem_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    save_problems([problem_from_dict(LISTS)], path)
    assert isinstance(json.loads(path.read_text()), dict)
    assert load_problem(path) == problem_from_dict(LISTS)


def test_hugging_face_parquet_layout(tmp_path: Path) -> None:
    write_hf_parquet(tmp_path / "test-00000-of-00001.parquet", [FLAT, {**FLAT, "name": "second"}])
    problems = load_problems(tmp_path)  # a directory of shards
    assert [p.name for p in problems] == ["add", "second"]
    assert problems[0] == problem_from_dict(FLAT)
    assert problems[0].extra["cf_index"] == "A"


def test_the_public_layout_splits_by_file_name(public_layout: Path) -> None:
    from alphacode.splits import split_of

    everything = [p.name for p in load_problems(public_layout)]
    assert sorted(everything) == sorted(n for names in PUBLIC_LAYOUT.values() for n in names)
    for split in ("train", "valid", "test"):
        files = [f for f in sorted(PUBLIC_LAYOUT) if f.startswith(split)]
        assert [p.name for p in load_problems(public_layout, split)] == [n for f in files for n in PUBLIC_LAYOUT[f]]
        assert [p.name for p in load_problems(public_layout / files[0], split)] == PUBLIC_LAYOUT[files[0]]
        assert [p.name for p in load_problems(public_layout, split, by_file_name=False)] == [
            n for n in everything if split_of(n) == split]
    hashed = {split_of(n) for n in PUBLIC_LAYOUT["test-00000-of-00001.parquet"]}
    assert hashed == {"train"}  # the hash rule would train on the public test problems
    assert load_problems(public_layout / "test-00000-of-00001.parquet", "train") == []
    (public_layout / "extra.json").write_text(json.dumps({**FLAT, "name": "extra"}))
    with pytest.raises(ProblemFormatError, match="extra.json: file: not named by split"):
        load_problems(public_layout, "test")
    assert len(load_problems(public_layout)) == 7  # without a split, every file is read


def test_parquet_is_read_in_record_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alphacode.problems import PARQUET_BATCH_ROWS

    rows = [{**FLAT, "name": f"p{i}"} for i in range(2 * PARQUET_BATCH_ROWS + 5)]
    write_hf_parquet(tmp_path / "many.parquet", rows)
    seen: list[int] = []

    class Spy(pq.ParquetFile):
        def iter_batches(self, *args, **kwargs):
            for batch in super().iter_batches(*args, **kwargs):
                seen.append(batch.num_rows)
                yield batch

    monkeypatch.setattr(pq, "read_table", lambda *a, **k: pytest.fail("read a whole table"))
    monkeypatch.setattr(pq, "ParquetFile", Spy)
    assert [p.name for p in load_problems(tmp_path / "many.parquet")] == [r["name"] for r in rows]
    assert seen == [PARQUET_BATCH_ROWS, PARQUET_BATCH_ROWS, 5]


def test_directories_skip_hidden_folders_and_virtualenvs(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(FLAT))
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.json").write_text(json.dumps({**FLAT, "name": "b"}))
    for junk in [".git/x.json", "venv/lib/x.json", "site-packages/x.json", "node_modules/x.json",
                 "__pycache__/x.json", "nested/.hidden.json"]:
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_text("not a problem")
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert [p.name for p in load_problems(tmp_path)] == ["add", "b"]
    assert load_problem(tmp_path).name == "add"  # a directory as one problem: its own files only


def test_jsonl_and_json_array(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(FLAT) + "\n\n" + json.dumps(LISTS) + "\n")
    (tmp_path / "b.json").write_text(json.dumps([FLAT, LISTS]))
    assert load_problems(tmp_path / "a.jsonl") == load_problems(tmp_path / "b.json")
    assert len(load_problems(tmp_path)) == 4


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x"}, "description"),
        ({"description": 3}, "description"),
        ({"description": "x", "public_tests": {"input": ["1"]}}, "public_tests"),
        ({"description": "x", "public_tests": {"input": ["1"], "output": []}}, "public_tests"),
        ({"description": "x", "public_tests": [{"input": "1"}]}, "public_tests[0]"),
        ({"description": "x", "public_tests": "1 2"}, "public_tests"),
        ({"description": "x", "solutions": {"language": [9], "solution": ["a"]}}, "solutions.language[0]"),
        ({"description": "x", "time_limit": "fast"}, "time_limit"),
        ({"description": "x", "time_limit": -1}, "time_limit"),
        ({"description": "x", "cf_rating": "high"}, "cf_rating"),
        ({"description": "x", "time_limit": 1e300}, "time_limit"),
        ({"description": "x", "time_limit": 10**400}, "time_limit"),  # beyond any float
        ({"description": "x", "time_limit": {"seconds": 1, "nanos": 10**400}}, "time_limit"),
        ({"description": "x", "memory_limit_bytes": 2**60}, "memory_limit_bytes"),
        ({"description": "x", "public_tests": [{"input": "\ud800", "output": "1"}]}, "public_tests[0].input"),
    ],
)
def test_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ProblemFormatError) as info:
        problem_from_dict(data, "p.json")
    assert info.value.field == field
    assert str(info.value).startswith("p.json: field ")
    assert "\n" not in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "huge.json").write_text('{"description": "x", "cf_rating": ' + "9" * 5000 + "}")
    with pytest.raises(ProblemFormatError, match="invalid JSON"):
        load_problem(tmp_path / "huge.json")
    for path, reason in [(tmp_path / "missing.json", "no such file"), (tmp_path / "bad.json", "invalid JSON")]:
        with pytest.raises(ProblemFormatError, match=reason):
            load_problem(path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ProblemFormatError, match="Parquet"):
        load_problems(tmp_path / "junk.parquet")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
_fields = st.sampled_from(["name", "description", "public_tests", "private_tests", "generated_tests", "solutions",
                           "incorrect_solutions", "cf_rating", "cf_tags", "time_limit", "memory_limit_bytes"])
_problemish = st.dictionaries(_fields, _json, max_size=6) | _json


@settings(max_examples=300, deadline=None)
@given(_problemish)
def test_malformed_dicts_raise_only_problem_format_error(data: object) -> None:
    try:
        problem = problem_from_dict(data, "h.json")
    except ProblemFormatError as err:
        assert "\n" not in str(err) and str(err).startswith("h.json: ")
    else:
        assert isinstance(problem, Problem)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_problemish.map(json.dumps), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_cli_reports_malformed_problem_files_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, text: str) -> None:
    problem = tmp_path / "p.json"
    problem.write_text(text, encoding="utf-8")
    program = tmp_path / "prog.py"
    program.write_text("print(1)\n")
    try:
        load_problem(problem)
    except ProblemFormatError:
        code = cli_main(["judge", str(program), "--problem", str(problem)])
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and str(problem) in err and "Traceback" not in err


def test_cli_exit_code_and_message_in_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"name": "x", "public_tests": []}')
    (tmp_path / "a.py").write_text("print(1)")
    done = subprocess.run([sys.executable, "-m", "alphacode.cli", "judge", str(tmp_path / "a.py"), "--problem",
                           str(tmp_path / "p.json")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"alphacode judge: error: {tmp_path / 'p.json'}: field 'description': missing"
    assert problem_to_dict(problem_from_dict(FLAT))["time_limit"] == {"seconds": 1, "nanos": 500000000}
