"""Outcomes derived from others by arithmetic: ``china_share_2030 - us_share_2030``.

An expression may use outcome names, numbers, ``+ - * /``, ``**``, parentheses and ``abs``, ``min``, ``max``
(of two values); nothing else is evaluated, so an expression from a file cannot run code.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DerivedError", "evaluate", "names_in"]

_OPERATORS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}
_FUNCTIONS = {"abs": (np.abs, 1), "min": (np.minimum, 2), "max": (np.maximum, 2)}


class DerivedError(ValueError):
    """An expression that is not arithmetic of known outcomes."""


def _parse(text: str) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise DerivedError(f"'{text}' is not an outcome name or arithmetic of outcome names "
                           "(e.g. china_share_2030 - us_share_2030)") from None


def names_in(text: str, known: Sequence[str]) -> list[str]:
    """Return the outcome names an expression uses, after checking that it is plain arithmetic of ``known`` names.

    Raises:
        DerivedError: a name that is not an outcome (with the closest one), or anything but arithmetic.
    """
    used: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            if node.id not in known:
                close = difflib.get_close_matches(node.id, list(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise DerivedError(f"'{node.id}' is not an outcome of the sweep{hint} Outcomes: {', '.join(known)}")
            used.append(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            pass
        elif isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            visit(node.operand)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
              and not node.keywords and len(node.args) == _FUNCTIONS[node.func.id][1]):
            for arg in node.args:
                visit(arg)
        else:
            raise DerivedError(f"'{ast.unparse(node)}' is not allowed in an outcome expression: use outcome names, "
                               "numbers, + - * / **, parentheses, abs(x), min(x, y) and max(x, y)")

    visit(_parse(text))
    return list(dict.fromkeys(used))


def evaluate(text: str, columns: Mapping[str, Any]) -> np.ndarray:
    """Return the expression's value for every row, given each outcome's column of values."""
    names_in(text, list(columns))

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return np.asarray(columns[node.id], dtype=float)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        function = _FUNCTIONS[node.func.id][0]
        return function(*(value(a) for a in node.args))

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(value(_parse(text)), dtype=float)
