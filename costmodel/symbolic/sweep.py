"""A formula evaluated over a range of one size (no re-trace): FLOPs, MAC and activations at every value,
the op family that does most of the FLOPs there, and the values outside the domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from costmodel.errors import CostModelError
from costmodel.report import Printable
from costmodel.symbolic.expressions import NotPlainExpression, integer_function
from costmodel.symbolic.printing import expr_text
from costmodel.symbolic.result import Formula

_RELATIONS = {
    sympy.StrictGreaterThan: lambda d: d > 0,
    sympy.GreaterThan: lambda d: d >= 0,
    sympy.StrictLessThan: lambda d: d < 0,
    sympy.LessThan: lambda d: d <= 0,
    sympy.Eq: lambda d: d == 0,
    sympy.Ne: lambda d: d != 0,
}


@dataclass
class FormulaSweep(Printable):
    """Totals of a formula along one symbol: ``values`` inside the domain with their FLOPs (multiply-adds),
    MAC (the formula's unit), activations (elements) and the family with the most FLOPs; ``outside`` the
    swept values the domain excludes, with the first condition each breaks."""

    model: str
    inputs: str
    symbol: str
    fixed: dict[str, int]
    mac_unit: str
    values: list[int] = field(default_factory=list)
    flops: list[int] = field(default_factory=list)
    mac: list[int] = field(default_factory=list)
    activations: list[int] = field(default_factory=list)
    dominant: list[str] = field(default_factory=list)
    outside: list[tuple[int, str]] = field(default_factory=list)

    def changes(self) -> list[tuple[int, str, str]]:
        """Where the family with the most FLOPs changes: (value, before, after)."""
        return [
            (self.values[i], self.dominant[i - 1], self.dominant[i])
            for i in range(1, len(self.values))
            if self.dominant[i] != self.dominant[i - 1]
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON: one record per value inside the domain, the excluded values, the dominance changes."""
        return {
            "model": self.model,
            "inputs": self.inputs,
            "symbol": self.symbol,
            "fixed": dict(self.fixed),
            "conventions": {"flops": "multiply-adds", "mac": self.mac_unit, "activations": "elements"},
            "points": [
                {self.symbol: v, "flops": f, "mac": m, "activations": a, "dominant_flops_family": d}
                for v, f, m, a, d in zip(self.values, self.flops, self.mac, self.activations, self.dominant)
            ],
            "outside_domain": [{self.symbol: v, "condition": c} for v, c in self.outside],
            "dominance_changes": [{self.symbol: v, "from": a, "to": b} for v, a, b in self.changes()],
        }


def parse_range(text: str) -> tuple[str, list[int]]:
    """'R=128:1024:32' → ('R', [128, 160, …, 1024]) (start:stop[:step], stop included; step 1 by default)."""
    name, sep, body = text.partition("=")
    parts = body.split(":")
    if not sep or not name.strip() or len(parts) not in (2, 3):
        raise CostModelError(f"'{text}' is not a sweep: write NAME=START:STOP[:STEP], e.g. R=128:1024:32")
    try:
        start, stop = int(parts[0]), int(parts[1])
        step = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise CostModelError(f"'{text}': START, STOP and STEP must be integers") from None
    if start <= 0 or stop < start or step <= 0:
        raise CostModelError(f"'{text}': need 0 < START <= STOP and STEP > 0")
    if (stop - start) // step + 1 > 10**7:
        raise CostModelError(f"'{text}' has more than 10**7 values")
    return name.strip(), list(range(start, stop + 1, step))


def _compiled(exprs: list[Any], order: list[sympy.Symbol], columns: list[Any]) -> list[np.ndarray]:
    """Every expression at every column of sizes, exactly: int64 where no value can overflow it
    (checked in float first), Python integers otherwise."""
    if not exprs:
        return []
    function = integer_function(exprs, order)
    rough = function(*[np.asarray(c, dtype=np.float64) for c in columns])
    big = any(np.max(np.abs(np.asarray(r, dtype=np.float64)), initial=0) > 2.0**60 for r in rough)
    dtype: Any = object if big else np.int64
    exact = function(*[np.asarray(c, dtype=dtype) for c in columns])
    return [np.broadcast_to(np.asarray(e, dtype=dtype), np.shape(columns[0])) for e in exact]


def _inside(formula: Formula, order: list[sympy.Symbol], columns: list[Any]) -> tuple[np.ndarray, list[str]]:
    """Which points satisfy every domain condition, and for each point the first condition it breaks."""
    n = len(columns[0])
    ok = np.ones(n, dtype=bool)
    broken = [""] * n
    for condition in formula.domain.conditions:
        relation = _RELATIONS.get(type(condition.expr))
        try:
            if relation is None:
                raise NotPlainExpression(str(condition.expr))
            (gap,) = _compiled([condition.expr.lhs - condition.expr.rhs], order, columns)
            holds = np.asarray(relation(gap), dtype=bool)
        except (NotPlainExpression, TypeError):
            holds = np.array([bool(condition.expr.xreplace(dict(zip(order, map(int, point))))) for point in zip(*columns)])
        for i in np.nonzero(ok & ~holds)[0]:
            broken[i] = expr_text(condition.expr)
        ok &= holds
    return ok, broken


def sweep(formula: Formula, symbol: str, values: list[int], fixed: dict[str, int] | None = None) -> FormulaSweep:
    """Evaluate ``formula``'s totals (and FLOPs per op family) at ``symbol`` = each of ``values``, the
    other symbols at ``fixed`` (required for each), with exact integer arithmetic vectorised over the
    values — no trace, no sympy substitution per point."""
    fixed = dict(fixed or {})
    if symbol not in formula.symbols:
        raise CostModelError(f"{symbol} is not a size of this formula (its sizes: {', '.join(formula.symbols)})")
    missing = [n for n in formula.symbols if n != symbol and n not in fixed and n not in formula.domain.specialised]
    if missing:
        raise CostModelError(f"the sweep over {symbol} needs a value for {', '.join(missing)} (--at {missing[0]}=…)")
    for name, value in fixed.items():
        if name not in formula.symbols or name == symbol:
            raise CostModelError(f"--at {name}: not another size of this formula ({', '.join(formula.symbols)})")
        if value <= 0:
            raise CostModelError(f"--at {name}={value}: sizes are positive")
    for name, text in formula.domain.specialised.items():
        if name not in fixed and sympy.sympify(text).is_Integer:
            fixed[name] = int(sympy.sympify(text))
    order = [formula.symbols[symbol]] + [formula.symbols[n] for n in fixed]
    columns: list[Any] = [np.asarray(values, dtype=np.int64)] + [np.full(len(values), v, dtype=np.int64) for v in fixed.values()]
    ok, broken = _inside(formula, order, columns)
    kept = [c[ok] for c in columns]
    terms: dict[str, list[Any]] = {}
    for row in formula.rows:
        if row.plain["flops"] != 0:
            terms.setdefault(formula.family(row), []).append(row.plain["flops"])
    names = list(terms)
    families = [sympy.Add(*terms[n]) for n in names]
    totals = [formula.total(metric, gathered=False) for metric in ("flops", "mac", "activations")]
    evaluated = _compiled(totals + families, order, kept) if len(kept[0]) else [np.array([])] * (3 + len(names))
    per_family = np.stack(evaluated[3:]) if names and len(kept[0]) else None
    dominant = [names[int(i)] for i in np.argmax(per_family, axis=0)] if per_family is not None else [""] * len(kept[0])
    outside = [(int(v), broken[i]) for i, v in enumerate(values) if not ok[i]]
    return FormulaSweep(
        model=formula.model,
        inputs=formula.inputs,
        symbol=symbol,
        fixed={k: v for k, v in fixed.items()},
        mac_unit=formula.mac_unit,
        values=[int(v) for v in kept[0]],
        flops=[int(v) for v in evaluated[0]],
        mac=[int(v) for v in evaluated[1]],
        activations=[int(v) for v in evaluated[2]],
        dominant=dominant,
        outside=outside,
    )
