"""Fine-tuning examples: one per Python 3 / C++ solution, the same from JSON as from the Parquet layout."""

from __future__ import annotations

import json
import shutil
import sysconfig
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alphacode.problems import Language, load_problems, problem_to_dict
from alphacode.splits import SPLITS, split_of
from finetune.tasks import finetune_dataset, register_finetune_task, solution_examples
from pretrain.corpus import build_corpus
from pretrain.pipeline import PretrainPaths, prepare_tokenizer
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
def tokenizer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("src")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ["textwrap.py", "heapq.py", "bisect.py", "shlex.py", "string.py", "fractions.py"]:
        shutil.copy(stdlib / name, source / name)
    paths = PretrainPaths(tmp_path_factory.mktemp("tok"))
    build_corpus([source], paths.corpus)
    prepare_tokenizer(paths, vocab_size=500)
    return paths.tokenizer_model


def test_examples_cover_both_languages_and_count_the_rest() -> None:
    problems = load_problems(CONTEST)
    skipped: Counter = Counter()
    examples = list(solution_examples(problems, skipped))
    expected = sum(1 for p in problems for s in p.solutions + p.incorrect_solutions
                   if s.language in (Language.PYTHON3, Language.CPP))
    assert len(examples) == expected
    assert any("LANGUAGE IS cpp\nCORRECT SOLUTION" in e["inputs"] for e in examples)
    assert any("LANGUAGE IS python3\nINCORRECT SOLUTION" in e["inputs"] for e in examples)
    java = problems[0].__class__(name="j", description="d", solutions=(problems[0].solutions[0].__class__(Language.JAVA, "x"),))
    list(solution_examples([java], skipped))
    assert skipped == Counter({"JAVA": 1})
    assert {split_of(p.name) for p in problems} == set(SPLITS)


def test_parquet_layout_yields_the_same_examples_as_json(tmp_path: Path, tokenizer_model: Path) -> None:
    problems = load_problems(CONTEST)[:3]
    rows = [problem_to_dict(p) for p in problems]
    (tmp_path / "json").mkdir()
    for row in rows:
        (tmp_path / "json" / f"{row['name']}.json").write_text(json.dumps(row))
    (tmp_path / "parquet").mkdir()
    hf_parquet(rows, tmp_path / "parquet" / "train-00000-of-00001.parquet")
    outputs = {}
    for layout in ("json", "parquet"):
        register_finetune_task(f"ft_{layout}", tmp_path / layout, tokenizer_model)
        outputs[layout] = [ex for split in SPLITS
                           for ex in finetune_dataset(f"ft_{layout}", split, 96, 64).as_numpy_iterator()]
    assert len(outputs["json"]) == sum(len(p.solutions) + len(p.incorrect_solutions) for p in problems)
    for a, b in zip(outputs["json"], outputs["parquet"], strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    first = outputs["json"][0]
    assert first["encoder_input_tokens"].shape == (96,) and first["decoder_target_tokens"].shape == (64,)
    assert set(int(ex["correct"][0]) for ex in outputs["json"]) == {0, 1}


def test_finetune_runs_with_each_switch(tmp_path: Path, tokenizer_model: Path) -> None:
    from alphacode.model import get_config
    from alphacode.train import TrainConfig
    from finetune.losses import FinetuneLossConfig
    from finetune.pipeline import finetune

    config = get_config("tiny", vocab_size=500, d_model=32, num_heads=2, head_dim=16, d_ff=64, encoder_layers=1,
                        decoder_layers=1)
    train = TrainConfig(steps=3, batch_size=4, log_every=1, eval_every=3, checkpoint_every=3, eval_batches=1)
    first = {}
    for name, losses in {"all": FinetuneLossConfig(), "plain": FinetuneLossConfig(temperature=None, gold=False, value_weight=0.0)}.items():
        workdir = tmp_path / name
        if (tmp_path / "all" / "data").exists():
            shutil.copytree(tmp_path / "all" / "data", workdir / "data")
        summary = finetune(config, train, workdir, data=CONTEST, tokenizer_model=tokenizer_model, loss_config=losses,
                           say=lambda _: None)
        assert np.isfinite(summary.last_metrics["loss"]) and np.isfinite(summary.eval_metrics["decoder_loss"])
        first[name] = summary.first_metrics
    # same initial parameters and batch: the plain decoder likelihood agrees, the switched terms differ
    assert first["all"]["decoder_loss"] == pytest.approx(first["plain"]["decoder_loss"], rel=1e-5)
    assert first["all"]["solution_loss"] != pytest.approx(first["plain"]["solution_loss"], rel=1e-3)


def test_mixture_holds_every_task_with_its_rate(tmp_path: Path, tokenizer_model: Path) -> None:
    """Contest solutions, docstring functions mined from a corpus and test inputs, mixed by weight."""
    import seqio

    from finetune.functions import docstring_functions
    from finetune.tasks import function_rows, register_finetune_mixture

    source = tmp_path / "src"
    source.mkdir()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ["textwrap.py", "shlex.py", "fractions.py", "statistics.py", "colorsys.py", "difflib.py"]:
        shutil.copy(stdlib / name, source / name)
    build_corpus([source], tmp_path / "corpus")
    functions = function_rows(tmp_path / "corpus")
    assert set(functions) == set(SPLITS)
    mined = sum(len(docstring_functions((source / f).read_text())) for f in [p.name for p in source.iterdir()])
    assert sum(map(len, functions.values())) == mined > 20
    assert all(row["inputs"].lstrip().startswith(("def ", "async def ")) for row in functions["train"])

    rates = {"contest": 1.0, "functions": 1.0, "test_inputs": 0.5}
    mixture = register_finetune_mixture("ft_mix", CONTEST, tmp_path / "corpus", tokenizer_model, rates=rates)
    assert {t.name: mixture.get_rate(t) for t in mixture.tasks} == {f"ft_mix_{k}": v for k, v in rates.items()}
    lengths = {"inputs": 64, "targets": 32, "mlm_targets": 64, "correct": 1}
    dataset = seqio.get_mixture_or_task("ft_mix").get_dataset(lengths, split="train", shuffle=False, seed=0)
    examples = list(dataset.take(400).as_numpy_iterator())
    assert len(examples) == 400 and {"inputs", "targets", "correct"} <= set(examples[0])
