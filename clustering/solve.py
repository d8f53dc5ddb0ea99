"""Sampling and selection together: filter while sampling runs, or sample in rounds until the top clusters settle.

``alphacode solve`` uses one of two drivers around a :class:`~clustering.pipeline.SelectionRun`:

* :func:`filter_while` runs a producer (the Ray sampling job writing a sample store) in the calling
  thread while a second thread streams the store's new candidates into the run, so filtering starts
  as soon as the first work unit lands, and stops once the producer has ended;
* :func:`sample_until_stable` draws rounds from any :class:`~sampling.candidate.Sampler` and stops when
  the top-k clusters have stayed the same for ``patience`` rounds, or at the sample cap.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from alphacode.problems import Problem
from clustering.pipeline import SelectionRun
from sampling.candidate import Candidate, Sampler
from sampling.units import derive_seed


def filter_while(produce: Callable[[], object], follow: Callable[[Callable[[], bool]], Iterable[Candidate]],
                 run: SelectionRun, batch_size: int = 64) -> float:
    """Call ``produce()`` here while another thread adds the candidates of ``follow(produced)`` to ``run`` in
    batches; returns the seconds ``produce`` took. That iterable blocks until more arrive and must end once
    ``produced()`` is true and it has read everything, so the wait is bounded. Errors are raised here."""
    failure: list[BaseException] = []
    produced = threading.Event()

    def consume() -> None:
        try:
            stream = iter(follow(produced.is_set))
            while batch := list(itertools.islice(stream, batch_size)):
                run.add(batch)
        except BaseException as err:  # handed to the calling thread
            failure.append(err)

    consumer = threading.Thread(target=consume, name="selection-filter", daemon=True)
    consumer.start()
    started = time.perf_counter()
    try:
        produce()
    finally:
        elapsed = time.perf_counter() - started
        produced.set()
        consumer.join()
    if failure:
        raise failure[0]
    return elapsed


@dataclass(frozen=True)
class AutoStop:
    """When ``--samples auto`` stops: after ``patience`` rounds of ``round_size`` samples that left the
    top ``k`` clusters unchanged, or once ``max_samples`` have been drawn."""

    round_size: int = 64
    patience: int = 2
    max_samples: int = 1024
    k: int = 10

    def __post_init__(self) -> None:
        if min(self.round_size, self.patience, self.max_samples, self.k) < 1:
            raise ValueError(f"round size, patience, sample cap and k must be at least 1: {self}")


@dataclass(frozen=True)
class Rounds:
    """How an automatic run went: rounds drawn, samples used, whether the clusters settled, sampling seconds."""

    rounds: int
    samples: int
    stable: bool
    seconds: float


def sample_until_stable(problem: Problem, sampler: Sampler, run: SelectionRun, stop: AutoStop = AutoStop(),
                        seed: int = 0, on_round: Callable[[int, list[Candidate]], object] | None = None) -> Rounds:
    """Draw rounds into ``run`` until its top-k clusters (by signature, in order) have not changed for
    ``stop.patience`` rounds; ``on_round(round, candidates)`` sees each round (to store it, say)."""
    previous: list[tuple] | None = None
    rounds = unchanged = drawn = 0
    seconds = 0.0
    while True:
        size = min(stop.round_size, stop.max_samples - drawn)
        started = time.perf_counter()
        batch = [dataclasses.replace(c, unit=rounds, index=i)
                 for i, c in enumerate(sampler.sample(problem, size, derive_seed(seed, "round", rounds)))]
        seconds += time.perf_counter() - started
        if on_round is not None:
            on_round(rounds, batch)
        run.add(batch)
        rounds += 1
        drawn += len(batch)
        top = [c.signature for c in run.clusters()[:stop.k]]
        unchanged = unchanged + 1 if top and top == previous else 0
        previous = top
        if unchanged >= stop.patience or drawn >= stop.max_samples or not batch:
            return Rounds(rounds, drawn, unchanged >= stop.patience, seconds)
