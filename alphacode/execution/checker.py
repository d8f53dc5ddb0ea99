"""The output checker, comparing outputs the way the CodeContests judge does.

Outputs are split on whitespace and compared token by token, case-insensitively. When either token
of a pair is a float, the pair matches if both are numbers within 1e-5 of each other (as doubles, as
that judge does); integers of any size compare exactly. One departure: an expected integer against a
float is measured in decimal, so ``1000000000000000000.0`` (a double's rounding) is not an answer of
``1000000000000000007``. The same normalisation gives clustering its behavioural signatures.

Function-style problems (``entry_point`` set) compare differently: the judge's driver prints
:data:`FUNCTION_RESULT_SENTINEL` and then ``repr`` of the return value, and that result is compared
with the expected ``repr`` as a Python value (case and type matter; floats within 1e-6 relative where
a float is expected, an expected integer exactly).
"""

from __future__ import annotations

import ast
import decimal
import math
import re
from dataclasses import dataclass
from typing import Any

FLOAT_TOLERANCE = 1e-5
FLOAT_DECIMALS = 6
FUNCTION_FLOAT_TOLERANCE = 1e-6
FUNCTION_RESULT_SENTINEL = "--alphacode-result-7c3f91d2a6e84b05--"

# Wide enough that no subtraction of two parsed tokens overflows; the difference is rounded to 50
# significant digits, plenty to tell it from 1e-5.
_DECIMAL = decimal.Context(prec=50, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_DECIMAL_TOLERANCE = decimal.Decimal(str(FLOAT_TOLERANCE))
# ASCII digits only: float() reads other scripts' digits too, which would match as floats but not as integers
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


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


def canonical_token(token: str) -> str:
    """A lower-cased token as clustering signatures compare it: integers exact without sign or leading-zero noise,
    floats to ``FLOAT_DECIMALS`` places with no negative zero, so tokens this checker accepts mostly coincide."""
    if _INT.fullmatch(token):
        return _canonical_int(token)
    if _FLOAT.fullmatch(token):
        text = f"{float(token):.{FLOAT_DECIMALS}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text
    return token


def tokens_match(expected: str, actual: str) -> bool:
    """Compare one pair of lower-cased tokens."""
    if expected == actual:
        return True
    if _INT.fullmatch(expected):
        if _INT.fullmatch(actual):
            return _canonical_int(expected) == _canonical_int(actual)
        return bool(_FLOAT.fullmatch(actual)) and _near_integer(expected, actual)
    if _FLOAT.fullmatch(expected) and _FLOAT.fullmatch(actual):
        return _near_as_doubles(expected, actual)
    return False


def _near_as_doubles(expected: str, actual: str) -> bool:
    """Two number tokens within 1e-5 as doubles, as the CodeContests judge compares them (inf - inf is nan: no)."""
    return abs(float(expected) - float(actual)) < FLOAT_TOLERANCE


def _near_integer(expected: str, actual: str) -> bool:
    """An integer token and a float token within 1e-5, measured exactly (as doubles for exponents beyond
    what a decimal holds, which round to 0 or infinity)."""
    try:
        with decimal.localcontext(_DECIMAL):
            return abs(decimal.Decimal(expected) - decimal.Decimal(actual)) < _DECIMAL_TOLERANCE
    except decimal.DecimalException:
        return _near_as_doubles(expected, actual)


def outputs_match(expected: str | bytes, actual: str | bytes) -> bool:
    """True when ``actual`` would be accepted for a test whose answer is ``expected``."""
    want, got = normalize_output(expected), normalize_output(actual)
    return len(want) == len(got) and all(tokens_match(w, g) for w, g in zip(want, got))


@dataclass(frozen=True)
class Difference:
    """Where a rejected output first departs from the expected one: the token's 0-based position, and the
    expected and actual tokens there (lower-cased, as compared; None past the end of that output)."""

    position: int
    expected: str | None
    got: str | None

    def describe(self) -> str:
        """``token 3: expected '42', got '41'`` (or ``got nothing`` past the end), for a judge's report."""
        def shown(token: str | None) -> str:
            return "nothing" if token is None else repr(token if len(token) <= 60 else token[:57] + "...")

        return f"token {self.position + 1}: expected {shown(self.expected)}, got {shown(self.got)}"


def first_difference(expected: str | bytes, actual: str | bytes) -> Difference | None:
    """The first token pair :func:`outputs_match` rejects (by its rules), or None when the outputs match."""
    want, got = normalize_output(expected), normalize_output(actual)
    for position in range(max(len(want), len(got))):
        w = want[position] if position < len(want) else None
        g = got[position] if position < len(got) else None
        if w is None or g is None or not tokens_match(w, g):
            return Difference(position, w, g)
    return None


def function_result(stdout: str | bytes) -> str | None:
    """The ``repr`` line the function driver printed after its sentinel; None when the call never returned.
    The driver writes last, so the last sentinel is its own, whatever the program printed before."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", errors="replace")
    lines = stdout.splitlines()
    if FUNCTION_RESULT_SENTINEL not in lines:
        return None
    at = len(lines) - 1 - lines[::-1].index(FUNCTION_RESULT_SENTINEL)
    return lines[at + 1].strip() if at + 1 < len(lines) else None


def parse_literal(text: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` is one Python literal, else ``(False, None)``; ``ast.literal_eval``
    runs nothing, so it is safe on a generated program's output or a statement's text."""
    try:
        return True, ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _values_match(want: Any, got: Any) -> bool:
    """Python equality with a tolerance where a float is expected (an expected integer is matched exactly, as an
    ``assert f(x) == 9999800001`` would); bools, strings and containers keep their type."""
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if number(want) and number(got):
        if isinstance(want, float):
            try:
                return math.isclose(want, got, rel_tol=FUNCTION_FLOAT_TOLERANCE, abs_tol=FUNCTION_FLOAT_TOLERANCE)
            except OverflowError:  # an int beyond any float
                return False
        return want == got
    if type(want) is not type(got):
        return False
    if isinstance(want, (list, tuple)):
        return len(want) == len(got) and all(_values_match(w, g) for w, g in zip(want, got))
    if isinstance(want, dict):
        return want.keys() == got.keys() and all(_values_match(v, got[k]) for k, v in want.items())
    return bool(want == got)


def function_outputs_match(expected: str, actual: str | bytes) -> bool:
    """True when the driver's output ``actual`` shows a return value equal to the ``repr`` ``expected``."""
    got = function_result(actual)
    if got is None:
        return False
    want = expected.strip()
    if got == want:
        return True
    (want_ok, want_value), (got_ok, got_value) = parse_literal(want), parse_literal(got)
    return want_ok and got_ok and _values_match(want_value, got_value)


def function_difference(expected: str, actual: str | bytes) -> Difference | None:
    """For a function-style test :func:`function_outputs_match` rejects: the expected ``repr`` against the
    returned one (nothing when the call never returned), as one whole-value token; None when they match."""
    if function_outputs_match(expected, actual):
        return None
    return Difference(0, expected.strip(), function_result(actual))


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.6g}")
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def function_behaviour(stdout: str | bytes) -> str | None:
    """A function's result in the form clustering compares: its ``repr`` with floats rounded to 6
    significant digits, so results :func:`function_outputs_match` accepts as equal mostly coincide."""
    got = function_result(stdout)
    if got is None:
        return None
    ok, value = parse_literal(got)
    try:
        return repr(_rounded(value)) if ok else got
    except (ValueError, RecursionError):  # an int of over 4,300 digits written in hex parses but has no repr
        return got
