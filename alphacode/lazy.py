"""Heavy libraries named at the top of a module but imported on first use.

JAX (~3 s to import), Ray (~1 s), orbax, seqio with TensorFlow (~20 s), matplotlib and pyarrow would
slow every command that imports a module naming them (``alphacode --help`` and ``judge`` start in a
fraction of a second), and JAX must load only after the sandbox and Ray have forked their processes.
``ray = lazy_import("ray")`` among a module's imports keeps the dependency where readers look for it,
and imports Ray when one of its attributes is first used.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands for a module until an attribute is read; then imports it (importlib's locks make that
    thread-safe) and answers from it. The real module, not this stand-in, goes into ``sys.modules``."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_import(name: str) -> types.ModuleType:
    """``name`` as a :class:`LazyModule`. Nothing is looked up yet: a machine without the library (an
    accelerator host without Ray or TensorFlow, say) fails only where a command really uses it."""
    return LazyModule(name)
