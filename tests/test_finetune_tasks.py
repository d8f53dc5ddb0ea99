"""Fine-tuning examples: one per Python 3 / C++ solution, the same from JSON as from the Parquet layout, the
same through seqio as in the trainer's rows; the mixture of contest, docstring-function and test-input tasks."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sysconfig
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alphacode.config import Experiment, TrainConfig
from alphacode.data import RecordShards
from alphacode.errors import ConfigError
from alphacode.model.export import load_model
from alphacode.problems import Language, load_problems, problem_to_dict
from alphacode.splits import SPLITS, in_split, split_of
from alphacode.tokenizer import Tokenizer
from finetune.examples import MixtureRows, contest_rows, function_rows, load_task_shards, task_rows, write_task_shards
from finetune.losses import FinetuneLossConfig
from finetune.pipeline import FinetuneData, finetune
from pretrain.pipeline import PretrainData, prepare
from tests.conftest import ROOT

CONTEST = ROOT / "data" / "contest"


def hf_parquet(rows: list[dict], path: Path) -> None:
    """Write problems with the nested struct columns of the public Hugging Face copy."""
    tests = pa.struct([("input", pa.list_(pa.string())), ("output", pa.list_(pa.string()))])
    solutions = pa.struct([("language", pa.list_(pa.int64())), ("solution", pa.list_(pa.string()))])
    schema = pa.schema([
        ("name", pa.string()), ("description", pa.string()), ("public_tests", tests), ("private_tests", tests),
        ("generated_tests", tests), ("source", pa.int64()), ("difficulty", pa.int64()), ("solutions", solutions),
        ("incorrect_solutions", solutions), ("cf_rating", pa.int64()), ("cf_tags", pa.list_(pa.string())),
        ("time_limit", pa.struct([("seconds", pa.int64()), ("nanos", pa.int64())])), ("memory_limit_bytes", pa.int64()),
    ])
    pq.write_table(pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema), path)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory with a corpus of a few stdlib modules and a 500-piece tokenizer (no training)."""
    source = tmp_path_factory.mktemp("src")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ["textwrap.py", "heapq.py", "bisect.py", "shlex.py", "string.py", "fractions.py", "statistics.py",
                 "colorsys.py", "difflib.py"]:
        shutil.copy(stdlib / name, source / name)
    workdir = tmp_path_factory.mktemp("pretrained")
    prepare(PretrainData(corpus=(str(source),), vocab_size=500), workdir, say=lambda _: None)
    return workdir


def encoder(workdir: Path):
    return Tokenizer.load(workdir / "tokenizer.model").encode_batch


def test_examples_cover_both_languages_and_count_the_rest() -> None:
    problems = load_problems(CONTEST)
    skipped: Counter = Counter()
    examples = list(contest_rows(problems, skipped))
    expected = sum(1 for p in problems for s in p.solutions + p.incorrect_solutions
                   if s.language in (Language.PYTHON3, Language.CPP))
    assert len(examples) == expected
    assert any("LANGUAGE IS cpp\nCORRECT SOLUTION" in e.inputs for e in examples)
    assert any("LANGUAGE IS python3\nINCORRECT SOLUTION" in e.inputs for e in examples)
    java = problems[0].__class__(name="j", description="d", solutions=(problems[0].solutions[0].__class__(Language.JAVA, "x"),))
    list(contest_rows([java], skipped))
    assert skipped == Counter({"JAVA": 1})
    assert {split_of(p.name) for p in problems} == set(SPLITS)


def test_parquet_layout_yields_the_same_examples_as_json(tmp_path: Path, pretrained: Path) -> None:
    problems = load_problems(CONTEST)[:3]
    rows = [problem_to_dict(p) for p in problems]
    (tmp_path / "json").mkdir()
    for row in rows:
        (tmp_path / "json" / f"{row['name']}.json").write_text(json.dumps(row))
    (tmp_path / "parquet").mkdir()
    hf_parquet(rows, tmp_path / "parquet" / "train-00000-of-00001.parquet")
    outputs = {}
    for layout in ("json", "parquet"):
        loaded = load_problems(tmp_path / layout)
        outputs[layout] = []
        for split in SPLITS:
            tasks = task_rows(in_split(loaded, split))
            write_task_shards(tasks, encoder(pretrained), tmp_path / f"{layout}-shards" / split, shards=1)
            outputs[layout] += tasks["contest"]
            shards = load_task_shards(tmp_path / f"{layout}-shards" / split)
            if "contest" in shards:
                outputs[layout].append(MixtureRows(shards, {"contest": 1.0}, 4, (96, 64)).rows(0, 0, 4))
    assert sum(isinstance(r, dict) for r in outputs["json"]) >= 1
    assert len([r for r in outputs["json"] if not isinstance(r, dict)]) == sum(
        len(p.solutions) + len(p.incorrect_solutions) for p in problems)
    for a, b in zip(outputs["json"], outputs["parquet"], strict=True):
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
            assert a["encoder_input_tokens"].shape == (4, 96) and a["decoder_target_tokens"].shape == (4, 64)
        else:
            assert a == b


