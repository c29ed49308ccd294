"""The prover under attack: no rounded constant, no float-decided sign, no vacuous domain, no crash and
no hang may turn into a verdict it has not earned. Every false claim here is shown false by plain
integer/fraction arithmetic written in the test; a verdict other than ``proved`` is all that is asked of
false claims the checker cannot refute, and ``unknown`` is the honest answer where it cannot decide."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import pytest
import sympy as sp
from costmodel_cli.main import main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costmodel.proofs.certified import NotReal, Uncertain, Undefined, certified_sign
from costmodel.proofs.claims import ClaimError
from costmodel.proofs.conv_claim import check_claim
from costmodel.proofs.deadline import DeadlineExceeded, call_with_deadline

PAPER = "n=1,g=1,k=1,s=1"


def _mac_all_ones(k: int = 1, bias: int = 0) -> Fraction:
    """MAC of the 1×1×1→1 conv at n = h = w = 1, stride 1, written out: input + output + weights (+ bias)."""
    return Fraction(1 + 1 + k * k + bias)


#: (claim, where, why it is false — checked by the test's own arithmetic at all ones)
ROUNDED_CONSTANTS = [
    ("MAC >= 3 + 1/10^8", "g=1,s=1", lambda: _mac_all_ones() < 3 + Fraction(1, 10**8)),
    ("c1*c2 >= 1 + 1/10^12", None, lambda: 1 < 1 + Fraction(1, 10**12)),
    ("c1 >= 1.000000001*c1", None, lambda: 1 < Fraction("1.000000001")),
    ("MAC >= 2*sqrt(h*w*B) + 1.000000001*B/(h*w)", PAPER, lambda: 3 < 2 + Fraction("1.000000001")),
    ("MAC >= 3.00000000000000000001", PAPER, lambda: 3 < Fraction("3.00000000000000000001")),
    ("c1 >= 1 + 1e-30", None, lambda: 1 < 1 + Fraction(1, 10**30)),
]


@pytest.mark.parametrize(("claim", "where", "is_false"), ROUNDED_CONSTANTS)
def test_decimal_constants_are_the_rationals_they_spell(claim: str, where: str | None, is_false) -> None:
    assert is_false()
    result = check_claim(claim, where)
    assert result.verdict == "refuted", result.steps


@pytest.mark.parametrize(
    "claim",
    [
        "sqrt(10^400 + c1) > 10^200",
        "sqrt(10^400*MAC^2 + 1) > 10^200*MAC",
        "sqrt(10^600 + c2) >= 10^300",
        "10^200 + c1 > sqrt(10^400 + c1)",  # the root on the smaller side: A² − B²·P > 0 is what is certified
        "c1 + 1 > sqrt(c1^2 + 1)",
        "c1 + c2 >= sqrt(c1^2 + 2*c1*c2 + c2^2)",  # equality everywhere: A² − B²·P is exactly 0, and ≥ holds
    ],
)
def test_true_claims_with_cancellation_are_proved_not_refuted(claim: str) -> None:
    # true: x² + 1 > x² for x = 10^200·MAC ≥ 0, so the square root exceeds x; 50 digits cannot see it.
    # Proved by isolating the root and squaring the non-negative sides.
    result = check_claim(claim, None)
    assert result.verdict == "proved", result.steps
    assert any("squaring is monotone" in step for step in result.steps)


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [
        ("sqrt(c1^2 + c2^2) <= c1 + c2", "proved"),
        ("sqrt(c1^2 + 1) > c1", "proved"),
        ("sqrt(c1^2 + c2^2) >= c1 + c2", "refuted"),  # equality only if one is 0: false at all ones
        ("sqrt(c1*c2 + 1) >= 2", "refuted"),  # √2 < 2 at all ones
        ("sqrt(c1^2 + 1) > c1 + 1", "refuted"),
    ],
)
def test_one_square_root_is_isolated_and_squared_soundly(claim: str, verdict: str) -> None:
    assert check_claim(claim, None).verdict == verdict


def test_certified_signs_where_fifty_digits_are_wrong() -> None:
    assert certified_sign(sp.sqrt(10**400 + 1) - 10**200) == 1
    assert certified_sign(10**200 - sp.sqrt(10**400 + 1)) == -1
    assert certified_sign(sp.sqrt(2) * sp.sqrt(8) - 4) == 0
    assert certified_sign(sp.Rational(1, 3) - sp.Rational(333333333333333333333, 10**21)) == 1
    with pytest.raises(NotReal):
        certified_sign(sp.Pow(-1, sp.Rational(1, 3)))
    with pytest.raises(Undefined):
        certified_sign(sp.Pow(sp.Symbol("x") - 2, -1), {sp.Symbol("x"): 2})
    with pytest.raises(Uncertain):
        certified_sign(sp.Float("0.1") * sp.Symbol("x"), {sp.Symbol("x"): 3})  # a float has no exact decimal value


@pytest.mark.parametrize(
    ("claim", "where", "message"),
    [
        ("B <= 0", "k=0", "k=0 is outside the domain"),
        ("B < 0", "c1=-c2", "no valid size"),
        ("c1 >= 1", "h=1/2", "outside the domain"),
        ("c1 >= 1", "g=3,c1=4", "no valid size"),  # g must divide c1
        ("MAC >= 1", "bias=2", "bias must be 0 or 1"),
        ("c1 >= 1", "c1=c2,c2=c1", "defines c1 through itself"),  # a circle has no value
        ("c1 >= 1", "c1=c1+1", "defines c1 through itself"),
    ],
)
def test_where_outside_the_domain_is_a_one_line_error(claim: str, where: str, message: str) -> None:
    with pytest.raises(ClaimError, match=message):
        check_claim(claim, where)


def test_a_claim_undefined_at_a_valid_size_is_refuted_there() -> None:
    # (n² − 25·10⁶)/(n − 5000) = n + 5000 except at n = 5000, where it divides by zero
    result = check_claim("(n^2 - 25000000)/(n - 5000) >= n + 5000", None)
    assert result.verdict == "refuted"
    assert result.counterexample is not None and result.counterexample["n"] == 5000
    assert "undefined" in result.steps[-1]
    # the same identity with '==' is not proved either
    assert check_claim("(n^2 - 25000000)/(n - 5000) == n + 5000", None).verdict == "refuted"


def test_a_complex_side_is_refuted_not_a_crash() -> None:
    result = check_claim("(-c1)^(1/3) <= 0", None)
    assert result.verdict == "refuted"
    assert "not a real number" in result.steps[-1]


@pytest.mark.parametrize(
    ("claim", "where"),
    [
        ("(c2-c1-1)^2 + 1000/c1 >= 1", None),  # false only at c2 = c1 + 1 with c1 > 1000
        ("(c1-c2)^2 + 10^6/(c1*c2) >= 1", None),  # false only at c1 = c2 beyond 1000
        ("(h - 3*w)^2 + 1/h >= 1/10^4", None),  # false only on the line h = 3w, far out
        ("(c2 - 2*c1)^2 >= 1", None),  # false only on the line c2 = 2·c1
        ("c1 <= 10^11", None),  # false only at large sizes
    ],
)
def test_false_claims_on_thin_sets_are_found_by_the_structured_search(claim: str, where: str | None) -> None:
    result = check_claim(claim, where)
    assert result.verdict == "refuted", result.steps
    point = result.counterexample
    assert point is not None
    env = {k: Fraction(v) for k, v in point.items()}
    left, right = (side.strip() for side in claim.replace(">=", "|").replace("<=", "|").split("|"))
    values = [eval(side.replace("^", "**"), {"__builtins__": {}}, env) for side in (left, right)]  # noqa: S307
    assert (values[0] < values[1]) if ">=" in claim else (values[0] > values[1])


@pytest.mark.parametrize("claim", ["c1^c2 >= 1", "MAC >= 9^9^9", "MAC >= c1^(10^12)", "B >= 1"])
def test_hard_claims_answer_quickly_with_a_reason(claim: str) -> None:
    start = time.monotonic()
    result = check_claim(claim, None, timeout=20)
    assert time.monotonic() - start < 25
    assert result.verdict != "proved" or claim == "B >= 1"
    assert result.steps[-1].startswith(("UNKNOWN", "PROVED", "at "))


def test_the_time_limit_answers_unknown_with_the_reason() -> None:
    start = time.monotonic()
    result = check_claim("(c1 + c2 + h + w)^40 >= 1 + c1^40", None, timeout=0.5)  # true; its proof expands a 40th power
    assert time.monotonic() - start < 5
    assert result.verdict == "unknown"
    assert "time limit" in result.steps[-1]


def test_huge_where_values_are_unknown_not_a_crash() -> None:
    assert check_claim("B >= 1", "c1=10^5000").verdict == "unknown"
    assert check_claim("c1 >= 1", "c1=10^100").verdict == "proved"


def test_cli_timeout_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--claim", "MAC >= 3 + 1/10^8", "--where", "g=1,s=1", "--format", "json"]) == 3
    assert json.loads(capsys.readouterr().out)["verdict"] == "refuted"
    assert main(["verify", "--claim", "B <= 0", "--where", "k=0"]) == 2
    err = capsys.readouterr().err
    assert "outside the domain" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["verify", "--claim", "(c1 + c2 + h + w)^40 >= 1 + c1^40", "--timeout", "0.3"]) == 3
    assert "time limit" in capsys.readouterr().out


def test_deadline_stops_a_computation_stuck_in_c_code() -> None:
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(pow, 0.3, 10**6, 10**9)  # a single C call that would take minutes
    assert time.monotonic() - start < 3
    assert call_with_deadline(sorted, 5.0, [3, 1, 2]) == [1, 2, 3]
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(divmod, 5.0, 1, 0)


# --- property: no false claim is ever PROVED -----------------------------------------------------------

_SYMBOLS = ("c1", "c2", "h", "w")
_symbol = st.sampled_from(_SYMBOLS)
_monomials = st.tuples(st.integers(-6, 6), _symbol, st.integers(0, 3), _symbol, st.integers(0, 2))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    terms=st.lists(_monomials, min_size=1, max_size=4),
    point=st.tuples(*(st.integers(1, 40) for _ in _SYMBOLS)),
    gap=st.integers(0, 40),
    relation=st.sampled_from([">=", "<=", ">", "<", "=="]),
    radical=st.sampled_from(["", " + sqrt(c1)", " + sqrt(c1 + c2)", " - sqrt(c1^2 + h)", " + 3*sqrt(c2*h + 1)"]),
)
def test_no_false_claim_is_ever_proved(terms, point, gap, relation, radical) -> None:
    """A polynomial E (sometimes plus a square root, of a monomial or of a sum) and the exact value v it
    takes at a random point: each claim below is false at that point by construction, so it may be
    refuted or unknown, never proved."""
    text = " + ".join(f"({a})*{x}^{i}*{y}^{j}" for a, x, i, y, j in terms) + radical
    env = dict(zip(_SYMBOLS, point))
    value = sp.sympify(text.replace("^", "**"), locals={s: sp.Integer(v) for s, v in env.items()})
    tiny = sp.Rational(1, 10**gap)
    claims = {
        ">=": f"{text} >= {sp.sstr(value + tiny)}",
        "<=": f"{text} <= {sp.sstr(value - tiny)}",
        ">": f"{text} > {sp.sstr(value)}",
        "<": f"{text} < {sp.sstr(value)}",
        "==": f"{text} == {sp.sstr(value + tiny)}",
    }
    result = check_claim(claims[relation].replace("**", "^"), None, random_points=60)
    assert result.verdict != "proved", (claims[relation], result.steps)


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [
        ("c1/g >= 1", "proved"),  # g divides c1: c1 = g·q with q ≥ 1
        ("h/s >= 1", "proved"),
        ("B >= c1", "proved"),  # B = n·(h/s)(w/s)·c2·(c1/g)·k² and every quotient is ≥ 1
        ("c1/g >= 2", "refuted"),  # g = c1
        ("h/s >= w", "refuted"),
    ],
)
def test_divisibility_of_the_domain_is_used_in_proofs_soundly(claim: str, verdict: str) -> None:
    result = check_claim(claim, None)
    assert result.verdict == verdict, result.steps
    if verdict == "proved":
        assert any("with the divisibility of the domain" in step for step in result.steps)
