"""Behavioural signatures and clusters: programs that act alike on the generated inputs group together.

A program's behaviour on one input is its output as the checker normalises it (whitespace-split,
lower-cased tokens, numbers in canonical form), kept as a digest of those tokens so that a program
printing 64 KiB per input costs a few bytes, not megabytes; or, when it did not finish normally, how it ended:
crashes and timeouts are part of the signature, so a program that times out on an input never joins
one that answers it. For a function-style problem the behaviour is the returned value, compared as
the judge compares it (:func:`alphacode.execution.checker.function_behaviour`), never the printed noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from alphacode.execution import Outcome, Status, normalize_output
from alphacode.execution.checker import canonical_token, function_behaviour

Behaviour = tuple[str, ...]
"""``("OK", digest of the canonical tokens)`` for a normal exit, ``(status,)`` otherwise; a function-style
program's ``("OK", digest of its result)``, or ``("NO_RESULT",)`` when it exited without returning."""


def output_digest(tokens: Sequence[str]) -> str:
    """A digest of an output's canonical tokens (no token holds whitespace, so joining them is unambiguous)."""
    return hashlib.blake2b(" ".join(tokens).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def behaviour(outcome: Outcome, function_style: bool = False) -> Behaviour:
    """What one execution did, in the form signatures compare."""
    if outcome.status is not Status.OK:
        return (outcome.status.value,)
    if function_style:
        result = function_behaviour(outcome.stdout) if outcome.completed else None
        return ("NO_RESULT",) if result is None else ("OK", output_digest([result]))
    return ("OK", output_digest([canonical_token(t) for t in normalize_output(outcome.stdout)]))


@dataclass(frozen=True)
class Program:
    """A distinct program that passed the filter, with what selection needs to know about it.

    ``samples`` counts the candidates in the pool that are this exact program (duplicates count
    towards a cluster's size, as in AlphaCode); ``first`` is the position of the earliest of them; ``score``
    is the best of its samples' mean token log-probabilities (their totals where token counts are unknown).
    """

    key: str
    code: str
    language: str
    samples: int
    first: int
    score: float | None
    signature: tuple[Behaviour, ...]


@dataclass(frozen=True)
class Cluster:
    """Programs with equal signatures; ``size`` counts samples, members are in preference order."""

    signature: tuple[Behaviour, ...]
    members: tuple[Program, ...]

    @property
    def size(self) -> int:
        return sum(p.samples for p in self.members)


def preference(program: Program) -> tuple[float, int]:
    """Sort key among equals: higher score (mean log-probability) first, then the earlier sample."""
    return (-(program.score if program.score is not None else float("-inf")), program.first)


def cluster_programs(programs: Sequence[Program]) -> list[Cluster]:
    """Group programs by signature; largest clusters first (ties: the best member's preference)."""
    groups: dict[tuple[Behaviour, ...], list[Program]] = {}
    for program in programs:
        groups.setdefault(program.signature, []).append(program)
    clusters = [Cluster(sig, tuple(sorted(members, key=preference))) for sig, members in groups.items()]
    return sorted(clusters, key=lambda c: (-c.size, preference(c.members[0])))
