"""The output checker compares like the CodeContests judge."""

from __future__ import annotations

import pytest

from alphacode.execution.checker import normalize_output, outputs_match


@pytest.mark.parametrize(
    ("expected", "actual", "match"),
    [
        ("3\n", "3", True),
        ("1 2 3\n", "1   2\n3  \n\n", True),  # any whitespace layout, trailing whitespace
        ("YES", "yes", True),  # case-insensitive
        ("Yes", "no", False),
        ("123456789012345678901234567890", "123456789012345678901234567890", True),
        ("123456789012345678901234567890", "123456789012345678901234567891", False),  # big ints exact
        ("100000000000000000000", "100000000000000000001", False),  # equal as floats, not as ints
        ("007", "7", True),
        ("-0", "0", True),
        ("+5", "5", True),
        ("-5", "5", False),
        ("9" * 5000, "9" * 5000, True),  # longer than int() accepts from text
        ("1" + "0" * 5000, "0" + "1" + "0" * 5000, True),
        ("1" + "0" * 5000, "1" + "0" * 4999 + "1", False),
        ("0.333333", "0.3333331", True),  # within 1e-5
        ("0.333333", "0.333353", False),  # outside 1e-5
        ("2", "2.000000", True),  # an integer and a float compare as floats
        ("1e-6", "0", True),
        ("1.5", "abc", False),
        ("1 2", "1 2 3", False),  # token count differs
        ("", "\n \n", True),
        ("-0.0", "0", True),
    ],
)
def test_outputs_match(expected: str, actual: str, match: bool) -> None:
    assert outputs_match(expected, actual) is match
    assert outputs_match(expected.encode(), actual.encode()) is match


def test_normalization_is_whitespace_and_case_blind() -> None:
    assert normalize_output("A  b\nC\t") == normalize_output(b"a b c") == ("a", "b", "c")
