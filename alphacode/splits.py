"""The fixed train / valid / test split of problems, shared by training, evaluation and benchmarks.

Two rules, one per layout. Files in the public CodeContests layout (the Hugging Face copy:
``train-*.parquet``, ``valid-*.parquet``, ``test-*.parquet``) say their split in their name, and that
split is kept (:func:`file_split`). Any other problem belongs to a split by a hash of its name
(:func:`split_of`), so it never changes as the problem set grows and no problem moves between
training and evaluation. ``valid`` is CodeContests' own name for the validation split; the project
uses no other spelling.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alphacode.problems import Problem

SPLITS = ("train", "valid", "test")
EVALUATION_SPLITS = ("valid", "test")
_FILE_SPLIT = re.compile(r"(train|valid|test)-.*\.parquet")


def split_of(name: str) -> str:
    """The fixed split of a problem (or any named item), by a hash of its name: 70% train, 15% valid, 15% test."""
    bucket = int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % 20
    return "train" if bucket < 14 else "valid" if bucket < 17 else "test"


def in_split(problems: Iterable[Problem], split: str) -> list[Problem]:
    """The problems that :func:`split_of` puts in ``split``, in their order."""
    return [p for p in problems if split_of(p.name) == split]


def file_split(path: str | os.PathLike[str]) -> str | None:
    """The split a problem file's name declares in the public CodeContests layout (``train-00000-of-00039.parquet``,
    ``valid-...``, ``test-...``), or None for a file named otherwise."""
    match = _FILE_SPLIT.fullmatch(Path(path).name)
    return match.group(1) if match else None
