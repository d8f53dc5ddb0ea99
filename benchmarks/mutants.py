"""Plausible wrong versions of a correct Python program, made by small AST edits.

Used by benchmarks to check that an evaluator rejects wrong programs, not only that it accepts right
ones. Operators: flipped comparison, swapped arithmetic operator, off-by-one constant.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator

_COMPARE_FLIPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}


def _sites(tree: ast.AST) -> list[tuple[int, str]]:
    sites = []
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE_FLIPS:
            sites.append((index, "compare"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
            sites.append((index, "binop"))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites.append((index, "constant"))
    return sites


def mutants(code: str, limit: int = 3) -> Iterator[str]:
    """Yield up to ``limit`` distinct single-edit mutants of ``code`` (nothing if it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    original = ast.unparse(tree)
    seen = {original}
    for index, kind in _sites(tree):
        if len(seen) > limit:
            return
        mutated = copy.deepcopy(tree)
        node = list(ast.walk(mutated))[index]
        if kind == "compare":
            node.ops[0] = _COMPARE_FLIPS[type(node.ops[0])]()
        elif kind == "binop":
            node.op = _BINOP_SWAPS[type(node.op)]()
        else:
            node.value += 1
        text = ast.unparse(mutated)
        if text not in seen:
            seen.add(text)
            yield text
