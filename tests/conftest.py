"""Shared fixtures: one sandbox for the session (starting zygotes costs ~0.2 s each), one real Ray cluster for
the session (a ``ray start --head --num-cpus 1`` node), a tiny model export, problems in the public CodeContests
Parquet layout."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from alphacode.execution import Sandbox
from tests.helpers.ray_cluster import start_head

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Ray's token authentication, off for every Ray the tests start or join, in this process and its children.
# Left unset, a head node and a local ``ray.init`` turn it on by themselves (and set it in this process's
# environment) once ``~/.ray/auth_token`` exists, but a joining node does not: it is then refused, and a
# driver in token mode refuses the calls of a cluster started without it.
os.environ["RAY_AUTH_MODE"] = "disabled"

# One XLA compilation cache for the session, here and in the subprocesses tests start (train_tiny, the CLI):
# the same small models and steps are compiled again and again, and a cache hit takes milliseconds.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="alphacode-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(workers=2, cache_dir=tmp_path_factory.mktemp("cpp-cache")) as box:
        yield box


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a one-node, one-CPU Ray cluster on this machine, stopped at the end of the session."""
    node, address = start_head(tmp_path_factory.mktemp("ray") / "head.log")
    try:
        yield address
    finally:
        node.stop()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-contained ``tiny`` model export (random weights, a 1000-piece tokenizer trained on the bundled
    problems' statements and solutions), built offline in a few seconds; load it with ``load_model``."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from alphacode.model import get_config
    from alphacode.model.export import export_model
    from alphacode.model.transformer import EncoderDecoder
    from alphacode.problems import load_problems
    from alphacode.tokenizer import train_tokenizer
    from pretrain.corpus import build_corpus, tokenizer_texts

    work = tmp_path_factory.mktemp("tiny-model")
    rows = []
    for problem in load_problems(EXAMPLES) + load_problems(ROOT / "data" / "contest"):
        rows.append({"path": f"{problem.name}/statement.py", "language": "Python", "content": problem.description})
        for i, solution in enumerate(problem.solutions):
            language = "C++" if solution.language.slug == "cpp" else "Python"
            rows.append({"path": f"{problem.name}/{i}", "language": language, "content": solution.solution})
    (work / "texts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    build_corpus([work / "texts.jsonl"], work / "corpus")
    tokenizer = train_tokenizer(tokenizer_texts(work / "corpus", holdout_fraction=0.0), work / "tokenizer",
                                vocab_size=1000)
    config = get_config("tiny", vocab_size=tokenizer.vocab_size)
    ones = jnp.ones((1, 8), jnp.int32)
    params = nn.meta.unbox(EncoderDecoder(config).init(jax.random.PRNGKey(0), ones, ones)["params"])
    return export_model(config, params, work / "tokenizer.model", work / "model", weights="float32")


SUM_PROBLEM = {
    "description": "Print the sum of two integers.",
    "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
    "private_tests": {"input": ["5 5\n"], "output": ["10\n"]},
    "generated_tests": {"input": [], "output": []},
    "solutions": {"language": [3], "solution": ["print(sum(map(int, input().split())))\n"]},
    "incorrect_solutions": {"language": [3], "solution": ["print(0)\n"]},
    "cf_rating": 800, "cf_tags": ["math"], "difficulty": 7, "time_limit": {"seconds": 1, "nanos": 0},
    "memory_limit_bytes": 268435456, "source": 2, "cf_contest_id": 4,
}
# Three splits of the public layout, named so that the hash rule (alphacode.splits.split_of) would split them otherwise.
PUBLIC_LAYOUT = {"train-00000-of-00002.parquet": ["charlie", "foxtrot"], "train-00001-of-00002.parquet": ["golf"],
                 "valid-00000-of-00001.parquet": ["delta"], "test-00000-of-00001.parquet": ["alpha", "bravo"]}


def write_hf_parquet(path: Path, rows: list[dict]) -> None:
    """Problems written the way the public Hugging Face copy stores CodeContests: nested struct columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tests_type = pa.struct([("input", pa.list_(pa.string())), ("output", pa.list_(pa.string()))])
    solutions_type = pa.struct([("language", pa.list_(pa.int64())), ("solution", pa.list_(pa.string()))])
    schema = pa.schema([
        ("name", pa.string()), ("description", pa.string()), ("public_tests", tests_type),
        ("private_tests", tests_type), ("generated_tests", tests_type), ("source", pa.int64()),
        ("difficulty", pa.int64()), ("solutions", solutions_type), ("incorrect_solutions", solutions_type),
        ("cf_contest_id", pa.int64()), ("cf_index", pa.string()), ("cf_points", pa.float32()),
        ("cf_rating", pa.int64()), ("cf_tags", pa.list_(pa.string())), ("is_description_translated", pa.bool_()),
        ("untranslated_description", pa.string()), ("time_limit", pa.struct([("seconds", pa.int64()), ("nanos", pa.int64())])),
        ("memory_limit_bytes", pa.int64()), ("input_file", pa.string()), ("output_file", pa.string()),
    ])
    hf = {"cf_index": "A", "cf_points": 500.0, "is_description_translated": False, "untranslated_description": "",
          "input_file": "", "output_file": ""}
    pq.write_table(pa.Table.from_pylist([{**hf, **row} for row in rows], schema=schema), path)


@pytest.fixture
def public_layout(tmp_path: Path) -> Path:
    """A directory of :data:`PUBLIC_LAYOUT`: every problem is :data:`SUM_PROBLEM` under its own name."""
    root = tmp_path / "code_contests"
    root.mkdir()
    for name, problems in PUBLIC_LAYOUT.items():
        write_hf_parquet(root / name, [{**SUM_PROBLEM, "name": problem} for problem in problems])
    return root
