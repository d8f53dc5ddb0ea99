"""The numpy example path: model features, rows as a pure function of (seed, step, row), the mixture's rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alphacode.data import RecordShards, TokenStream, encoder_decoder_features, shard_of_row, write_record_shards
from alphacode.model.config import BOS_ID, EOS_ID, MASK_ID
from finetune.examples import MixtureRows, parallel_map
from finetune.functions import docstring_functions, split_functions
from pretrain.examples import PretrainRows


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


def test_rows_are_a_pure_function_of_the_step(tmp_path: Path) -> None:
    sequences = [list(range(10, 10 + n)) for n in (3, 50, 7, 120)]
    stream = TokenStream.from_sequences(sequences)
    assert len(stream) == 4 and list(stream[1]) == list(range(10, 60))
    write_record_shards({"tokens": sequences}, tmp_path / "s", shards=2)
    batches = PretrainRows(RecordShards(tmp_path / "s"), 8, (16, 16), seed=3)
    first, second = batches.rows(5, 0, 8), PretrainRows(RecordShards(tmp_path / "s"), 8, (16, 16), seed=3).rows(5, 0, 8)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(batches.rows(6, 0, 8)["decoder_target_tokens"], first["decoder_target_tokens"])
    # the split continues the prefix: the decoder's first target follows the encoder's last real token
    row = first["encoder_target_tokens"][0]
    last = row[row != 0][-1]
    assert first["decoder_target_tokens"][0][0] in (last + 1, EOS_ID)


def test_every_shard_is_drawn_alike_whatever_the_batch() -> None:
    # a batch that divides among the shards: contiguous blocks of rows, so each process reads only its share
    assert [shard_of_row(3, r, 16, 8) for r in range(16)] == [r // 2 for r in range(16)]
    for batch, shards in [(4, 8), (12, 8), (5, 3)]:  # otherwise rows and steps go round the shards in turn
        drawn = np.bincount([shard_of_row(step, r, batch, shards) for step in range(shards) for r in range(batch)],
                            minlength=shards)
        assert drawn.min() == drawn.max() == batch, (batch, shards, drawn)


def test_mixture_follows_its_rates(tmp_path: Path) -> None:
    write_record_shards({"inputs": [[4]], "targets": [[5]]}, tmp_path / "a", flags={"correct": [1]})
    write_record_shards({"inputs": [[6]], "targets": [[7]]}, tmp_path / "b", flags={"correct": [0]})
    sources = {"a": RecordShards(tmp_path / "a"), "b": RecordShards(tmp_path / "b")}
    batch = MixtureRows(sources, {"a": 3.0, "b": 1.0}, 4000, (4, 4), seed=0).rows(0, 0, 4000)
    share_a = float(np.mean(batch["decoder_target_tokens"][:, 0] == 5))
    assert share_a == pytest.approx(0.75, abs=0.03)
    np.testing.assert_array_equal(batch["correct"][:, 0], batch["decoder_target_tokens"][:, 0] == 5)
    with pytest.raises(ValueError):
        MixtureRows(sources, {"c": 1.0}, 4, (4, 4))


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


def test_time_budget_counts_the_step_and_the_batch_building(tmp_path: Path) -> None:
    import time

    from alphacode.config import TrainConfig
    from alphacode.train import plan_steps

    class Probe:
        flops_per_step, peak_flops = 1.0, 10.0

        def time_steps(self, source: object, steps: int) -> float:
            return 0.010

        def device_batch(self, source: object, step: int) -> None:
            time.sleep(0.010)

    said: list[str] = []
    steps = plan_steps(TrainConfig(seconds=2.0), tmp_path, Probe, object(), said.append)
    assert 60 <= steps <= 100  # about 2 s / (10 ms + 10 ms), not 2 s / 10 ms
    assert "batch building" in said[0]
    assert plan_steps(TrainConfig(steps=7), tmp_path, Probe, object(), said.append) == 7
