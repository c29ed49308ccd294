"""Sweeps from the formula: every value equals analyze there, values outside the domain are listed with
the condition they break, and the change of the op family doing most FLOPs is where analyze puts it."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from costmodel import analyze
from costmodel.symbolic.derive import formula
from costmodel.symbolic.sweep import parse_range, sweep
from costmodel.zoo import ZOO
from tests.models import corpus as C


def _families(report) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out: dict[str, int] = defaultdict(int)
    for row in report.layers:
        out[row.family] += row.flops
    return out


def test_sweep_values_equal_analyze() -> None:
    model = ZOO["shufflenet_v2_x0_5"]()
    result = formula(model, (1, 3, "R", "R"))
    name, values = parse_range("R=8:400:29")
    series = sweep(result, name, values)
    assert series.outside and all(v < 33 for v, _ in series.outside)
    assert all(c == "R >= 33" for _, c in series.outside)
    for value, flops, mac, activations in list(zip(series.values, series.flops, series.mac, series.activations))[::3]:
        report = analyze(model, (1, 3, value, value))
        assert (flops, mac) == (report.totals["flops"], report.totals["mac"])
        assert activations == sum(math.prod(r.output_shape) for r in report.layers if r.output_shape)


def test_the_dominant_family_changes_where_analyze_says() -> None:
    model = C.ConvThenGlobalAttention()
    result = formula(model, (1, 3, "R", "R"), hints={"R": 64})
    series = sweep(result, "R", list(range(16, 161, 4)))
    changes = series.changes()
    assert [(a, b) for _, a, b in changes] == [("conv", "attention")]
    at = changes[0][0]
    before, after = _families(analyze(model, (1, 3, at - 4, at - 4))), _families(analyze(model, (1, 3, at, at)))
    assert max(before, key=before.__getitem__) == "conv"
    assert max(after, key=after.__getitem__) == "attention"


def test_a_sweep_needs_the_other_sizes_and_a_valid_range() -> None:
    result = formula(ZOO["resnet18"](), (1, 3, "H", "W"))
    with pytest.raises(Exception, match=r"needs a value for W \(--at W=…\)"):
        sweep(result, "H", [64, 128])
    expected = [analyze(ZOO["resnet18"](), (1, 3, h, 96)).totals["flops"] for h in (64, 128)]
    assert sweep(result, "H", [64, 128], {"W": 96}).flops == expected
    for bad in ("R=10", "R=5:1", "R=a:b", "=1:4", "R=0:4"):
        with pytest.raises(Exception, match="sweep|START|need"):
            parse_range(bad)
