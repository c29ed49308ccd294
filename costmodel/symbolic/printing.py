"""Expressions as people read them and sympy reads back: ``floor((H - 1)/32)`` rather than sympy's
``floor(H/32 - 1/32)``; every printed string parses with ``sympy.sympify`` to an equal expression."""

from __future__ import annotations

from typing import Any

import sympy
from sympy.printing.str import StrPrinter


class _SizePrinter(StrPrinter):
    def _print_floor(self, expr: Any) -> str:
        return f"floor({self._quotient(expr.args[0])})"

    def _print_ceiling(self, expr: Any) -> str:
        return f"ceiling({self._quotient(expr.args[0])})"

    def _quotient(self, arg: Any) -> str:
        num, den = sympy.fraction(sympy.together(arg))
        if den == 1:
            return self._print(arg)
        top = sympy.expand(num)
        text = self._print(top)
        return f"{text}/{self._print(den)}" if top.is_Atom else f"({text})/{self._print(den)}"


_PRINTER = _SizePrinter()


def expr_text(expr: Any) -> str:
    """``expr`` in readable sympy syntax (None → '')."""
    if expr is None:
        return ""
    return str(_PRINTER.doprint(sympy.sympify(expr)))
