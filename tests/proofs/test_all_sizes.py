"""``verify`` over every size: each conv/linear row of a formula gets a certificate MAC − bound =
(√a − √b)² + c; it agrees with the numeric check at sampled sizes, and a wrong bound is not certified."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sympy
import torch

from costmodel import analyze
from costmodel.proofs.all_sizes import check_all_sizes, check_row
from costmodel.proofs.verify import check_layers
from costmodel.render.printing import render
from costmodel.rules.closed_forms import RootBound
from costmodel.symbolic.derive import formula
from costmodel.zoo import ZOO
from tests.cli.test_cli import run_main
from tests.models import corpus as C
from tests.symbolic.sampling import sizes_inside


@pytest.mark.parametrize(
    ("build", "symbolic", "hints", "concrete"),
    [
        (ZOO["shufflenet_v2_x0_5"], (1, 3, "H", "W"), {}, lambda v: (1, 3, v["H"], v["W"])),
        (ZOO["mobilenet_v2"], ("B", 3, "H", "W"), {}, lambda v: (v["B"], 3, v["H"], v["W"])),
        (C.TinyViT, ("B", 3, "H", "W"), {"H": 32, "W": 32}, lambda v: (v["B"], 3, v["H"], v["W"])),
    ],
)
def test_every_row_is_certified_and_agrees_with_the_numeric_check(build, symbolic, hints, concrete) -> None:  # type: ignore[no-untyped-def]
    model = build()
    result = formula(model, symbolic, hints=hints)
    checks = check_all_sizes(result)
    assert checks and all(c.verdict == "proved" for c in checks), [c for c in checks if not c.holds][:2]
    assert all("(√(" in c.certificate for c in checks)
    for point in sizes_inside(result, count=6):
        numeric = check_layers(analyze(model, concrete(point)))
        assert {c.name for c in numeric} == {c.name for c in checks}
        assert all(c.holds for c in numeric)


def test_a_bound_that_is_not_the_proved_one_is_not_certified() -> None:
    result = formula(ZOO["resnet18"](), (1, 3, "H", "W"))
    row = next(r for r in result.rows if r.name == "layer1.0.conv1")
    op = row.ops[0]
    assert op.cost is not None and isinstance(op.cost.mac_lower_bound, RootBound)
    wrong = RootBound(op.cost.mac_lower_bound.radicand * 2, op.cost.mac_lower_bound.weight)
    broken = dataclasses.replace(row, ops=[dataclasses.replace(op, cost=dataclasses.replace(op.cost, mac_lower_bound=wrong))])
    assert check_row(result, row).verdict == "proved"
    assert check_row(result, broken).verdict == "unknown"


def test_verify_with_named_sizes_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "verify", "resnet18", "--input", "1,3,H,W", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["domain"] == ["H >= 33", "W >= 33"]
    assert len(data["layers_all_sizes"]) == 21 and all(r["verdict"] == "proved" for r in data["layers_all_sizes"])
    bound = sympy.sympify(data["layers_all_sizes"][0]["mac_lower_bound"], locals={"H": sympy.Symbol("H"), "W": sympy.Symbol("W")})
    row = analyze(ZOO["resnet18"](), (1, 3, 100, 64)).layers[0]
    assert float(bound.subs({"H": 100, "W": 64})) == pytest.approx(row.mac_lower_bound, rel=1e-12)


def test_render_lists_the_domain(capsys: pytest.CaptureFixture[str]) -> None:
    from costmodel.proofs.all_sizes import verification_over_sizes

    conv = torch.nn.Conv2d(8, 16, 3, stride=2)
    text = render(verification_over_sizes(formula(conv, (1, 8, "H", "W"))), "table")
    # the smallest input a 3x3 kernel fits: a 1x1 output, which analyze costs the same way
    assert "1/1 conv/linear layers proved on or above their bound for every size where: H >= 3; W >= 3" in text
    smallest = analyze(conv, (1, 8, 3, 4)).layers[0]
    assert (smallest.flops, smallest.mac) == (1 * 1 * 16 * 8 * 9, 8 * 3 * 4 + 16 + 16 * 8 * 9 + 16)
