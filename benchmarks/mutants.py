"""Plausible wrong versions of a correct Python program, and correct ones written differently, by AST edits.

Used by benchmarks to check that an evaluator rejects wrong programs, not only that it accepts right
ones, and to build candidate pools for selection. Mutation operators: flipped comparison, swapped
arithmetic operator, off-by-one constant (+1), changed constant (-1, 0 or 2, x10), early return. Rewrites keep the behaviour:
reformatting, renamed local variables, mirrored comparisons.
"""

from __future__ import annotations

import ast
import builtins
import copy
import itertools
import random
from collections.abc import Callable, Iterator

_COMPARE_FLIPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}
_MIRRORS = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}

OPERATORS = ("compare", "binop", "off_by_one", "constant", "early_return")
DEFAULT_OPERATORS = ("compare", "binop", "off_by_one")

Edit = Callable[[ast.AST], None]


def _edits(node: ast.AST, operators: tuple[str, ...]) -> list[tuple[str, Edit]]:
    """The single edits each operator can make at ``node`` (each edit mutates a copy's node in place)."""
    edits: list[tuple[str, Edit]] = []
    if "compare" in operators and isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE_FLIPS:
        edits.append(("compare", lambda n: n.ops.__setitem__(0, _COMPARE_FLIPS[type(n.ops[0])]())))
    if "binop" in operators and isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        edits.append(("binop", lambda n: setattr(n, "op", _BINOP_SWAPS[type(n.op)]())))
    if isinstance(node, ast.Constant) and type(node.value) is int:
        if "off_by_one" in operators:
            edits.append(("off_by_one", lambda n: setattr(n, "value", n.value + 1)))
        if "constant" in operators:
            edits.append(("constant", lambda n: setattr(n, "value", n.value - 1)))
            edits.append(("constant", lambda n: setattr(n, "value", 0 if n.value else 2)))
            edits.append(("constant", lambda n: setattr(n, "value", n.value * 10 if n.value else 100)))
    if "early_return" in operators and isinstance(node, ast.FunctionDef):
        final = node.body[-1]
        if isinstance(final, ast.Return) and final.value is not None:
            for i in range(len(node.body) - 1):
                edits.append(("early_return", lambda n, i=i: n.body.insert(i + 1, copy.deepcopy(n.body[-1]))))
            for loop in (s for s in ast.walk(node) if isinstance(s, (ast.For, ast.While))):
                edits.append(("early_return", _return_in_loop(node, loop)))
    return edits


def _return_in_loop(function: ast.FunctionDef, loop: ast.AST) -> Edit:
    """An edit that ends the loop's first iteration with the function's final ``return``."""
    position = list(ast.walk(function)).index(loop)

    def edit(n: ast.AST) -> None:
        target = list(ast.walk(n))[position]
        target.body.append(copy.deepcopy(n.body[-1]))
    return edit


def _all_mutants(code: str, operators: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Every distinct single-edit mutant as (operator, source), in the order of the edit sites."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    seen = {ast.unparse(tree)}
    for index, node in enumerate(ast.walk(tree)):
        for operator, edit in _edits(node, operators):
            mutated = copy.deepcopy(tree)
            edit(list(ast.walk(mutated))[index])
            text = ast.unparse(ast.fix_missing_locations(mutated))
            if text not in seen:
                seen.add(text)
                yield operator, text


def mutants(code: str, limit: int = 3, operators: tuple[str, ...] = DEFAULT_OPERATORS) -> Iterator[str]:
    """Yield up to ``limit`` distinct single-edit mutants of ``code`` (nothing if it does not parse)."""
    for _, text in itertools.islice(_all_mutants(code, operators), limit):
        yield text


def sample_mutants(code: str, n: int, seed: int, operators: tuple[str, ...] = OPERATORS) -> list[tuple[str, str]]:
    """Up to ``n`` distinct mutants as (operator, source), drawn at random but spread evenly over the operators."""
    rng = random.Random(seed)
    by_operator: dict[str, list[str]] = {}
    for operator, text in _all_mutants(code, operators):
        by_operator.setdefault(operator, []).append(text)
    for texts in by_operator.values():
        rng.shuffle(texts)
    chosen: list[tuple[str, str]] = []
    depth = 0
    while len(chosen) < n and any(len(t) > depth for t in by_operator.values()):
        chosen.extend((op, t[depth]) for op, t in sorted(by_operator.items()) if len(t) > depth)
        depth += 1
    return chosen[:n]


def _local_names(tree: ast.Module, keep: set[str]) -> list[str]:
    """Variables the program binds by assignment (not parameters, functions, imports or class attributes)."""
    excluded = set(keep) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            excluded.update(a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg))
            if not isinstance(node, ast.Lambda):
                excluded.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            excluded.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ClassDef):
            excluded.add(node.name)
            excluded.update(t.id for s in node.body for t in ast.walk(s) if isinstance(t, ast.Name))
    bound = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return [name for name in dict.fromkeys(bound) if name not in excluded]


def _rename(tree: ast.Module, keep: set[str], prefix: str) -> ast.Module:
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(keep)
    mapping, counter = {}, 0
    for name in _local_names(tree, keep):
        while f"{prefix}{counter}" in taken:
            counter += 1
        mapping[name] = f"{prefix}{counter}"
        counter += 1
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            node.names = [mapping.get(n, n) for n in node.names]
    return tree


def _mirror(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _MIRRORS:
            node.left, node.comparators = node.comparators[0], [node.left]
            node.ops = [_MIRRORS[type(node.ops[0])]()]
    return tree


def rewrites(code: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """Up to three behaviour-preserving versions of ``code`` that differ from it and each other as text:
    reformatted, local variables renamed, and renamed otherwise with mirrored comparisons. ``keep`` names
    identifiers that must not change (such as a function the tests call)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    versions = [ast.unparse(tree), ast.unparse(_rename(copy.deepcopy(tree), set(keep), "v")),
                ast.unparse(_mirror(_rename(copy.deepcopy(tree), set(keep), "w")))]
    return [v for v in dict.fromkeys(versions) if v != code]
