"""Size expressions in plain sympy: torch's symbolic integers (and the sympy the rules build from them) in
the user's names, with torch's own size functions written as floor, ceiling, Mod, Min and Max, so that
``sympy.sympify`` reads every printed expression back; exact integer evaluation, one size or many."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from math import lcm
from typing import Any

import numpy as np
import sympy
import torch
import torch.utils._sympy.functions as tsf

from costmodel.symbolic.symbols import SizeSymbols


class NotPlainExpression(ValueError):
    """An expression holds a torch function that has no plain sympy equivalent here."""


def _floor_div(a: Any, b: Any) -> Any:
    return sympy.floor(a / b)


def _ceil_div(a: Any, b: Any) -> Any:
    return sympy.ceiling(a / b)


def _modular_indexing(base: Any, divisor: Any, modulus: Any) -> Any:
    return sympy.Mod(sympy.floor(base / divisor), modulus)


#: torch's size functions → plain sympy (argument by argument, already converted).
_PLAIN: dict[type, Callable[..., Any]] = {
    tsf.FloorDiv: _floor_div,
    tsf.CeilDiv: _ceil_div,
    tsf.CleanDiv: lambda a, b: a / b,
    tsf.IntTrueDiv: lambda a, b: a / b,
    tsf.FloatTrueDiv: lambda a, b: a / b,
    tsf.ModularIndexing: _modular_indexing,
    tsf.Mod: sympy.Mod,
    tsf.PythonMod: sympy.Mod,
    tsf.Max: sympy.Max,
    tsf.Min: sympy.Min,
    tsf.PowByNatural: lambda a, b: a**b,
    tsf.FloatPow: lambda a, b: a**b,
    tsf.FloorToInt: sympy.floor,
    tsf.CeilToInt: sympy.ceiling,
    tsf.TruncToInt: lambda a: sympy.sign(a) * sympy.floor(sympy.Abs(a)),
    tsf.Identity: lambda a: a,
    tsf.ToFloat: lambda a: a,
    tsf.Where: lambda c, a, b: sympy.Piecewise((a, c), (b, True)),
}


def plain(expr: Any, rename: dict[Any, sympy.Symbol]) -> Any:
    """``expr`` (sympy with torch's functions, over ShapeEnv symbols) in plain sympy over the user's
    symbols. Raises NotPlainExpression for a torch function with no counterpart."""
    if isinstance(expr, sympy.Symbol):
        return rename.get(expr, expr)
    if not expr.args or isinstance(expr, sympy.Number):
        return expr
    args = [plain(a, rename) for a in expr.args]
    convert = _PLAIN.get(type(expr))
    if convert is not None:
        return convert(*args)
    if type(expr).__module__.startswith("torch"):
        raise NotPlainExpression(f"{type(expr).__name__} has no plain sympy form")
    return expr.func(*args)


def as_expr(value: Any, symbols: SizeSymbols) -> Any:
    """An int, a ``torch.SymInt`` or a sympy expression (over ShapeEnv symbols) as plain sympy over the
    user's symbols, with the ShapeEnv's replacements applied (a specialised size is its number)."""
    if isinstance(value, bool):
        return sympy.Integer(int(value))
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, float):
        return sympy.Float(value) if value != int(value) else sympy.Integer(int(value))
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        value = value.node.expr
    found = symbols.plain_forms.get(value)
    if found is None:  # the same sizes recur through a network: each expression is converted once
        found = symbols.plain_forms[value] = plain(symbols.env.replace(sympy.sympify(value)), symbols.user_of)
    return found


class SizeValues(dict):  # type: ignore[type-arg]
    """Values of the size symbols that remember what was evaluated at them: a network's rows repeat the
    same few expressions, each then substituted once per set of sizes."""

    def __init__(self, values: dict[sympy.Symbol, int]) -> None:
        super().__init__(values)
        self.known: dict[Any, int] = {}


def evaluate(expr: Any, values: dict[sympy.Symbol, int]) -> int:
    """The exact integer value of ``expr`` at ``values`` (every free symbol given)."""
    if isinstance(expr, int):
        return expr
    known = values.known if isinstance(values, SizeValues) else None
    if known is not None and expr in known:
        return known[expr]
    value = _substituted(expr, values)
    if known is not None:
        known[expr] = value
    return value


def _substituted(expr: Any, values: dict[sympy.Symbol, int]) -> int:
    result = expr.xreplace(values) if isinstance(expr, sympy.Basic) else expr
    if isinstance(result, sympy.Integer) or isinstance(result, int):
        return int(result)
    result = sympy.nsimplify(result) if isinstance(result, sympy.Float) else result
    if isinstance(result, sympy.Rational) and result.q == 1:
        return int(result.p)
    raise ValueError(f"{expr} is not an integer at {values}: {result}")


def _int_source(expr: Any, names: dict[sympy.Symbol, str]) -> str:
    """Python source computing an integer-valued ``expr`` with integer operations only (``//``, ``%``),
    valid on ints and on numpy int64 arrays."""
    if isinstance(expr, sympy.Symbol):
        return names[expr]
    if isinstance(expr, sympy.Integer):
        return str(int(expr))
    if isinstance(expr, (sympy.floor, sympy.ceiling)):
        num, den = expr.args[0].as_numer_denom()
        if not isinstance(den, sympy.Integer):
            raise NotPlainExpression(f"{expr}: a floor over a symbolic denominator")
        scaled = _int_source(sympy.expand(num), names)
        if isinstance(expr, sympy.floor):
            return f"(({scaled}) // {int(den)})"
        return f"(-((-({scaled})) // {int(den)}))"
    if isinstance(expr, sympy.Mod):
        return f"(({_int_source(expr.args[0], names)}) % ({_int_source(expr.args[1], names)}))"
    if isinstance(expr, (sympy.Min, sympy.Max)):
        fn = "_min" if isinstance(expr, sympy.Min) else "_max"
        out = _int_source(expr.args[0], names)
        for arg in expr.args[1:]:
            out = f"{fn}({out}, {_int_source(arg, names)})"
        return out
    if isinstance(expr, sympy.Pow) and isinstance(expr.exp, sympy.Integer) and expr.exp >= 0:
        return f"(({_int_source(expr.base, names)}) ** {int(expr.exp)})"
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        denominators = [int(r.q) for r in _coefficients(expr)]
        scale = lcm(*denominators) if denominators else 1
        if scale != 1:
            return f"(({_int_source(sympy.expand(expr * scale), names)}) // {scale})"
        joiner = " + " if isinstance(expr, sympy.Add) else " * "
        return "(" + joiner.join(_int_source(a, names) for a in expr.args) + ")"
    raise NotPlainExpression(f"{type(expr).__name__} in {expr}: not integer arithmetic")


def _coefficients(expr: Any) -> list[sympy.Rational]:
    """The non-integer rational numbers at the top of a sum or product (not inside floors)."""
    terms = expr.args if isinstance(expr, sympy.Add) else (expr,)
    found = []
    for term in terms:
        factors = term.args if isinstance(term, sympy.Mul) else (term,)
        found += [f for f in factors if isinstance(f, sympy.Rational) and not isinstance(f, sympy.Integer)]
    return found


def integer_function(exprs: Iterable[Any], order: list[sympy.Symbol]) -> Callable[..., tuple[Any, ...]]:
    """One compiled function of the symbols in ``order`` returning every expression of ``exprs`` with
    exact integer arithmetic: call it with ints, or with numpy int64 arrays for many sizes at once."""
    names = {s: f"a{i}" for i, s in enumerate(order)}
    body = ", ".join(_int_source(sympy.sympify(e), names) for e in exprs)
    source = f"def _f({', '.join(names.values())}):\n    return ({body},)\n"
    namespace: dict[str, Any] = {"_min": np.minimum, "_max": np.maximum}
    exec(compile(source, "<costmodel formula>", "exec"), namespace)  # noqa: S102  # source built from sympy above
    return namespace["_f"]  # type: ignore[no-any-return]


def leading_rational(value: Any) -> Fraction:
    """A sympy Rational as a Fraction."""
    return Fraction(int(value.p), int(value.q))


def compact(expr: Any) -> Any:
    """``expr`` with like terms gathered over the output sizes: every floor or ceiling f is written as
    (f + 1) − 1, the sum expanded in those (f + 1) factors and folded back, so a network's total reads as
    Σ c·(floor((H - 1)/s) + 1)·(floor((W - 1)/s) + 1) + … rather than a sum of its layers' forms. Equal
    to ``expr`` for every size."""
    expr = sympy.sympify(expr)
    atoms = sorted(expr.atoms(sympy.floor, sympy.ceiling), key=str)
    if not atoms:
        return sympy.expand(expr)
    shifted = {atom: sympy.Dummy(f"u{i}") for i, atom in enumerate(atoms)}
    expanded = sympy.expand(expr.xreplace({atom: u - 1 for atom, u in shifted.items()}))
    return expanded.xreplace({u: sympy.Add(atom, 1) for atom, u in shifted.items()})
