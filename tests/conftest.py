"""Shared fixtures: one sandbox for the session (starting zygotes costs ~0.2 s each), one real Ray cluster for
the session (a ``ray start --head --num-cpus 1`` node), a tiny model export."""

from __future__ import annotations

import json
import os
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
