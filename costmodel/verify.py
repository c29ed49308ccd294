"""Symbolic proofs of the paper's MAC inequalities (sympy), and a per-layer check of a model against them.

Every theorem starts from the closed forms in ``costmodel.formulas`` — the same expressions the cost
handlers evaluate — and is proved by a certificate that sympy checks: MAC − bound is rewritten as
(positive factor)·(a − b)², the rewriting is verified as an identity, the factor's positivity follows
from the symbols' assumptions, and the equality condition a = b is solved for c2. Nothing is sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import sympy as sp

from costmodel import formulas as f
from costmodel.report import Report

#: Relative slack for comparing a float bound with an integer MAC (the bound is exact at equality).
_REL_TOL = 1e-12


@dataclass
class Theorem:
    """A proved (or failed) statement, with the chain of steps that sympy checked."""

    name: str
    statement: str
    assumptions: list[str]
    steps: list[str] = field(default_factory=list)
    proved: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, statement, assumptions, steps, proved."""
        return asdict(self)


def _s(expr: sp.Expr) -> str:
    return sp.sstr(expr)


def prove_square_certificate(
    theorem: Theorem,
    mac: sp.Expr,
    bound: sp.Expr,
    factor: sp.Expr,
    a: sp.Expr,
    b: sp.Expr,
    solve_for: sp.Symbol,
    expected_equality: sp.Expr,
    slack: sp.Expr | None = None,
) -> Theorem:
    """Prove mac ≥ bound via the certificate mac − bound = factor·(a − b)² + slack.

    Checks, each with sympy: (1) the identity holds; (2) factor > 0 and slack ≥ 0 under the symbols'
    assumptions; (3) with slack = 0, a = b solved for ``solve_for`` gives exactly ``expected_equality``
    (the equality condition). ``theorem.proved`` is True only if every check passes.
    """
    slack = sp.Integer(0) if slack is None else slack
    steps = theorem.steps
    steps.append(f"MAC = {_s(mac)}")
    steps.append(f"bound = {_s(sp.simplify(bound))}")
    difference = sp.simplify(mac - bound)
    steps.append(f"MAC − bound = {_s(difference)}")
    certificate = factor * (a - b) ** 2 + slack
    residual = sp.simplify(sp.expand(mac - bound - certificate))
    identity = residual == 0
    steps.append(
        f"= ({_s(factor)})·({_s(a)} − {_s(b)})²"
        + (f" + {_s(slack)}" if slack != 0 else "")
        + (
            "   [sympy: the difference minus this form simplifies to 0]"
            if identity
            else f"   [FAILED: the difference minus this form is {_s(residual)}, not 0]"
        )
    )
    factor_positive = bool(sp.ask(sp.Q.positive(factor))) or factor.is_positive is True
    slack_nonnegative = slack == 0 or slack.is_nonnegative is True
    steps.append(
        f"{_s(factor)} > 0 under the assumptions" + ("   [sympy: positive]" if factor_positive else "   [FAILED: sign unknown]")
    )
    if slack != 0:
        steps.append(f"{_s(slack)} ≥ 0" + ("   [sympy: nonnegative]" if slack_nonnegative else "   [FAILED]"))
    # a square is ≥ 0 only for a real base: an imaginary difference would make the "certificate" negative
    base_real = (a - b).is_real is True  # the symbols' own assumptions; sympy's ask() calls √(c2 − 2√(c1·c2)) real
    steps.append(
        f"{_s(a)} − {_s(b)} is real under the assumptions"
        + ("   [sympy: real]" if base_real else "   [FAILED: not provably real, so its square need not be ≥ 0]")
    )
    steps.append("a real square is ≥ 0, so MAC − bound ≥ 0")
    solutions = sp.solve(sp.Eq(a, b), solve_for)
    equality_ok = len(solutions) == 1 and sp.simplify(solutions[0] - expected_equality) == 0
    steps.append(
        f"equality iff {_s(a)} = {_s(b)} ⇔ {solve_for} = {_s(solutions[0]) if solutions else '∅'}"
        + ("   [sympy: solve]" if equality_ok else f"   [FAILED: expected {solve_for} = {_s(expected_equality)}]")
    )
    # the converse, by substitution: at the condition (and without the slack) MAC − bound vanishes
    vanishes = sp.simplify((mac - bound - slack).subs(solve_for, expected_equality)) == 0
    steps.append(
        f"at {solve_for} = {_s(expected_equality)}: MAC − bound"
        + (" − slack" if slack != 0 else "")
        + (" = 0   [sympy: substituted and simplified]" if vanishes else "   [FAILED: does not vanish]")
    )
    strict = True
    if slack != 0:  # a positive slack makes the inequality strict: proved, not stated
        unsigned = [sym for sym in slack.free_symbols if sym.is_positive is not True]
        positive_bias = {sym: sp.Symbol(f"{sym}_positive", positive=True) for sym in unsigned}
        strict = slack.subs(positive_bias).is_positive is True
        steps.append(
            f"with bias > 0 the slack {_s(slack)} > 0, so the bound is strict"
            + ("   [sympy: positive]" if strict else "   [FAILED: sign unknown]")
        )
    theorem.proved = identity and factor_positive and slack_nonnegative and base_real and equality_ok and vanishes and strict
    steps.append("PROVED" if theorem.proved else "NOT PROVED")
    return theorem


