"""Sizes inside a formula's domain for the tests: the smallest valid, primes, odd, random and large values,
chosen from the domain's own per-symbol floors and caps, each point checked against every condition."""

from __future__ import annotations

import random
from typing import Any

import sympy

from costmodel.symbolic.result import Formula

PRIMES = [37, 41, 53, 67, 97, 101, 127, 131, 157, 193, 227, 251, 257, 331, 401, 509, 613, 769, 1009]


def bounds(formula: Formula) -> dict[str, tuple[int, int | None]]:
    """Each symbol's floor and cap as the domain states them (``X >= n``, ``X <= m``)."""
    out = {name: (1, None) for name in formula.symbols}
    for condition in formula.domain.conditions:
        expr = condition.expr
        if isinstance(expr, (sympy.GreaterThan, sympy.LessThan)) and isinstance(expr.lhs, sympy.Symbol) and expr.rhs.is_Integer:
            low, high = out[str(expr.lhs)]
            if isinstance(expr, sympy.GreaterThan):
                out[str(expr.lhs)] = (max(low, int(expr.rhs)), high)
            else:
                out[str(expr.lhs)] = (low, int(expr.rhs) if high is None else min(high, int(expr.rhs)))
    return out


def sizes_inside(formula: Formula, count: int = 20, seed: int = 0, largest: int | None = None) -> list[dict[str, int]]:
    """``count`` distinct points inside the domain (fewer only if the domain has fewer within reach):
    the smallest valid point first, then primes, odd numbers, random values and large ones per symbol."""
    rng = random.Random(seed)
    limits = bounds(formula)
    candidates: dict[str, list[int]] = {}
    for name, (low, high) in limits.items():
        hint = formula.hints[name]
        top = high if high is not None else (largest or 4 * hint)
        pool = [low, low + 1, low + 2, hint, top, top - 1]
        pool += [p for p in PRIMES if low <= p <= top]
        pool += [rng.randint(low, max(low, 3 * hint if high is None else top)) | 1 for _ in range(12)]
        candidates[name] = sorted({min(max(v, low), top) for v in pool})
    points: list[dict[str, int]] = []
    seen: set[tuple[int, ...]] = set()
    smallest = {name: limits[name][0] for name in formula.symbols}
    attempts = [smallest] + [{n: rng.choice(c) for n, c in candidates.items()} for _ in range(40 * count)]
    for point in attempts:
        key = tuple(point[n] for n in formula.symbols)
        if key in seen:
            continue
        seen.add(key)
        if formula.domain.violated({formula.symbols[n]: v for n, v in point.items()}) is None:
            points.append(point)
        if len(points) >= count:
            break
    return points


def same_rows(formula: Formula, report: Any, reference: Any) -> list[str]:
    """Differences between the formula's report at a size and ``analyze``'s there, row by row and in total."""
    problems = []
    if len(report.layers) != len(reference.layers):
        problems.append(f"{len(report.layers)} rows vs {len(reference.layers)}")
    for mine, theirs in zip(report.layers, reference.layers):
        keys = ["name", "op", "family", "flops", "mac", "params", "output_shape", "input_shapes", "mac_unfused"]
        if mine.family == theirs.family == "views" and mine.mac == theirs.mac == 0:
            # a free view may be a different view op at an edge size (a slice that becomes whole is `alias`
            # in eager): the same zero cost, the same output, a different name
            keys = ["family", "flops", "mac", "params", "output_shape"]
        for key in keys:
            if getattr(mine, key) != getattr(theirs, key):
                problems.append(f"{theirs.name}.{key}: {getattr(mine, key)} != {getattr(theirs, key)}")
        a, b = mine.mac_lower_bound, theirs.mac_lower_bound
        if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-9 * max(1.0, abs(b))):
            problems.append(f"{theirs.name}.mac_lower_bound: {a} != {b}")
    if report.totals != reference.totals:
        problems.append(f"totals {report.totals} != {reference.totals}")
    if [(u.name, u.op) for u in report.uncounted] != [(u.name, u.op) for u in reference.uncounted]:
        problems.append("uncounted ops differ")
    return problems
