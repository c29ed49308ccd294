"""The claim checker: false claims are refuted with an exact counterexample, true ones proved, the rest
unknown; the built-in theorems go through the same path; the CLI's verdicts, JSON and exit codes."""

from __future__ import annotations

import json
import math

import pytest
import sympy as sp
from costmodel_cli.main import main

from costmodel.proofs.certified import certified_sign
from costmodel.proofs.claims import ClaimError, Domain, check_relation
from costmodel.proofs.conv_claim import check_claim

PAPER = "n=1,g=1,k=1,s=1"

#: False claims, each with the relation it breaks; the counterexample is re-checked below by plain
#: integer/float arithmetic written out here, independent of sympy.
FALSE_CLAIMS = [
    # the false bound: an extra h·w·c1 (at all ones MAC = 3, RHS = 4)
    ("MAC >= 2*sqrt(h*w*B) + B/(h*w) + h*w*c1", PAPER),
    # wrong constants
    ("MAC >= 3*sqrt(h*w*B) + B/(h*w)", PAPER),
    ("MAC >= 2*sqrt(h*w*B) + 2*B/(h*w)", PAPER),
    ("MAC >= 2*sqrt(2*h*w*B) + B/(h*w)", PAPER),
    # a dropped term: the batch/groups/kernel version without k (false for k > 1)
    ("MAC >= 2*sqrt(g*n*h*w*B) + B/(n*h*w)", "s=1"),
    # the paper's bound without its premises (n, k free)
    ("MAC >= 2*sqrt(h*w*B) + B/(h*w)", None),
    # sign flips
    ("MAC <= 2*sqrt(h*w*B) + B/(h*w)", PAPER),
    ("MAC < h*w*(c1 + c2)", PAPER),
    # wrong equality conditions
    ("MAC == 2*sqrt(h*w*B) + B/(h*w)", PAPER + ",c2=2*c1"),
    ("MAC == (2/k)*sqrt(g*n*h*w*B) + s^2*B/(n*h*w)", "c2=s*c1"),
    # strictness without a bias is false (c1 = c2 is tight)
    ("MAC > 2*sqrt(h*w*B) + B/(h*w)", PAPER),
    # Eq. (2) with a wrong weight term, and a wrong direction in g
    ("MAC == h*w*c1 + B*g/c1 + 2*B/(h*w)", "n=1,k=1,s=1"),
    ("MAC <= h*w*c1 + B/c1 + B/(h*w)", "n=1,k=1,s=1"),
    # kh/kw: the k² bound with only kh
    ("MAC >= (2/kh)*sqrt(g*n*h*w*B) + B/(n*h*w)", "s=1"),
    # only false far from the origin (c2 = 10⁶ · c1 is where it breaks)
    ("c2 <= 1000*c1", None),
    # false only at a point no boundary value hits: (c1 − 4)(c1 − 6) < 0 at c1 = 5
    ("c1^2 + 24 >= 10*c1", None),
]

TRUE_CLAIMS = [
    ("MAC >= 2*sqrt(h*w*B) + B/(h*w)", PAPER),
    ("MAC >= 2*sqrt(g*n*h*w*B) + B/(n*h*w)", "k=1,s=1"),
    ("MAC >= (2/k)*sqrt(g*n*h*w*B) + B/(n*h*w)", "s=1"),
    ("MAC >= (2/k)*sqrt(g*n*h*w*B) + s^2*B/(n*h*w)", None),
    ("MAC >= 2*sqrt(g*n*h*w*B/(kh*kw)) + s^2*B/(n*h*w)", None),
    ("MAC == 2*sqrt(h*w*B) + B/(h*w)", PAPER + ",c2=c1"),
    ("MAC == (2/k)*sqrt(g*n*h*w*B) + s^2*B/(n*h*w)", "c2=s^2*c1"),
    ("MAC > 2*sqrt(h*w*B) + B/(h*w)", PAPER + ",bias=1"),
    ("MAC == h*w*c1 + B*g/c1 + B/(h*w)", "n=1,k=1,s=1"),
    ("B >= h*w", "n=1,k=1,s=1,g=1"),  # needs c1, c2 ≥ 1: the integer domain
    ("h*w >= h + w - 1", None),
    ("MAC >= B/(n*h*w) * s^2", None),
]


