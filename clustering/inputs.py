"""Test-input generation: new inputs on which filtered programs are run to tell their behaviours apart.

Every source is an :class:`InputGenerator`; the pipeline asks one for more inputs than it needs and
keeps those on which most filtered programs run without error or timeout (see
:mod:`clustering.pipeline`). :class:`MutationInputGenerator` perturbs the problem's example inputs;
a model-backed generator (a fine-tuned description -> test input model, sampled like programs)
plugs in through the same ``generate`` method.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alphacode.problems import Problem


class InputGenerator(Protocol):
    """Proposes up to ``n`` new inputs for ``problem`` (stdin text, or for a function-style problem
    the literal of the argument tuple); the same ``seed`` gives the same inputs."""

    def generate(self, problem: Problem, n: int, seed: int) -> list[str]: ...


_POWER = r"10\s*\^\s*\{?\d+\}?"
_BOUND = rf"-?\s*(?:\d+\s*[⋅·*×]\s*{_POWER}|{_POWER}|\d+)(?![\d^])"
_LE = r"(?:≤|<=|\\leq?|⩽)"
_CONSTRAINT = re.compile(rf"({_BOUND})\s*{_LE}\s*[^≤<>\n]{{1,60}}?\s*{_LE}\s*({_BOUND})")


def _parse_bound(text: str) -> int:
    """``10^5``, ``2 ⋅ 10^5``, ``10^{18}``, ``-10^9`` or a plain integer, as an int."""
    text = re.sub(r"\s+", "", text).replace("{", "").replace("}", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("-")
    if "^" not in text:
        return sign * int(text)
    mantissa, _, power = text.rpartition("10^")
    factor = int(re.sub(r"[⋅·*×]", "", mantissa)) if mantissa else 1
    return sign * factor * 10 ** int(power)


def statement_bounds(description: str) -> list[tuple[int, int]]:
    """The integer ranges a statement states, such as ``1 ≤ n ≤ 2 ⋅ 10^5``, as (low, high) pairs."""
    bounds = []
    for match in _CONSTRAINT.finditer(description):
        low, high = _parse_bound(match.group(1)), _parse_bound(match.group(2))
        if low <= high:
            bounds.append((low, high))
    return bounds


@dataclass(frozen=True)
class _Token:
    text: str
    kind: str  # "int", "float", "str"
    fixed: bool  # structural (a count or size): never changed


_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+\.\d+")


def _kind(token: str) -> str:
    """``int`` (no leading zeros: ``0110`` is a string of digits), ``float`` or ``str``."""
    if _INT.fullmatch(token) and not re.match(r"-?0\d", token):
        return "int"
    return "float" if _FLOAT.fullmatch(token) else "str"


def _shape(line: list[str]) -> tuple[Any, ...]:
    return tuple((_kind(t), len(t) if _kind(t) == "str" else 0) for t in line)


def _structural(lines: list[list[str]], row: int, value: int) -> bool:
    """Whether an integer on line ``row`` looks like a count or size of what follows: the number of
    lines left, of tokens on the next line, of characters in the next line's only token, or of a run
    of equally shaped lines starting on the next line. A lone integer on the first line (t or n)
    always counts."""
    if row == 0 and len(lines[0]) == 1:
        return True
    rest = lines[row + 1:]
    if not rest:
        return False
    if value in (len(rest), len(rest[0])) or (len(rest[0]) == 1 and value == len(rest[0][0])):
        return True
    run = 1
    while run < len(rest) and _shape(rest[run]) == _shape(rest[0]):
        run += 1
    return value == run


class _Mutator:
    """The perturbations of one example, driven by one random generator."""

    def __init__(self, rng: random.Random, bounds: Sequence[tuple[int, int]], ints: Sequence[int],
                 alphabet: dict[str, str]) -> None:
        self.rng, self.bounds, self.alphabet = rng, bounds, alphabet
        self.fallback = (min(ints, default=0), max(ints, default=10))

    def integer(self, value: int) -> int:
        """Nudged, moved to a bound of the tightest stated range holding it, or redrawn at its magnitude;
        kept inside that range."""
        holding = [b for b in self.bounds if b[0] <= value <= b[1]]
        low, high = min(holding, key=lambda b: b[1] - b[0]) if holding else self.fallback
        op = self.rng.random()
        if op < 0.45:
            new = value + self.rng.choice((-2, -1, 1, 2))
        elif op < 0.65:
            new = self.rng.choice((low, high, low + 1, high - 1))
        else:
            digits = len(str(abs(value)))
            new = self.rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1) * (-1 if value < 0 else 1)
        return min(max(new, low), high) if holding else new

    def real(self, text: str) -> str:
        decimals = len(text.partition(".")[2])
        return f"{float(text) * self.rng.uniform(0.5, 1.5):.{decimals}f}"

    def string(self, text: str, rate: float) -> str:
        """Characters replaced by others of their class (lower, upper, digit, other) seen in the example."""
        chars = list(text)
        for i, char in enumerate(chars):
            pool = self.alphabet.get(_char_class(char), "")
            if len(pool) > 1 and self.rng.random() < rate:
                chars[i] = self.rng.choice(pool)
        return "".join(chars)


def _char_class(char: str) -> str:
    return "lower" if char.islower() else "upper" if char.isupper() else "digit" if char.isdigit() else "other"


def _alphabet(strings: Sequence[str]) -> dict[str, str]:
    classes: dict[str, set[str]] = {}
    for text in strings:
        for char in text:
            classes.setdefault(_char_class(char), set()).add(char)
    return {k: "".join(sorted(v)) for k, v in classes.items()}


def _token(lines: list[list[str]], row: int, text: str) -> _Token:
    """Classify one token; a lone number whose length the line before gives (``5`` then ``10110``)
    is a string of digits."""
    kind = _kind(text)
    if kind == "int" and len(lines[row]) == 1 and row and lines[row - 1] == [str(len(text))] and len(text) > 1:
        kind = "str"
    return _Token(text, kind, kind == "int" and _structural(lines, row, int(text)))


def _mutate_stdin(text: str, rng: random.Random, bounds: Sequence[tuple[int, int]], rate: float) -> str:
    """Perturb a stdin input token by token, keeping every line and token count."""
    lines = [line.split() for line in text.splitlines()]
    tokens = [[_token(lines, r, t) for t in line] for r, line in enumerate(lines)]
    ints = [int(t.text) for line in tokens for t in line if t.kind == "int"]
    mutator = _Mutator(rng, bounds, ints, _alphabet([t.text for line in tokens for t in line if t.kind == "str"]))
    out = []
    for line in tokens:
        new = []
        for token in line:
            if token.fixed or rng.random() >= rate:
                new.append(token.text)
            elif token.kind == "int":
                new.append(str(mutator.integer(int(token.text))))
            elif token.kind == "float":
                new.append(mutator.real(token.text))
            else:
                new.append(mutator.string(token.text, rate))
        movable = [i for i, t in enumerate(line) if not t.fixed and t.kind != "str"]
        if len(movable) > 1 and rng.random() < rate / 2:
            values = [new[i] for i in movable]
            rng.shuffle(values)
            for i, v in zip(movable, values):
                new[i] = v
        out.append(" ".join(new))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _literals(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set)):
        return [x for v in value for x in _literals(v)]
    if isinstance(value, dict):
        return [x for kv in value.items() for v in kv for x in _literals(v)]
    return [value]


def _mutate_value(value: Any, mutator: _Mutator, rate: float) -> Any:
    """Perturb a Python literal recursively, keeping container types and lengths."""
    rng = mutator.rng
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return mutator.integer(value) if rng.random() < rate else value
    if isinstance(value, float):
        return round(value * rng.uniform(0.5, 1.5), 2) if rng.random() < rate else value
    if isinstance(value, str):
        return mutator.string(value, rate)
    if isinstance(value, (list, tuple)):
        items = [_mutate_value(v, mutator, rate) for v in value]
        if isinstance(value, list) and len(items) > 1 and rng.random() < rate / 2:
            rng.shuffle(items)
        return type(value)(items)
    if isinstance(value, dict):
        return {k: _mutate_value(v, mutator, rate) for k, v in value.items()}
    return value


def _mutate_arguments(text: str, rng: random.Random, bounds: Sequence[tuple[int, int]], rate: float) -> str | None:
    """Perturb a function-style input (the literal of an argument tuple); None if it is no literal."""
    try:
        arguments = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    values = _literals(arguments)
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    mutator = _Mutator(rng, bounds, ints, _alphabet([v for v in values if isinstance(v, str)]))
    return repr(_mutate_value(arguments, mutator, rate))


class MutationInputGenerator:
    """New inputs made by perturbing the example inputs: integers nudged, moved to the statement's
    bounds or redrawn at their magnitude; strings' characters replaced by others of their class;
    arrays reordered. Counts and sizes (integers that match the layout after them), line counts and
    token counts are kept, so most mutants stay valid inputs."""

    rates = (0.15, 0.4, 1.0)
    attempts_per_input = 20

    def generate(self, problem: Problem, n: int, seed: int) -> list[str]:
        examples = [t.input for t in problem.public_tests]
        if not examples or n <= 0:
            return []
        rng = random.Random(f"{seed}:{problem.name}")
        bounds = statement_bounds(problem.description)
        mutate = _mutate_arguments if problem.entry_point else _mutate_stdin
        seen, inputs = set(examples), []
        for attempt in range(n * self.attempts_per_input):
            rate = self.rates[attempt % len(self.rates)]
            mutant = mutate(examples[attempt % len(examples)], rng, bounds, rate)
            if mutant is not None and mutant not in seen:
                seen.add(mutant)
                inputs.append(mutant)
                if len(inputs) == n:
                    break
        return inputs
