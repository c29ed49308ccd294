"""Certified signs of closed-form real numbers: interval arithmetic with a verified error bound.

A sign is decided only when an enclosing interval (mpmath's outward-rounded interval arithmetic)
excludes zero, at increasing working precision. An interval that still contains zero at the highest
precision is settled exactly where that is possible (an exactly-zero enclosure, the value sympy
computes exactly, or the minimal polynomial of an algebraic number); otherwise the sign is
:class:`Uncertain`, never guessed. Nothing here rounds a number and then trusts the rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import sympy as sp
from mpmath import iv

#: Working precisions tried in turn, in bits (the last is about 20,000 decimal digits).
PRECISIONS = (64, 256, 1024, 4096, 16384, 65536)
#: Constants above this many bits (about 3,900 digits, inside Python's printable limit) are not built
#: exactly (see :func:`too_large`).
MAX_BITS = 13_000


class Uncertain(ArithmeticError):
    """The sign could not be certified at any precision tried."""


class NotReal(ArithmeticError):
    """The value is not a real number (a principal root of a negative number)."""


class Undefined(ArithmeticError):
    """The value is undefined (a division by zero)."""


class _NeedPrecision(Exception):
    """An intermediate enclosure straddles zero where the operation needs its sign."""


def _contains_zero(x: iv.mpf) -> bool:
    return bool(x.a <= 0 <= x.b)


def _is_exact_zero(x: iv.mpf) -> bool:
    return bool(x.a == 0 and x.b == 0)


def _enclose(expr: sp.Expr, env: Mapping[sp.Symbol, int]) -> iv.mpf:
    """An interval enclosing ``expr`` at the current ``iv.prec`` (symbols looked up in ``env``)."""
    if expr.is_Integer or expr.is_Rational:
        p, q = int(expr.p), int(expr.q)  # type: ignore[attr-defined]
        return iv.mpf(p) if q == 1 else iv.mpf(p) / iv.mpf(q)
    if expr.is_Symbol:
        if expr not in env:
            raise Uncertain(f"free symbol {expr} in a value")
        return iv.mpf(int(env[expr]))  # type: ignore[index]
    if expr in (sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise Undefined("a division by zero")
    if expr is sp.I or expr.is_Float:
        if expr is sp.I:
            raise NotReal("an imaginary unit")
        raise Uncertain("a floating-point constant has no exact value")
    if expr.is_Add:
        total = iv.mpf(0)
        for arg in expr.args:
            total = total + _enclose(arg, env)
        return total
    if expr.is_Mul:
        product = iv.mpf(1)
        for arg in expr.args:
            product = product * _enclose(arg, env)
        return product
    if expr.is_Pow:
        return _enclose_power(expr, env)
    if isinstance(expr, (sp.Min, sp.Max)):
        parts = [_enclose(a, env) for a in expr.args]
        pick = min if isinstance(expr, sp.Min) else max
        return iv.mpf([pick(p.a for p in parts), pick(p.b for p in parts)])
    raise Uncertain(f"no interval rule for {type(expr).__name__}")


def _enclose_power(expr: sp.Expr, env: Mapping[sp.Symbol, int]) -> iv.mpf:
    base_expr, exponent = expr.args
    base = _enclose(base_expr, env)
    if not exponent.is_Rational:
        raise Uncertain(f"a symbolic or irrational exponent ({sp.sstr(exponent)})")
    p, q = int(exponent.p), int(exponent.q)
    if q == 1:
        if p >= 0:
            return base**p
        if _is_exact_zero(base):
            raise Undefined("a division by zero")
        if _contains_zero(base):
            raise _NeedPrecision
        return iv.mpf(1) / base ** (-p)
    # a principal q-th root: real only for a base ≥ 0
    if base.b < 0:
        raise NotReal(f"a root of a negative number ({sp.sstr(expr)})")
    if _is_exact_zero(base):
        if p < 0:
            raise Undefined("a division by zero")
        return iv.mpf(0)
    if _contains_zero(base):
        raise _NeedPrecision
    root = iv.sqrt(base) if q == 2 else iv.exp(iv.log(base) / q)
    return root**p if p >= 0 else iv.mpf(1) / root ** (-p)


def certified_sign(expr: sp.Expr, env: Mapping[sp.Symbol, int] | None = None) -> int:
    """The sign (−1, 0, 1) of ``expr`` with every symbol set from ``env``, certified.

    Contract: the answer is returned only if an outward-rounded interval enclosing the value excludes
    zero (at 64 … 65,536 bits), or the value is shown exactly zero (a degenerate enclosure, sympy's exact
    evaluation, or a minimal polynomial equal to x). Raises :class:`Undefined` (division by zero),
    :class:`NotReal` (a root of a negative number) or :class:`Uncertain` (none of these certified it).
    """
    env = env or {}
    value = sp.sympify(expr)
    if value.is_Rational:
        return int(sp.sign(value))
    saved = iv.prec
    try:
        for bits in PRECISIONS:
            iv.prec = bits
            try:
                enclosure = _enclose(value, env)
            except _NeedPrecision:
                continue
            if _is_exact_zero(enclosure):
                return 0
            if not _contains_zero(enclosure):
                return 1 if enclosure.a > 0 else -1
    finally:
        iv.prec = saved
    return _exact_zero_or_uncertain(value, env)


def _exact_zero_or_uncertain(value: sp.Expr, env: Mapping[sp.Symbol, int]) -> int:
    """The last resort for a value whose enclosures all contain zero: exactly zero, or Uncertain."""
    exact = value.xreplace({s: sp.Integer(v) for s, v in env.items()}) if env else value
    if exact.has(sp.zoo, sp.nan):
        raise Undefined("a division by zero")
    if exact == 0:
        return 0
    if exact.is_Rational:
        return int(sp.sign(exact))
    if exact.is_algebraic:
        x = sp.Dummy("x")
        try:
            if sp.minimal_polynomial(exact, x) == x:
                return 0
        except (NotImplementedError, sp.polys.polyerrors.PolynomialError):
            pass
    raise Uncertain(f"the sign of {sp.sstr(exact)[:80]} is not certified at {PRECISIONS[-1]} bits")


def too_large(expr: sp.Basic) -> str | None:
    """A reason if ``expr`` (read unevaluated) would build an integer over :data:`MAX_BITS` bits or a
    power with an integer exponent over 10,000 on a symbol; None when exact arithmetic is safe.

    Estimate: |a^b| has b·log2|a| bits; a constant whose own size is unknown counts as its bound."""
    for node in sp.preorder_traversal(expr):
        if not (isinstance(node, sp.Pow) and node.exp.is_number):
            continue
        if node.base.is_number:
            bits = _magnitude_bits(node)
            if bits is None or bits > MAX_BITS:
                return f"{_short(node)} has over {MAX_BITS:,} bits: too large for exact arithmetic"
        else:
            exponent_bits = _magnitude_bits(node.exp)
            if exponent_bits is None or exponent_bits > 64 or abs(float(node.exp.doit())) > 10_000:
                return f"the power {_short(node)} has an exponent over 10,000: too large for exact arithmetic"
    return None


def _magnitude_bits(expr: sp.Basic) -> float | None:
    """About log2 |expr| for a numeric expression read unevaluated (None if it cannot be bounded)."""
    if expr.is_Integer:
        return float(max(abs(int(expr)).bit_length(), 1))
    if expr.is_Rational:
        return float(max(abs(int(expr.p)).bit_length(), abs(int(expr.q)).bit_length()))
    if isinstance(expr, sp.Pow) and expr.exp.is_number:
        exponent_bits = _magnitude_bits(expr.exp)
        if exponent_bits is None or exponent_bits > 64:
            return None
        base_bits = _magnitude_bits(expr.base)
        if base_bits is None:
            return None
        exponent = abs(float(expr.exp.doit()))
        return exponent * max(base_bits, 1.0)
    if isinstance(expr, (sp.Add, sp.Mul)):
        parts = [_magnitude_bits(a) for a in expr.args]
        if any(p is None for p in parts):
            return None
        return math.fsum(p for p in parts if p is not None) + len(parts)
    return 64.0 if expr.is_number else None


def _short(node: sp.Basic) -> str:
    text = sp.sstr(node)
    return text if len(text) <= 40 else text[:37] + "..."