def test_contest_seqio_task_yields_the_trainers_rows(tmp_path: Path, pretrained: Path) -> None:
    """One definition of the contest example: the seqio task holds exactly the numpy path's rows."""
    from finetune.seqio_tasks import register_finetune_tasks
    from pretrain.seqio_tasks import examples

    problems = load_problems(CONTEST)
    for split in ("train", "valid"):
        write_task_shards(task_rows(in_split(problems, split)), encoder(pretrained), tmp_path / split, shards=3)
    register_finetune_tasks("test_ft", tmp_path, pretrained / "tokenizer.model", batch_size=6, lengths=(96, 64), seed=5)
    import seqio

    through_seqio = examples(seqio.get_mixture_or_task("test_ft_contest"), "train", 12)
    rows = MixtureRows(load_task_shards(tmp_path / "train"), {"contest": 1.0}, 6, (96, 64), seed=5)
    numpy_rows = [rows.row(step, r) for step in range(2) for r in range(6)]
    for ours, theirs in zip(numpy_rows, through_seqio, strict=True):
        assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    assert {int(r["correct"][0]) for r in numpy_rows} == {0, 1}


def test_finetune_runs_with_each_switch(tmp_path: Path, pretrained: Path) -> None:
    from alphacode.model import get_config

    model = get_config("tiny", vocab_size=500, d_model=32, num_heads=2, head_dim=16, d_ff=64, encoder_layers=1,
                       decoder_layers=1)
    train = TrainConfig(steps=3, batch_size=4, log_every=1, eval_every=3, checkpoint_every=3, eval_batches=1)
    data = FinetuneData(problems=str(CONTEST), tokenizer=str(pretrained / "tokenizer.model"),
                        corpus=str(pretrained / "corpus"), lengths=(128, 128))
    first = {}
    for name, losses in {"all": FinetuneLossConfig(), "plain": FinetuneLossConfig(temperature=None, gold=False, value_weight=0.0)}.items():
        workdir = tmp_path / name
        if (tmp_path / "all" / "tasks").exists():
            shutil.copytree(tmp_path / "all" / "tasks", workdir / "tasks")
        exported = dataclasses.replace(data, export=str(tmp_path / "export")) if name == "plain" else data
        experiment = Experiment(f"test-{name}", "finetune", model, train, exported, losses)
        summary = finetune(experiment, workdir, say=lambda _: None, progress=False)
        assert np.isfinite(summary.last_metrics["loss"]) and np.isfinite(summary.eval_metrics["decoder_loss"])
        first[name] = summary.first_metrics
    # same initial parameters and batch: the plain decoder likelihood agrees, the switched terms differ
    assert first["all"]["decoder_loss"] == pytest.approx(first["plain"]["decoder_loss"], rel=1e-5)
    assert first["all"]["solution_loss"] != pytest.approx(first["plain"]["solution_loss"], rel=1e-3)
    assert dataclasses.asdict(FinetuneLossConfig()) == json.loads((tmp_path / "all" / "config.json").read_text())[
        "experiment"]["loss"]
    lineage = load_model(tmp_path / "export").metadata  # the export says what made it
    assert lineage["steps"] == {"finetune": 3} and lineage["experiment"]["name"] == "test-plain"
    assert lineage["provenance"]["version"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"rates": {"contset": 1.0}}, "no such task contset"), ({"rates": {"contest": 0.0}}, "at least one positive"),
    ({"export_weights": "int4"}, "export_weights must be one of"), ({"mlm_rate": 1.5}, "data: out of range: mlm_rate=1.5")])
def test_bad_data_settings_are_refused_by_name(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FinetuneData(**changes)


def test_mixture_holds_every_task_with_its_rate(tmp_path: Path, pretrained: Path) -> None:
    """Contest solutions, docstring functions mined from a corpus and test inputs, mixed by weight."""
    import seqio

    from finetune.functions import docstring_functions
    from finetune.seqio_tasks import register_finetune_tasks
    from pretrain.corpus import iter_corpus

    functions = function_rows(pretrained / "corpus")
    assert set(functions) == set(SPLITS)
    mined = sum(len(docstring_functions(f.content)) for f in iter_corpus(pretrained / "corpus"))
    assert sum(map(len, functions.values())) == mined > 20
    assert all(row.inputs.lstrip().startswith(("def ", "async def ")) for row in functions["train"])

    problems = load_problems(CONTEST)
    for split in ("train", "valid"):
        write_task_shards(task_rows(in_split(problems, split), {"functions": functions}, split), encoder(pretrained),
                          tmp_path / split)
    rates = {"contest": 1.0, "functions": 1.0, "test_inputs": 0.5}
    mixture = register_finetune_tasks("ft_mix", tmp_path, pretrained / "tokenizer.model", batch_size=8,
                                      lengths=(64, 32), rates=rates)
    assert {t.name: mixture.get_rate(t) for t in mixture.tasks} == {f"ft_mix_{k}": v for k, v in rates.items()}
    dataset = seqio.get_mixture_or_task("ft_mix").get_dataset(None, split="train", shuffle=False, seed=0)
    examples = list(dataset.take(400).as_numpy_iterator())
    assert len(examples) == 400 and {"encoder_input_tokens", "decoder_target_tokens", "correct"} <= set(examples[0])
    assert RecordShards(tmp_path / "train" / "functions").records == len(functions["train"])
