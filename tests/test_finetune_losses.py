"""Fine-tuning losses against hand-computed references, and each switch changing only its term."""

from __future__ import annotations

import math
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphacode.prompt import CODECONTESTS_TAGS, PromptHeader, build_prompt, sampling_header
from finetune.losses import FinetuneLossConfig, gold_weights, solution_loss, target_log_probs, value_loss

LOGITS = jnp.array([[[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]], [[1.0, 1.0, 1.0], [0.5, -0.5, 0.0]]])
TARGETS = jnp.array([[0, 1], [2, 0]])
WEIGHTS = jnp.array([[1, 1], [1, 0]])
CORRECT = jnp.array([True, False])
PLAIN = FinetuneLossConfig(temperature=None, gold=False)


def log_softmax_row(row: list[float], target: int, temperature: float = 1.0) -> float:
    scaled = [x / temperature for x in row]
    return scaled[target] - math.log(sum(math.exp(x) for x in scaled))


def reference_nll(temperature: float = 1.0) -> float:
    total = 0.0
    for b in range(2):
        for t in range(2):
            if WEIGHTS[b, t]:
                total -= log_softmax_row(LOGITS[b, t].tolist(), int(TARGETS[b, t]), temperature)
    return total


def test_plain_likelihood() -> None:
    loss, count = solution_loss(LOGITS, TARGETS, WEIGHTS, CORRECT, PLAIN)
    assert float(count) == 3
    assert float(loss) == pytest.approx(reference_nll(), rel=1e-6)


def test_tempering_divides_logits() -> None:
    loss, _ = solution_loss(LOGITS, TARGETS, WEIGHTS, CORRECT, FinetuneLossConfig(temperature=0.2, gold=False))
    assert float(loss) == pytest.approx(reference_nll(0.2), rel=1e-6)
    np.testing.assert_allclose(target_log_probs(LOGITS, TARGETS, 0.5), target_log_probs(LOGITS * 2, TARGETS), rtol=1e-6)


def test_gold_weights_by_hand() -> None:
    weights = gold_weights(jnp.log(jnp.array([0.81, 0.0001, 0.04])))
    np.testing.assert_allclose(weights, [0.9, 0.05, 0.2], rtol=1e-6)  # sqrt(p), floored at 0.05


def test_gold_weights_correct_rows_only_with_stopped_gradient() -> None:
    config = FinetuneLossConfig(temperature=None, gold=True)
    loss, _ = solution_loss(LOGITS, TARGETS, WEIGHTS, CORRECT, config)
    expected = 0.0
    for b in range(2):
        for t in range(2):
            if WEIGHTS[b, t]:
                logp = log_softmax_row(LOGITS[b, t].tolist(), int(TARGETS[b, t]))
                w = max(math.exp(logp) ** 0.5, 0.05) if bool(CORRECT[b]) else 1.0
                expected -= w * logp
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # the gradient is the plain gradient scaled by the (constant) weights
    grad_gold = jax.grad(lambda x: solution_loss(x, TARGETS, WEIGHTS, CORRECT, config)[0])(LOGITS)
    grad_plain = jax.grad(lambda x: solution_loss(x, TARGETS, WEIGHTS, CORRECT, PLAIN)[0])(LOGITS)
    w = jnp.where(CORRECT[:, None], gold_weights(target_log_probs(LOGITS, TARGETS)), 1.0)
    np.testing.assert_allclose(grad_gold, grad_plain * w[..., None], rtol=1e-5, atol=1e-7)


def test_each_switch_changes_only_its_term() -> None:
    base = float(solution_loss(LOGITS, TARGETS, WEIGHTS, CORRECT, PLAIN)[0])
    gold = float(solution_loss(LOGITS, TARGETS, WEIGHTS, CORRECT, FinetuneLossConfig(temperature=None))[0])
    incorrect_only = jnp.array([False, False])
    assert gold != base
    assert float(solution_loss(LOGITS, TARGETS, WEIGHTS, incorrect_only, FinetuneLossConfig(temperature=None))[0]) == pytest.approx(base)
    value_before = value_loss(jnp.array([0.3, -1.0]), CORRECT)
    assert value_before == value_loss(jnp.array([0.3, -1.0]), CORRECT)  # independent of the LM terms


def test_value_loss_is_logistic() -> None:
    logits, labels = jnp.array([2.0, -1.0, 0.0]), jnp.array([True, True, False])
    loss, count = value_loss(logits, labels)
    expected = sum(math.log1p(math.exp(-z)) if y else math.log1p(math.exp(z)) for z, y in zip([2.0, -1.0, 0.0], [1, 1, 0]))
    assert float(count) == 3 and float(loss) == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(float(value_loss(jnp.array([1e4, -1e4]), jnp.array([False, True]))[0]))


def test_prompt_header() -> None:
    header = PromptHeader(language="python3", correct=False, rating=1700, tags=("dp", "greedy"))
    assert build_prompt("Add two numbers.", header) == (
        "RATING: 1700\nTAGS: dp,greedy\nLANGUAGE IS python3\nINCORRECT SOLUTION\n\nAdd two numbers.")
    drawn = [sampling_header(random.Random(seed), "cpp") for seed in range(50)]
    assert all(h.correct and 800 <= h.rating <= 3500 and h.rating % 100 == 0 for h in drawn)
    assert all(set(h.tags) <= set(CODECONTESTS_TAGS) for h in drawn) and len({h.rating for h in drawn}) > 10
    with pytest.raises(ValueError):
        PromptHeader(language="java")
