"""Work units: the pieces a sampling job is cut into, each with a seed fixed by its name.

A unit is (problem id, unit index): ``size`` samples of one problem. Its seed is a hash of the job's
base seed, the problem id and the unit index, so a unit run twice (a retry after a dead worker, a rerun
after a dead driver) draws exactly the same samples, whichever worker runs it and in whatever order.

Growing a job: a unit's samples do not depend on how many of them are asked for (the model sampler
draws whole batches whose seeds derive from the unit seed and the batch index, so asking for fewer
gives a prefix), hence unit k of a plan for N samples is unit k of a plan for more. Every unit of a
plan is ``unit_size`` long except the last, which a larger plan makes longer: it is topped up, its
stored samples kept and the missing ones (``start`` onward) appended, never reused as if it were full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from ``parts`` (their ``str``), the same on every machine and Python version."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, order=True)
class WorkUnit:
    """``size`` samples of problem ``problem_id``: unit ``unit`` of that problem, drawn with ``seed``;
    the first ``start`` of them are already stored (a top-up of a unit a smaller plan cut short)."""

    problem_id: str
    unit: int
    size: int
    seed: int
    start: int = 0


def plan_units(problem_ids: Sequence[str], samples: int, unit_size: int, seed: int) -> list[WorkUnit]:
    """Every unit of the job, problem by problem (so a problem's samples complete early for the next
    stage); each problem gets ``samples`` in units of ``unit_size``, the last one possibly smaller."""
    if samples < 1 or unit_size < 1:
        raise ValueError(f"samples and unit_size must be at least 1, got {samples} and {unit_size}")
    units = []
    for problem_id in problem_ids:
        for unit, start in enumerate(range(0, samples, unit_size)):
            units.append(WorkUnit(problem_id, unit, min(unit_size, samples - start),
                                  derive_seed(seed, problem_id, unit)))
    return units


def units_per_problem(samples: int, unit_size: int) -> int:
    """How many units ``samples`` samples take."""
    return -(-samples // unit_size)
