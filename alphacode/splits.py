"""The fixed train / valid / test split of problems, shared by training, evaluation and benchmarks.

A problem's split depends only on a hash of its name, so it never changes as the problem set grows
and no problem moves between training and evaluation. ``valid`` is CodeContests' own name for the
validation split; the project uses no other spelling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from alphacode.problems import Problem

SPLITS = ("train", "valid", "test")


def split_of(name: str) -> str:
    """The fixed split of a problem (or any named item), by a hash of its name: 70% train, 15% valid, 15% test."""
    bucket = int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % 20
    return "train" if bucket < 14 else "valid" if bucket < 17 else "test"


def in_split(problems: Iterable[Problem], split: str) -> list[Problem]:
    """The problems that :func:`split_of` puts in ``split``, in their order."""
    return [p for p in problems if split_of(p.name) == split]
