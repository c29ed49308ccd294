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

import math
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import sympy as sp

from costmodel.errors import CostModelError

Relation = Literal[">=", ">", "<=", "<", "=="]
Verdict = Literal["proved", "refuted", "unknown"]

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
_BOUNDARY_VALUES = (2, 3, 4, 7, 16, 64, 1000, 10**6)


class ClaimError(CostModelError, ValueError):
    """A claim or a --where clause that cannot be read (unknown symbol, syntax, relation)."""


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
        shown = [f"{_s(d)} divides {_s(n)}" for n, d in self.divides if d != 1 and n != d]
        if shown:
            text += "; " + ", ".join(shown)
        return text


@dataclass
class ClaimResult:
    """A checked claim: its text, the substitutions, the verdict, a counterexample (symbol → value, with
    both sides evaluated under ``sides``) and the steps."""

    claim: str
    where: dict[str, str]
    verdict: Verdict
    counterexample: dict[str, int] | None = None
    sides: dict[str, str] | None = None
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: claim, where, verdict, counterexample (or null), steps (the evaluated sides
        of a counterexample are the last step)."""
        data = asdict(self)
        del data["sides"]
        return data


def _s(expr: Any) -> str:
    return sp.sstr(expr)


# --- reading a claim -------------------------------------------------------------------------------

_ALLOWED_TEXT = re.compile(r"^[A-Za-z0-9_+\-*/^().,\s√]*$")
_ALLOWED_FUNCTIONS = {"sqrt": sp.sqrt, "Min": sp.Min, "Max": sp.Max, "min": sp.Min, "max": sp.Max}


def parse_expression(text: str, names: Mapping[str, sp.Expr], what: str = "expression") -> sp.Expr:
    """Read ``text`` as a sympy expression over ``names`` (plus numbers, + − × ÷ ^ **, sqrt, min, max).

    Raises ClaimError naming the unknown symbol or the syntax problem.
    """
    stripped = text.strip()
    if not stripped:
        raise ClaimError(f"empty {what}")
    if not _ALLOWED_TEXT.match(stripped) or "__" in stripped:
        raise ClaimError(f"{what} {stripped!r}: only symbols, numbers, + - * / ^ ( ) and sqrt are allowed")
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", stripped):
        if name not in names and name not in _ALLOWED_FUNCTIONS:
            known = ", ".join(names)
            raise ClaimError(f"unknown symbol {name!r} in {what} {stripped!r} (known: {known}, sqrt)")
    local: dict[str, Any] = {**_ALLOWED_FUNCTIONS, **names}
    try:
        expr = sp.parse_expr(
            stripped.replace("√", "sqrt"),
            local_dict=local,
            global_dict={"Integer": sp.Integer, "Rational": sp.Rational, "Float": sp.Float, "Symbol": sp.Symbol},
            transformations=(*sp.parsing.sympy_parser.standard_transformations, sp.parsing.sympy_parser.convert_xor),
            evaluate=True,
        )
    except Exception as err:  # sympy raises SyntaxError, TokenError, TypeError... for bad text
        raise ClaimError(f"cannot read {what} {stripped!r}: {type(err).__name__}: {err}".rstrip(": ")) from None
    if not isinstance(expr, sp.Expr):
        raise ClaimError(f"{what} {stripped!r} is not an arithmetic expression")
    return sp.nsimplify(expr, rational=True) if expr.has(sp.Float) else expr


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


# --- exact evaluation ------------------------------------------------------------------------------


def exact_sign(value: sp.Expr) -> int:
    """The sign (−1, 0, 1) of a closed-form real number, exactly: 50 digits decide unless the number is
    within 1e-30 of zero, where its minimal polynomial decides whether it is zero."""
    value = sp.nsimplify(value) if value.has(sp.Float) else value
    if value == 0:
        return 0
    approx = value.evalf(50)
    if not approx.is_real:
        raise ClaimError(f"a side is not real at this point ({_s(value)})")
    if abs(approx) > sp.Float("1e-30"):
        return 1 if approx > 0 else -1
    x = sp.Dummy("x")
    if sp.minimal_polynomial(value, x) == x:
        return 0
    precise = value.evalf(500)
    return 1 if precise > 0 else -1


def _holds(sign: int, relation: Relation) -> bool:
    """Whether difference sign (of LHS − RHS) satisfies the relation."""
    return {">=": sign >= 0, ">": sign > 0, "<=": sign <= 0, "<": sign < 0, "==": sign == 0}[relation]


# --- counterexample search -------------------------------------------------------------------------


def _candidate_points(symbols: Sequence[sp.Symbol], domain: Domain, count: int, seed: int) -> Iterator[dict[sp.Symbol, int]]:
    """All ones; each symbol alone at boundary values; pairs at 2·3; then seeded random points whose
    divisors are drawn first so that divisibility holds by construction where it can."""
    free = [s for s in symbols if s not in domain.binary]
    binary = [s for s in symbols if s in domain.binary]
    base = dict.fromkeys(free, 1)
    for bits in range(2 ** len(binary)):
        flags = {b: (bits >> i) & 1 for i, b in enumerate(binary)}
        yield {**base, **flags}
        for sym in free:
            for value in _BOUNDARY_VALUES:
                yield {**base, sym: value, **flags}
        for i, a in enumerate(free):
            for b in free[i + 1 :]:
                yield {**base, a: 2, b: 3, **flags}
                yield {**base, a: 3, b: 2, **flags}
    rng = random.Random(seed)
    divisors = {d for _, d in domain.divides if isinstance(d, sp.Symbol)}
    for _ in range(count):
        point: dict[sp.Symbol, int] = {}
        for sym in sorted(free, key=lambda s: (s not in divisors, s.name)):
            scale = rng.choice((4, 8, 32, 256, 4096))
            point[sym] = rng.randint(1, scale)
        for numerator, divisor in domain.divides:
            if isinstance(numerator, sp.Symbol) and numerator in point and isinstance(divisor, sp.Symbol) and divisor in point:
                point[numerator] = point[numerator] * point[divisor]
        point.update({b: rng.randint(0, 1) for b in binary})
        yield point


def _value_at(expr: sp.Expr, point: Mapping[sp.Symbol, int]) -> sp.Expr:
    """``expr`` at ``point``: a dictionary lookup for a bare symbol, exact substitution otherwise."""
    if isinstance(expr, sp.Symbol):
        return sp.Integer(point[expr]) if expr in point else expr
    return sp.sympify(expr).subs(point)


def _satisfies(point: Mapping[sp.Symbol, int], domain: Domain, bindings: Mapping[sp.Symbol, sp.Expr]) -> bool:
    """Every bound symbol is an integer ≥ 1 (on the integer domain) and every divisibility holds."""
    if domain.integers:
        for expr in bindings.values():
            if isinstance(expr, sp.Symbol):
                continue  # sampled as an integer ≥ 1
            value = _value_at(expr, point)
            if not (value.is_integer and value >= 1):
                return False
    for numerator, divisor in domain.divides:
        n, d = _value_at(numerator, point), _value_at(divisor, point)
        if not (n.is_integer and d.is_integer and d != 0 and n % d == 0):
            return False
    return True


def find_counterexample(
    difference: sp.Expr,
    relation: Relation,
    domain: Domain,
    bindings: Mapping[sp.Symbol, sp.Expr] | None = None,
    random_points: int = 600,
    seed: int = 0,
) -> tuple[dict[sp.Symbol, int] | None, int]:
    """A domain point where ``difference rel 0`` fails, found by search and confirmed exactly, and the
    number of points tried. ``bindings`` maps each model symbol to its value under --where (checked to be
    a valid size at every point)."""
    related = [*(bindings or {}).values(), *(x for pair in domain.divides for x in pair)]
    symbols = sorted(difference.free_symbols | {s for e in related for s in sp.sympify(e).free_symbols}, key=str)
    symbols = [s for s in symbols if s in domain.symbols or s in domain.binary]
    numeric = sp.lambdify(symbols, difference, modules="math")
    tried = 0
    seen: set[tuple[int, ...]] = set()
    for point in _candidate_points(symbols, domain, random_points, seed):
        key = tuple(point[s] for s in symbols)
        if key in seen:
            continue
        seen.add(key)
        if not _satisfies(point, domain, bindings or {}):
            continue
        tried += 1
        try:
            approx = float(numeric(*key))
        except (ZeroDivisionError, OverflowError, ValueError):
            approx = math.nan
        scale = 1e-9 * (1.0 + abs(approx))
        near = math.isnan(approx) or abs(approx) <= scale
        if not near and _holds(1 if approx > 0 else -1, relation):
            continue  # clearly on the right side: no exact check needed
        try:
            holds = _holds(exact_sign(difference.subs(point)), relation)
        except ClaimError:  # undefined here (a division by zero) or not real: the claim fails at this point
            holds = False
        if not holds:
            return dict(point), tried
    return None, tried


# --- proof -----------------------------------------------------------------------------------------


def _radical_degree(expr: sp.Expr) -> int:
    """Least common denominator of the rational exponents in ``expr`` (1 if it has no radicals)."""
    degree = 1
    for power in expr.atoms(sp.Pow):
        exponent = power.exp
        if isinstance(exponent, sp.Rational) and not exponent.is_integer:
            degree = math.lcm(degree, int(exponent.q))
    return degree


#: A sign certificate: (sign, strict) — (1, True) is > 0, (1, False) ≥ 0, (0, True) identically 0.
SignInfo = tuple[int, bool]


def _factor_sign(factor: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[SignInfo | None, str]:
    """Sign of a polynomial over positive variables, with its reason, or None.

    Non-negative (non-positive) coefficients give > 0 (< 0); on the integer domain every variable is
    ≥ 1, so the coefficients after v = 1 + v_1 (v_1 ≥ 0) may decide instead (strict if the constant
    term is non-zero)."""
    if factor.is_number:
        sign = exact_sign(factor)
        return (sign, True), f"{_s(factor)} is a constant"
    coefficients = sp.Poly(factor, *variables).coeffs()
    if all(exact_sign(c) >= 0 for c in coefficients):
        return (1, True), f"{_s(factor)} > 0: non-negative coefficients, positive variables"
    if all(exact_sign(c) <= 0 for c in coefficients):
        return (-1, True), f"{_s(factor)} < 0: non-positive coefficients, positive variables"
    if at_least_one:
        offsets = [sp.Symbol(f"{v.name}_1", nonnegative=True) for v in variables]
        shifted = sp.Poly(sp.expand(factor.xreplace({v: 1 + o for v, o in zip(variables, offsets)})), *offsets)
        constant = exact_sign(shifted.coeff_monomial(1))
        signs = [exact_sign(c) for c in shifted.coeffs()]
        how = "every variable is ≥ 1, and with v = 1 + v_1 (v_1 ≥ 0) every coefficient is"
        if all(x >= 0 for x in signs):
            return (1, constant > 0), f"{_s(factor)} {'>' if constant > 0 else '≥'} 0: {how} ≥ 0"
        if all(x <= 0 for x in signs):
            return (-1, constant < 0), f"{_s(factor)} {'<' if constant < 0 else '≤'} 0: {how} ≤ 0"
    return None, f"{_s(factor)}: sign not determined"


def _product_sign(poly_expr: sp.Expr, variables: Sequence[sp.Symbol], at_least_one: bool) -> tuple[SignInfo | None, list[str]]:
    """The sign of a polynomial from its factors: each factor signed, or an even power (≥ 0)."""
    whole, reason = _factor_sign(poly_expr, variables, at_least_one)
    if whole is not None:
        return whole, [reason]
    constant, factors = sp.factor_list(poly_expr, *variables)
    steps = [f"factored: {_s(sp.factor(poly_expr, *variables))}"]
    sign, strict = exact_sign(constant), True
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
    if relation == "==":
        zero = sp.simplify(difference) == 0
        verdict = "   [sympy: identity]" if zero else f"   [not shown: {_s(sp.simplify(difference))}]"
        steps.append("LHS − RHS simplifies to 0" + verdict)
        return zero, steps
    sign_wanted = 1 if relation in (">=", ">") else -1
    target = difference * sign_wanted
    variables = sorted(target.free_symbols, key=str)
    degree = _radical_degree(target)
    if degree > 1:
        roots = {v: sp.Symbol(f"√{v.name}" if degree == 2 else f"{v.name}^(1/{degree})", positive=True) for v in variables}
        target = target.xreplace({v: r**degree for v, r in roots.items()})
        steps.append(
            f"substitute {', '.join(f'{v} = {_s(r)}^{degree}' for v, r in roots.items())} (positive), clearing the radicals"
        )
        variables = list(roots.values())
    if _radical_degree(target) > 1:
        steps.append(f"radicals remain after the substitution: {_s(target)}")
        return False, steps
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
    point, tried = find_counterexample(difference, relation, domain, bindings, random_points)
    if point is not None:
        steps.append(f"counterexample at integer point #{tried} of the search (confirmed in exact arithmetic)")
        return "refuted", point, steps
    steps.append(f"no counterexample among {tried} integer points (all ones, boundaries, pairs, seeded random; exact)")
    proved, proof_steps = prove_sign(difference, relation, domain)
    steps += proof_steps
    steps.append("PROVED" if proved else "UNKNOWN: no counterexample found, no proof found")
    return ("proved" if proved else "unknown"), None, steps