def _conv_case(**subs: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(MAC, B) of the convolution closed form with some symbols fixed (bias 0 unless given)."""
    subs.setdefault("bias", sp.Integer(0))
    mapping = {getattr(f, k): v for k, v in subs.items()}
    return f.CONV_MAC.subs(mapping), f.CONV_FLOPS.subs(mapping)


def theorem_eq1() -> Theorem:
    """Paper Eq. (1): 1x1 conv, MAC ≥ 2·√(h·w·B) + B/(h·w), equality iff c1 = c2."""
    h, w, c1, c2 = f.h, f.w, f.c1, f.c2
    mac, flops = _conv_case(N=1, ho=h, wo=w, kh=1, kw=1, g=1)
    bound = 2 * sp.sqrt(h * w * flops) + flops / (h * w)
    t = Theorem(
        "Eq. (1) — G1: equal channel width minimises MAC",
        "For a 1x1 convolution with B = h·w·c1·c2: MAC = h·w·(c1+c2) + c1·c2 ≥ 2·√(h·w·B) + B/(h·w), with equality iff c1 = c2",
        ["h, w, c1, c2 > 0", "N = 1, groups = 1, stride 1, no bias"],
        [f"B = {_s(flops)}"],
    )
    return prove_square_certificate(t, mac, bound, h * w, sp.sqrt(c1), sp.sqrt(c2), c2, c1)


def theorem_eq2() -> Theorem:
    """Paper Eq. (2): at fixed c1·h·w and B, MAC = h·w·c1 + B·g/c1 + B/(h·w), strictly increasing in g."""
    h, w, c1, c2, g = f.h, f.w, f.c1, f.c2, f.g
    B = sp.Symbol("B", positive=True)
    mac, flops = _conv_case(N=1, ho=h, wo=w, kh=1, kw=1)
    t = Theorem(
        "Eq. (2) — G2: more groups raise MAC",
        "For a 1x1 group convolution at fixed input (c1·h·w) and fixed FLOPs B: "
        "MAC = h·w·c1 + B·g/c1 + B/(h·w), which strictly increases with g",
        ["h, w, c1, c2, g > 0", "N = 1, stride 1, no bias", "B = h·w·c1·c2/g held fixed (c2 adjusts with g)"],
    )
    t.steps.append(f"MAC = {_s(mac)},  B = {_s(flops)}")
    c2_of_b = sp.solve(sp.Eq(flops, B), c2)
    ok = len(c2_of_b) == 1
    mac_b = sp.simplify(mac.subs(c2, c2_of_b[0])) if ok else sp.nan
    paper = h * w * c1 + B * g / c1 + B / (h * w)
    t.steps.append(f"fixing B gives c2 = {_s(c2_of_b[0]) if ok else '?'}, so MAC = {_s(mac_b)}")
    same = ok and sp.simplify(mac_b - paper) == 0
    t.steps.append(f"= {_s(paper)}" + ("   [sympy: identical to the paper's Eq. (2)]" if same else "   [FAILED: differs]"))
    slope = sp.diff(mac_b, g) if ok else sp.nan
    increasing = ok and bool(slope.is_positive)
    t.steps.append(
        f"∂MAC/∂g = {_s(slope)}" + ("   [sympy: positive, so MAC strictly increases with g]" if increasing else "   [FAILED]")
    )
    t.proved = bool(same and increasing)
    t.steps.append("PROVED" if t.proved else "NOT PROVED")
    return t


def theorem_batch_groups() -> Theorem:
    """1x1 conv with batch N and g groups: MAC ≥ 2·√(g·N·h·w·B) + B/(N·h·w), equality iff c1 = c2."""
    N, h, w, c1, c2, g = f.N, f.h, f.w, f.c1, f.c2, f.g
    mac, flops = _conv_case(ho=h, wo=w, kh=1, kw=1)
    a = N * h * w
    bound = 2 * sp.sqrt(g * a * flops) + flops / a
    t = Theorem(
        "Batch N and groups g (1x1)",
        "For a 1x1 convolution with batch N and g groups: MAC ≥ 2·√(g·N·h·w·B) + B/(N·h·w), equality iff c1 = c2",
        ["N, h, w, c1, c2, g > 0", "stride 1, no bias"],
        [f"B = {_s(flops)}"],
    )
    return prove_square_certificate(t, mac, bound, a, sp.sqrt(c1), sp.sqrt(c2), c2, c1)


def theorem_kernel() -> Theorem:
    """k×k conv, stride 1, 'same' padding: MAC ≥ (2/k)·√(g·N·h·w·B) + B/(N·h·w), equality iff c1 = c2."""
    N, h, w, c1, c2, g = f.N, f.h, f.w, f.c1, f.c2, f.g
    k = sp.Symbol("k", positive=True)
    mac, flops = _conv_case(ho=h, wo=w, kh=k, kw=k)
    a = N * h * w
    bound = (2 / k) * sp.sqrt(g * a * flops) + flops / a
    t = Theorem(
        "Kernel k×k, stride 1 ('same' padding)",
        "For a k×k convolution with stride 1, 'same' padding, batch N and g groups: "
        "MAC ≥ (2/k)·√(g·N·h·w·B) + B/(N·h·w), equality iff c1 = c2",
        ["N, h, w, c1, c2, g, k > 0", "output h×w equals input h×w", "no bias"],
        [f"B = {_s(flops)}"],
    )
    return prove_square_certificate(t, mac, bound, a, sp.sqrt(c1), sp.sqrt(c2), c2, c1)


def theorem_stride() -> Theorem:
    """Stride-s k×k conv (output (h/s)×(w/s)): MAC ≥ (2/k)·√(g·N·h·w·B) + s²·B/(N·h·w), equality iff c2 = s²·c1."""
    N, h, w, c1, c2, g = f.N, f.h, f.w, f.c1, f.c2, f.g
    k, s = sp.Symbol("k", positive=True), sp.Symbol("s", positive=True)
    mac, flops = _conv_case(ho=h / s, wo=w / s, kh=k, kw=k)
    a = N * h * w
    bound = (2 / k) * sp.sqrt(g * a * flops) + s**2 * flops / a
    t = Theorem(
        "Stride s (downsampling)",
        "For a k×k convolution with stride s (output (h/s)×(w/s)), batch N and g groups: "
        "MAC ≥ (2/k)·√(g·N·h·w·B) + s²·B/(N·h·w), equality iff c2 = s²·c1. "
        "So a stride-2 layer is on its bound when it quadruples the channels; ShuffleNet V2's "
        "downsampling units double them (c2 = 2·c1), leaving their activation traffic "
        "(1 + 2/4)/(2·√2/2) ≈ 1.061× the minimum — a deliberate trade against FLOPs",
        ["N, h, w, c1, c2, g, k, s > 0", "h and w divisible by s", "no bias"],
        [f"B = {_s(flops)}"],
    )
    return prove_square_certificate(t, mac, bound, a, sp.sqrt(c1), sp.sqrt(c2) / s, c2, s**2 * c1)


def theorem_report_bound() -> Theorem:
    """The bound every report row carries: MAC ≥ 2·√(g·A_in·B/K) + B/A_out for any conv, equality iff A_in·c1 = A_out·c2."""
    a_in, a_out = f.A_in, f.A_out
    mac_with_bias = f.CONV_MAC
    mac_no_bias = mac_with_bias.subs(f.bias, 0)
    t = Theorem(
        "The report's bound (any kernel, stride, padding, groups, batch)",
        "With A_in = N·h·w, A_out = N·h'·w', K = kh·kw: MAC ≥ 2·√(g·A_in·B/K) + B/A_out "
        "(the expression `mac_lower_bound` evaluates), equality iff A_in·c1 = A_out·c2 and no bias",
        ["N, h, w, h', w', c1, c2, kh, kw, g > 0", "bias ∈ {0, 1}"],
    )
    # first: the numeric handlers' split form is the same expression as the bound in B
    same = sp.simplify(f.CONV_MAC_BOUND - f.CONV_MAC_BOUND_OF_B.subs(f.B, f.CONV_FLOPS)) == 0
    t.steps.append(
        f"bound as evaluated = {_s(f.CONV_MAC_BOUND)}"
        + ("   [sympy: equals 2·√(g·A_in·B/K) + B/A_out with B = FLOPs]" if same else "   [FAILED: differs]")
    )
    prove_square_certificate(
        t,
        mac_with_bias,
        f.CONV_MAC_BOUND,
        sp.Integer(1),
        sp.sqrt(a_in * f.c1),
        sp.sqrt(a_out * f.c2),
        f.c2,
        a_in * f.c1 / a_out,
        slack=f.bias * f.c2,
    )
    del mac_no_bias
    t.proved = t.proved and same
    if not same:
        t.steps[-1] = "NOT PROVED"
    return t


def all_theorems() -> list[Theorem]:
    """Every theorem the tool states, proved now."""
    return [theorem_eq1(), theorem_eq2(), theorem_batch_groups(), theorem_kernel(), theorem_stride(), theorem_report_bound()]


@dataclass(frozen=True)
class LayerCheck:
    """One conv/linear row checked numerically against its proved bound."""

    name: str
    op: str
    mac: int
    mac_lower_bound: float
    mac_efficiency: float
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: name, mac, mac_lower_bound, mac_efficiency, holds (plus op)."""
        return asdict(self)


def check_layers(report: Report, families: Sequence[str] = ("conv", "linear")) -> list[LayerCheck]:
    """Every row with a proved bound, furthest from it first (lowest MAC efficiency: the G1 violators).

    ``holds`` is MAC ≥ bound (to a relative 1e-12: the bound is a float, exact at equality).
    """
    checks = [
        LayerCheck(
            r.name,
            r.op,
            r.mac,
            r.mac_lower_bound,
            r.mac_efficiency or 0.0,
            r.mac >= r.mac_lower_bound * (1 - _REL_TOL),
        )
        for r in report.layers
        if r.family in families and r.mac_lower_bound is not None
    ]
    checks.sort(key=lambda c: c.mac_efficiency)
    return checks
