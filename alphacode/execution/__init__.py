"""The execution sandbox: the only place untrusted programs run.

``Sandbox`` runs Python 3 and C++ programs on inputs in isolated, resource-limited processes and
returns one :class:`Outcome` per input; :mod:`alphacode.execution.checker` turns outputs into verdicts.
Names are loaded on first use, so the sandbox's zygotes (which import this package) stay small and
fork fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "normalize_output": "checker", "outputs_match": "checker",
    "Job": "records", "Limits": "records", "Outcome": "records", "SandboxLanguage": "records", "Status": "records",
    "Sandbox": "sandbox", "SandboxOptions": "sandbox", "SandboxError": "sandbox", "SandboxUnavailable": "sandbox", "make_job": "sandbox",
    "JudgeResult": "judge", "TestResult": "judge", "Verdict": "judge", "judge": "judge", "judge_many": "judge",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
