"""The bundled default model: small enough to ship, loads with its tokenizer, writes Python when asked."""

from __future__ import annotations

import ast
import json
import warnings

from alphacode.model.export import DEFAULT_MODEL_DIR, FORMAT, load_model
from alphacode.problems import load_problem
from tests.conftest import EXAMPLES

MAX_BYTES = 25 * 10**6


def parses(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def test_export_is_complete_and_small() -> None:
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()}
    assert set(files) == {"config.json", "params.npz", "tokenizer.model"}
    assert sum(files.values()) <= MAX_BYTES
    payload = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert payload["format"] == FORMAT and payload["weights"] == "int8"
    assert payload["metadata"]["steps"]["pretrain"] > 0 and payload["metadata"]["steps"]["finetune"] > 0


def test_loads_with_its_config_and_tokenizer() -> None:
    model = load_model()
    assert model.config.name == "base" and model.config.vocab_size == model.tokenizer.vocab_size == 8000
    text = "def main():\n    n = int(input())\n    print(n * 2)\n"
    assert model.tokenizer.decode(model.tokenizer.encode(text)) == text
    layers = [k for k in model.params if k.startswith("decoder_") and k != "decoder_norm"]
    assert len(layers) == model.config.decoder_layers
    assert model.params["embedding"]["embedding"].shape == (8000, model.config.d_model)


def test_samples_a_valid_python_program_at_low_temperature() -> None:
    from sampling.model_sampler import ModelSampler, SamplingConfig

    problem = load_problem(EXAMPLES / "staircase-rows.json")
    sampler = ModelSampler(load_model(), SamplingConfig(batch_size=8, max_new_tokens=192, temperatures=(0.2,),
                                                        python_fraction=1.0))
    for seed in range(3):
        programs = [c.code for c in sampler.sample(problem, 8, seed=seed)]
        if any(p.strip() and parses(p) for p in programs):
            return
    raise AssertionError(f"no parseable Python program in 24 samples; last batch: {programs[:2]!r}")
