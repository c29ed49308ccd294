"""The runtime model on a hand-made calibration: every branch of the predictor, with the expected
seconds computed here from the calibration's numbers and the costs the rules assign."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch
from torch import nn

from costmodel import analyze
from costmodel.rules.costing import OpWork
from costmodel.runtime.calibration import COMPUTE_KINDS, MEMORY_KINDS, OVERHEADS, Calibration
from costmodel.runtime.microbench import fit_line, fit_plane
from costmodel.runtime.predict import line_of, model_seconds, op_seconds, predict, predict_layer

US = 1e-6


def calibration() -> Calibration:
    """Distinct, round numbers for every line so that a wrong line choice shows."""
    compute = {kind: ((i + 1) * US, (i + 1) * 1e-11, (i + 1) * 1e-12) for i, kind in enumerate(COMPUTE_KINDS)}
    memory = {kind: ((i + 1) * 0.5 * US, (i + 1) * 1e-10) for i, kind in enumerate(MEMORY_KINDS)}
    overheads = {name: (i + 1) * 0.25 * US for i, name in enumerate(OVERHEADS)}
    return Calibration(
        "cpu:test", 1, "float32", torch.__version__, platform.node(), "2026-01-01T00:00:00+00:00", compute, memory, overheads
    )


CAL = calibration()


def test_a_contraction_costs_fixed_plus_compute_plus_traffic() -> None:
    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    (row,) = analyze(conv, (1, 8, 10, 10)).layers
    flops, mac = 100 * 16 * 8 * 9, 8 * 100 + 16 * 100 + 16 * 8 * 9
    a, per_flop, per_byte = CAL.compute["dense"]
    (work,) = row.work
    assert (work.kind, work.flops, work.mac) == ("dense", flops, mac)
    seconds, side = op_seconds(work, CAL, 4)
    in_network = CAL.overhead_s["op_in_network"]
    assert seconds == pytest.approx(in_network + a + per_flop * flops + per_byte * mac * 4)
    assert side == ("compute" if per_flop * flops >= per_byte * mac * 4 else "memory")
    prediction = predict_layer(row, CAL, 4)
    # per node: + the node timer's own cost + a Conv2d module's __call__
    expected = seconds + CAL.overhead_s["node_timer"] + CAL.overhead_s["module_call_conv"]
    assert prediction.seconds["roofline"] == pytest.approx(expected)
    assert prediction.roofline_eager_s == pytest.approx(seconds)
    assert prediction.seconds["flops"] == pytest.approx(flops * CAL.compute["dense"][1])
    assert prediction.seconds["mac"] == pytest.approx(mac * 4 * CAL.memory["copy"][1])
    assert prediction.bound == side  # the row's side is its heaviest op's, never "overhead" for a conv


@pytest.mark.parametrize(
    ("module", "shape", "kind"),
    [
        (nn.SiLU(), (1, 8, 5, 5), "silu"),
        (nn.ReLU(), (1, 8, 5, 5), "relu"),
        (nn.Hardswish(), (1, 8, 5, 5), "hardswish"),
        (nn.GELU(), (2, 7, 16), "gelu"),
        (nn.AdaptiveAvgPool2d(2), (1, 8, 6, 6), "adaptive_pool"),
        (nn.BatchNorm2d(8).eval(), (1, 8, 5, 5), "batch_norm"),
        (nn.LayerNorm(16), (2, 7, 16), "layer_norm"),
        (nn.GroupNorm(2, 8), (1, 8, 5, 5), "group_norm"),
    ],
)
def test_each_kind_is_priced_by_its_own_line(module: nn.Module, shape: tuple[int, ...], kind: str) -> None:
    rows = [r for r in analyze(module, shape).layers if r.mac]
    (work,) = [w for r in rows for w in r.work if w.kind != "view"]
    assert work.kind == kind
    a, b = CAL.memory[kind]
    in_network = CAL.overhead_s["op_in_network"]
    assert op_seconds(work, CAL, 4) == (pytest.approx(in_network + a + b * work.mac * 4), "memory")


def test_broadcast_gemv_cat_and_strided_copies_have_their_own_lines() -> None:
    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(32, 10)

        def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            y = x * s  # squeeze-excite's broadcast
            shuffled = y.view(1, 2, 4, 4, 4).transpose(1, 2).contiguous()  # channel shuffle
            joined = torch.cat([x, y, shuffled.view(1, 8, 4, 4)], 1)
            return self.fc(joined.mean([2, 3])[:, :32] if joined.shape[1] >= 32 else joined.flatten(1)[:, :32])

    report = analyze(Mixed(), [(1, 8, 4, 4), (1, 8, 1, 1)])
    kinds = {w.kind for r in report.layers for w in r.work}
    assert {"broadcast", "strided_copy", "cat", "gemv"} <= kinds
    cat = next(w for r in report.layers for w in r.work if w.kind == "cat")
    a, b = CAL.memory["cat"]
    # three inputs: one past two pays the per-input cost
    assert cat.inputs == 3
    extra = CAL.overhead_s["cat_per_input"] + CAL.overhead_s["op_in_network"]
    assert op_seconds(cat, CAL, 4)[0] == pytest.approx(a + b * cat.mac * 4 + extra)


def test_views_cost_their_dispatch_and_shared_lines_are_documented() -> None:
    view = OpWork("view", "views", 0, 0, 1)
    assert op_seconds(view, CAL, 4) == (CAL.overhead_s["view"], "overhead")
    assert line_of("elu", "activation", CAL) == ("memory", "silu")
    assert line_of("transposed", "conv", CAL) == ("compute", "dense")
    assert line_of("some_new_activation", "activation", CAL) == ("memory", "relu")
    assert line_of("unheard_of", "no_family", CAL) == ("memory", "copy")


def test_the_whole_model_adds_every_module_call_once() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8).eval(), nn.ReLU())
    report = analyze(model, (1, 3, 8, 8))
    predictions = predict(report, CAL)
    ops = sum(p.roofline_eager_s for p in predictions)
    o = CAL.overhead_s
    calls = o["module_call"] + o["module_call_conv"] + o["module_call_norm"] + o["module_call"]  # Sequential, conv, BN, ReLU
    assert model_seconds(predictions, CAL, list(model.modules())) == pytest.approx(ops + calls)


def test_a_report_in_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="elements"):
        predict(analyze(nn.ReLU(), (1, 4), mac_unit="bytes"), CAL)


def test_fits_recover_known_lines_and_planes() -> None:
    xs = [1e3, 1e4, 1e5, 1e6]
    assert fit_line(xs, [2e-6 + 3e-9 * x for x in xs]) == (pytest.approx(2e-6), pytest.approx(3e-9))
    flops = [1e4, 1e6, 1e5, 1e7, 3e6]
    moved = [1e5, 1e5, 1e6, 1e6, 4e5]
    ts = [5e-6 + 2e-10 * f + 3e-11 * m for f, m in zip(flops, moved)]
    a, per_flop, per_byte = fit_plane(flops, moved, ts)
    assert a == pytest.approx(5e-6, rel=1e-6) and per_flop == pytest.approx(2e-10, rel=1e-6)
    assert per_byte == pytest.approx(3e-11, rel=1e-6)
    # a negative coefficient is never kept: pure compute data gives no traffic term
    a, per_flop, per_byte = fit_plane(flops, moved, [2e-10 * f for f in flops])
    assert per_flop == pytest.approx(2e-10, rel=1e-6) and a >= 0 and per_byte >= 0


@pytest.mark.parametrize(("pool", "kind"), [(nn.MaxPool2d(2), "max_pool"), (nn.AvgPool2d(3, 2), "avg_pool")])
def test_max_and_average_pooling_have_separate_lines(pool: nn.Module, kind: str) -> None:
    (row,) = analyze(pool, (1, 4, 8, 8)).layers
    (work,) = row.work
    assert work.kind == kind
    a, per_flop, per_byte = CAL.compute[kind]
    seconds, _ = op_seconds(work, CAL, 4)
    assert seconds == pytest.approx(CAL.overhead_s["op_in_network"] + a + per_flop * work.flops + per_byte * work.mac * 4)


def test_memory_slope_of_a_row() -> None:
    """The roofline plot's bandwidth: a memory kind's own slope; a contraction's traffic cost, or the
    copy line's when its fit has none."""
    from costmodel.runtime.predict import memory_slope

    relu = analyze(nn.ReLU(), (1, 8)).layers[0]
    assert memory_slope(relu, CAL) == CAL.memory["relu"][1]
    conv = analyze(nn.Conv2d(4, 4, 3), (1, 4, 6, 6)).layers[0]
    assert memory_slope(conv, CAL) == CAL.compute["dense"][2]
    no_traffic = Calibration(**{**CAL.__dict__, "compute": {**CAL.compute, "dense": (1e-6, 1e-11, 0.0)}})
    assert memory_slope(conv, no_traffic) == CAL.memory["copy"][1]


def test_ranks_and_scores_on_ties_and_edges() -> None:
    from costmodel.runtime.stats import mape, pearson, ranks

    assert list(ranks(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]  # ties share the average rank
    assert list(ranks(np.array([5.0, 5.0, 5.0]))) == [2.0, 2.0, 2.0]
    assert pearson([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.0)  # two points are enough
    assert pearson([0.0, 2.0], [1.0, 3.0]) == pytest.approx(1.0)  # a standard deviation of exactly 1
    assert mape([1.0, 2.0], [0.0, 2.0]) == 0.0  # a zero measurement is skipped, not divided by