def _direct(symbols: dict[str, int], bias: int = 0) -> tuple[float, float]:
    """(B, MAC) of the claim's conv written out by hand: output (h/s)×(w/s), kernel kh×kw."""
    n, h, w, c1, c2, g, s = (symbols.get(x, 1) for x in ("n", "h", "w", "c1", "c2", "g", "s"))
    kh = symbols.get("kh", symbols.get("k", 1))
    kw = symbols.get("kw", symbols.get("k", 1))
    ho, wo = h // s, w // s
    flops = n * ho * wo * c2 * (c1 // g) * kh * kw
    mac = n * h * w * c1 + n * ho * wo * c2 + c2 * (c1 // g) * kh * kw + bias * c2
    return flops, mac


def _evaluate_side(text: str, point: dict[str, int]) -> float:
    flops, mac = _direct(point, point.get("bias", 0))
    env = {**{k: float(v) for k, v in point.items()}, "B": float(flops), "MAC": float(mac), "sqrt": math.sqrt}
    return float(eval(text.replace("^", "**"), {"__builtins__": {}}, env))  # noqa: S307 - the test's own strings


@pytest.mark.parametrize(("claim", "where"), FALSE_CLAIMS)
def test_false_claims_are_refuted_with_a_counterexample_that_really_breaks_them(claim: str, where: str | None) -> None:
    result = check_claim(claim, where)
    assert result.verdict == "refuted", (claim, result.steps)
    point = dict(result.counterexample or {})
    assert point and all(isinstance(v, int) and v >= 0 for v in point.values())
    # the counterexample is a real conv: g divides the channels, s the input size
    assert point.get("c1", 1) % point.get("g", 1) == 0 and point.get("h", 1) % point.get("s", 1) == 0
    for relation in (">=", "<=", "==", ">", "<"):
        if relation in claim:
            left, right = claim.split(relation)
            break
    lhs, rhs = _evaluate_side(left, point), _evaluate_side(right, point)
    holds = {">=": lhs >= rhs, "<=": lhs <= rhs, "==": math.isclose(lhs, rhs, rel_tol=1e-12), ">": lhs > rhs, "<": lhs < rhs}
    assert not holds[relation], (claim, point, lhs, rhs)


@pytest.mark.parametrize(("claim", "where"), TRUE_CLAIMS)
def test_true_claims_are_proved_and_hold_at_sampled_convs(claim: str, where: str | None) -> None:
    result = check_claim(claim, where)
    assert result.verdict == "proved", (claim, result.steps)
    assert result.counterexample is None and result.steps[-1] == "PROVED"


def test_a_true_claim_beyond_the_prover_is_unknown_not_proved() -> None:
    # true (AM-GM on three terms), but no factor-by-factor sign certificate exists for it
    result = check_claim("c1^3 + c2^3 + h^3 >= 3*c1*c2*h", None)
    assert result.verdict == "unknown"
    assert result.counterexample is None and result.steps[-1].startswith("UNKNOWN")


def test_the_counterexample_search_is_exact_where_floats_are_not() -> None:
    assert certified_sign(sp.sqrt(10**80 + 1) - 10**40) == 1  # ≈ 5e-41 > 0: minimal polynomial + 500 digits
    assert certified_sign((1 + sp.sqrt(2)) ** 2 - 3 - 2 * sp.sqrt(2)) == 0
    assert certified_sign(sp.Rational(1, 3) - sp.Rational(333333333333333333, 10**18)) == 1
    x = sp.Symbol("x", positive=True)
    # false everywhere, by 1e-30: a double at x ≥ 1 cannot see the difference, exact arithmetic does
    verdict, point, _ = check_relation(x + sp.Rational(1, 10**30), "<=", x, Domain((x,)))
    assert verdict == "refuted" and point is not None


def test_strictness_and_cases_over_a_binary_symbol() -> None:
    x, b = sp.Symbol("x", positive=True), sp.Symbol("b", nonnegative=True)
    verdict, _, steps = check_relation(x + b, ">", x, Domain((x,), binary=(b,)))
    assert verdict == "refuted"  # b = 0 makes it an equality
    verdict, _, steps = check_relation(x + b, ">=", x, Domain((x,), binary=(b,)))
    assert verdict == "proved" and any(step.startswith("case b = 1") for step in steps)


@pytest.mark.parametrize(
    ("claim", "where", "message"),
    [
        ("MAC >= x", None, "unknown symbol 'x'"),
        ("MAC 2", None, "no relation"),
        ("MAC >= 2 >= 1", None, "more than one relation"),
        ("MAC >= __import__('os')", None, "only symbols"),
        ("MAC >= k*kh", None, "k (a square kernel) or kh/kw"),
        ("MAC >= 1", "q=2", "unknown symbol 'q'"),
        ("MAC >= 1", "n=1,n=2", "twice"),
        ("MAC >= 1", "bias=2", "bias must be 0 or 1"),
        ("MAC >= (", None, "cannot read"),
    ],
)
def test_bad_claims_raise_one_line_errors(claim: str, where: str | None, message: str) -> None:
    with pytest.raises(ClaimError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_claim(claim, where)


def test_cli_claim_json_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--claim", "MAC >= 2*sqrt(h*w*B) + B/(h*w)", "--where", PAPER, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"claim", "where", "verdict", "counterexample", "steps"}
    assert data["verdict"] == "proved" and data["counterexample"] is None
    assert data["where"] == {"n": "1", "g": "1", "k": "1", "s": "1"}

    code = main(["verify", "--claim", "MAC >= 2*sqrt(h*w*B) + B/(h*w) + h*w*c1", "--where", PAPER, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 3 and data["verdict"] == "refuted"
    assert {k: data["counterexample"][k] for k in ("h", "w", "c1", "c2")} == {"h": 1, "w": 1, "c1": 1, "c2": 1}
    assert "LHS = 3, RHS = 4" in data["steps"][-1]

    assert main(["verify", "--claim", "c1^3 + c2^3 + h^3 >= 3*c1*c2*h"]) == 3  # unknown
    assert "UNKNOWN" in capsys.readouterr().out
    assert main(["verify", "--claim", "MAC >= y"]) == 2
    assert "unknown symbol 'y'" in capsys.readouterr().err
    assert main(["verify", "shufflenet_v2_x1_0", "--claim", "MAC >= 1"]) == 2
    assert main(["verify", "--where", "n=1"]) == 2


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_cli_claim_other_formats_show_the_counterexample(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--claim", "MAC <= h*w*(c1 + c2)", "--where", PAPER, "--format", fmt]) == 3
    out = capsys.readouterr().out
    assert "refuted" in out.lower() and "c1" in out and "3" in out and "2" in out


def test_builtin_theorems_go_through_the_claim_checker() -> None:
    from costmodel.proofs.verify import all_theorems

    for theorem in all_theorems():
        assert theorem.proved
        searched = [step for step in theorem.steps if step.startswith("[claim checker] no counterexample among")]
        assert searched, theorem.name
        # the search was not vacuous: every inequality was tried at hundreds of valid convs
        tried = [int(step.split("among ")[1].split()[0]) for step in searched]
        assert max(tried) >= 300, (theorem.name, tried)
        assert any(step == "[claim checker] PROVED" for step in theorem.steps), theorem.name


def test_a_theorem_with_a_tampered_bound_is_refuted_by_the_same_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the bound the report-bound theorem proves by one 1% too large: the statement changes with
    it (it is printed from the expression) and the claim path finds a counterexample."""
    from costmodel.proofs import formulas
    from costmodel.proofs import verify as verify_module

    wrong = formulas.CONV_MAC_BOUND_OF_B * sp.Rational(101, 100)
    monkeypatch.setattr(formulas, "CONV_MAC_BOUND_OF_B", wrong)
    theorem = verify_module.theorem_report_bound()
    assert not theorem.proved and theorem.steps[-1] == "NOT PROVED"
    assert any("REFUTED at" in step for step in theorem.steps)
    assert "101" in theorem.statement


def test_theorem_statements_parse_back_to_the_proved_expressions() -> None:
    """The inequality in each statement, read back by sympy, is the MAC and bound that were proved."""
    from costmodel.proofs import formulas
    from costmodel.proofs.verify import theorem_batch_groups, theorem_eq1, theorem_report_bound

    for theorem in (theorem_eq1(), theorem_batch_groups(), theorem_report_bound()):
        text = theorem.statement.split(": ", 1)[1]
        bound_text = text.split("MAC ≥ ", 1)[1].split(", with B = ", 1)[0]
        flops_text = text.split(", with B = ", 1)[1].split(", MAC = ", 1)[0]
        mac_text = text.split(", MAC = ", 1)[1].split("; equality iff", 1)[0]
        names = {str(x): x for x in formulas.CONV_SYMBOLS} | {"B": sp.Symbol("B", positive=True)}
        flops = sp.sympify(flops_text, locals=names)
        bound = sp.sympify(bound_text, locals=names).subs(names["B"], flops)
        mac = sp.sympify(mac_text, locals=names)
        # at a concrete conv the printed MAC and bound equal the formulas' (computed in the test)
        point = {formulas.N: 2, formulas.h: 8, formulas.w: 8, formulas.ho: 8, formulas.wo: 8, formulas.c1: 4}
        point |= {formulas.c2: 12, formulas.kh: 1, formulas.kw: 1, formulas.g: 2, formulas.bias: 0}
        if "ho" not in text:
            point[formulas.ho], point[formulas.wo] = point[formulas.h], point[formulas.w]
        if "N" not in text:
            point[formulas.N] = 1
        if "g" not in mac_text:
            point[formulas.g] = 1
        n, hw, c1, c2, g = point[formulas.N], 64, 4, 12, point[formulas.g]
        assert mac.subs(point) == n * hw * (c1 + c2) + c1 * c2 // g
        expected_bound = 2 * math.sqrt(n * hw * c1 * n * hw * c2) + c1 * c2 / g
        assert float(bound.subs(point)) == pytest.approx(expected_bound, rel=1e-12)


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ("c1^k >= 1", "not a ratio of polynomials"),  # true, but a symbolic power has no certificate here
        ("max(c1, c2) >= c1", "not a ratio of polynomials"),
        # true; two square roots of sums survive the substitution (one alone is isolated and squared)
        ("sqrt(c1 + c2) + sqrt(c2 + h) >= sqrt(c1 + h)", "more than one square root"),
    ],
)
def test_true_claims_without_a_certificate_are_unknown_never_proved(claim: str, reason: str) -> None:
    result = check_claim(claim)
    assert result.verdict == "unknown" and any(reason in step for step in result.steps)


def test_a_claim_undefined_at_a_valid_conv_is_refuted() -> None:
    result = check_claim("1/(c1 - c2) >= 0")
    assert result.verdict == "refuted" and result.sides is not None
    assert result.counterexample is not None and result.counterexample["c1"] == result.counterexample["c2"]
    assert result.sides["lhs"].startswith("undefined")


def test_prove_sign_alone_never_proves_a_strict_claim_that_can_be_an_equality() -> None:
    """The prover, without the search in front of it: a difference that vanishes (identically, or at
    c1 = c2) is ≥ 0 but not > 0."""
    from costmodel.proofs.claims import prove_sign
    from costmodel.proofs.formulas import c1, c2, h, w

    domain = Domain((c1, c2, h, w))
    assert prove_sign(sp.Integer(0), ">=", domain)[0] and not prove_sign(sp.Integer(0), ">", domain)[0]
    gap = h * w * (sp.sqrt(c1) - sp.sqrt(c2)) ** 2
    assert prove_sign(gap, ">=", domain)[0] and not prove_sign(gap, ">", domain)[0]
    assert prove_sign(-gap, "<=", domain)[0] and not prove_sign(-gap, "<", domain)[0]


def test_the_steps_say_whether_a_bias_is_counted() -> None:
    assert "no bias" in check_claim("MAC >= 1", PAPER).steps[1]
    assert "no bias" not in check_claim("MAC >= 1", PAPER + ",bias=1").steps[1]


def test_a_strict_claim_false_only_by_equality_is_refuted() -> None:
    result = check_claim("B/(h*w) < c1*c2", PAPER)  # equal everywhere: never strictly less
    assert result.verdict == "refuted"


def test_binary_symbols_take_only_zero_and_one() -> None:
    x, b = sp.Symbol("x", positive=True), sp.Symbol("b", nonnegative=True)
    verdict, point, _ = check_relation(b, "<=", sp.Integer(1), Domain((x,), binary=(b,)))
    assert verdict == "proved" and point is None
