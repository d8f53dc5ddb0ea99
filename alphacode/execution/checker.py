"""The output checker, comparing outputs the way the CodeContests judge does.

Outputs are split on whitespace and compared token by token, case-insensitively. When either token
of a pair is a float, the pair matches if both are numbers within 1e-5 of each other; integers of
any size compare exactly. The same normalisation gives clustering its behavioural signatures.
"""

from __future__ import annotations

import re

FLOAT_TOLERANCE = 1e-5

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def normalize_output(text: str | bytes) -> tuple[str, ...]:
    """Whitespace-split, lower-cased tokens: two outputs with equal tuples are equal to the judge."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return tuple(text.lower().split())


def _canonical_int(token: str) -> str:
    """An integer token without sign noise or leading zeros, compared as text: exact at any size
    (``int()`` refuses strings over 4,300 digits)."""
    digits = token.lstrip("+-").lstrip("0") or "0"
    return digits if digits == "0" or not token.startswith("-") else "-" + digits


def tokens_match(expected: str, actual: str) -> bool:
    """Compare one pair of lower-cased tokens."""
    if expected == actual:
        return True
    if _INT.fullmatch(expected) and _INT.fullmatch(actual):
        return _canonical_int(expected) == _canonical_int(actual)
    if _FLOAT.fullmatch(expected) and _FLOAT.fullmatch(actual):
        try:
            return abs(float(expected) - float(actual)) < FLOAT_TOLERANCE
        except OverflowError:
            return False
    return False


def outputs_match(expected: str | bytes, actual: str | bytes) -> bool:
    """True when ``actual`` would be accepted for a test whose answer is ``expected``."""
    want, got = normalize_output(expected), normalize_output(actual)
    return len(want) == len(got) and all(tokens_match(w, g) for w, g in zip(want, got))
