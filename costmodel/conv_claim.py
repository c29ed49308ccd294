"""User claims about one convolution's cost, read and checked (``costmodel verify --claim``).

Vocabulary (../shared/CONVENTIONS.md): batch ``n``, input ``h``×``w``, channels ``c1`` → ``c2``,
groups ``g``, kernel ``k``×``k`` (or ``kh``×``kw``), stride ``s`` with output (h/s)×(w/s) ('same'
padding), ``bias`` 0 or 1 (0, the paper's setting, unless ``--where bias=1``); ``B`` is the conv's FLOPs
(multiply-adds) and ``MAC`` its memory access cost in elements, both the closed forms of
``costmodel.formulas``. Every size is an integer ≥ 1, g divides c1 and c2, s divides h and w.
"""

from __future__ import annotations

import sympy as sp

from costmodel import formulas as f
from costmodel.claims import ClaimError, ClaimResult, Domain, check_relation, parse_expression, parse_where, split_relation

n, s, k = sp.symbols("n s k", positive=True)
h, w, c1, c2, g, kh, kw = f.h, f.w, f.c1, f.c2, f.g, f.kh, f.kw
bias = sp.Symbol("bias", nonnegative=True)

#: The symbols a claim or --where may name (B and MAC are defined, not free).
SYMBOLS: dict[str, sp.Symbol] = {str(x): x for x in (n, h, w, c1, c2, g, k, kh, kw, s, bias)}


def conv_costs(kernel_h: sp.Expr, kernel_w: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(B, MAC) of the claim's convolution, substituted from the formulas' closed forms."""
    mapping = {f.N: n, f.ho: h / s, f.wo: w / s, f.kh: kernel_h, f.kw: kernel_w, f.bias: bias}
    return f.CONV_FLOPS.xreplace(mapping), f.CONV_MAC.xreplace(mapping)


def check_claim(claim: str, where: str | None = None, random_points: int = 600) -> ClaimResult:
    """Read ``claim`` ("LHS >= RHS"; <=, >, <, == too) and ``where`` ("n=1,g=1,k=1,s=1"; values may
    be expressions such as c2=2*c1), then search for a counterexample and, failing one, prove it.

    Raises ClaimError for unreadable text, an unknown symbol, or k used together with kh/kw.
    """
    left_text, relation, right_text = split_relation(claim)
    names: dict[str, sp.Expr] = {**SYMBOLS, "B": sp.Symbol("B"), "MAC": sp.Symbol("MAC")}
    lhs_raw = parse_expression(left_text, names, "left side")
    rhs_raw = parse_expression(right_text, names, "right side")
    fixed = parse_where(where, SYMBOLS)
    mentioned = {str(x) for x in (lhs_raw.free_symbols | rhs_raw.free_symbols)} | set(fixed)
    for value in fixed.values():
        mentioned |= {str(x) for x in value.free_symbols}
    if "k" in mentioned and mentioned & {"kh", "kw"}:
        raise ClaimError("use k (a square kernel) or kh/kw, not both")
    square = not (mentioned & {"kh", "kw"})
    flops, mac = conv_costs(k, k) if square else conv_costs(kh, kw)
    substitutions = {SYMBOLS[name]: value for name, value in fixed.items()}
    if "bias" not in fixed:
        substitutions[bias] = sp.Integer(0)
    if substitutions.get(bias, 0) not in (0, 1):
        raise ClaimError(f"--where bias must be 0 or 1, not {substitutions[bias]}")

    def close(expr: sp.Expr) -> sp.Expr:
        expr = expr.xreplace({names["B"]: flops, names["MAC"]: mac})
        for _ in range(len(substitutions) + 1):  # where-values may name each other (c2=2*c1, c1=8)
            expr = expr.xreplace(substitutions)
        return sp.simplify(expr) if expr.free_symbols else sp.nsimplify(expr)

    lhs, rhs = close(lhs_raw), close(rhs_raw)
    base = (n, h, w, c1, c2, g, s) + ((k,) if square else (kh, kw))
    bindings = {x: close(x) for x in base}
    domain = Domain(
        symbols=base,
        divides=tuple((bindings[size], bindings[divisor]) for size, divisor in ((c1, g), (c2, g), (h, s), (w, s))),
    )
    steps = [
        f"claim: {left_text.strip()} {relation} {right_text.strip()}",
        f"B = {sp.sstr(close(names['B']))}, MAC = {sp.sstr(close(names['MAC']))}"
        + ("" if "bias" in fixed else "   (no bias: --where bias=1 adds one)"),
        f"so: {sp.sstr(lhs)} {relation} {sp.sstr(rhs)}",
    ]
    verdict, point, check_steps = check_relation(lhs, relation, rhs, domain, bindings, random_points)
    result = ClaimResult(
        claim=claim.strip(), where={k_: sp.sstr(v) for k_, v in fixed.items()}, verdict=verdict, steps=steps + check_steps
    )
    if point is not None:
        full = {str(x): int(sp.sympify(bindings[x]).subs(point)) for x in base}
        full["bias"] = int(sp.sympify(substitutions[bias]).subs(point))
        shown = {name: value for name, value in full.items() if name in mentioned or SYMBOLS[name] in point}
        result.counterexample = shown
        left_value, right_value = lhs.subs(point), rhs.subs(point)
        result.sides = {"lhs": _value(left_value), "rhs": _value(right_value)}
        at = ", ".join(f"{name} = {value}" for name, value in shown.items())
        result.steps.append(
            f"at {at}: LHS = {result.sides['lhs']}, RHS = {result.sides['rhs']}, so LHS {relation} RHS is false. REFUTED"
        )
    return result


def _value(value: sp.Expr) -> str:
    """An exact value, with a decimal approximation when it is a finite non-integer ('undefined' for a
    division by zero)."""
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return "undefined (division by zero)"
    exact = sp.nsimplify(value)
    return sp.sstr(exact) if exact.is_Integer else f"{sp.sstr(exact)} ≈ {float(exact):.6g}"
