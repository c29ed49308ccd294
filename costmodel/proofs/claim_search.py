"""The counterexample search of the claim checker: where a claim ``difference rel 0`` fails.

Points are tried in this order: all ones; each symbol alone at boundary values up to 10¹²; pairs;
every pair of symbols equal and adjacent (a = b, a = b ± 1) at small and large scales; every symbol at
one large scale; points on and beside the zero set of the claim's numerator and of each denominator
factor (for each symbol, the real roots of the claim as a polynomial in that symbol with the others
fixed, and the integers around them); then seeded random points. Each point is screened in floating
point and every point that comes near to or across the boundary is decided by a certified sign
(:mod:`costmodel.proofs.certified`). A violation, a division by zero or a value that is not real at a valid
point is a counterexample; a sign that cannot be certified is skipped, never counted either way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import sympy as sp

from costmodel.proofs.certified import NotReal, Uncertain, Undefined, certified_sign

Relation = Literal[">=", ">", "<=", "<", "=="]

_BOUNDARY_VALUES = (2, 3, 4, 7, 16, 64, 1000, 10**6, 10**9, 10**12)
_SCALES = (1, 2, 7, 64, 1000, 10**6, 10**9)
_CONTEXTS = (1, 2, 3, 7, 64, 1000, 10**6)
_MAX_ROOT_POINTS = 3000


@dataclass(frozen=True)
class Domain:
    """Where the symbols live: ``symbols`` are integers ≥ 1 (or positive reals if not ``integers``),
    ``binary`` symbols are 0 or 1, and every (numerator, divisor) pair in ``divides`` must divide evenly
    (a conv's groups divide its channels, its stride divides its input size)."""

    symbols: tuple[sp.Symbol, ...]
    binary: tuple[sp.Symbol, ...] = ()
    divides: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
    integers: bool = True

    def describe(self) -> str:
        """One line: the symbols' domain and the divisibility constraints."""
        kind = "an integer ≥ 1" if self.integers else "a positive real"
        text = f"every symbol is {kind}"
        if self.binary:
            text += f"; {', '.join(map(str, self.binary))} ∈ {{0, 1}}"
        shown = [f"{sp.sstr(d)} divides {sp.sstr(n)}" for n, d in self.divides if d != 1 and n != d]
        if shown:
            text += "; " + ", ".join(shown)
        return text


@dataclass(frozen=True)
class Counterexample:
    """A valid point where the claim fails, and how: ``violated``, ``undefined`` or ``not real``."""

    point: dict[sp.Symbol, int]
    how: str


def holds(sign: int, relation: Relation) -> bool:
    """Whether a difference (LHS − RHS) of this sign satisfies the relation."""
    return {">=": sign >= 0, ">": sign > 0, "<=": sign <= 0, "<": sign < 0, "==": sign == 0}[relation]


def radical_degree(expr: sp.Expr) -> int:
    """Least common denominator of the rational exponents in ``expr`` (1 if it has no radicals)."""
    degree = 1
    for power in expr.atoms(sp.Pow):
        exponent = power.exp
        if isinstance(exponent, sp.Rational) and not exponent.is_integer:
            degree = math.lcm(degree, int(exponent.q))
    return degree


# --- points ----------------------------------------------------------------------------------------


def _basic_points(free: Sequence[sp.Symbol]) -> Iterator[dict[sp.Symbol, int]]:
    """All ones; each symbol alone at boundary values; pairs at 2·3; equal and adjacent pairs at every
    scale (others at 1 and at the same scale); all symbols at one scale."""
    base = dict.fromkeys(free, 1)
    yield dict(base)
    for sym in free:
        for value in _BOUNDARY_VALUES:
            yield {**base, sym: value}
    for i, a in enumerate(free):
        for b in free[i + 1 :]:
            yield {**base, a: 2, b: 3}
            yield {**base, a: 3, b: 2}
    for scale in _SCALES:
        yield dict.fromkeys(free, scale)
        for i, a in enumerate(free):
            for b in free[i + 1 :]:
                for others in (1, scale):
                    around = dict.fromkeys(free, others)
                    for da, db in ((0, 0), (1, 0), (0, 1)):
                        yield {**around, a: scale + da, b: scale + db}


def _random_points(free: Sequence[sp.Symbol], domain: Domain, count: int, seed: int) -> Iterator[dict[sp.Symbol, int]]:
    """Seeded random points whose divisors are drawn first, so that divisibility holds by construction."""
    rng = random.Random(seed)
    divisors = {d for _, d in domain.divides if isinstance(d, sp.Symbol)}
    for _ in range(count):
        point: dict[sp.Symbol, int] = {}
        for sym in sorted(free, key=lambda s: (s not in divisors, s.name)):
            scale = rng.choice((4, 8, 32, 256, 4096, 10**6))
            point[sym] = rng.randint(1, scale)
        for numerator, divisor in domain.divides:
            if isinstance(numerator, sp.Symbol) and numerator in point and isinstance(divisor, sp.Symbol) and divisor in point:
                point[numerator] = point[numerator] * point[divisor]
        yield point


def _zero_set_points(difference: sp.Expr, free: Sequence[sp.Symbol]) -> Iterator[dict[sp.Symbol, int]]:
    """Integers on and beside the real zero set of the numerator and of each denominator factor.

    Radicals are cleared first (x = X^L); for each symbol, the others are fixed at perfect L-th powers
    and the real roots of the resulting univariate polynomial (numpy, then the integers around each root
    raised back to the L-th power) are the candidates. Roots are approximate, the points are exact: each
    is still decided by a certified sign."""
    variables = [s for s in free if s in difference.free_symbols]
    if not variables:
        return
    degree = radical_degree(difference)
    roots = {v: sp.Dummy(f"r_{v.name}", positive=True) for v in variables}
    target = difference.xreplace({v: r**degree for v, r in roots.items()}) if degree > 1 else difference
    if degree > 1 and radical_degree(target) > 1:
        return  # radicals of sums remain: no polynomial to take roots of
    generators = list(roots.values()) if degree > 1 else variables
    try:
        numerator, denominator = sp.fraction(sp.together(target))
        polynomials = [numerator]
        if denominator.free_symbols and len(sp.Add.make_args(sp.expand(denominator))) <= 64:
            polynomials += [base for base, _ in sp.factor_list(denominator, *generators)[1]]
    except (sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, sp.polys.polyerrors.GeneratorsError):
        return
    produced = 0
    for polynomial in polynomials:
        for position, gen in enumerate(generators):
            try:
                coefficients = sp.Poly(polynomial, gen).all_coeffs()
            except (sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, sp.polys.polyerrors.GeneratorsError):
                continue
            if len(coefficients) < 2 or len(coefficients) > 200:
                continue
            others = [g for g in generators if g != gen]
            numeric = sp.lambdify(others, coefficients, modules="math") if others else None
            for context in _CONTEXTS:
                values = [float(context)] * len(others)
                try:
                    row = numeric(*values) if numeric is not None else [float(c) for c in coefficients]
                    found = np.roots(np.array([float(c) for c in row], dtype=float))
                except (ZeroDivisionError, OverflowError, ValueError, TypeError, np.linalg.LinAlgError):
                    continue
                for root in found:
                    if abs(root.imag) > 1e-6 * (1 + abs(root.real)) or root.real <= 0:
                        continue
                    real = float(root.real) ** degree
                    if not math.isfinite(real) or real > 1e15:
                        continue
                    centre = int(real)
                    for candidate in range(max(1, centre - 2), centre + 3):
                        point = {variables[generators.index(g)]: context**degree for g in others}
                        point[variables[position]] = candidate
                        yield {**dict.fromkeys(free, 1), **point}
                        produced += 1
                        if produced >= _MAX_ROOT_POINTS:
                            return


def candidate_points(
    symbols: Sequence[sp.Symbol], domain: Domain, difference: sp.Expr, count: int, seed: int
) -> Iterator[dict[sp.Symbol, int]]:
    """Every point the search tries, in order, for each setting of the binary symbols."""
    free = [s for s in symbols if s not in domain.binary]
    binary = [s for s in symbols if s in domain.binary]
    for bits in range(2 ** len(binary)):
        flags = {b: (bits >> i) & 1 for i, b in enumerate(binary)}
        for point in _basic_points(free):
            yield {**point, **flags}
        for point in _zero_set_points(difference.subs(flags) if flags else difference, free):
            yield {**point, **flags}
    rng = random.Random(seed + 1)
    for point in _random_points(free, domain, count, seed):
        yield {**point, **{b: rng.randint(0, 1) for b in binary}}


# --- deciding a point ------------------------------------------------------------------------------


def _value_at(expr: sp.Expr, point: Mapping[sp.Symbol, int]) -> sp.Expr:
    """``expr`` at ``point``: a dictionary lookup for a bare symbol, exact substitution otherwise."""
    if isinstance(expr, sp.Symbol):
        return sp.Integer(point[expr]) if expr in point else expr
    return sp.sympify(expr).xreplace({s: sp.Integer(v) for s, v in point.items()})


def satisfies(point: Mapping[sp.Symbol, int], domain: Domain, bindings: Mapping[sp.Symbol, sp.Expr]) -> bool:
    """Every bound symbol is an integer ≥ 1 (on the integer domain) and every divisibility holds."""
    if domain.integers:
        for expr in bindings.values():
            if isinstance(expr, sp.Symbol):
                continue  # sampled as an integer ≥ 1
            value = _value_at(expr, point)
            if not (value.is_Integer and value >= 1):
                return False
    for numerator, divisor in domain.divides:
        n, d = _value_at(numerator, point), _value_at(divisor, point)
        if not (n.is_Integer and d.is_Integer and d != 0 and n % d == 0):
            return False
    return True


def _decide(difference: sp.Expr, relation: Relation, point: Mapping[sp.Symbol, int]) -> str | None:
    """How the claim fails at ``point`` ('violated', 'undefined', 'not real'), or None if it holds or
    its sign cannot be certified there."""
    try:
        return None if holds(certified_sign(difference, point), relation) else "violated"
    except Undefined:
        return "undefined"
    except NotReal:
        return "not real"
    except Uncertain:
        return None


def find_counterexample(
    difference: sp.Expr,
    relation: Relation,
    domain: Domain,
    bindings: Mapping[sp.Symbol, sp.Expr] | None = None,
    random_points: int = 600,
    seed: int = 0,
) -> tuple[Counterexample | None, int]:
    """A valid domain point where ``difference rel 0`` fails, certified, and the number of valid points
    tried. ``bindings`` maps each model symbol to its value under --where (a point counts only where every
    binding is a valid size)."""
    related = [*(bindings or {}).values(), *(x for pair in domain.divides for x in pair)]
    symbols = sorted(difference.free_symbols | {s for e in related for s in sp.sympify(e).free_symbols}, key=str)
    symbols = [s for s in symbols if s in domain.symbols or s in domain.binary]
    numeric = sp.lambdify(symbols, difference, modules="math")
    tried = 0
    seen: set[tuple[int, ...]] = set()
    for point in candidate_points(symbols, domain, difference, random_points, seed):
        key = tuple(point[s] for s in symbols)
        if key in seen:
            continue
        seen.add(key)
        if not satisfies(point, domain, bindings or {}):
            continue
        tried += 1
        try:
            approx = float(numeric(*map(float, key)))  # floats: an integer power of a huge point must not be built
        except (ZeroDivisionError, OverflowError, ValueError, TypeError):
            approx = math.nan
        near = not math.isfinite(approx) or abs(approx) <= 1e-9 * (1.0 + abs(approx))
        if not near and holds(1 if approx > 0 else -1, relation):
            continue  # far from zero on the right side: the float screen can only miss a counterexample, never make one
        how = _decide(difference, relation, point)
        if how is not None:
            return Counterexample(dict(point), how), tried
    return None, tried
