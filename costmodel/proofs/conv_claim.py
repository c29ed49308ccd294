"""User claims about one convolution's cost, read and checked (``costmodel verify --claim``).

Vocabulary (docs/CONVENTIONS.md): batch ``n``, input ``h``×``w``, channels ``c1`` → ``c2``,
groups ``g``, kernel ``k``×``k`` (or ``kh``×``kw``), stride ``s`` with output (h/s)×(w/s) ('same'
padding), ``bias`` 0 or 1 (0, the paper's setting, unless ``--where bias=1``); ``B`` is the conv's FLOPs
(multiply-adds) and ``MAC`` its memory access cost in elements, both the closed forms of
``costmodel.proofs.formulas``. Every size is an integer ≥ 1, g divides c1 and c2, s divides h and w.
"""

from __future__ import annotations

import sympy as sp

from costmodel.proofs import formulas as f
from costmodel.proofs.certified import NotReal, Uncertain, Undefined, certified_sign
from costmodel.proofs.claims import (
    ClaimError,
    Domain,
    Intractable,
    check_relation,
    parse_expression,
    parse_where,
    split_relation,
)
from costmodel.proofs.deadline import DeadlineExceeded, call_with_deadline
from costmodel.proofs.results import ClaimResult

n, s, k = sp.symbols("n s k", positive=True)
h, w, c1, c2, g, kh, kw = f.h, f.w, f.c1, f.c2, f.g, f.kh, f.kw
bias = sp.Symbol("bias", nonnegative=True)

#: The symbols a claim or --where may name (B and MAC are defined, not free).
SYMBOLS: dict[str, sp.Symbol] = {str(x): x for x in (n, h, w, c1, c2, g, k, kh, kw, s, bias)}


def conv_costs(kernel_h: sp.Expr, kernel_w: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(B, MAC) of the claim's convolution, substituted from the formulas' closed forms."""
    mapping = {f.N: n, f.ho: h / s, f.wo: w / s, f.kh: kernel_h, f.kw: kernel_w, f.bias: bias}
    return f.CONV_FLOPS.xreplace(mapping), f.CONV_MAC.xreplace(mapping)


#: Default wall-clock limit of one claim, in seconds.
DEFAULT_TIMEOUT_S = 30.0


def check_claim(
    claim: str, where: str | None = None, random_points: int = 600, timeout: float | None = DEFAULT_TIMEOUT_S
) -> ClaimResult:
    """Read ``claim`` ("LHS >= RHS"; <=, >, <, == too) and ``where`` ("n=1,g=1,k=1,s=1"; values may
    be expressions such as c2=2*c1), then search for a counterexample and, failing one, prove it.

    Contract: ``proved`` only with a certificate, ``refuted`` only with a certified counterexample,
    otherwise ``unknown`` with the reason — also when the check runs past ``timeout`` seconds (None: no
    limit) or needs a constant too large for exact arithmetic. Raises ClaimError for unreadable text, an
    unknown symbol, k used together with kh/kw, or a --where outside the domain (or leaving it empty).
    """
    try:
        return call_with_deadline(_check_claim, timeout, claim, where, random_points)
    except DeadlineExceeded:
        reason = f"UNKNOWN: no verdict within the time limit ({timeout:g} s; --timeout sets it)"
    except Intractable as err:
        reason = f"UNKNOWN: {err}"
    fixed = {name: value.strip() for name, _, value in (p.partition("=") for p in (where or "").split(",") if "=" in p)}
    return ClaimResult(claim=claim.strip(), where=fixed, verdict="unknown", steps=[f"claim: {claim.strip()}", reason])


def _check_claim(claim: str, where: str | None, random_points: int) -> ClaimResult:
    """The check itself (see :func:`check_claim`), with no time limit."""
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
    _check_no_cycle(fixed)
    for name, value in fixed.items():
        if name != "bias" and value.is_number and not (value.is_Integer and value >= 1):
            raise ClaimError(f"--where {name}={sp.sstr(value)} is outside the domain: every size is an integer ≥ 1")

    def close(expr: sp.Expr) -> sp.Expr:
        """B and MAC, then the where-values, substituted exactly (no simplification that could cancel a
        divisor or round a constant)."""
        expr = expr.xreplace({names["B"]: flops, names["MAC"]: mac})
        for _ in range(len(substitutions) + 1):  # where-values may name each other (c2=2*c1, c1=8)
            expr = expr.xreplace(substitutions)
        return expr

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


def _check_no_cycle(fixed: dict[str, sp.Expr]) -> None:
    """--where values may name each other (c2=2*c1, c1=8), but not in a circle (c1=c2, c2=c1): a symbol
    defined through itself has no value."""

    def visit(name: str, path: tuple[str, ...]) -> None:
        for used in sorted(str(x) for x in fixed[name].free_symbols if str(x) in fixed):
            if used in path:
                circle = " → ".join((*path[path.index(used) :], used))
                raise ClaimError(f"--where defines {used} through itself ({circle})")
            visit(used, (*path, used))

    for name in fixed:
        visit(name, (name,))


def _value(value: sp.Expr) -> str:
    """An exact value for the counterexample line: the integer or rational itself (or its magnitude
    when it has over 60 digits), a radical with a certified 6-digit enclosure, 'undefined' for a division by
    zero, 'not a real number' for a principal root of a negative number."""
    try:
        certified_sign(value)
    except Undefined:
        return "undefined (division by zero)"
    except NotReal:
        return f"{sp.sstr(value)[:60]} (not a real number)"
    except Uncertain:
        return sp.sstr(value)[:60]
    if value.is_Rational:
        digits = max(len(str(abs(int(value.p)))), len(str(int(value.q))))  # type: ignore[attr-defined]
        return sp.sstr(value) if digits <= 60 else f"≈ {sp.Float(value, 6)} (exact value has {digits} digits)"
    return f"{sp.sstr(value)[:60]} ≈ {sp.Float(value.evalf(30), 6)}"
