"""Metrics against brute force: pass@k and n@k by enumerating every subset of small pools."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from alphacode.metrics import bootstrap_ci, n_at_k, n_at_k_exact, pass_at_k


def brute_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """The fraction of size-k draws (without replacement) from n samples, c correct, holding a correct one."""
    pool = [True] * c + [False] * (n - c)
    draws = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(pool[i] for i in draw) for draw in draws), len(draws))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_pass_at_k(n, c, k)), abs=1e-12)


def test_pass_at_k_is_stable_for_large_pools() -> None:
    for n, c, k in [(10_000, 1, 1), (10_000, 3, 100), (100_000, 50, 1000), (200, 0, 100), (200, 150, 100)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9, abs=1e-15)


def test_pass_at_k_rejects_impossible_counts() -> None:
    for n, c, k in [(5, 6, 1), (5, -1, 1), (5, 2, 6), (5, 2, 0)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def top_by_score(scores: np.ndarray, n: int):
    """A deterministic selector: the n samples of the subset with the highest score."""
    return lambda subset: sorted(subset.tolist(), key=lambda i: -scores[i])[:n]


def brute_n_at_k(solves: list[bool], scores: np.ndarray, k: int, n: int) -> Fraction:
    """Written independently of the library: every k-subset, its n best-scored members, any solves?"""
    draws = list(itertools.combinations(range(len(solves)), k))
    hits = sum(any(solves[i] for i in sorted(draw, key=lambda i: -scores[i])[:n]) for draw in draws)
    return Fraction(hits, len(draws))


@pytest.mark.parametrize("seed", range(6))
def test_n_at_k_equals_enumeration_on_small_pools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(4, 10))
    solves = (rng.random(size) < 0.3).tolist()
    scores = rng.permutation(size).astype(float)
    for k in range(1, size + 1):
        for n in (1, 2, 3):
            exact = float(brute_n_at_k(solves, scores, k, n))
            select = top_by_score(scores, n)
            assert n_at_k_exact(solves, select, k, n) == pytest.approx(exact, abs=1e-12)
            assert n_at_k(solves, select, k, n, subsets=math.comb(size, k)) == pytest.approx(exact, abs=1e-12)


def test_sampled_n_at_k_converges_to_the_exact_value() -> None:
    rng = np.random.default_rng(7)
    solves = (rng.random(14) < 0.2).tolist()
    scores = rng.random(14)
    select = top_by_score(scores, 2)
    exact = float(brute_n_at_k(solves, scores, 6, 2))
    estimate = n_at_k(solves, select, 6, 2, subsets=4000, seed=1)
    assert abs(estimate - exact) < 4 * math.sqrt(exact * (1 - exact) / 4000) + 1e-9


def test_selecting_every_sample_gives_pass_at_k() -> None:
    solves = [False, True, False, False, True, False, False]
    for k in range(1, 8):
        assert n_at_k_exact(solves, lambda subset: subset.tolist(), k, n=k) == pytest.approx(pass_at_k(7, 2, k))


def test_selector_must_stay_inside_the_subset() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        n_at_k_exact([True, False, True], lambda subset: subset.tolist(), 2, n=1)
    with pytest.raises(ValueError, match="from the subset"):
        n_at_k_exact([True, False, True], lambda subset: [0], 1, n=1)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_problems() -> None:
    rng = np.random.default_rng(0)
    few = rng.random(20) < 0.3
    many = rng.random(2000) < 0.3
    small, large = bootstrap_ci(few), bootstrap_ci(many)
    assert small.low <= small.value <= small.high and large.low <= large.value <= large.high
    assert large.high - large.low < small.high - small.low
    # The binomial standard error gives the width to expect for many problems.
    assert large.high - large.low == pytest.approx(2 * 1.96 * math.sqrt(0.3 * 0.7 / 2000), rel=0.15)
    assert bootstrap_ci([0.5]).low == bootstrap_ci([0.5]).high == 0.5
