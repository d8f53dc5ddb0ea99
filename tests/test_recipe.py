"""The numpy example path of the default-model recipe: features like the seqio converter's, pure batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alphacode.model.config import BOS_ID, EOS_ID, MASK_ID
from finetune.functions import docstring_functions, split_functions
from pretrain.arrays import (
    Example,
    MixtureBatches,
    RandomSplitBatches,
    TokenStream,
    encoder_decoder_features,
    parallel_map,
)


def test_features_shift_the_target_and_mask_only_real_prompt_tokens() -> None:
    rng = np.random.default_rng(0)
    f = encoder_decoder_features([5, 6, 7, 8, 9, 10], [20, 21, 22, 23, 24], 4, 4, rng, mlm_rate=0.5)
    np.testing.assert_array_equal(f["encoder_target_tokens"], [5, 6, 7, 8])  # the beginning is kept
    masked = f["encoder_input_tokens"] == MASK_ID
    np.testing.assert_array_equal(f["encoder_loss_weights"], masked.astype(np.int32))
    np.testing.assert_array_equal(np.where(masked, f["encoder_target_tokens"], f["encoder_input_tokens"]), [5, 6, 7, 8])
    np.testing.assert_array_equal(f["decoder_target_tokens"], [20, 21, 22, EOS_ID])  # cut to length - 1, then EOS
    np.testing.assert_array_equal(f["decoder_input_tokens"], [BOS_ID, 20, 21, 22])
    np.testing.assert_array_equal(f["decoder_loss_weights"], [1, 1, 1, 1])
    short = encoder_decoder_features([5], [], 4, 4, rng, mlm_rate=0.0)
    np.testing.assert_array_equal(short["encoder_input_tokens"], [5, 0, 0, 0])
    np.testing.assert_array_equal(short["decoder_target_tokens"], [EOS_ID, 0, 0, 0])
    np.testing.assert_array_equal(short["decoder_loss_weights"], [1, 0, 0, 0])


def test_batches_are_a_pure_function_of_the_step(tmp_path: Path) -> None:
    stream = TokenStream.from_sequences([list(range(10, 10 + n)) for n in (3, 50, 7, 120)])
    stream.save(tmp_path / "s.npz")
    again = TokenStream.load(tmp_path / "s.npz")
    assert len(again) == 4 and list(again[1]) == list(range(10, 60))
    batches = RandomSplitBatches(again, 8, (16, 16), seed=3)
    first, second = batches.batch(5), RandomSplitBatches(stream, 8, (16, 16), seed=3).batch(5)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(batches.batch(6)["decoder_target_tokens"], first["decoder_target_tokens"])
    # the split continues the prefix: the decoder's first target follows the encoder's last real token
    row = first["encoder_target_tokens"][0]
    last = row[row != 0][-1]
    assert first["decoder_target_tokens"][0][0] in (last + 1, EOS_ID)


def test_mixture_follows_its_rates() -> None:
    sources = {"a": [Example(np.array([4]), np.array([5]))], "b": [Example(np.array([6]), np.array([7]), False)]}
    batch = MixtureBatches(sources, {"a": 3.0, "b": 1.0}, 4000, (4, 4), seed=0).batch(0)
    share_a = float(np.mean(batch["decoder_target_tokens"][:, 0] == 5))
    assert share_a == pytest.approx(0.75, abs=0.03)
    np.testing.assert_array_equal(batch["correct"][:, 0], batch["decoder_target_tokens"][:, 0] == 5)
    with pytest.raises(ValueError):
        MixtureBatches(sources, {"c": 1.0}, 4, (4, 4))


def test_docstring_functions_split_prompt_and_body() -> None:
    source = '''import os


def area(w, h):
    """Area of a rectangle."""
    result = w * h
    return result


@decorated
def skipped(x):
    """Decorated: skipped."""
    y = x
    return y


def stub():
    """Too short."""


class Holder:
    def method(self):
        """Methods need their class."""
        a = 1
        return a
'''
    [found] = docstring_functions(source)
    assert found.name == "area"
    assert found.prompt == 'def area(w, h):\n    """Area of a rectangle."""\n'
    assert found.body == "    result = w * h\n    return result\n"
    assert docstring_functions("def broken(:\n") == []
    splits = split_functions([("a.py", [found]), ("b.py", [found])])
    assert sum(map(len, splits.values())) == 1  # each distinct prompt once


def test_parallel_map_equals_a_loop() -> None:
    items = [str(i) * (i % 7) for i in range(200)]
    assert parallel_map(len, items, processes=2) == [len(x) for x in items]


@pytest.mark.slow
def test_smoke_recipe_exports_a_loadable_model(tmp_path: Path) -> None:
    from alphacode.model.export import load_model
    from finetune.recipe import PRESETS, run_recipe

    out = run_recipe(PRESETS["smoke"], tmp_path / "work", export_dir=tmp_path / "model", say=lambda _: None)
    model = load_model(out)
    assert model.config.name == "tiny" and model.tokenizer.vocab_size == model.config.vocab_size


def test_time_budget_counts_the_step_and_the_batch_building() -> None:
    import time

    from finetune.recipe import _steps_for

    class Probe:
        flops_per_step, peak_flops = 1.0, 10.0

        def time_steps(self, source: object, steps: int) -> float:
            return 0.010

    class SlowSource:
        def batch(self, step: int) -> dict:
            time.sleep(0.010)
            return {}

    said: list[str] = []
    steps = _steps_for(2.0, 7, lambda steps: Probe(), SlowSource(), said.append, "pretrain")
    assert 60 <= steps <= 100  # about 2 s / (10 ms + 10 ms), not 2 s / 10 ms
    assert "batch building" in said[0]
    assert _steps_for(None, 7, lambda steps: Probe(), SlowSource(), said.append, "pretrain") == 7
