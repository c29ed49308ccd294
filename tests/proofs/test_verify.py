"""Symbolic verification: every theorem proves, wrong variants fail, handlers equal the sympy forms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import sympy as sp
from costmodel_cli.main import main
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from costmodel import analyze
from costmodel.proofs import formulas
from costmodel.proofs.results import Theorem
from costmodel.proofs.verify import all_theorems, check_layers, prove_square_certificate
from tests.conftest import zoo_report


@pytest.fixture(scope="module")
def theorems() -> list[Theorem]:
    return all_theorems()


def test_every_theorem_proves(theorems: list[Theorem]) -> None:
    assert len(theorems) == 6
    for t in theorems:
        assert t.proved, t.name
        assert t.steps[-1] == "PROVED" and t.statement and t.assumptions


def _eq1_parts() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    h, w, c1, c2 = formulas.h, formulas.w, formulas.c1, formulas.c2
    mac = h * w * (c1 + c2) + c1 * c2
    flops = h * w * c1 * c2
    return mac, flops, h * w


def test_wrong_bound_with_three_roots_fails_to_prove() -> None:
    mac, flops, hw = _eq1_parts()
    wrong = 3 * sp.sqrt(hw * flops) + flops / hw
    t = prove_square_certificate(
        Theorem("wrong", "3·√ variant", []),
        mac,
        wrong,
        hw,
        sp.sqrt(formulas.c1),
        sp.sqrt(formulas.c2),
        formulas.c2,
        formulas.c1,
    )
    assert not t.proved and t.steps[-1] == "NOT PROVED"
    assert any("FAILED" in step for step in t.steps)


def test_mac_missing_its_weight_term_fails_to_prove() -> None:
    mac, flops, hw = _eq1_parts()
    bound = 2 * sp.sqrt(hw * flops) + flops / hw
    t = prove_square_certificate(
        Theorem("wrong", "no weights", []),
        mac - formulas.c1 * formulas.c2,
        bound,
        hw,
        sp.sqrt(formulas.c1),
        sp.sqrt(formulas.c2),
        formulas.c2,
        formulas.c1,
    )
    assert not t.proved


def test_wrong_equality_condition_fails_to_prove() -> None:
    mac, flops, hw = _eq1_parts()
    bound = 2 * sp.sqrt(hw * flops) + flops / hw
    t = prove_square_certificate(
        Theorem("wrong", "c2 = 2·c1", []),
        mac,
        bound,
        hw,
        sp.sqrt(formulas.c1),
        sp.sqrt(formulas.c2),
        formulas.c2,
        2 * formulas.c1,
    )
    assert not t.proved


@settings(max_examples=60, deadline=None)
@given(
    c1=st.integers(1, 48),
    c2=st.integers(1, 48),
    k=st.sampled_from([1, 3, 5, 7]),
    stride=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
    batch=st.integers(1, 3),
    size=st.integers(7, 30),
    bias=st.booleans(),
)
def test_conv_row_equals_the_closed_form_and_torch_and_bound_tight_iff_condition(
    c1: int, c2: int, k: int, stride: int, groups: int, batch: int, size: int, bias: bool
) -> None:
    """Oracles outside the code: the output size from a real forward, FLOPs from FlopCounterMode, MAC
    and the bound written out here (not the formulas module the handlers are generated from)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    c1, c2 = c1 * groups, c2 * groups
    conv = nn.Conv2d(c1, c2, k, stride, k // 2, groups=groups, bias=bias)
    x = torch.randn(batch, c1, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = conv(x)
    report = analyze(conv, tuple(x.shape))
    row = report.layers[0]
    ho, wo = out.shape[2:]
    assert row.output_shape == list(out.shape)
    weights = c2 * (c1 // groups) * k * k
    assert 2 * row.flops == counter.get_total_flops()
    assert row.params == weights + (c2 if bias else 0) == sum(p.numel() for p in conv.parameters())
    a_in, a_out = batch * size * size, batch * ho * wo
    assert row.mac == a_in * c1 + a_out * c2 + weights + (c2 if bias else 0)
    assert row.mac_lower_bound == pytest.approx(2 * math.sqrt(a_in * c1 * a_out * c2) + weights, rel=1e-12)
    (check,) = check_layers(report)
    assert check.holds
    tight = a_in * c1 == a_out * c2 and not bias
    assert (row.mac == row.mac_lower_bound) == tight


def test_check_layers_flags_a_row_below_its_bound() -> None:
    """holds is computed, not assumed: a row whose MAC is made smaller than its bound fails the check."""
    import dataclasses

    report = analyze(nn.Conv2d(8, 8, 1, bias=False), (1, 8, 4, 4))
    row = report.layers[0]
    assert row.mac_lower_bound is not None and row.mac == row.mac_lower_bound  # c1 = c2: on the bound
    report.layers[0] = dataclasses.replace(row, mac=row.mac - 1)
    (check,) = check_layers(report)
    assert not check.holds


def test_report_bound_matches_paper_eq1_for_1x1() -> None:
    h = w = 14
    c1, c2 = 32, 96
    row = analyze(nn.Conv2d(c1, c2, 1, bias=False), (1, c1, h, w)).layers[0]
    b = h * w * c1 * c2
    assert row.mac_lower_bound == pytest.approx(2 * math.sqrt(h * w * b) + b / (h * w), rel=1e-12)


def test_every_conv_row_of_shufflenet_holds() -> None:
    report = zoo_report("shufflenet_v2_x1_0")
    checks = check_layers(report)
    conv_rows = [r for r in report.layers if r.family in ("conv", "linear")]
    assert len(checks) == len(conv_rows) == 57
    assert all(c.holds for c in checks)
    effs = [c.mac_efficiency for c in checks]
    assert effs == sorted(effs)
    # the stride-1 units' 1x1 convs (c1 = c2) sit exactly on the bound
    assert sum(c.mac_efficiency == 1.0 for c in checks) >= 26


def test_verify_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "shufflenet_v2_x1_0", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [set(t) for t in data["theorems"]] == [{"name", "statement", "assumptions", "steps", "proved", "note"}] * 6
    assert all(t["proved"] for t in data["theorems"])
    assert len(data["layers"]) == 57 and all(row["holds"] for row in data["layers"])
    assert set(data["layers"][0]) >= {"name", "mac", "mac_lower_bound", "mac_efficiency", "holds"}


def test_verify_cli_without_model_has_no_layers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--format", "json"]) == 0
    assert "layers" not in json.loads(capsys.readouterr().out)
    assert main(["verify", "--format", "markdown"]) == 0
    assert "6/6 theorems proved" in capsys.readouterr().out


def test_the_numeric_closed_forms_are_the_sympy_expressions_printed() -> None:
    """closed_forms.py (what analysis evaluates, without importing sympy) is generated from formulas;
    regenerating must give the file's block unchanged."""
    import pathlib

    from costmodel.rules import closed_forms

    text = pathlib.Path(closed_forms.__file__).read_text()
    assert formulas.closed_forms_source() in text


def test_analysis_and_the_report_command_never_import_sympy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, costmodel, costmodel_cli.main; "
        "costmodel.analyze(costmodel.load_model('resnet18'), (1, 3, 32, 32)); print('sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_square_of_a_possibly_imaginary_difference_does_not_certify() -> None:
    """The false bound MAC ≥ 2√(hwB) + B/(hw) + hw·c1 (at h = w = c1 = c2 = 1: 3 ≥ 4) has the identity
    MAC − bound = hw·(√(c2 − 2√(c1·c2)) − 0)²: true algebra, but the base is imaginary when c2 < 4·c1."""
    mac, flops, hw = _eq1_parts()
    false_bound = 2 * sp.sqrt(hw * flops) + flops / hw + hw * formulas.c1
    at_ones = {formulas.h: 1, formulas.w: 1, formulas.c1: 1, formulas.c2: 1}
    assert (mac - false_bound).subs(at_ones) == -1  # the claim is false: 3 − 4
    c1, c2 = formulas.c1, formulas.c2
    base = sp.sqrt(c2 - 2 * sp.sqrt(c1 * c2))
    claim = Theorem("false", "MAC ≥ bound + hw·c1", [])
    t = prove_square_certificate(claim, mac, false_bound, hw, base, sp.Integer(0), c2, 4 * c1)
    assert not t.proved and any("not provably real" in step for step in t.steps)


def test_equality_and_strictness_are_checked_not_stated() -> None:
    from costmodel.proofs.verify import all_theorems

    report_bound = next(t for t in all_theorems() if t.name.startswith("The report's bound"))
    assert report_bound.proved
    assert any("MAC − bound − slack = 0   [sympy" in step for step in report_bound.steps)  # the converse, substituted
    assert any("the bound is strict   [sympy: positive]" in step for step in report_bound.steps)
    mac, flops, hw = _eq1_parts()
    bound = 2 * sp.sqrt(hw * flops) + flops / hw
    c1, c2 = formulas.c1, formulas.c2
    # a negative "slack" cannot make the bound strict: the certificate is refused
    t = prove_square_certificate(Theorem("neg", "", []), mac - c1, bound, hw, sp.sqrt(c1), sp.sqrt(c2), c2, c1, slack=-c1)
    assert not t.proved


def test_a_factor_of_unknown_sign_does_not_certify() -> None:
    """MAC − bound = k·(√c1 − √c2)² holds as an identity, but with k of unknown sign it proves nothing."""
    mac, flops, hw = _eq1_parts()
    bound = 2 * sp.sqrt(hw * flops) + flops / hw
    k = sp.Symbol("k", real=True)
    c1, c2 = formulas.c1, formulas.c2
    shifted_mac = bound + k * (sp.sqrt(c1) - sp.sqrt(c2)) ** 2
    t = prove_square_certificate(Theorem("unsigned", "", []), shifted_mac, bound, k, sp.sqrt(c1), sp.sqrt(c2), c2, c1)
    assert not t.proved
    assert any("[sympy: the difference minus this form simplifies to 0]" in s for s in t.steps)  # the identity held
    assert any("FAILED: sign unknown" in s for s in t.steps)


def test_eq2_fails_when_the_closed_form_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eq. (2) is derived from formulas.CONV_MAC: an extra activation read breaks 'identical to the paper'."""
    from costmodel.proofs import verify as verify_module

    wrong = formulas.CONV_MAC + formulas.N * formulas.h * formulas.w * formulas.c1
    monkeypatch.setattr(formulas, "CONV_MAC", wrong)
    t = verify_module.theorem_eq2()
    assert not t.proved and any("FAILED: differs" in s for s in t.steps)


def test_eq2_monotonicity_is_checked_not_assumed() -> None:
    """The slope check goes through the claim path: a slope that can be negative is refuted."""
    from costmodel.proofs.claims import Domain, check_relation

    g, b, c1 = formulas.g, sp.Symbol("B", positive=True), formulas.c1
    verdict, point, _ = check_relation(b / c1 - g, ">", sp.Integer(0), Domain((g, b, c1), integers=False))
    assert verdict == "refuted" and point is not None


def test_report_bound_fails_when_the_evaluated_form_drifts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound the handlers evaluate must be the proved one: a doubled weight term is caught."""
    from costmodel.proofs import verify as verify_module

    drifted = 2 * sp.sqrt(formulas.CONV_BOUND_RADICAND) + 2 * formulas.CONV_BOUND_WEIGHT_TERM
    monkeypatch.setattr(formulas, "CONV_MAC_BOUND", drifted)
    t = verify_module.theorem_report_bound()
    assert not t.proved and any("FAILED: differs" in s for s in t.steps)


def test_verify_cli_exits_3_when_a_layer_breaks_its_bound(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    from costmodel.proofs import verify as verify_module

    real = verify_module.check_layers

    def broken(report, families=("conv", "linear")):  # type: ignore[no-untyped-def]
        checks = real(report, families)
        return [dataclasses.replace(checks[0], holds=False), *checks[1:]]

    monkeypatch.setattr(verify_module, "check_layers", broken)
    assert main(["verify", "shufflenet_v2_x0_5", "--input", "1,3,64,64"]) == 3
    assert "break their proved MAC bound" in capsys.readouterr().err


def test_certificate_steps_print_the_slack_only_when_there_is_one() -> None:
    from costmodel.proofs.verify import theorem_eq1, theorem_eq2, theorem_report_bound

    eq1 = theorem_eq1().steps
    assert "= (h*w)·(sqrt(c1) − sqrt(c2))²   [sympy: the difference minus this form simplifies to 0]" in eq1
    assert "⇐: at c2 = c1: MAC − bound = 0   [sympy: substituted and simplified]" in eq1
    report = theorem_report_bound().steps
    assert any(step.endswith(" + bias*c2   [sympy: the difference minus this form simplifies to 0]") for step in report)
    assert "bias*c2 ≥ 0   [sympy: nonnegative]" in report
    # Eq. (2): both the identity with the paper's form and the slope go through the claim checker
    assert sum(step == "[claim checker] PROVED" for step in theorem_eq2().steps) == 2


def test_regenerating_the_closed_forms_is_a_fixpoint(tmp_path: Path) -> None:
    """`python -m costmodel.proofs.formulas` rewrites closed_forms.py's generated block in place: on the
    committed file it must change nothing (and keep the hand-written parts around the block)."""
    import pathlib
    import shutil

    from costmodel.rules import closed_forms

    original = pathlib.Path(closed_forms.__file__)
    shutil.copy(original, tmp_path / "closed_forms.py")
    formulas.write_closed_forms(str(tmp_path / "closed_forms.py"))
    assert (tmp_path / "closed_forms.py").read_text() == original.read_text()


def test_equality_needs_non_negative_roots() -> None:
    """(−√c1) − (−√c2) squares like √c1 − √c2, but a = b no longer follows from a² = b² with signed a, b:
    the forward direction of "equality iff" is not certified."""
    mac, flops, hw = _eq1_parts()
    bound = 2 * sp.sqrt(hw * flops) + flops / hw
    c1, c2 = formulas.c1, formulas.c2
    t = prove_square_certificate(Theorem("signed roots", "", []), mac, bound, hw, -sp.sqrt(c1), -sp.sqrt(c2), c2, c1)
    assert not t.proved and any("⇒" in s and "FAILED" in s for s in t.steps)


def test_the_stride_note_is_computed() -> None:
    from costmodel.proofs.verify import theorem_stride

    note = theorem_stride().note
    assert "3*sqrt(2)/4 ≈ 1.061" in note and note.startswith("Not part of the proof")


def test_verify_prints_the_table_alone_without_proofs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "resnet18", "--top", "2", "--no-proofs"]) == 0
    out = capsys.readouterr().out
    assert "statement:" not in out and "[claim checker]" not in out
    assert out.count("■ ") == len(all_theorems()) and "conv/linear layers obey their bound" in out
    assert len(out.splitlines()) < 25
