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

from alphacode.execution.checker import parse_literal
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
    """The perturbations of one problem's examples, driven by one random generator.

    ``ints`` and ``strings`` are the values seen in all the examples: integers fall back to their
    range where the statement states none, strings draw characters, words and replacements from them.
    ``fixed_length`` keeps every string's length (a stdin token's length can be a stated size).
    """

    def __init__(self, rng: random.Random, bounds: Sequence[tuple[int, int]], ints: Sequence[int],
                 strings: Sequence[str], fixed_length: bool) -> None:
        self.rng, self.bounds, self.fixed_length = rng, bounds, fixed_length
        self.fallback = (min(ints, default=0), max(ints, default=10))
        self.alphabet = _alphabet(strings)
        self.strings = sorted(set(strings))
        self.words = sorted({w for text in strings for w in text.split()})

    def integer(self, value: int) -> int:
        """Nudged, moved to a bound of the tightest stated range holding it, to a power of two or ten
        (or one off it), or redrawn at its magnitude; kept inside that range."""
        holding = [b for b in self.bounds if b[0] <= value <= b[1]]
        low, high = min(holding, key=lambda b: b[1] - b[0]) if holding else self.fallback
        op = self.rng.random()
        if op < 0.4:
            new = value + self.rng.choice((-2, -1, 1, 2))
        elif op < 0.6:
            new = self.rng.choice((low, high, low + 1, high - 1))
        elif op < 0.7:
            ceiling = high if holding else 10 * abs(value) + 10
            powers = [p for base in (2, 10) for p in (base**k for k in range(1, 64)) if p <= ceiling] or [1]
            new = self.rng.choice(powers) + self.rng.choice((-1, 0, 1))
        else:
            digits = len(str(abs(value)))
            new = self.rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1) * (-1 if value < 0 else 1)
        return min(max(new, low), high) if holding else new

    def real(self, text: str) -> str:
        decimals = len(text.partition(".")[2])
        return f"{float(text) * self.rng.uniform(0.5, 1.5):.{decimals}f}"

    def string(self, text: str, rate: float) -> str:
        """One of: the numbers inside nudged (``03-11-2000`` -> ``03-12-2000``); words replaced by words
        of the examples or reordered; the whole string swapped for another example string; characters
        replaced by others of their class (lower, upper, digit, other) seen in the examples."""
        op = self.rng.random()
        if op < 0.3 and any(c.isdigit() for c in text):
            new = re.sub(r"\d+", lambda m: self._digits(m.group(), rate), text)
        elif op < 0.5 and len(self.words) > 1 and " " in text.strip():
            words = [self.rng.choice(self.words) if self.rng.random() < rate else w for w in text.split(" ")]
            if self.rng.random() < rate:
                self.rng.shuffle(words)
            new = " ".join(words)
        elif op < 0.6 and len(self.strings) > 1:
            new = self.rng.choice(self.strings)
        else:
            new = "".join(self.rng.choice(pool) if len(pool := self.alphabet.get(_char_class(c), "")) > 1
                          and self.rng.random() < rate else c for c in text)
        return text if self.fixed_length and len(new) != len(text) else new

    def _digits(self, digits: str, rate: float) -> str:
        if self.rng.random() >= max(rate, 0.5):
            return digits
        value = max(0, int(digits) + self.rng.choice((-2, -1, 1, 2)))
        return str(value).zfill(len(digits)) if digits.startswith("0") else str(value)


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


def _stdin_tokens(text: str) -> list[list[_Token]]:
    lines = [line.split() for line in text.splitlines()]
    return [[_token(lines, r, t) for t in line] for r, line in enumerate(lines)]


def _stdin_mutator(examples: Sequence[str], rng: random.Random, bounds: Sequence[tuple[int, int]]) -> _Mutator:
    tokens = [t for text in examples for line in _stdin_tokens(text) for t in line]
    return _Mutator(rng, bounds, [int(t.text) for t in tokens if t.kind == "int"],
                    [t.text for t in tokens if t.kind == "str"], fixed_length=True)


def _mutate_stdin(text: str, mutator: _Mutator, rate: float) -> str:
    """Perturb a stdin input token by token, keeping every line and token count."""
    rng = mutator.rng
    out = []
    for line in _stdin_tokens(text):
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
    """Perturb a Python literal recursively, keeping container types; lists are sometimes reordered
    or one element shorter or longer (a function's list has no count beside it to keep in step)."""
    rng = mutator.rng
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return mutator.integer(value) if rng.random() < rate else value
    if isinstance(value, float):
        return round(value * rng.uniform(0.5, 1.5), 2) if rng.random() < rate else value
    if isinstance(value, str):
        return mutator.string(value, rate) if rng.random() < max(rate, 0.5) else value
    if isinstance(value, (list, tuple)):
        items = [_mutate_value(v, mutator, rate) for v in value]
        if isinstance(value, list) and items and rng.random() < rate / 2:
            if rng.random() < 0.5 and len(items) > 1:
                rng.shuffle(items)
            elif rng.random() < 0.5:
                items.pop(rng.randrange(len(items)))
            else:
                items.insert(rng.randrange(len(items) + 1), rng.choice(items))
        return type(value)(items)
    if isinstance(value, dict):
        return {k: _mutate_value(v, mutator, rate) for k, v in value.items()}
    return value


