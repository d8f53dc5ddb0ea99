"""The output checker compares like the CodeContests judge."""

from __future__ import annotations

import pytest

from alphacode.execution.checker import (
    FUNCTION_RESULT_SENTINEL,
    canonical_token,
    function_behaviour,
    function_outputs_match,
    normalize_output,
    outputs_match,
)


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
        ("1000000000000000007", "1000000000000000000.0", False),  # equal as binary floats, 7 apart
        ("1000000000000000007", "1.000000000000000007e18", True),
        ("123456789012345.678", "123456789012345.671875", True),  # floats as doubles, as the judge has them
        ("5", "1e99999999999999999999", False),  # exponents beyond a decimal's range
        ("0", "1e-99999999999999999999", True),
        ("5", "\u0665.0", False),  # an Arabic-Indic five: not a number to this judge, as it is not as an integer
        ("1e999999999", "1e999999998", False),
        ("1e-999999999", "0", True),
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


@pytest.mark.parametrize(("tokens", "form"), [
    (["-0.0000001", "0.000000", "-0.0", "+0.0000004", "-0e5"], "0.000000"),  # no negative zero
    (["-0", "+0", "000"], "0"),
    (["-007", "-7"], "-7"),
    (["2.5", "2.50", "+2.5000001"], "2.500000"),
    (["-1e-3", "-0.001"], "-0.001000"),
    (["yes"], "yes"),
])
def test_canonical_tokens_of_values_the_checker_accepts_coincide(tokens: list[str], form: str) -> None:
    assert {canonical_token(t) for t in tokens} == {form}
    assert all(outputs_match(tokens[0], t) for t in tokens)


def driver(result: str, noise: str = "") -> str:
    return f"{noise}{FUNCTION_RESULT_SENTINEL}\n{result}\n"


@pytest.mark.parametrize(
    ("expected", "result", "match"),
    [
        ("'Hello'", "'Hello'", True),
        ("'Hello'", "'hELLO'", False),  # case matters for returned values
        ("[1, 2]", "(1, 2)", False),  # so does the type
        ("True", "1", False),
        ("3", "3.0", True),
        ("9999800001", "9999809000.8", False),  # an expected integer is exact, as HumanEval's asserts are
        ("9999800001", "9999800001.0", True),
        ("2.5", str(10**400), False),  # an int beyond any float
        ("0.1", "0.10000000001", True),  # within 1e-6 relative
        ("[0.5, 'a']", "[0.5001, 'a']", False),
        ("{'a': 1.0}", "{'a': 1.0000000001}", True),
        ("1 2", "1  2", False),  # not a literal on one side: exact text
    ],
)
def test_function_outputs_match_on_the_returned_value(expected: str, result: str, match: bool) -> None:
    assert function_outputs_match(expected, driver(result, noise="'Hello'\n").encode()) is match


def test_function_output_without_the_sentinel_never_matches() -> None:
    assert not function_outputs_match("'Hello'", "'Hello'\n")
    assert function_behaviour(driver("'Hello'")) != function_behaviour(driver("'hELLO'"))
    assert function_behaviour(driver("0.30000000000000004")) == function_behaviour(driver("0.3"))
    assert function_behaviour("no sentinel") is None
