"""Where a formula holds: the conditions torch's ShapeEnv recorded while the model and the rules decided
shape-dependent branches at the hints (guards), the symbols it fixed (specialised to a number, or equal to
another), and each symbol's range — as plain sympy over the user's names."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from costmodel.errors import CostModelError
from costmodel.symbolic.expressions import NotPlainExpression, integer_function, plain
from costmodel.symbolic.symbols import SizeSymbols

#: A gap expression → its compiled integer function of one symbol (``integer_function``).
Compiler = Callable[[Any], Callable[..., tuple[Any, ...]]]


class OutsideDomain(CostModelError):
    """Sizes at which the formula is not known to hold (a condition of its domain fails)."""


@dataclass(frozen=True)
class Condition:
    """One condition of the domain: a sympy boolean over the user's symbols and where it came from
    ('range', 'guard' — a branch decided at the hints —, or 'specialised')."""

    expr: Any
    origin: str

    @property
    def text(self) -> str:
        """The condition as sympy prints it (``sympy.sympify`` reads it back)."""
        return str(self.expr)

    def holds(self, values: dict[sympy.Symbol, int]) -> bool:
        """Whether the condition is true at these sizes (every symbol it names given)."""
        return bool(self.expr.xreplace(values))


@dataclass
class Domain:
    """The conditions under which every expression of a formula equals ``analyze`` at that size, and the
    symbols the trace fixed (name → the number or expression it must equal)."""

    conditions: list[Condition] = field(default_factory=list)
    specialised: dict[str, str] = field(default_factory=dict)

    def violated(self, values: dict[sympy.Symbol, int]) -> Condition | None:
        """The first condition false at ``values``, or None inside the domain."""
        return next((c for c in self.conditions if not c.holds(values)), None)

    def check(self, values: dict[sympy.Symbol, int]) -> None:
        """Raise OutsideDomain (one line, naming the failed condition) when ``values`` lie outside."""
        failed = self.violated(values)
        if failed is not None:
            at = ", ".join(f"{k}={v}" for k, v in values.items())
            raise OutsideDomain(f"{at} is outside the formula's domain: it needs {failed.text} ({failed.origin})")


def domain_of(symbols: SizeSymbols) -> Domain:
    """The domain the ShapeEnv of ``symbols`` recorded: ranges, specialisations and guards that its own
    value-range analysis cannot already prove, deduplicated."""
    env = symbols.env
    domain = Domain()
    seen: set[Any] = set()

    def add(expr: Any, origin: str) -> None:
        if expr is sympy.true or expr is True:
            return
        if expr is sympy.false or expr is False:
            raise CostModelError(f"the trace recorded an impossible condition ({origin})")
        if expr not in seen:  # sympy's structural equality (printing each to compare cost a fifth of the domain)
            seen.add(expr)
            domain.conditions.append(Condition(expr, origin))

    for raw, user in symbols.user_of.items():
        if raw in env.replacements:
            value = plain(env.replacements[raw], symbols.user_of)
            domain.specialised[str(user)] = str(value)
            add(sympy.Eq(user, value), "specialised")
            continue
        bounds = env.var_to_range.get(raw)
        if bounds is not None:
            add(user >= int(bounds.lower), "range")
            if isinstance(bounds.upper, sympy.Integer):
                add(user <= int(bounds.upper), "range")
    for guard in env.guards:
        try:
            static = env._maybe_evaluate_static(guard.expr, axioms=())  # ranges only, not the guards themselves
        except Exception:  # noqa: BLE001  # torch's static evaluation is best effort: keep the guard
            static = None
        if static is sympy.true:
            continue
        try:
            add(plain(env.simplify(guard.expr), symbols.user_of), "guard")
        except NotPlainExpression as exc:
            raise CostModelError(f"a shape condition has no plain form: {exc}") from exc
    domain.conditions = merged_thresholds(domain.conditions, symbols.hint_values())
    return domain


#: Relations a threshold is read from: condition ⟺ (lhs - rhs) compared with 0.
_SIGN: dict[type, tuple[int, str]] = {
    sympy.StrictGreaterThan: (1, ">"),
    sympy.GreaterThan: (1, ">="),
    sympy.StrictLessThan: (-1, ">"),
    sympy.LessThan: (-1, ">="),
    sympy.Ne: (1, "!="),
}


def _non_decreasing(expr: Any, lowest: dict[sympy.Symbol, int]) -> bool:
    """Whether ``expr`` is non-decreasing in each of its symbols for every symbol ≥ its ``lowest``: a
    polynomial with non-negative coefficients in the symbols and in floors/ceilings of (a·symbol + c)/d,
    a > 0, each of them non-negative from ``lowest`` on."""
    symbols = sorted(expr.free_symbols, key=str)
    atoms = symbols + sorted(expr.atoms(sympy.floor, sympy.ceiling), key=sympy.default_sort_key)
    for atom in atoms[len(symbols) :]:
        arg = sympy.expand(atom.args[0])
        inner = arg.free_symbols
        if len(inner) != 1:
            return False
        (symbol,) = inner
        slope = arg.coeff(symbol)
        if not (arg - slope * symbol).is_number or not (slope.is_number and slope > 0):
            return False
        if atom.subs(symbol, lowest.get(symbol, 1)) < 0:
            return False
    for term in sympy.Add.make_args(sympy.expand(expr)):
        coefficient, rest = term.as_coeff_Mul()
        if rest == 1:
            continue  # the constant term
        if coefficient < 0:
            return False
        for factor in sympy.Mul.make_args(rest):  # a product of non-negative, non-decreasing atoms
            base, exponent = factor.as_base_exp()
            if not (exponent.is_Integer and exponent > 0 and base in atoms):
                return False
    return True


def _first_true(holds: Any, lowest: int) -> int | None:
    """The least n ≥ ``lowest`` with ``holds(n)``, for a predicate false then true (monotone); None
    when it stays false up to 2**48."""
    if holds(lowest):
        return lowest
    high = lowest + 1
    while not holds(high):
        if high > 2**48:
            return None
        high = lowest + 2 * (high - lowest)
    low = lowest  # holds(low) is False, holds(high) True
    while high - low > 1:
        mid = (low + high) // 2
        if holds(mid):
            high = mid
        else:
            low = mid
    return high


def _gap(condition: Any) -> tuple[Any, str] | None:
    """``condition`` as (gap, relation) with condition ⟺ gap {>, >=, !=} 0."""
    if type(condition) not in _SIGN:
        return None
    sign, relation = _SIGN[type(condition)]
    return sympy.expand(sign * (condition.lhs - condition.rhs)), relation


def _holds(gap: Any, relation: str, values: dict[sympy.Symbol, int]) -> bool:
    value = gap.xreplace(values)
    return bool(value > 0) if relation == ">" else bool(value >= 0) if relation == ">=" else bool(value != 0)


def _monotone_threshold(gap: Any, relation: str, symbol: sympy.Symbol, lowest: int, compiled_of: Compiler) -> int | None:
    """n₀ for a gap non-decreasing in its one symbol: the condition is false below n₀, true from n₀ on."""
    if relation == "!=":
        if not _non_decreasing(gap, {symbol: lowest}):
            gap = -gap
            if not _non_decreasing(gap, {symbol: lowest}):
                return None
        if gap.subs(symbol, lowest) < 0:  # rises through zero: the zeros are an interval in the middle
            return None
        relation = ">"
    elif not _non_decreasing(gap, {symbol: lowest}):
        return None
    try:
        compiled = compiled_of(gap)
    except NotPlainExpression:
        return _first_true(lambda n: _holds(gap, relation, {symbol: n}), lowest)

    def holds(n: int) -> bool:
        (value,) = compiled(n)
        return bool(value > 0) if relation == ">" else bool(value >= 0)

    return _first_true(holds, lowest)


def _periodic_threshold(gap: Any, relation: str, symbol: sympy.Symbol, lowest: int, compiled_of: Compiler) -> int | None:
    """A sufficient n₀ for a gap linear in the symbol and in floors/ceilings of (a·symbol + c)/d: with P
    the common period of the floors, gap(n + P) = gap(n) + D for a constant D ≥ 0 (checked), so a
    condition true on one whole window [n₀, n₀ + P) is true for every n ≥ n₀ (induction on windows)."""
    atoms = sorted(gap.atoms(sympy.floor, sympy.ceiling), key=sympy.default_sort_key)
    period = 1
    for atom in atoms:
        slope = sympy.expand(atom.args[0]).coeff(symbol)
        if not slope.is_Rational:
            return None
        period = int(sympy.ilcm(period, slope.q))
    try:
        poly = sympy.Poly(gap, symbol, *atoms)
    except sympy.PolynomialError:
        return None
    if poly.total_degree() > 1:
        return None
    coefficients = poly.coeffs() and dict(zip(poly.gens, (poly.coeff_monomial(g) for g in poly.gens)))
    slopes = {atom: sympy.expand(atom.args[0]).coeff(symbol) for atom in atoms}
    # floor(a·(n + P) + c) = floor(a·n + c) + a·P when a·P is an integer (a ceiling likewise)
    step = period * (coefficients[symbol] + sum(coefficients[a] * slopes[a] for a in atoms))
    if not (step.is_number and step >= 0):
        return None
    if period > 4096:
        return None
    (gaps,) = compiled_of(gap)(np.arange(lowest, lowest + 4 * period + 4096, dtype=np.int64))
    values = list(gaps > 0 if relation == ">" else gaps >= 0 if relation == ">=" else gaps != 0)
    for start in range(len(values) - period):
        if all(values[start : start + period]):
            return lowest + start
    return None


def threshold(condition: Any, lowest: int) -> int | None:
    """For a condition on one symbol, an n₀ ≥ ``lowest`` such that every n ≥ n₀ satisfies it (proved:
    monotone gap, then n₀ is exact; or a gap linear over periodic floors, then checked on one period),
    else None."""
    found = _gap(condition)
    if found is None or len(condition.free_symbols) != 1:
        return None
    gap, relation = found
    (symbol,) = condition.free_symbols
    compiled_of = functools.cache(lambda g: integer_function([g], [symbol]))  # both tests may compile one gap
    at = _monotone_threshold(gap, relation, symbol, lowest, compiled_of)
    return at if at is not None else _periodic_threshold(gap, relation, symbol, lowest, compiled_of)


def implied_by_floors(condition: Any, floors: dict[sympy.Symbol, int]) -> bool:
    """Whether ``condition`` holds wherever every symbol is at least its floor: its gap is non-decreasing
    in every symbol, so its least value over that region is at the corner, where it holds."""
    found = _gap(condition)
    if found is None or not condition.free_symbols <= set(floors):
        return False
    gap, relation = found
    corner = {s: floors[s] for s in condition.free_symbols}
    if relation == "!=":
        return _non_decreasing(gap, corner) and bool(gap.xreplace(corner) > 0)
    return _non_decreasing(gap, corner) and _holds(gap, relation, corner)


def merged_thresholds(conditions: list[Condition], hints: dict[sympy.Symbol, int]) -> list[Condition]:
    """The conditions with every one-symbol threshold condition (and the symbol's range floor) replaced
    by one ``symbol >= n₀`` per symbol, n₀ the largest of their thresholds, which implies each of them
    (``H >= 33`` instead of a dozen ``Ne(floor((H - 1)/32) + 1, 1)``); then conditions that hold wherever
    every symbol is at least its floor are dropped (``implied_by_floors``)."""
    floors: dict[sympy.Symbol, int] = {}
    kept: list[Condition] = []
    for c in conditions:
        expr = c.expr
        if c.origin == "range" and isinstance(expr, sympy.GreaterThan) and expr.lhs in hints and expr.rhs.is_Integer:
            floors[expr.lhs] = max(floors.get(expr.lhs, 0), int(expr.rhs))
            continue
        kept.append(c)
    out: list[Condition] = []
    for c in kept:
        symbol = next(iter(c.expr.free_symbols)) if len(c.expr.free_symbols) == 1 else None
        at = threshold(c.expr, floors.get(symbol, 1)) if symbol is not None and c.origin == "guard" else None
        if at is None:
            out.append(c)
        else:
            floors[symbol] = max(floors.get(symbol, 1), at)
    ranges = [Condition(sympy.GreaterThan(s, n), "range and the guards on it alone") for s, n in floors.items()]
    return ranges + [c for c in out if not implied_by_floors(c.expr, floors)]