def _arguments_mutator(examples: Sequence[str], rng: random.Random, bounds: Sequence[tuple[int, int]]) -> _Mutator:
    values = [v for text in examples for v in _literals(ast.literal_eval(text))]
    return _Mutator(rng, bounds, [v for v in values if isinstance(v, int) and not isinstance(v, bool)],
                    [v for v in values if isinstance(v, str)], fixed_length=False)


def _mutate_arguments(text: str, mutator: _Mutator, rate: float) -> str:
    """Perturb a function-style input: the literal of an argument tuple."""
    return repr(_mutate_value(ast.literal_eval(text), mutator, rate))


def example_calls(description: str, entry_point: str) -> list[str]:
    """Argument tuples (as literals) that a statement shows for ``entry_point``: calls on literals such
    as ``f([1, 2], 'a')``, and lines naming every parameter (``For lst = [1, 2] the output ...``,
    ``Input: arr = [3, 4], k = 1``; for one parameter also ``Input: 3``). They are inputs even where no
    expected output parses."""
    found = []
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\(", description):
        rest = description[match.end():match.end() + 2000]
        for end in (i for i, ch in enumerate(rest) if ch == ")"):
            arguments = f"({rest[:end]},)" if rest[:end].strip() else "()"
            ok, value = parse_literal(arguments)
            if ok:
                found.append(repr(value))
                break
    parameters = _parameters(description, entry_point)
    for line in description.splitlines() if parameters else ():
        values = {}
        for name in parameters:
            named = re.search(rf"(?<![\w.]){re.escape(name)}\s*=\s*(?!=)", line)
            value = _literal_prefix(line[named.end():]) if named else None
            if value is not None:
                values[name] = value
        bare = re.search(r"\binput\s*:\s*", line, re.IGNORECASE)
        if len(parameters) == 1 and not values and bare and (value := _literal_prefix(line[bare.end():])) is not None:
            values[parameters[0]] = value
        if len(values) == len(parameters):
            found.append(repr(tuple(ast.literal_eval(values[name]) for name in parameters)))
    return list(dict.fromkeys(found))


def _parameters(description: str, entry_point: str) -> list[str]:
    """The positional parameters of ``entry_point`` where the statement defines it (a function stub)."""
    try:
        tree = ast.parse(description)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [a.arg for a in node.args.posonlyargs + node.args.args]
    return []


def _literal_prefix(text: str) -> str | None:
    """The longest start of ``text`` that is one Python literal (a tuple only when parenthesised)."""
    text = text[:300]
    for end in range(len(text), 0, -1):
        head = text[:end].strip()
        if not head or head.endswith(","):
            continue
        ok, value = parse_literal(head)
        if ok and (head.startswith("(") or not isinstance(value, tuple)):
            return head
    return None


class MutationInputGenerator:
    """New inputs made by perturbing the example inputs: integers nudged, moved to the statement's
    bounds or redrawn at their magnitude; strings' characters, words or embedded numbers changed, or
    the string swapped for another of the examples; arrays reordered. On stdin, counts and sizes
    (integers that match the layout after them), line counts, token counts and string lengths are
    kept, so most mutants stay valid inputs. A function-style problem's examples are its public test
    inputs and the literal calls of its function in the statement."""

    rates = (0.15, 0.4, 1.0)
    attempts_per_input = 20

    def generate(self, problem: Problem, n: int, seed: int) -> list[str]:
        examples = [t.input for t in problem.public_tests]
        if problem.entry_point:
            examples = [e for e in examples if parse_literal(e)[0]]
            examples = list(dict.fromkeys(examples + example_calls(problem.description, problem.entry_point)))
        if not examples or n <= 0:
            return []
        rng = random.Random(f"{seed}:{problem.name}")
        bounds = statement_bounds(problem.description)
        if problem.entry_point:
            mutator, mutate = _arguments_mutator(examples, rng, bounds), _mutate_arguments
        else:
            mutator, mutate = _stdin_mutator(examples, rng, bounds), _mutate_stdin
        seen, inputs = {t.input for t in problem.public_tests}, []
        for attempt in range(n * self.attempts_per_input):
            example = examples[attempt % len(examples)]
            for candidate in (example, mutate(example, mutator, self.rates[attempt % len(self.rates)])):
                if candidate not in seen:
                    seen.add(candidate)
                    inputs.append(candidate)
            if len(inputs) >= n:
                break
        return inputs[:n]
