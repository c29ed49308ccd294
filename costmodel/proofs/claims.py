"""Prove or refute an inequality over a cost model's symbols (sympy, exact arithmetic).

A claim is ``LHS rel RHS`` with rel one of ``>=``, ``>``, ``<=``, ``<``, ``==``. It is checked in two
stages, always in this order:

1. **Counterexample search.** Integer points of the domain (all ones, each symbol alone at boundary
   values, pairs, then seeded random points) are screened in floating point and every point that comes
   near to or across the boundary is re-evaluated exactly (integers, rationals and radicals in sympy; a
   sign that rounding could hide is settled by a minimal polynomial). A violation found here is exact.
2. **Proof.** The difference (LHS − RHS, or RHS − LHS for ``<=``) is brought to one fraction after the
   substitution x = X^L that clears every radical (L the least common denominator of the exponents),
   and each factor of numerator and denominator is given a sign: a polynomial with non-negative
   coefficients in positive variables is > 0, an even power is ≥ 0, and, on the integer domain, a
   polynomial whose coefficients are non-negative after X = 1 + Y (every count is ≥ 1) is > 0.

The verdict is ``refuted`` (with the counterexample), ``proved`` (with the steps sympy checked) or
``unknown`` (no violation found and no certificate either). Nothing is sampled into a proof: sampling
only ever refutes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp

from costmodel.errors import CostModelError
from costmodel.proofs.certified import NotReal, Uncertain, Undefined, certified_sign, too_large
from costmodel.proofs.claim_search import Domain, Relation, find_counterexample, radical_degree
from costmodel.proofs.results import Verdict

#: Relations as the user may write them, longest first so that ">=" is not read as ">".
_RELATIONS: tuple[tuple[str, Relation], ...] = (
    (">=", ">="),
    ("≥", ">="),
    ("<=", "<="),
    ("≤", "<="),
    ("==", "=="),
    (">", ">"),
    ("<", "<"),
    ("=", "=="),
)


class ClaimError(CostModelError, ValueError):
    """A claim or a --where clause that cannot be read (unknown symbol, syntax, relation)."""


def _s(expr: Any) -> str:
    return sp.sstr(expr)


# --- reading a claim -------------------------------------------------------------------------------

_ALLOWED_TEXT = re.compile(r"^[A-Za-z0-9_+\-*/^().,\s√]*$")
_ALLOWED_FUNCTIONS = {"sqrt": sp.sqrt, "Min": sp.Min, "Max": sp.Max, "min": sp.Min, "max": sp.Max}


class Intractable(CostModelError):
    """A claim whose exact arithmetic would not finish (a constant of millions of digits, a huge power):
    answered ``unknown`` with this reason, never computed."""


_TRANSFORMS = (
    *sp.parsing.sympy_parser.standard_transformations,
    sp.parsing.sympy_parser.convert_xor,
    sp.parsing.sympy_parser.rationalize,  # a decimal literal is the rational it spells: 1.000000001 = 1000000001/10^9
)


def parse_expression(text: str, names: Mapping[str, sp.Expr], what: str = "expression") -> sp.Expr:
    """Read ``text`` as an exact sympy expression over ``names`` (numbers, + − × ÷ ^ **, sqrt, min, max).

    Every decimal literal becomes the exact rational it spells (no float, no rounding). The text is read
    unevaluated first: a constant or power too large for exact arithmetic raises :class:`Intractable`.
    Raises ClaimError naming the unknown symbol or the syntax problem.
    """
    stripped = text.strip()
    if not stripped:
        raise ClaimError(f"empty {what}")
    if not _ALLOWED_TEXT.match(stripped) or "__" in stripped:
        raise ClaimError(f"{what} {stripped!r}: only symbols, numbers, + - * / ^ ( ) and sqrt are allowed")
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", stripped):
        if name not in names and name not in _ALLOWED_FUNCTIONS and not _is_exponent_marker(name, stripped):
            known = ", ".join(names)
            raise ClaimError(f"unknown symbol {name!r} in {what} {stripped!r} (known: {known}, sqrt)")
    local: dict[str, Any] = {**_ALLOWED_FUNCTIONS, **names}
    source = stripped.replace("√", "sqrt")
    globals_ = {"Integer": sp.Integer, "Rational": sp.Rational, "Float": sp.Float, "Symbol": sp.Symbol}
    globals_.update({"Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow})  # the unevaluated reading builds these
    try:
        raw = sp.parse_expr(source, local_dict=local, global_dict=globals_, transformations=_TRANSFORMS, evaluate=False)
    except Exception as err:  # sympy raises SyntaxError, TokenError, TypeError... for bad text
        raise ClaimError(f"cannot read {what} {stripped!r}: {type(err).__name__}: {err}".rstrip(": ")) from None
    if not isinstance(raw, sp.Expr):
        raise ClaimError(f"{what} {stripped!r} is not an arithmetic expression")
    reason = too_large(raw)
    if reason is not None:
        raise Intractable(f"{what}: {reason}")
    try:
        expr = sp.parse_expr(source, local_dict=local, global_dict=globals_, transformations=_TRANSFORMS, evaluate=True)
    except Exception as err:
        raise ClaimError(f"cannot read {what} {stripped!r}: {type(err).__name__}: {err}".rstrip(": ")) from None
    if expr.has(sp.Float):
        raise ClaimError(f"{what} {stripped!r}: a number could not be read exactly")
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ClaimError(f"{what} {stripped!r} divides by zero")
    return expr


def _is_exponent_marker(name: str, text: str) -> bool:
    """``e8`` in ``1e8`` is part of a number, not a symbol."""
    return re.fullmatch(r"[eE]\d*", name) is not None and re.search(r"\d\.?\d*[eE][+-]?\d", text) is not None


def split_relation(text: str) -> tuple[str, Relation, str]:
    """Split ``"LHS >= RHS"`` at its single relation; ClaimError if there is none or more than one."""
    for token, relation in _RELATIONS:
        if token in text:
            left, _, right = text.partition(token)
            if any(t in right or t in left for t, _ in _RELATIONS):
                raise ClaimError(f"claim {text!r} has more than one relation; write one of LHS >= RHS, <=, >, <, ==")
            return left, relation, right
    raise ClaimError(f"claim {text!r} has no relation; write LHS >= RHS (or <=, >, <, ==)")


def parse_where(text: str | None, names: Mapping[str, sp.Expr]) -> dict[str, sp.Expr]:
    """``"n=1,g=1,c2=2*c1"`` → {name: expression}; each name must be a known symbol, once."""
    if not text or not text.strip():
        return {}
    fixed: dict[str, sp.Expr] = {}
    for part in text.split(","):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ClaimError(f"--where item {part.strip()!r} is not name=value")
        if name not in names or not isinstance(names[name], sp.Symbol):
            settable = ", ".join(k for k, v in names.items() if isinstance(v, sp.Symbol))
            raise ClaimError(f"--where sets unknown symbol {name!r} (settable: {settable})")
        if name in fixed:
            raise ClaimError(f"--where sets {name!r} twice")
        fixed[name] = parse_expression(value, names, f"--where value of {name}")
    return fixed


def _certified_or_none(value: sp.Expr) -> int | None:
    """The certified sign of a constant, or None where it cannot be certified (never a guess)."""
    try:
        return certified_sign(value)
    except (Undefined, NotReal, Uncertain):
        return None


#: A sign certificate: (sign, strict) — (1, True) is > 0, (1, False) ≥ 0, (0, True) identically 0.
SignInfo = tuple[int, bool]


def _factor_sign(factor: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[SignInfo | None, str]:
    """Sign of a polynomial over positive variables, with its reason, or None.

    Non-negative (non-positive) coefficients give > 0 (< 0); on the integer domain every variable is
    ≥ 1, so the coefficients after v = 1 + v_1 (v_1 ≥ 0) may decide instead (strict if the constant
    term is non-zero)."""
    if factor.is_number:
        sign = _certified_or_none(factor)
        if sign is None:
            return None, f"{_s(factor)}: the sign of this constant is not certified"
        return (sign, True), f"{_s(factor)} is a constant"
    signs = [_certified_or_none(c) for c in sp.Poly(factor, *variables).coeffs()]
    if None in signs:
        return None, f"{_s(factor)}: a coefficient's sign is not certified"
    if all(x is not None and x >= 0 for x in signs):
        return (1, True), f"{_s(factor)} > 0: non-negative coefficients, positive variables"
    if all(x is not None and x <= 0 for x in signs):
        return (-1, True), f"{_s(factor)} < 0: non-positive coefficients, positive variables"
    if at_least_one:
        offsets = [sp.Symbol(f"{v.name}_1", nonnegative=True) for v in variables]
        shifted = sp.Poly(sp.expand(factor.xreplace({v: 1 + o for v, o in zip(variables, offsets)})), *offsets)
        constant = _certified_or_none(shifted.coeff_monomial(1))
        shifted_signs = [_certified_or_none(c) for c in shifted.coeffs()]
        how = "every variable is ≥ 1, and with v = 1 + v_1 (v_1 ≥ 0) every coefficient is"
        if constant is not None and None not in shifted_signs:
            if all(x is not None and x >= 0 for x in shifted_signs):
                return (1, constant > 0), f"{_s(factor)} {'>' if constant > 0 else '≥'} 0: {how} ≥ 0"
            if all(x is not None and x <= 0 for x in shifted_signs):
                return (-1, constant < 0), f"{_s(factor)} {'<' if constant < 0 else '≤'} 0: {how} ≤ 0"
    return None, f"{_s(factor)}: sign not determined"


def _product_sign(poly_expr: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[SignInfo | None, list[str]]:
    """The sign of a polynomial from its factors: each factor signed, or an even power (≥ 0)."""
    whole, reason = _factor_sign(poly_expr, variables, at_least_one)
    if whole is not None:
        return whole, [reason]
    constant, factors = sp.factor_list(poly_expr, *variables)
    steps = [f"factored: {_s(sp.factor(poly_expr, *variables))}"]
    constant_sign = _certified_or_none(constant)
    if constant_sign is None:
        return None, [*steps, f"the sign of the constant {_s(constant)} is not certified"]
    sign, strict = constant_sign, True
    for base, exponent in factors:
        base_sign, reason = _factor_sign(base, variables, at_least_one)
        if base_sign is not None:
            sign *= base_sign[0] ** exponent
            strict = strict and base_sign[1]
            steps.append(reason + (f", to the power {exponent}" if exponent > 1 else ""))
        elif exponent % 2 == 0:
            strict = False
            steps.append(f"({_s(base)})^{exponent} ≥ 0: an even power of a real polynomial")
        else:
            steps.append(reason)
            return None, steps
    return (sign, strict), steps


def _polynomial_sign(poly_expr: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[SignInfo | None, list[str]]:
    """Sign of a polynomial in positive variables: from its factors, or as (a part of signed factors)
    + (one monomial of the same sign), which also makes the sign strict."""
    if poly_expr == 0:
        return (0, True), ["it is identically 0"]
    found, steps = _product_sign(poly_expr, variables, at_least_one)
    if found is not None:
        return found, steps
    for term in sp.Add.make_args(poly_expr):
        rest = sp.expand(poly_expr - term)
        term_sign, _ = _factor_sign(term, variables, at_least_one)
        rest_sign, rest_steps = _product_sign(rest, variables, at_least_one) if rest != 0 else ((0, True), [])
        if term_sign is not None and rest_sign is not None and rest_sign[0] in (0, term_sign[0]):
            return (term_sign[0], True), [
                f"split: ({_s(rest)}) + {_s(term)}",
                *rest_steps,
                f"{_s(term)} has the sign {'+' if term_sign[0] > 0 else '−'} (strict), so the sum does too",
            ]
    return None, steps


def _clear_radicals(expr: sp.Expr) -> tuple[sp.Expr, list[sp.Symbol], str]:
    """Substitute x = X^L (X > 0) for every symbol, L the least common denominator of the rational
    exponents, so that radicals of monomials disappear. Returns (expression, variables, the step)."""
    variables = sorted(expr.free_symbols, key=str)
    degree = radical_degree(expr)
    if degree == 1:
        return expr, variables, ""
    roots = {v: sp.Symbol(f"√{v.name}" if degree == 2 else f"{v.name}^(1/{degree})", positive=True) for v in variables}
    step = f"substitute {', '.join(f'{v} = {_s(r)}^{degree}' for v, r in roots.items())} (positive), clearing the radicals"
    return expr.xreplace({v: r**degree for v, r in roots.items()}), list(roots.values()), step


def _is_monomial(expr: sp.Expr, variables: Sequence[sp.Symbol]) -> bool:
    """Whether ``expr`` is a non-zero constant times powers of the (positive) variables."""
    factors = sp.Mul.make_args(expr)
    return all((f.is_number and f != 0) or f in variables or (f.is_Pow and f.base in variables) for f in factors)


def _denominators_nonzero(expr: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[bool, list[str]]:
    """Whether every divisor written in ``expr`` (before any cancellation) is shown non-zero on the
    domain: its numerator gets a strict sign. A claim that divides by something that may vanish at a
    valid point is never proved (it is undefined there)."""
    steps: list[str] = []
    for power in sorted(expr.atoms(sp.Pow), key=sp.default_sort_key):
        if not (power.exp.is_number and power.exp.is_negative) or power.base.is_number:
            continue
        if _is_monomial(power.base, variables):
            continue  # a non-zero constant times powers of positive variables: never zero
        if radical_degree(power.base) > 1:
            steps.append(f"the divisor {_s(power.base)} keeps a radical: not shown non-zero, no proof")
            return False, steps
        top = sp.fraction(sp.together(power.base))[0]
        try:
            sign, _ = _polynomial_sign(sp.expand(top), variables, at_least_one)
        except (sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, sp.polys.polyerrors.GeneratorsError):
            sign = None
        if sign is None or sign[0] == 0 or not sign[1]:
            steps.append(f"the divisor {_s(power.base)} is not shown non-zero on the domain: no proof")
            return False, steps
        steps.append(f"the divisor {_s(power.base)} is {'> 0' if sign[0] > 0 else '< 0'} on the domain")
    return True, steps


def _rational_sign(expr: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[SignInfo | None, list[str]]:
    """Sign of a rational function of positive variables: its numerator's over its denominator's."""
    top, bottom = sp.fraction(sp.cancel(sp.together(expr)))
    try:
        top_sign, top_steps = _polynomial_sign(sp.expand(top), variables, at_least_one)
        bottom_sign, _ = _polynomial_sign(sp.expand(bottom), variables, at_least_one)
    except (sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, sp.polys.polyerrors.GeneratorsError):
        return None, [f"{_s(expr)}: not a ratio of polynomials"]
    if top_sign is None or bottom_sign is None or bottom_sign[0] == 0 or not bottom_sign[1]:
        return None, top_steps
    return (top_sign[0] * bottom_sign[0], top_sign[1]), top_steps


def _prove_with_one_square_root(
    target: sp.Expr, variables: Sequence[sp.Symbol], strict: bool, at_least_one: bool
) -> tuple[bool, list[str]]:
    """Prove ``target ≥ 0`` (> 0 if ``strict``) where one square root √P of a non-monomial remains:
    write target = (A + B·√P) / D with A, B, D free of it, and decide by signs — both terms of one sign
    settle it; otherwise square the side that is ≥ 0 (monotone on ≥ 0): B ≥ 0 ≥ A needs B²·P − A² ≥ 0,
    A ≥ 0 ≥ B needs A² − B²·P ≥ 0 (> 0 for a strict claim). Every sign is certified or it is no proof."""
    roots = {p for p in target.atoms(sp.Pow) if p.exp == sp.Rational(1, 2)}
    if len(roots) != 1 or radical_degree(target.xreplace({next(iter(roots)): sp.Integer(1)})) > 1:
        return False, ["more than one square root (or another radical) remains: no proof of this kind"]
    root = next(iter(roots))
    radicand = root.base
    t = sp.Dummy("t", positive=True)
    numerator, denominator = sp.fraction(sp.together(target.xreplace({root: t})))
    numerator = sp.expand(numerator)
    if denominator.has(t) or sp.degree(numerator, t) > 1:
        return False, [f"√({_s(radicand)}) is not a linear term of the difference: no proof of this kind"]
    a, b = numerator.coeff(t, 0), numerator.coeff(t, 1)
    steps = [f"with R = √({_s(radicand)}): difference = ({_s(a)} + ({_s(b)})·R) / ({_s(denominator)})"]
    p_sign, _ = _rational_sign(radicand, variables, at_least_one)
    d_sign, _ = _rational_sign(denominator, variables, at_least_one)
    a_sign, _ = _rational_sign(a, variables, at_least_one) if a != 0 else ((0, True), [])
    b_sign, _ = _rational_sign(b, variables, at_least_one) if b != 0 else ((0, True), [])
    if p_sign is None or p_sign[0] < 0 or d_sign is None or d_sign[0] == 0 or not d_sign[1] or a_sign is None or b_sign is None:
        return False, [*steps, "a sign among the radicand, the denominator, A and B is not certified: no proof"]
    want = d_sign[0]  # the numerator must have the denominator's sign
    a_s, b_s = a_sign[0] * want, b_sign[0] * want  # signs of A and B relative to the wanted one
    root_strict = p_sign[0] > 0 and p_sign[1]
    if a_s >= 0 and b_s >= 0:
        strict_sum = (a_s > 0 and a_sign[1]) or (b_s > 0 and b_sign[1] and root_strict)
        proved = strict_sum or not strict
        return proved, [*steps, f"A and B·R both have the denominator's sign{'' if proved else ', but not strictly'}"]
    if a_s <= 0 <= b_s:
        squared = b**2 * radicand - a**2
        label = "B²·P − A²"
    elif b_s <= 0 <= a_s:
        squared = a**2 - b**2 * radicand
        label = "A² − B²·P"
    else:
        return False, [*steps, "A and B·R both have the wrong sign: no proof"]
    sign, sign_steps = _rational_sign(squared, variables, at_least_one)
    proved = sign is not None and ((sign[0] > 0 and sign[1]) if strict else sign[0] >= 0)
    relation = "> 0" if strict else "≥ 0"
    verdict = f"{label} {relation}, and squaring is monotone on non-negative sides"
    if not proved:
        verdict = f"{label} is not shown {relation}"
    return proved, [*steps, *(f"{label}: " + s for s in sign_steps), verdict]


def prove_sign(difference: sp.Expr, relation: Relation, domain: Domain) -> tuple[bool, list[str]]:
    """Prove ``difference rel 0`` on the domain (positive variables; ≥ 1 on the integer domain), each
    binary symbol by cases. Returns (proved, steps)."""
    if domain.binary and any(b in difference.free_symbols for b in domain.binary):
        steps: list[str] = []
        binary = [b for b in domain.binary if b in difference.free_symbols]
        ok = True
        for bits in range(2 ** len(binary)):
            case = {b: (bits >> i) & 1 for i, b in enumerate(binary)}
            proved, case_steps = prove_sign(difference.subs(case), relation, domain)
            label = ", ".join(f"{b} = {v}" for b, v in case.items())
            steps += [f"case {label}: " + step for step in case_steps]
            ok = ok and proved
        return ok, steps
    steps = []
    target = difference * (-1 if relation in ("<=", "<") else 1)
    target, variables, cleared = _clear_radicals(target)
    if cleared:
        steps.append(cleared)
    defined, defined_steps = _denominators_nonzero(target, variables, domain.integers)
    steps += defined_steps
    if not defined:
        return False, steps
    if relation == "==":
        zero = sp.simplify(difference) == 0
        verdict = "   [sympy: identity]" if zero else f"   [not shown: {_s(sp.simplify(difference))}]"
        steps.append("LHS − RHS simplifies to 0" + verdict)
        return zero, steps
    if radical_degree(target) > 1:
        squared, square_steps = _prove_with_one_square_root(target, variables, relation in (">", "<"), domain.integers)
        steps += [f"radicals remain after the substitution: {_s(target)}", *square_steps]
        return squared, steps
    sign_wanted = 1 if relation in (">=", ">") else -1
    numerator, denominator = sp.fraction(sp.cancel(sp.together(target)))
    side = "LHS − RHS" if sign_wanted > 0 else "RHS − LHS"
    steps.append(f"{side} = ({_s(numerator)}) / ({_s(denominator)})")
    try:
        num_sign, num_steps = _polynomial_sign(sp.expand(numerator), variables, domain.integers)
        den_sign, den_steps = _polynomial_sign(sp.expand(denominator), variables, domain.integers)
    except (sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, sp.polys.polyerrors.GeneratorsError):
        steps.append("not a ratio of polynomials in the symbols (a symbolic power, min or max): no sign certificate")
        return False, steps
    steps += ["numerator: " + s for s in num_steps] + ["denominator: " + s for s in den_steps]
    if den_sign is None or den_sign[0] == 0 or not den_sign[1]:
        steps.append("the denominator is not shown to be non-zero with a fixed sign")
        return False, steps
    strict = relation in (">", "<")
    if num_sign is None:
        proved = False
    else:
        sign = num_sign[0] * den_sign[0]
        proved = sign > 0 and num_sign[1] if strict else sign >= 0
    if proved:
        steps.append(f"so {side} {'> 0' if strict else '≥ 0'} on the domain")
    else:
        steps.append(f"{side} is not shown {'> 0' if strict else '≥ 0'}")
    return proved, steps


# --- the whole check -------------------------------------------------------------------------------


def check_relation(
    lhs: sp.Expr,
    relation: Relation,
    rhs: sp.Expr,
    domain: Domain,
    bindings: Mapping[sp.Symbol, sp.Expr] | None = None,
    random_points: int = 600,
) -> tuple[Verdict, dict[sp.Symbol, int] | None, list[str]]:
    """Search for a counterexample to ``lhs rel rhs`` first, then try to prove it.

    Returns (verdict, counterexample point or None, steps).
    """
    difference = sp.expand(lhs - rhs) if not (lhs - rhs).has(sp.Pow) else lhs - rhs
    steps = [f"domain: {domain.describe()}"]
    found, tried = find_counterexample(difference, relation, domain, bindings, random_points)
    if tried == 0:
        raise ClaimError(f"no valid size satisfies the specialisation (domain: {domain.describe()}): nothing to prove")
    if found is not None:
        what = {
            "violated": "the relation fails",
            "undefined": "a side is undefined (a division by zero)",
            "not real": "a side is not a real number",
        }[found.how]
        steps.append(f"counterexample at valid point #{tried} of the search: {what} (certified)")
        return "refuted", found.point, steps
    steps.append(
        f"no counterexample among {tried} valid integer points (all ones, boundaries, pairs, equal and adjacent sizes, "
        "large scales, the claim's zero set, seeded random; certified signs)"
    )
    proved, proof_steps = prove_sign(difference, relation, domain)
    steps += proof_steps
    if not proved:
        multiples = _multiples(domain)
        if multiples:
            shown = ", ".join(f"{n} = {d}·{q}" for n, (d, q) in multiples.items())
            quotients = tuple(q for _, q in multiples.values())
            plain = Domain(symbols=(*domain.symbols, *quotients), binary=domain.binary, integers=True)
            substituted = difference.xreplace({n: d * q for n, (d, q) in multiples.items()})
            proved, again = prove_sign(substituted, relation, plain)
            steps += [f"with the divisibility of the domain, {shown} (quotients integers ≥ 1):", *again]
    steps.append("PROVED" if proved else "UNKNOWN: no counterexample found, no proof found")
    return ("proved" if proved else "unknown"), None, steps


def _multiples(domain: Domain) -> dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]]:
    """For each divisibility ``d | n`` between two plain symbols of an integer domain, n = d·q with a
    new integer q ≥ 1 (every valid point has one), so that c1/g or h/s become polynomials a proof can sign."""
    if not domain.integers:
        return {}
    found: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = {}
    for numerator, divisor in domain.divides:
        plain = isinstance(numerator, sp.Symbol) and isinstance(divisor, sp.Symbol) and numerator != divisor
        if plain and numerator not in found and divisor not in found:
            found[numerator] = (divisor, sp.Symbol(f"{numerator}_over_{divisor}", positive=True))
    return {n: pair for n, pair in found.items() if not any(n == d for d, _ in found.values())}
