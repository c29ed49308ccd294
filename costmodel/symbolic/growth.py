"""How a cost grows: the leading-order term of an expression as the sizes grow (floors and ceilings grow
like their arguments, a remainder is bounded), its degree in each symbol, and the rows whose terms make
up that leading order."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy


class NotPolynomial(ValueError):
    """An expression whose growth is not read as a polynomial (Min, Max, Piecewise of sizes)."""


def smoothed(expr: Any) -> Any:
    """``expr`` with floor(x) and ceiling(x) replaced by x and Mod(a, b) by 0 — the same leading-order
    growth when every size grows (each differs from its replacement by a bounded amount of lower order)."""
    expr = sympy.sympify(expr)
    if expr.has(sympy.Min, sympy.Max, sympy.Piecewise):
        raise NotPolynomial(f"{expr} is not a polynomial of floors")
    replaced = expr.replace(sympy.floor, lambda x: x).replace(sympy.ceiling, lambda x: x)
    return sympy.expand(replaced.replace(sympy.Mod, lambda a, b: sympy.Integer(0)))


@dataclass(frozen=True)
class Growth:
    """The leading-order growth of one total: ``leading`` is the sum of its terms of highest total degree
    (e.g. ``12544*H**2*W**2/...``), ``order`` the same without coefficients (``H**2*W**2``), ``degrees`` the
    degree in each symbol; ``dominant`` the rows contributing most to the leading coefficient (name, share)."""

    metric: str
    order: Any
    leading: Any
    degrees: dict[str, int]
    dominant: list[tuple[str, Fraction]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON: expressions as sympy strings, shares as floats."""
        return {
            "order": str(self.order),
            "leading": str(self.leading),
            "degrees": dict(self.degrees),
            "dominant_rows": [{"name": n, "share": float(s)} for n, s in self.dominant],
        }


def _leading_terms(poly: sympy.Poly) -> dict[tuple[int, ...], Any]:
    if poly.is_zero:
        return {}
    top = poly.total_degree()
    return {m: c for m, c in poly.terms() if sum(m) == top}


def growth(metric: str, total: Any, rows: list[tuple[str, Any]], symbols: list[sympy.Symbol], top: int = 3) -> Growth:
    """The growth of ``total`` (an expression of ``symbols``) and which of ``rows`` (name, expression)
    make it: a row's share is its coefficient on the total's leading monomial(s) over the total's."""
    gens = symbols or [sympy.Symbol("_none")]
    poly = sympy.Poly(smoothed(total), *gens)
    lead = _leading_terms(poly)
    order = sympy.Add(*[sympy.Mul(*[g**e for g, e in zip(gens, m)]) for m in lead]) if lead else sympy.Integer(0)
    leading = sympy.Add(*[c * sympy.Mul(*[g**e for g, e in zip(gens, m)]) for m, c in lead.items()])
    degrees = {str(s): poly.degree(s) for s in symbols}
    weight = sum(abs(c) for c in lead.values())
    shares: list[tuple[str, Fraction]] = []
    if weight and any(sum(m) > 0 for m in lead):
        for name, expr in rows:
            row_poly = sympy.Poly(smoothed(expr), *gens)
            part = sum(row_poly.coeff_monomial(m) for m in lead)
            if part:
                shares.append((name, Fraction(str(sympy.nsimplify(part / weight)))))
        shares.sort(key=lambda item: -item[1])
    return Growth(metric, order, leading, degrees, shares[:top])
