"""Selection strategies: which k of the filtered programs to submit, behind one interface.

* ``cluster`` (AlphaCode): clusters by signature, largest first, one program from each; with fewer
  than k clusters it goes round again, taking each cluster's next program.
* ``codet`` (CodeT's dual execution agreement): the test cases are the (input, output) pairs the
  filtered programs themselves produce on the generated inputs, one per sample as CodeT keeps
  duplicate generated tests; a consensus set (programs with equal signatures) scores its size times
  the number of test cases it passes, so agreeing with other programs on some inputs counts.
* ``logprob``: highest mean token log-probability first.
* ``random``: filtered samples in random order (so a program sampled twice is twice as likely).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from clustering.signatures import Behaviour, Cluster, Program, cluster_programs, preference


class Strategy(Protocol):
    """Orders up to ``k`` distinct programs for submission; ``seed`` fixes any random choice."""

    name: str

    def select(self, programs: Sequence[Program], k: int, seed: int) -> list[Program]: ...


def round_robin(groups: Sequence[Sequence[Program]], k: int) -> list[Program]:
    """One program from each group in order, then each group's second, ... until k are taken."""
    picks: list[Program] = []
    depth = 0
    while len(picks) < k and any(len(g) > depth for g in groups):
        picks.extend(g[depth] for g in groups if len(g) > depth)
        depth += 1
    return picks[:k]


class ClusterStrategy:
    """AlphaCode: largest behavioural clusters first, one program each, cycling when short."""

    name = "cluster"

    def select(self, programs: Sequence[Program], k: int, seed: int) -> list[Program]:
        return round_robin([c.members for c in cluster_programs(programs)], k)


def codet_scores(clusters: Sequence[Cluster]) -> list[int]:
    """CodeT's score of each consensus set: its size times the test cases (input, output) it passes,
    counting a test case once per sample that proposed it; crashes and timeouts propose nothing."""
    support: Counter[tuple[int, Behaviour]] = Counter()
    for cluster in clusters:
        for i, b in enumerate(cluster.signature):
            if b[0] == "OK":
                support[(i, b)] += cluster.size
    return [c.size * sum(support[(i, b)] for i, b in enumerate(c.signature) if b[0] == "OK") for c in clusters]


class CodeTStrategy:
    """CodeT: consensus sets ranked by dual execution agreement, one program each, cycling when short."""

    name = "codet"

    def select(self, programs: Sequence[Program], k: int, seed: int) -> list[Program]:
        clusters = cluster_programs(programs)
        scores = codet_scores(clusters)
        ranked = [c for _, _, c in sorted(zip(scores, range(len(clusters)), clusters), key=lambda t: (-t[0], t[1]))]
        return round_robin([c.members for c in ranked], k)


class LogprobStrategy:
    """Highest mean log-probability first (programs without one last, in sampling order)."""

    name = "logprob"

    def select(self, programs: Sequence[Program], k: int, seed: int) -> list[Program]:
        return sorted(programs, key=preference)[:k]


class RandomStrategy:
    """Uniformly random filtered samples, skipping repeats of a program already picked."""

    name = "random"

    def select(self, programs: Sequence[Program], k: int, seed: int) -> list[Program]:
        samples = [p for p in sorted(programs, key=lambda p: p.first) for _ in range(p.samples)]
        random.Random(seed).shuffle(samples)
        picks: dict[str, Program] = {}
        for program in samples:
            picks.setdefault(program.key, program)
            if len(picks) == k:
                break
        return list(picks.values())


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (ClusterStrategy(), CodeTStrategy(), LogprobStrategy(), RandomStrategy())}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; ValueError naming the choices otherwise."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
