"""Shared fixtures: one sandbox for the session (starting zygotes costs ~0.2 s each)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alphacode.execution import Sandbox

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(workers=2, cache_dir=tmp_path_factory.mktemp("cpp-cache")) as box:
        yield box
