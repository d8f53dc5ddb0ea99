"""Sampling: work units, the sample store and its reader, the model sampler, and Ray runs with faults.

The Ray tests share the session's real cluster (``ray start --head --num-cpus 1``: the ``ray_head``
fixture) and one undisturbed reference run through the ``alphacode sample`` command; the fault runs
must reproduce it exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from alphacode.cli import main
from alphacode.problems import load_problems
from alphacode.prompt import CODECONTESTS_TAGS, RATING_RANGE
from sampling.candidate import Candidate, program_key
from sampling.store import SampleStore, StoreError, iter_candidates
from sampling.units import derive_seed, plan_units, units_per_problem

ROOT = Path(__file__).resolve().parent.parent
SAMPLES, BATCH, UNIT, TOKENS = 8, 2, 4, 48  # 2 units of 2 batches per problem; a unit takes ~0.1 s
SETTINGS = {"model": "m", "seed": 0}


def _candidates(problem_id: str, unit: int, codes: list[str]) -> list[Candidate]:
    return [Candidate(problem_id=problem_id, language="python3", code=code, logprob=-1.5 * i, num_tokens=i + 1,
                      rating=1200, tags=("dp",), temperature=0.25, seed=7, unit=unit, index=i)
            for i, code in enumerate(codes)]


def _read(store: Path) -> list[Candidate]:
    problem_ids = SampleStore(store).problem_ids()
    return sorted((c for p in problem_ids for c in iter_candidates(store, p)),
                  key=lambda c: (c.problem_id, c.unit, c.index))


# --- work units --------------------------------------------------------------------------------------


def test_units_cover_each_problem_once_with_seeds_fixed_by_their_name() -> None:
    units = plan_units(["a", "b"], samples=70, unit_size=32, seed=5)
    assert [(u.problem_id, u.unit, u.size) for u in units] == [
        ("a", 0, 32), ("a", 1, 32), ("a", 2, 6), ("b", 0, 32), ("b", 1, 32), ("b", 2, 6)]
    assert units_per_problem(70, 32) == 3 and units_per_problem(64, 32) == 2
    assert len({u.seed for u in units}) == len(units)
    assert plan_units(["b"], samples=70, unit_size=32, seed=5) == units[3:]  # independent of the other problems
    assert plan_units(["a"], samples=70, unit_size=32, seed=6)[0].seed != units[0].seed
    assert derive_seed(0, "a", 0) == 0xEC55FA49253478B3  # pinned: stores written elsewhere must resume here
    assert derive_seed(0, "a", 0) < 2**64


# --- the store -----------------------------------------------------------------------------------------


def test_store_keeps_every_sample_but_each_program_text_once(tmp_path: Path) -> None:
    plan = {"p": 10, "q": 5}
    with SampleStore.open_for_writing(tmp_path, SETTINGS, plan, unit_size=5) as store:
        assert store.write_unit("p", 1, _candidates("p", 1, ["x", "y", "x", "z", "x"])) == 3
    with SampleStore.open_for_writing(tmp_path, SETTINGS, plan, unit_size=5) as store:  # a rerun: the index is rebuilt
        assert store.write_unit("p", 0, _candidates("p", 0, ["y", "w", "w", "x", "v"])) == 2
        assert store.write_unit("q", 0, _candidates("q", 0, ["x"] * 5)) == 1  # per problem
    unit0 = pq.read_table(SampleStore(tmp_path).unit_path("p", 0)).to_pylist()
    assert [r["code"] for r in unit0] == [None, "w", None, None, "v"]
    assert [r["code_unit"] for r in unit0] == [1, 0, 0, 1, 0]
    got = list(iter_candidates(tmp_path, "p"))
    assert [(c.unit, c.index, c.code) for c in got] == [
        (0, 0, "y"), (0, 1, "w"), (0, 2, "w"), (0, 3, "x"), (0, 4, "v"),
        (1, 0, "x"), (1, 1, "y"), (1, 2, "x"), (1, 3, "z"), (1, 4, "x")]
    assert got[0] == _candidates("p", 0, ["y"])[0]
    assert [r["code_hash"] for r in unit0] == [program_key(code, "python3") for code in ["y", "w", "w", "x", "v"]]
    assert program_key("x", "cpp") != program_key("x", "python3")


def test_store_refuses_other_settings_and_a_second_writer_but_grows_a_plan(tmp_path: Path) -> None:
    with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 10}, 5):
        with pytest.raises(StoreError, match="another sampling job"):
            with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 10}, 5):
                pass
    with pytest.raises(StoreError, match="seed=0, not 1"):
        with SampleStore.open_for_writing(tmp_path, {**SETTINGS, "seed": 1}, {}, 5):
            pass
    with pytest.raises(StoreError, match="unit_size=5, not 4"):
        with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 10}, 4):
            pass
    (tmp_path / "units" / "x").mkdir(parents=True)
    (tmp_path / "units" / "x" / ".00000001.parquet.abc.tmp").write_bytes(b"half")
    with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 12, "r": 3}, 5):  # new problems, more samples
        pass
    with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 4}, 5):  # fewer samples keep the larger plan
        pass
    problems = SampleStore(tmp_path).manifest()["problems"]
    assert {p: (v["samples"], v["units"]) for p, v in problems.items()} == {"p": (12, 3), "r": (3, 1)}
    assert not (tmp_path / "units" / "x" / ".00000001.parquet.abc.tmp").exists()
    with pytest.raises(StoreError, match="not a sample store"):
        SampleStore(tmp_path / "nothing").manifest()
    good = json.loads((tmp_path / "manifest.json").read_text())
    for damage, fault in [({"problems": 5}, "'problems' is not an object"), ({"unit_size": 0}, "'unit_size' is 0"),
                          ({"problems": {"p": {**good["problems"]["p"], "samples": "x"}}}, 'problem "p": expected')]:
        (tmp_path / "manifest.json").write_text(json.dumps({**good, **damage}))
        with pytest.raises(StoreError, match=f"damaged manifest \\({re.escape(fault)}"):
            SampleStore(tmp_path).manifest()


def test_reader_follows_a_store_while_it_is_written(tmp_path: Path) -> None:
    def write() -> None:
        time.sleep(0.2)
        with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 6}, 2) as store:
            for unit in (2, 0, 1):
                store.write_unit("p", unit, _candidates("p", unit, [f"code {unit}", "same"]))
                time.sleep(0.1)

    writer = threading.Thread(target=write)
    writer.start()
    got = list(iter_candidates(tmp_path, "p", follow=True, poll_s=0.02, timeout_s=30))
    writer.join()
    assert sorted((c.unit, c.index, c.code) for c in got) == [
        (0, 0, "code 0"), (0, 1, "same"), (1, 0, "code 1"), (1, 1, "same"), (2, 0, "code 2"), (2, 1, "same")]
    with SampleStore.open_for_writing(tmp_path, SETTINGS, {"q": 4}, 2) as store:
        store.write_unit("q", 0, _candidates("q", 0, ["a", "b"]))
    with pytest.raises(TimeoutError, match="1 of 2 units"):
        list(iter_candidates(tmp_path, "q", follow=True, poll_s=0.02, timeout_s=0.1))
    with pytest.raises(StoreError, match="no problem"):
        list(iter_candidates(tmp_path, "nope"))


def test_a_short_unit_is_topped_up_in_place_and_readers_take_a_prefix(tmp_path: Path) -> None:
    with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 3}, 4) as store:  # unit 0 holds 3 of 4
        store.write_unit("p", 0, _candidates("p", 0, ["a", "b", "a"]))
    short = pq.read_table(SampleStore(tmp_path).unit_path("p", 0)).to_pylist()
    with SampleStore.open_for_writing(tmp_path, SETTINGS, {"p": 6}, 4) as store:
        assert [c.code for c in iter_candidates(tmp_path, "p")] == ["a", "b", "a"]  # the stored prefix of 6
        with pytest.raises(ValueError, match="holds 3 samples, so the next indices are 3"):
            store.write_unit("p", 0, _candidates("p", 0, ["c"]))
        more = [dataclasses.replace(c, index=3) for c in _candidates("p", 0, ["b"])]
        assert store.write_unit("p", 0, more) == 0
        assert store.write_unit("p", 1, _candidates("p", 1, ["c", "a"])) == 1
    rows = pq.read_table(SampleStore(tmp_path).unit_path("p", 0)).to_pylist()
    assert rows[:3] == short and (rows[3]["code"], rows[3]["code_unit"]) == (None, 0)
    got = [(c.unit, c.index, c.code) for c in iter_candidates(tmp_path, "p")]
    assert got == [(0, 0, "a"), (0, 1, "b"), (0, 2, "a"), (0, 3, "b"), (1, 0, "c"), (1, 1, "a")]
    for n in (1, 4, 5):
        assert [(c.unit, c.index, c.code) for c in iter_candidates(tmp_path, "p", samples=n)] == got[:n]
    assert SampleStore(tmp_path).unit_rows("p") == {0: 4, 1: 2}


# --- the model sampler ------------------------------------------------------------------------------------


def test_model_sampler_is_deterministic_and_draws_metadata_per_batch(tiny_model_dir: Path) -> None:
    from alphacode.model.export import load_model
    from sampling.model_sampler import ModelSampler, SamplingConfig

    problem = load_problems(ROOT / "examples")[0]
    sampler = ModelSampler(load_model(tiny_model_dir), SamplingConfig(batch_size=3, max_new_tokens=8,
                                                                      temperatures=(0.5, 1.0)))
    first = sampler.sample(problem, 20, seed=11)
    assert first == sampler.sample(problem, 20, seed=11)
    assert [c.index for c in first] == list(range(20))
    assert first != sampler.sample(problem, 20, seed=12)
    assert sampler.sample(problem, 4, seed=11) == first[:4]  # a prefix: batches depend on the seed alone
    batches = [first[i:i + 3] for i in range(0, 20, 3)]
    for batch in batches:
        assert len({(c.language, c.rating, c.tags, c.temperature) for c in batch}) == 1
    assert {c.language for c in first} == {"python3", "cpp"} and {c.temperature for c in first} == {0.5, 1.0}
    assert len({c.rating for c in first}) > 1
    for c in first:
        assert RATING_RANGE[0] <= c.rating <= RATING_RANGE[1] and set(c.tags) <= set(CODECONTESTS_TAGS)
        assert c.problem_id == problem.name and c.seed == 11 and 1 <= c.num_tokens <= 8 and c.logprob < 0
    with pytest.raises(ValueError, match="python_fraction"):
        SamplingConfig(python_fraction=1.5)
    for temperature in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            SamplingConfig(temperatures=(temperature,))
    model = load_model(tiny_model_dir)
    too_long = model.config.max_decoder_length + 1
    with pytest.raises(ValueError, match="over the model's"):
        ModelSampler(model, SamplingConfig(max_new_tokens=too_long))
    with pytest.raises(ValueError, match="longer than a sample"):
        ModelSampler(model, SamplingConfig(max_new_tokens=8, no_repeat_ngram=9))


def test_sampling_a_raw_prompt_is_what_sample_does_per_batch(tiny_model_dir: Path) -> None:
    """One path from model to text: ``sample`` draws each batch through ``sample_prompt`` with its header."""
    import random

    from alphacode.model.export import load_model
    from alphacode.prompt import build_prompt, sampling_header
    from sampling.model_sampler import ModelSampler, SamplingConfig

    problem = load_problems(ROOT / "examples")[0]
    sampler = ModelSampler(load_model(tiny_model_dir), SamplingConfig(batch_size=2, max_new_tokens=6))
    drawn = sampler.sample_prompt("def f(x):\n", 5, seed=7)
    assert len(drawn) == 5 and drawn == sampler.sample_prompt("def f(x):\n", 5, seed=7, temperature=0.25)
    assert sampler.sample_prompt("def f(x):\n", 3, seed=7) == drawn[:3]
    assert all(1 <= d.num_tokens <= 6 and d.logprob < 0 for d in drawn)
    batch_seed = derive_seed(4, 0)
    meta = random.Random(batch_seed)
    header = sampling_header(meta, "python3" if meta.random() < 0.5 else "cpp", 3)
    first = sampler.sample_prompt(build_prompt(problem.description, header), 2, batch_seed, meta.choice((0.25,)))
    assert [c.code for c in sampler.sample(problem, 2, seed=4)] == [d.code for d in first]


def test_a_larger_rerun_keeps_the_samples_and_draws_only_the_missing_ones(tiny_model_dir: Path, tmp_path: Path) -> None:
    """N = 3, then 2N = 6 into the same store, in process (``workers=0``): unit 0 (3 of 4) is topped up."""
    from alphacode.model.export import load_model
    from sampling.distributed import run_sampling
    from sampling.model_sampler import SamplingConfig

    problems, model = load_problems(ROOT / "examples")[:2], load_model(tiny_model_dir)
    kwargs = dict(config=SamplingConfig(batch_size=BATCH, max_new_tokens=TOKENS), unit_size=UNIT, seed=3, workers=0,
                  progress=False)
    grown, fresh = tmp_path / "grown", tmp_path / "fresh"
    first = run_sampling(problems, model, grown, 3, **kwargs)
    assert (first.units_written, first.samples_written, first.workers) == (2, 6, 0)
    before = {p.name: list(iter_candidates(grown, p.name)) for p in problems}
    rows = {p.name: pq.read_table(SampleStore(grown).unit_path(p.name, 0)).to_pylist() for p in problems}
    second = run_sampling(problems, model, grown, 6, **kwargs)
    assert (second.units_skipped, second.units_written, second.samples_written) == (0, 4, 6)
    after = _read(grown)
    assert Counter((c.problem_id, c.unit, c.index) for c in after) == Counter(
        {(p.name, u, i): 1 for p in problems for u, i in [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]})
    for p in problems:
        assert [c for c in after if c.problem_id == p.name][:3] == before[p.name]
        assert pq.read_table(SampleStore(grown).unit_path(p.name, 0)).to_pylist()[:3] == rows[p.name]
    run_sampling(problems, model, fresh, 6, **kwargs)
    assert _read(fresh) == after
    smaller = run_sampling(problems, model, grown, 2, **kwargs)
    assert (smaller.units_skipped, smaller.units_written) == (2, 0)
    assert SampleStore(grown).manifest()["problems"][problems[0].name]["samples"] == 6
    assert list(iter_candidates(grown, problems[0].name, samples=2)) == before[problems[0].name][:2]


# --- the command's user errors (no Ray needed) ---------------------------------------------------------------


def test_sample_command_rejects_bad_input_in_one_line(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import alphacode.model.export

    base = ["sample", "--problems", str(ROOT / "examples"), "--out", str(tmp_path / "store")]
    monkeypatch.setattr(alphacode.model.export, "DEFAULT_MODEL_DIR", tmp_path / "no-model")
    cases = [
        (base, "no bundled default model"),
        (base + ["--checkpoint", str(tmp_path)], "no config.json"),
        (["sample", "--problems", str(tmp_path / "none.json"), "--out", "x"], "no such file"),
        (base + ["--checkpoint", str(tiny_model_dir), "--batch-size", "3", "--unit-size", "4"],
         "unit size (4) must be a multiple of the batch size (3)"),
        (base + ["--checkpoint", str(tiny_model_dir), "--python-fraction", "2"], "python_fraction"),
    ]
    with SampleStore.open_for_writing(tmp_path / "other", SETTINGS, {}, 8):
        pass
    cases.append((["sample", "--problems", str(ROOT / "examples"), "--out", str(tmp_path / "other"),
                   "--checkpoint", str(tiny_model_dir)], "written with model="))
    (tmp_path / "a-file").write_text("")
    cases.append((base[:-1] + [str(tmp_path / "a-file" / "store"), "--checkpoint", str(tiny_model_dir)],
                  "cannot create the store (Not a directory)"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("command", [
    ["sample", "--problems", str(ROOT / "examples")],
    ["solve", str(ROOT / "examples" / "staircase-rows.json")],
    ["contest", str(ROOT / "examples")],
    ["humaneval", "--tasks", "1", "--samples", "1"],
])
def test_a_checkpoint_without_model_settings_is_one_line_for_every_command(
        command: list[str], tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    payload = json.loads((broken / "config.json").read_text())
    del payload["model"]
    (broken / "config.json").write_text(json.dumps(payload))
    out = ["--report" if command[0] == "contest" else "--out", str(tmp_path / "out")]
    assert main([*command, "--checkpoint", str(broken), *out]) == 2
    err = capsys.readouterr().err
    assert f"{broken / 'config.json'}: field 'model'" in err and err.count("\n") == 1 and "Traceback" not in err, err


# --- Ray: a real local cluster, a reference run, and the two faults ---------------------------------------------


@pytest.fixture(scope="module")
def three_problems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("problems")
    for path in sorted((ROOT / "examples").glob("*.json"))[:3]:
        shutil.copy(path, folder)
    return folder


def _command_config():
    """The decoding settings of ``_sample_command`` (the command's loop guard included), for in-process runs
    whose stores are compared with its."""
    from sampling.model_sampler import NO_REPEAT_NGRAM, SamplingConfig

    return SamplingConfig(batch_size=BATCH, max_new_tokens=TOKENS, no_repeat_ngram=NO_REPEAT_NGRAM)


def _sample_command(problems: Path, model: Path, out: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "alphacode.cli", "sample", "--problems", str(problems), "--checkpoint", str(model),
            "--samples", str(SAMPLES), "--batch-size", str(BATCH), "--unit-size", str(UNIT), "--max-tokens", str(TOKENS),
            "--seed", "3", "--address", address, "--out", str(out)]


@pytest.fixture(scope="module")
def reference_store(ray_head: str, three_problems: Path, tiny_model_dir: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "store"
    done = subprocess.run(_sample_command(three_problems, tiny_model_dir, out, ray_head), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "sampled 24 programs in 6 units with 1 worker(s)" in done.stdout
    return out


def test_sample_command_on_a_running_cluster(reference_store: Path, three_problems: Path) -> None:
    candidates = _read(reference_store)
    names = sorted(p.name for p in load_problems(three_problems))
    assert sorted({c.problem_id for c in candidates}) == names
    for name in names:
        mine = [c for c in candidates if c.problem_id == name]
        assert sorted((c.unit, c.index) for c in mine) == [(u, i) for u in range(2) for i in range(UNIT)]
        assert all(c.code and c.num_tokens and c.temperature == 0.25 for c in mine)
    manifest = json.loads((reference_store / "manifest.json").read_text())
    assert manifest["settings"]["seed"] == 3 and manifest["unit_size"] == UNIT
    assert {p: (v["samples"], v["units"]) for p, v in manifest["problems"].items()} == {n: (SAMPLES, 2) for n in names}


def test_rerun_after_the_driver_is_killed_gives_the_undisturbed_result(
        reference_store: Path, three_problems: Path, tiny_model_dir: Path, tmp_path: Path, ray_head: str) -> None:
    out = tmp_path / "store"
    command = _sample_command(three_problems, tiny_model_dir, out, ray_head)
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("units/*/*.parquet")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    driver.kill()
    driver.wait()
    written = len(list(out.glob("units/*/*.parquet")))
    assert 0 < written < 6, f"the kill should land mid-run, {written} of 6 units were written"
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{written} units were already done" in rerun.stdout
    assert _read(out) == _read(reference_store)


def test_an_actor_killed_mid_unit_is_restarted_and_the_unit_redone(
        reference_store: Path, three_problems: Path, tiny_model_dir: Path, tmp_path: Path, ray_head: str) -> None:
    from alphacode.model.export import load_model
    from sampling.distributed import FaultInjection, run_sampling

    problems = load_problems(three_problems)
    fault = FaultInjection(problem_id=problems[1].name, unit=1, marker=str(tmp_path / "died"), after_s=0.03)
    summary = run_sampling(problems, load_model(tiny_model_dir), tmp_path / "store", SAMPLES,
                           config=_command_config(), unit_size=UNIT, seed=3,
                           address=ray_head, fault=fault, progress=False)
    assert (tmp_path / "died").exists(), "the worker was to die in the middle of the unit"
    assert (summary.units_written, summary.samples_written, summary.workers) == (6, 24, 1)
    got = _read(tmp_path / "store")
    assert Counter((c.problem_id, c.unit, c.index) for c in got).most_common(1)[0][1] == 1
    assert got == _read(reference_store)
    assert dataclasses.asdict(got[0]) == dataclasses.asdict(_read(reference_store)[0])


@pytest.mark.slow
def test_when_every_worker_is_gone_the_run_stops_and_a_rerun_completes_it(
        reference_store: Path, three_problems: Path, tiny_model_dir: Path, tmp_path: Path, ray_head: str) -> None:
    from alphacode.model.export import load_model
    from sampling.distributed import FaultInjection, WorkersLost, run_sampling

    problems = load_problems(three_problems)
    kwargs = dict(config=_command_config(), unit_size=UNIT, seed=3,
                  address=ray_head, progress=False)
    fault = FaultInjection(problem_id=problems[1].name, unit=0, marker=str(tmp_path / "died"), after_s=0.03)
    with pytest.raises(WorkersLost, match="all 1 sampling workers died"):
        run_sampling(problems, load_model(tiny_model_dir), tmp_path / "store", SAMPLES, max_restarts=0, fault=fault,
                     **kwargs)
    assert len(list((tmp_path / "store").glob("units/*/*.parquet"))) == 2  # the first problem's units
    summary = run_sampling(problems, load_model(tiny_model_dir), tmp_path / "store", SAMPLES, **kwargs)
    assert (summary.units_skipped, summary.units_written) == (2, 4)
    assert _read(tmp_path / "store") == _read(reference_store)


def test_a_store_of_other_settings_names_the_setting_that_differs(tmp_path: Path) -> None:
    """The message held both settings dicts whole (about 400 characters) and never said which setting differed."""
    sampling = {"batch_size": 32, "max_new_tokens": 512, "temperatures": [0.25]}
    with SampleStore.open_for_writing(tmp_path, {**SETTINGS, "sampling": sampling}, {}, 8):
        pass
    other = {**SETTINGS, "sampling": {**sampling, "max_new_tokens": 16}}
    with pytest.raises(StoreError, match=r"written with sampling\.max_new_tokens=512, not 16; rerun"):
        with SampleStore.open_for_writing(tmp_path, other, {}, 8):
            pass


def test_a_folder_of_other_files_is_not_made_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="a folder that holds other files, not a sample store"):
        with SampleStore.open_for_writing(tmp_path, SETTINGS, {}, 8):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_store_being_written_says_so(tmp_path: Path) -> None:
    """`export` of a store a sampling job is still writing exported what was there without a word."""
    assert not SampleStore(tmp_path / "none").being_written() and not (tmp_path / "none").exists()
    with SampleStore.open_for_writing(tmp_path / "store", SETTINGS, {}, 8):
        assert SampleStore(tmp_path / "store").being_written()
    assert not SampleStore(tmp_path / "store").being_written()
