"""The record every stage after sampling works on, and the interface that produces it.

A :class:`Sampler` is anything that turns a problem into candidate programs: the JAX model
(:mod:`sampling.model_sampler`), a file of candidates (``alphacode select --candidates``), or a test
double. Selection never needs to know which.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from alphacode.problems import Problem


@dataclass(frozen=True)
class Candidate:
    """One sampled program and how it was drawn.

    ``unit`` and ``index`` name the work unit and the position inside it, so a store can prove that
    each sample exists exactly once; ``logprob`` is the sum of the program's token log-probabilities
    and ``num_tokens`` their count (their ratio is the mean the ``logprob`` strategy ranks by).
    """

    problem_id: str
    language: str
    code: str
    logprob: float | None = None
    num_tokens: int | None = None
    rating: int | None = None
    tags: tuple[str, ...] = field(default=())
    temperature: float | None = None
    seed: int | None = None
    unit: int | None = None
    index: int | None = None

    @property
    def mean_logprob(self) -> float | None:
        if self.logprob is None or not self.num_tokens:
            return None
        return self.logprob / self.num_tokens


def program_key(code: str, language: str) -> str:
    """A program's identity, the same in the sample store and the execution cache: a hash of its language
    and exact source text."""
    return hashlib.blake2b(f"{language}\n{code}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Sampler(Protocol):
    """Draws ``n`` candidate programs for ``problem``; the same ``seed`` gives the same candidates."""

    def sample(self, problem: Problem, n: int, seed: int) -> list[Candidate]: ...
