"""Symbolic proofs of the paper's MAC inequalities (sympy), and a per-layer check of a model against them.

Every theorem starts from the closed forms in ``costmodel.proofs.formulas`` — the same expressions the cost
handlers evaluate — and its statement is printed from the expressions that are proved. Each inequality
goes through the claim checker (``costmodel.proofs.claims``: counterexample search in exact arithmetic, then a
sign proof) exactly as a user's ``verify --claim`` does, and then through a certificate that sympy
checks: MAC − bound = (positive factor)·(a − b)² + slack as an identity, with a − b real, which also
certifies "equality iff" in both directions and strictness with a bias. Sampling only ever refutes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from costmodel.proofs import formulas as f
from costmodel.proofs.claims import Domain, Relation, check_relation
from costmodel.proofs.results import LayerCheck, Theorem, Verification
from costmodel.report import Report

#: Relative slack for comparing a float bound with an integer MAC (the bound is exact at equality).
_REL_TOL = 1e-12


def _s(expr: sp.Expr) -> str:
    return sp.sstr(expr)


def _display(expr: sp.Expr) -> str:
    """``expr`` printed with √B·√h·√w joined into √(B·h·w): the same value (the symbols are positive),
    which sympy would split again on positive symbols, so it is joined on assumption-free copies."""
    plain = {sym: sp.Symbol(sym.name) for sym in expr.free_symbols}
    return _s(sp.powsimp(expr.xreplace(plain), force=True))


def render_inequality(lhs_name: str, bound_of_b: sp.Expr, definitions: dict[str, sp.Expr], condition: sp.Equality | None) -> str:
    """'MAC ≥ bound, with B = …, MAC = …; equality iff L = R', every part printed from its expression."""
    text = f"{lhs_name} ≥ {_display(bound_of_b)}"
    if definitions:
        text += ", with " + ", ".join(f"{name} = {_s(expr)}" for name, expr in definitions.items())
    if condition is not None:
        text += f"; equality iff {_s(condition.lhs)} = {_s(condition.rhs)}"
    return text


def check_by_claim_path(theorem: Theorem, lhs: sp.Expr, relation: Relation, rhs: sp.Expr, domain: Domain) -> bool:
    """Run ``lhs rel rhs`` through the claim checker (counterexample search, then proof), as
    ``verify --claim`` does; append its steps; True only for the verdict 'proved'."""
    verdict, point, steps = check_relation(lhs, relation, rhs, domain)
    theorem.steps += [f"[claim checker] {step}" for step in steps]
    if point is not None:
        theorem.steps.append(f"[claim checker] REFUTED at {', '.join(f'{k} = {v}' for k, v in point.items())}")
    return verdict == "proved"


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
    """Prove mac ≥ bound via the certificate mac − bound = factor·(a − b)² + slack, and the equality
    condition solve_for = expected_equality in both directions.

    Checks, each with sympy: (1) the identity holds; (2) factor > 0, slack ≥ 0, a − b real;
    (3) ⇒: MAC − bound = 0 forces factor·(a − b)² = −slack ≤ 0, so a = b; a, b ≥ 0 so a² = b²; and
    a² − b² = λ·(solve_for − expected_equality) with λ ≠ 0 a certified-sign expression, so the
    condition holds; (4) ⇐: at the condition MAC − bound − slack vanishes (substitution);
    (5) with a slack, it is > 0 for a positive bias (strict bound). ``theorem.proved`` is True only if
    every check passes.
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
    factor_positive = factor.is_positive is True
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
    # ⇒: MAC = bound (no slack) makes factor·(a − b)² = 0, and factor > 0 gives a = b
    roots_nonnegative = a.is_nonnegative is True and b.is_nonnegative is True
    gap = solve_for - expected_equality
    ratio = sp.simplify((a**2 - b**2) / gap) if gap != 0 else sp.nan
    ratio_signed = ratio.is_positive is True or ratio.is_negative is True
    ratio_identity = ratio_signed and sp.simplify(sp.expand(a**2 - b**2 - ratio * gap)) == 0
    forward = roots_nonnegative and ratio_identity
    steps.append(
        f"⇒: MAC = bound{' (no bias)' if slack != 0 else ''} gives ({_s(factor)})·({_s(a)} − {_s(b)})² = 0, so "
        f"{_s(a)} = {_s(b)}; both are ≥ 0, so their squares are equal, and "
        f"{_s(a**2)} − {_s(b**2)} = ({_s(ratio)})·({_s(solve_for)} − {_s(expected_equality)}) with a non-zero factor, "
        f"so {solve_for} = {_s(expected_equality)}"
        + ("   [sympy: signs and identity]" if forward else "   [FAILED: not certified]")
    )
    # ⇐: at the condition (and without the slack) MAC − bound vanishes
    vanishes = sp.simplify((mac - bound - slack).subs(solve_for, expected_equality)) == 0
    steps.append(
        f"⇐: at {solve_for} = {_s(expected_equality)}: MAC − bound"
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
    certified = identity and factor_positive and slack_nonnegative and base_real and forward and vanishes and strict
    theorem.proved = certified
    steps.append("PROVED" if theorem.proved else "NOT PROVED")
    return theorem


def _conv_case(**subs: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(MAC, B) of the convolution closed form with some symbols fixed (bias 0 unless given)."""
    subs.setdefault("bias", sp.Integer(0))
    mapping = {getattr(f, k): v for k, v in subs.items()}
    return f.CONV_MAC.subs(mapping), f.CONV_FLOPS.subs(mapping)


_B = sp.Symbol("B", positive=True)
k_sym, s_sym = sp.Symbol("k", positive=True), sp.Symbol("s", positive=True)


def _bound_theorem(
    name: str,
    setting: str,
    assumptions: list[str],
    mac: sp.Expr,
    flops: sp.Expr,
    bound_of_b: sp.Expr,
    condition: sp.Equality,
    certificate: tuple[sp.Expr, sp.Expr, sp.Expr],
    domain: Domain,
    slack: sp.Expr | None = None,
    note: str = "",
) -> Theorem:
    """A MAC ≥ bound(B) theorem: the statement printed from ``bound_of_b``, B = ``flops``, MAC = ``mac``
    and ``condition``; proved through the claim checker and by the square certificate (equality iff)."""
    bound = bound_of_b.subs(_B, flops)
    statement = setting + ": " + render_inequality("MAC", bound_of_b, {"B": flops, "MAC": mac}, condition)
    if slack is not None:
        statement += " and no bias (with a bias the bound is strict)"
    t = Theorem(name, statement, assumptions, note=note)
    by_claim = check_by_claim_path(t, mac, ">=", bound, domain)
    factor, a, b = certificate
    solve_for, value = condition.lhs, condition.rhs  # conditions are written "symbol = expression"
    prove_square_certificate(t, mac, bound, factor, a, b, solve_for, value, slack=slack)
    t.proved = t.proved and by_claim
    t.steps[-1] = "PROVED" if t.proved else "NOT PROVED"
    return t


def theorem_eq1() -> Theorem:
    """Paper Eq. (1): 1x1 conv, MAC ≥ 2·√(h·w·B) + B/(h·w), equality iff c1 = c2."""
    h, w, c1, c2 = f.h, f.w, f.c1, f.c2
    mac, flops = _conv_case(N=1, ho=h, wo=w, kh=1, kw=1, g=1)
    return _bound_theorem(
        "Eq. (1) — G1: equal channel width minimises MAC",
        "1x1 convolution, N = 1, g = 1, stride 1, no bias",
        ["h, w, c1, c2 integers ≥ 1 (the proof holds for positive reals)"],
        mac,
        flops,
        2 * sp.sqrt(h * w * _B) + _B / (h * w),
        sp.Eq(c2, c1),
        (h * w, sp.sqrt(c1), sp.sqrt(c2)),
        Domain((h, w, c1, c2)),
    )


def theorem_batch_groups() -> Theorem:
    """1x1 conv with batch N and g groups: MAC ≥ 2·√(g·N·h·w·B) + B/(N·h·w), equality iff c1 = c2."""
    N, h, w, c1, c2, g = f.N, f.h, f.w, f.c1, f.c2, f.g
    mac, flops = _conv_case(ho=h, wo=w, kh=1, kw=1)
    a = N * h * w
    return _bound_theorem(
        "Batch N and groups g (1x1)",
        "1x1 convolution with batch N and g groups, stride 1, no bias",
        ["N, h, w, c1, c2, g integers ≥ 1, g divides c1 and c2"],
        mac,
        flops,
        2 * sp.sqrt(g * N * h * w * _B) + _B / (N * h * w),
        sp.Eq(c2, c1),
        (a, sp.sqrt(c1), sp.sqrt(c2)),
        Domain((N, h, w, c1, c2, g), divides=((c1, g), (c2, g))),
    )


def theorem_kernel() -> Theorem:
    """k×k conv, stride 1, 'same' padding: MAC ≥ (2/k)·√(g·N·h·w·B) + B/(N·h·w), equality iff c1 = c2."""
    N, h, w, c1, c2, g, k = f.N, f.h, f.w, f.c1, f.c2, f.g, k_sym
    mac, flops = _conv_case(ho=h, wo=w, kh=k, kw=k)
    return _bound_theorem(
        "Kernel k×k, stride 1 ('same' padding)",
        "k×k convolution, stride 1, 'same' padding (output h×w), batch N, g groups, no bias",
        ["N, h, w, c1, c2, g, k integers ≥ 1, g divides c1 and c2"],
        mac,
        flops,
        (2 / k) * sp.sqrt(g * N * h * w * _B) + _B / (N * h * w),
        sp.Eq(c2, c1),
        (N * h * w, sp.sqrt(c1), sp.sqrt(c2)),
        Domain((N, h, w, c1, c2, g, k), divides=((c1, g), (c2, g))),
    )


def theorem_stride() -> Theorem:
    """Stride-s k×k conv (output (h/s)×(w/s)): MAC ≥ (2/k)·√(g·N·h·w·B) + s²·B/(N·h·w), equality iff c2 = s²·c1."""
    N, h, w, c1, c2, g, k, s = f.N, f.h, f.w, f.c1, f.c2, f.g, k_sym, s_sym
    mac, flops = _conv_case(ho=h / s, wo=w / s, kh=k, kw=k)
    # the commentary's figure, computed: ShuffleNet V2's downsampling doubles channels at stride 2
    at_shufflenet = {c2: 2 * c1, s: 2}
    activations = (N * h * w * c1 + N * (h / s) * (w / s) * c2).subs(at_shufflenet)
    minimum = (2 * sp.sqrt(N * h * w * c1 * N * (h / s) * (w / s) * c2)).subs(at_shufflenet)
    ratio = sp.nsimplify(sp.simplify(activations / minimum))
    return _bound_theorem(
        "Stride s (downsampling)",
        "k×k convolution, stride s (output (h/s)×(w/s)), batch N, g groups, no bias",
        ["N, h, w, c1, c2, g, k, s integers ≥ 1, g divides c1 and c2, s divides h and w"],
        mac,
        flops,
        (2 / k) * sp.sqrt(g * N * h * w * _B) + s**2 * _B / (N * h * w),
        sp.Eq(c2, s**2 * c1),
        (N * h * w, sp.sqrt(c1), sp.sqrt(c2) / s),
        Domain((N, h, w, c1, c2, g, k, s), divides=((c1, g), (c2, g), (h, s), (w, s))),
        note=(
            "Not part of the proof, computed from the same expressions: a stride-2 layer is on its bound when "
            "it quadruples its channels; ShuffleNet V2's downsampling units double them (c2 = 2·c1, s = 2), "
            f"so their activation traffic is {_s(ratio)} ≈ {float(ratio):.3f}× its minimum — a trade against FLOPs."
        ),
    )


def theorem_report_bound() -> Theorem:
    """The bound every report row carries: MAC ≥ 2·√(g·A_in·B/K) + B/A_out for any conv, equality iff A_in·c1 = A_out·c2."""
    t = _bound_theorem(
        "The report's bound (any kernel, stride, padding, groups, batch)",
        "any convolution (A_in = N·h·w, A_out = N·ho·wo, K = kh·kw; the expression `mac_lower_bound` evaluates)",
        ["N, h, w, ho, wo, c1, c2, kh, kw, g integers ≥ 1, g divides c1 and c2", "bias ∈ {0, 1}"],
        f.CONV_MAC,
        f.CONV_FLOPS,
        f.CONV_MAC_BOUND_OF_B.subs(f.B, _B),
        sp.Eq(f.c2, f.A_in * f.c1 / f.A_out),
        (sp.Integer(1), sp.sqrt(f.A_in * f.c1), sp.sqrt(f.A_out * f.c2)),
        Domain(
            symbols=(f.N, f.h, f.w, f.ho, f.wo, f.c1, f.c2, f.kh, f.kw, f.g),
            binary=(f.bias,),
            divides=((f.c1, f.g), (f.c2, f.g)),
        ),
        slack=f.bias * f.c2,
    )
    # the numeric handlers' split form is the same expression as the bound in B
    same = sp.simplify(f.CONV_MAC_BOUND - f.CONV_MAC_BOUND_OF_B.subs(f.B, f.CONV_FLOPS)) == 0
    t.steps.insert(
        -1,
        f"bound as evaluated = {_s(f.CONV_MAC_BOUND)}"
        + ("   [sympy: equals 2·√(g·A_in·B/K) + B/A_out with B = FLOPs]" if same else "   [FAILED: differs]"),
    )
    t.proved = t.proved and same
    t.steps[-1] = "PROVED" if t.proved else "NOT PROVED"
    return t


def theorem_eq2() -> Theorem:
    """Paper Eq. (2): at fixed c1·h·w and B, MAC = h·w·c1 + B·g/c1 + B/(h·w), strictly increasing in g."""
    h, w, c1, c2, g = f.h, f.w, f.c1, f.c2, f.g
    mac, flops = _conv_case(N=1, ho=h, wo=w, kh=1, kw=1)
    c2_of_b = sp.solve(sp.Eq(flops, _B), c2)
    ok = len(c2_of_b) == 1
    mac_b = sp.simplify(mac.subs(c2, c2_of_b[0])) if ok else sp.nan
    paper = h * w * c1 + _B * g / c1 + _B / (h * w)
    slope = sp.diff(paper, g)
    t = Theorem(
        "Eq. (2) — G2: more groups raise MAC",
        "1x1 group convolution, N = 1, stride 1, no bias, input (c1·h·w) and FLOPs B held fixed (c2 adjusts): "
        f"MAC = {_s(paper)}, and ∂MAC/∂g = {_s(slope)} > 0",
        ["h, w, c1, g, B positive (c2 = B·g/(h·w·c1) follows from fixing B)"],
    )
    t.steps.append(f"MAC = {_s(mac)},  B = {_s(flops)}")
    t.steps.append(f"fixing B gives c2 = {_s(c2_of_b[0]) if ok else '?'}, so MAC = {_s(mac_b)}")
    domain = Domain(symbols=(h, w, c1, g, _B), integers=False)
    same = ok and check_by_claim_path(t, mac_b, "==", paper, domain)
    t.steps.append(f"= {_s(paper)}" + ("   [identical to the paper's Eq. (2)]" if same else "   [FAILED: differs]"))
    increasing = check_by_claim_path(t, sp.diff(mac_b, g) if ok else sp.nan, ">", sp.Integer(0), domain)
    t.steps.append(
        f"∂MAC/∂g = {_s(slope)}" + ("   [positive, so MAC strictly increases with g]" if increasing else "   [FAILED]")
    )
    t.proved = bool(same and increasing)
    t.steps.append("PROVED" if t.proved else "NOT PROVED")
    return t


def all_theorems() -> list[Theorem]:
    """Every theorem the tool states, proved now."""
    return [theorem_eq1(), theorem_eq2(), theorem_batch_groups(), theorem_kernel(), theorem_stride(), theorem_report_bound()]


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


def verification(report: Report | None = None) -> Verification:
    """Every theorem proved now and, with ``report``, its conv/linear rows checked against their bounds
    (furthest first) with the ops no rule could cost."""
    if report is None:
        return Verification(all_theorems())
    return Verification(all_theorems(), check_layers(report), [f"{u.name} ({u.op})" for u in report.uncounted])
