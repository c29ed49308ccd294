"""The analyzer: closed forms computed here, node coverage, model state, conventions per op."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from costmodel import ShapeMismatch, TraceFailure, UncountedOpsError, analyze
from tests.conftest import zoo_model, zoo_report
from tests.models.custom import BranchyNet, FunctionalNet, SharedConvNet, SubclassNet, UpsampleNet


def _closed_form_mac(module: nn.Module, in_shape: list[int], out_shape: list[int]) -> int:
    """CONVENTIONS.md: input + output + weights (+ bias), from the shapes alone."""
    weights = sum(p.numel() for p in module.parameters())
    return math.prod(in_shape) + math.prod(out_shape) + weights


def test_conv_and_linear_mac_equal_closed_form(zoo_name: str) -> None:
    report, model = zoo_report(zoo_name), zoo_model(zoo_name)
    checked = 0
    for row in report.layers:
        if row.family in ("conv", "linear"):
            module = model.get_submodule(row.module or "")
            assert row.mac == _closed_form_mac(module, row.input_shapes[0], row.output_shape), row.name
            checked += 1
    assert checked > 10


def test_paper_mac_formula_for_a_1x1_conv() -> None:
    # The paper: MAC = h·w·(c1 + c2) + c1·c2, B = h·w·c1·c2 for a 1x1 conv, N = 1.
    h = w = 28
    c1, c2 = 58, 116
    row = analyze(nn.Conv2d(c1, c2, 1, bias=False), (1, c1, h, w)).layers[0]
    assert row.flops == h * w * c1 * c2
    assert row.mac == h * w * (c1 + c2) + c1 * c2
    b = h * w * c1 * c2
    assert row.mac_lower_bound == pytest.approx(2 * math.sqrt(h * w * b) + b / (h * w))
    assert row.mac_efficiency is not None and row.mac_efficiency < 1


def test_bound_is_tight_exactly_when_channels_equal() -> None:
    row = analyze(nn.Conv2d(64, 64, 1, bias=False), (2, 64, 14, 14)).layers[0]
    assert row.mac_lower_bound == row.mac and row.mac_efficiency == 1.0


def test_every_op_a_real_forward_runs_is_costed(zoo_name: str) -> None:
    """The oracle is FlopCounterMode over a real forward: every aten contraction torch runs appears in
    some row's aten breakdown, call for call, and nothing is uncounted."""
    from torch.utils.flop_counter import FlopCounterMode

    model = zoo_model(zoo_name)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 64, 64))
    torch_counts = {str(op).split(".")[1]: flops // 2 for op, flops in counter.get_flop_counts()["Global"].items()}
    report = analyze(model, (1, 3, 64, 64))
    ours: dict[str, int] = {}
    for row in report.layers:
        for call in row.aten:
            if call["op"] in torch_counts:
                ours[call["op"]] = ours.get(call["op"], 0) + call["flops"]
    assert ours == torch_counts
    assert report.uncounted == []


def test_totals_params_equal_model_params_and_row_sum(zoo_name: str) -> None:
    report = zoo_report(zoo_name)
    expected = sum(p.numel() for p in zoo_model(zoo_name).parameters())
    assert report.totals["params"] == expected == sum(r.params for r in report.layers)


def test_shared_parameters_count_once() -> None:
    report = analyze(SharedConvNet(), (1, 3, 8, 8))
    assert [r.params for r in report.layers] == [84, 0]
    assert report.totals["params"] == 84
    assert report.layers[0].flops == report.layers[1].flops == 8 * 8 * 3 * 3 * 3 * 3


def test_model_state_is_left_exactly_as_it_was() -> None:
    model = zoo_model("shufflenet_v2_x0_5")
    model.train()
    model.stage2[0].eval()  # a mixed state must survive too
    before_flags = [m.training for m in model.modules()]
    before_state = copy.deepcopy(model.state_dict())
    analyze(model, (2, 3, 64, 64))
    assert [m.training for m in model.modules()] == before_flags
    after = model.state_dict()
    assert all(torch.equal(before_state[k], after[k]) for k in before_state)
    model.eval()


def test_huge_input_is_never_allocated() -> None:
    # 256x3x2048x2048 float32 is 12.9 GB of input alone (and conv1's output 4x that): real compute
    # could not run here; shape propagation on meta tensors does.
    report = analyze(zoo_model("shufflenet_v2_x0_5"), (256, 3, 2048, 2048))
    assert report.layers[0].output_shape == [256, 24, 1024, 1024]
    assert report.flops_of("conv") > 0


def test_functional_forms_are_costed() -> None:
    report = analyze(FunctionalNet(), (2, 3, 10, 10))
    by_op = {r.op: r for r in report.layers}
    conv, lin = by_op["conv2d"], by_op["linear"]
    assert conv.flops == 2 * 10 * 10 * 8 * 3 * 9 and conv.params == 8 * 3 * 9
    assert conv.mac == 2 * 3 * 100 + 2 * 8 * 100 + 8 * 3 * 9
    assert lin.flops == 2 * 8 * 10 and lin.params == 10 * 8 + 10
    assert by_op["relu"].mac == by_op["sigmoid"].mac == 2 * 2 * 8 * 100
    assert by_op["add"].flops == 2 * 8 * 100 and by_op["add"].mac == 3 * 2 * 8 * 100
    assert by_op["mean"].flops == 2 * 8 * 100 and by_op["mean"].mac == 2 * 8 * 100 + 2 * 8
    assert report.totals["params"] == sum(p.numel() for p in FunctionalNet().parameters())


def test_broadcast_operand_counts_its_own_size() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(1, 4, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gamma

    row = analyze(Scale(), (2, 4, 5, 5)).layers[0]
    assert row.flops == 2 * 4 * 25
    assert row.mac == 2 * 4 * 25 + 4 + 2 * 4 * 25
    assert row.params == 4


def test_contiguous_copies_only_when_needed() -> None:
    class Shuffle(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.contiguous()  # already contiguous: a no-op
            y = y.view(1, 2, 3, 4, 4).transpose(1, 2).contiguous()  # the channel-shuffle copy
            return y.reshape(1, 6, 4, 4)

    rows = {r.name: r for r in analyze(Shuffle(), (1, 6, 4, 4)).layers}
    assert rows["contiguous"].mac == 0
    assert rows["contiguous_1"].mac == 2 * 96
    assert rows["view"].mac == rows["transpose"].mac == rows["reshape"].mac == 0


def test_batch_norm_mac_reads_four_vectors_per_channel() -> None:
    row = analyze(nn.BatchNorm2d(16), (2, 16, 7, 7)).layers[0]
    assert row.mac == 2 * (2 * 16 * 49) + 4 * 16
    assert row.flops == 2 * 2 * 16 * 49 and row.params == 32


def test_pooling_flops_follow_documented_choice() -> None:
    rows = analyze(nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1)), (1, 8, 16, 16)).layers
    assert rows[0].flops == 8 * 8 * 8 * 9 and rows[0].mac == 8 * 256 + 8 * 64
    assert rows[1].flops == 8 * 64 and rows[1].mac == 8 * 64 + 8


def test_conv_subclass_resolves_through_class_hierarchy() -> None:
    row = analyze(SubclassNet(), (1, 3, 8, 8)).layers[0]
    assert row.op == "MyConv" and row.family == "conv"
    assert row.flops == 4 * 4 * 6 * 1 * 9


def test_uncounted_op_is_listed_and_strict_fails() -> None:
    report = analyze(UpsampleNet(), (1, 3, 4, 4))
    assert [(u.name, u.op) for u in report.uncounted] == [("mystery", "costmodel_test::mystery")]
    assert report.to_dict()["uncounted"] == [{"name": "mystery", "op": "costmodel_test::mystery"}]
    assert not report.complete and report.to_dict()["complete"] is False
    with pytest.raises(UncountedOpsError, match="mystery \\(costmodel_test::mystery\\)"):
        analyze(UpsampleNet(), (1, 3, 4, 4), strict=True)


def test_untraceable_model_names_the_construct() -> None:
    with pytest.raises(TraceFailure) as info:
        analyze(BranchyNet(), (1, 3, 4, 4), fallback=False)
    message = str(info.value)
    assert "\n" not in message
    assert "control flow" in message and "custom.py" in message and "if x.sum() > 0" in message


def test_wrong_channels_name_the_layer() -> None:
    with pytest.raises(ShapeMismatch) as info:
        analyze(zoo_model("resnet18"), (1, 4, 224, 224))
    assert "\n" not in str(info.value)
    assert "'conv1' (Conv2d)" in str(info.value) and "expected input[1, 4, 224, 224] to have 3 channels" in str(info.value)


def test_mac_in_bytes_scales_by_dtype_size() -> None:
    elements = analyze(nn.Conv2d(4, 4, 1), (1, 4, 8, 8))
    as_bytes = analyze(nn.Conv2d(4, 4, 1), (1, 4, 8, 8), mac_unit="bytes")
    assert as_bytes.totals["mac"] == 4 * elements.totals["mac"]
    conventions = as_bytes.to_dict()["conventions"]
    assert (conventions["flops"], conventions["mac"]) == ("multiply-adds", "bytes")


def test_json_schema() -> None:
    data = zoo_report("shufflenet_v2_x0_5").to_dict()
    assert set(data) >= {"model", "input_shape", "dtype", "conventions", "layers", "totals", "uncounted"}
    assert (data["conventions"]["flops"], data["conventions"]["mac"]) == ("multiply-adds", "elements")
    assert data["conventions"]["flops_definition"] == "one multiply-add = 1"
    row_keys = {
        "name",
        "op",
        "module",
        "input_shapes",
        "output_shape",
        "flops",
        "params",
        "mac",
        "mac_lower_bound",
        "mac_efficiency",
        "reason",
        "mac_unfused",
        "aten",
    }
    for row in data["layers"]:
        assert set(row) == row_keys
        assert isinstance(row["flops"], int) and isinstance(row["mac"], int) and isinstance(row["params"], int)
        assert row["mac_lower_bound"] is None or isinstance(row["mac_lower_bound"], float)
    assert set(data["totals"]) == {"flops", "params", "mac", "contraction_flops"}
    assert data["complete"] is True and data["walk"] == "fx" and data["inputs"] == "1x3x224x224"


@settings(max_examples=60, deadline=None)
@given(
    c1=st.integers(1, 64),
    c2=st.integers(1, 64),
    k=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 2),
    groups=st.sampled_from([1, 2, 4]),
    batch=st.integers(1, 4),
    size=st.integers(5, 20),
    bias=st.booleans(),
)
def test_random_conv_mac_is_closed_form_and_above_bound(
    c1: int, c2: int, k: int, stride: int, groups: int, batch: int, size: int, bias: bool
) -> None:
    c1, c2 = c1 * groups, c2 * groups
    conv = nn.Conv2d(c1, c2, k, stride, k // 2, groups=groups, bias=bias)
    row = analyze(conv, (batch, c1, size, size)).layers[0]
    a_in, a_out = batch * size * size, batch * math.prod(row.output_shape[2:])
    weights = c2 * (c1 // groups) * k * k + (c2 if bias else 0)
    assert row.mac == a_in * c1 + a_out * c2 + weights
    assert row.mac_lower_bound is not None
    assert row.mac >= row.mac_lower_bound
    # tight exactly when the activation terms are equal and there is no bias
    assert (row.mac == row.mac_lower_bound) == (a_in * c1 == a_out * c2 and not bias)


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v1_g3", "mobilenet_v2", "resnet18"])
def test_dispatch_walk_agrees_exactly_with_the_fx_path(name: str) -> None:
    # two independent walks (fx + meta tensors vs a real forward seen at the aten level) must agree
    fx_report = zoo_report(name)
    aten_report = analyze(zoo_model(name), (1, 3, 224, 224), name=name, fallback=True)
    assert aten_report.uncounted == []
    assert aten_report.totals == fx_report.totals
    for family in ("conv", "linear", "norm", "activation", "pool", "elementwise", "views"):
        fx_family = [r for r in fx_report.layers if r.family == family]
        aten_family = [r for r in aten_report.layers if r.family == family]
        assert sum(r.mac for r in aten_family) == sum(r.mac for r in fx_family), family
        assert sum(r.flops for r in aten_family) == sum(r.flops for r in fx_family), family
    fx_bounds = sorted(r.mac_lower_bound for r in fx_report.layers if r.family == "conv")
    aten_bounds = sorted(r.mac_lower_bound for r in aten_report.layers if r.family == "conv")
    assert aten_bounds == pytest.approx(fx_bounds)


def test_fallback_costs_an_untraceable_model() -> None:
    from tests.models.custom import AlwaysBranchNet

    model = AlwaysBranchNet()
    with pytest.raises(TraceFailure, match="cannot trace"):
        analyze(model, (2, 3, 8, 8), fallback=False)
    auto = analyze(model, (2, 3, 8, 8))
    report = analyze(model, (2, 3, 8, 8), fallback=True)
    assert auto.totals == report.totals and auto.walk == report.walk == "aten"
    assert "fx path failed" in auto.notes[0] and "if x.abs().sum() >= 0" in auto.notes[0]
    conv = next(r for r in report.layers if r.op == "Conv2d")  # a torch.nn layer: one row, as in the fx walk
    assert conv.name == "conv" and conv.module == "conv" and conv.aten[0]["op"] == "convolution"
    assert conv.flops == 2 * 8 * 8 * 8 * 3 * 9 and conv.params == 8 * 3 * 9 + 8
    assert report.totals["params"] == sum(r.params for r in report.layers) == 8 * 27 + 8 + 8 * 4 + 4
    assert report.flops_of("linear") == 2 * 8 * 4
    assert any("real tensors" in note for note in report.notes)  # the branch needs a value: real run
    assert model.training  # flags restored


def test_a_report_prints_as_the_cli_does_and_reprs_in_one_line() -> None:
    import html
    import subprocess

    from costmodel.zoo import ZOO
    from tests.cli.test_cli import COSTMODEL

    report = analyze(ZOO["shufflenet_v2_x0_5"]().eval(), (1, 3, 224, 224), name="shufflenet_v2_x0_5")
    printed = subprocess.run([COSTMODEL, "report", "shufflenet_v2_x0_5"], capture_output=True, text=True, timeout=300)
    assert str(report).strip() == printed.stdout.strip()
    line = repr(report)
    assert "\n" not in line and "shufflenet_v2_x0_5" in line and "44,073,440" in line and "complete" in line
    assert html.unescape(report._repr_html_()) == f"<pre>{report}</pre>"


def test_no_inputs_means_an_image_only_where_the_first_layer_takes_one() -> None:
    from costmodel.errors import ShapeMismatch

    report = analyze(nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU()))
    assert report.input_shape == [1, 4, 224, 224]
    cases = [
        (nn.Linear(10, 5), "'Linear' (Linear) does not take an image: give them, e.g. --input 1,10 "),
        (
            nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 2)),
            "'0' (Embedding) does not take an image: give them, e.g. --input 1,128:int64",
        ),
        (nn.LSTM(8, 16, batch_first=True), "e.g. --input 1,128,8 "),
    ]
    for model, message in cases:
        with pytest.raises(ShapeMismatch, match="no inputs given") as caught:
            analyze(model)
        assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_shared_module_with_a_unicode_name_gets_one_node_per_call() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module("卷积", nn.Conv2d(4, 4, 3, padding=1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            conv = self.卷积
            return conv(conv(x))

    report = analyze(Twice(), (1, 4, 8, 8))
    convs = [r for r in report.layers if r.family == "conv"]
    assert [r.name for r in convs] == ["卷积", "卷积_1"]  # one row per call, named by its module path
    assert len({r.node for r in convs}) == 2  # and two graph nodes, so each call is costed and timed apart
    assert [r.flops for r in convs] == [64 * 4 * 4 * 9] * 2 and sum(r.params for r in convs) == 4 * 4 * 9 + 4
