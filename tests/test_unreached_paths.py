"""Paths the zoo never reaches, each held to an oracle outside the code under test: a closed form
written out here, FlopCounterMode (2 FLOPs per multiply-add), fvcore, or a real forward with hooks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel import analyze
from costmodel.errors import ShapeMismatch
from tests.oracle import fvcore_by_operator


def flop_counter_multiply_adds(model: nn.Module, *inputs: torch.Tensor) -> int:
    """torch's own count of contraction FLOPs, halved (it counts a multiply-add as 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


def real_output_shape(model: nn.Module, *inputs: torch.Tensor) -> list[int]:
    with torch.no_grad():
        return list(model(*inputs).shape)


def bound(a_in: int, c1: int, a_out: int, c2: int, weights: int) -> float:
    """The report's bound, written out: 2·√(A_in·c1·A_out·c2) + weights (no bias)."""
    return 2 * math.sqrt(a_in * c1 * a_out * c2) + weights


class FunctionalConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(12, 2, 3, 3))  # 8 in, 12 out, 4 groups
        self.bias = nn.Parameter(torch.randn(12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=2, padding=1, groups=4)


def test_functional_conv2d_with_groups_and_bias() -> None:
    model, x = FunctionalConv(), torch.randn(2, 8, 10, 10)
    (row,) = [r for r in analyze(model, tuple(x.shape)).layers if r.family == "conv"]
    n, c1, c2, g, k, ho = 2, 8, 12, 4, 3, 5
    assert row.output_shape == real_output_shape(model, x) == [n, c2, ho, ho]
    assert row.flops == n * ho * ho * c2 * (c1 // g) * k * k == flop_counter_multiply_adds(model, x)
    weights = c2 * (c1 // g) * k * k
    assert row.mac == n * 100 * c1 + n * ho * ho * c2 + weights + c2
    assert row.mac_lower_bound == pytest.approx(bound(n * 100, c1, n * ho * ho, c2, weights), rel=1e-12)


class FunctionalLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 5))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("functional", [True, False])
def test_linear_on_any_rank(shape: tuple[int, ...], functional: bool) -> None:
    model = FunctionalLinear() if functional else nn.Linear(5, 6)
    x = torch.randn(shape)
    rows = [r for r in analyze(model, shape).layers if r.flops]
    rows_m = math.prod(shape[:-1])
    assert sum(r.flops for r in rows) == rows_m * 5 * 6 == flop_counter_multiply_adds(model, x)
    assert sum(r.mac for r in rows) == rows_m * 5 + rows_m * 6 + 5 * 6 + 6
    assert rows[-1].output_shape == real_output_shape(model, x)
    # the linear bound is the 1x1 conv's on M rows: 2·√(M·in·M·out) + in·out (the bias only adds)
    (bounded,) = [r for r in rows if r.mac_lower_bound is not None]
    assert bounded.mac_lower_bound == pytest.approx(bound(rows_m, 5, rows_m, 6, 5 * 6), rel=1e-12)


def test_unbatched_conv_input() -> None:
    conv, x = nn.Conv2d(3, 8, 3), torch.randn(3, 8, 8)
    (row,) = analyze(conv, (3, 8, 8)).layers
    assert row.output_shape == real_output_shape(conv, x) == [8, 6, 6]
    assert row.flops == 6 * 6 * 8 * 3 * 9 == flop_counter_multiply_adds(conv, x)
    assert row.mac == 3 * 64 + 8 * 36 + 8 * 27 + 8
    assert row.mac_lower_bound == pytest.approx(bound(64, 3, 36, 8, 8 * 27), rel=1e-12)


def test_conv3d_with_groups() -> None:
    conv, x = nn.Conv3d(4, 8, 3, padding=1, groups=2), torch.randn(1, 4, 5, 6, 7)
    (row,) = analyze(conv, tuple(x.shape)).layers
    volume = 5 * 6 * 7
    assert row.output_shape == real_output_shape(conv, x)
    assert row.flops == volume * 8 * 2 * 27 == flop_counter_multiply_adds(conv, x)
    assert row.mac == volume * 4 + volume * 8 + 8 * 2 * 27 + 8
    assert row.mac_lower_bound == pytest.approx(bound(volume, 4, volume, 8, 8 * 2 * 27), rel=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_transpose_flops(groups: int) -> None:
    conv, x = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=groups), torch.randn(2, 4, 5, 5)
    (row,) = [r for r in analyze(conv, tuple(x.shape)).layers if r.family == "conv"]
    out = real_output_shape(conv, x)
    assert row.output_shape == out == [2, 6, 11, 11]
    # every input element scatters into (c2/g)·k·k outputs: N·h·w·c1·(c2/g)·k²
    assert row.flops == 2 * 25 * 4 * (6 // groups) * 9 == flop_counter_multiply_adds(conv, x)
    assert row.mac == 2 * 4 * 25 + 2 * 6 * 121 + 4 * (6 // groups) * 9 + 6


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_with_and_without_affine_equals_fvcore(affine: bool) -> None:
    bn = nn.BatchNorm2d(8, affine=affine).eval()
    (row,) = analyze(bn, (2, 8, 5, 5)).layers
    elements = 2 * 8 * 25
    assert row.flops == elements * (2 if affine else 1) == fvcore_by_operator(bn, (2, 8, 5, 5))["batch_norm"]
    # in + out + running mean and var (+ weight and bias)
    assert row.mac == 2 * elements + 2 * 8 + (2 * 8 if affine else 0)
    assert row.params == (16 if affine else 0)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("kind", ["layer_norm", "group_norm"])
def test_layer_and_group_norm_flops_equal_fvcore(kind: str, affine: bool) -> None:
    norm = nn.LayerNorm(10, elementwise_affine=affine) if kind == "layer_norm" else nn.GroupNorm(2, 6, affine=affine)
    shape = (3, 4, 10) if kind == "layer_norm" else (2, 6, 5, 5)
    (row,) = analyze(norm, shape).layers
    elements = math.prod(shape)
    assert row.flops == elements * (5 if affine else 4) == fvcore_by_operator(norm, shape)[kind]
    rows_normalised = 12 if kind == "layer_norm" else 2 * 2
    weights = (20 if kind == "layer_norm" else 12) if affine else 0
    assert row.mac == 2 * elements + weights + 2 * rows_normalised  # + the mean and rstd it writes


@pytest.mark.parametrize(
    ("pool", "shape", "window_sum"),
    [
        # L = 10, k = 3, s = 2, p = 1: 5 windows, all inside the padded input → 3 taps each
        (nn.MaxPool1d(3, 2, padding=1), (1, 2, 10), 5 * 3),
        # 4³ → 2³ windows of 2³ taps
        (nn.AvgPool3d(2), (1, 2, 4, 4, 4), 8 * 8),
        # L = 8, k = 3, s = 2, ceil_mode: 4 windows, the last (from 6) clipped to the input's 2 last elements
        (nn.MaxPool1d(3, 2, ceil_mode=True), (1, 1, 8), 3 + 3 + 3 + 2),
        (nn.AdaptiveAvgPool1d(1), (2, 3, 9), 9),  # 1 per input element
    ],
)
def test_one_and_three_dimensional_pooling(pool: nn.Module, shape: tuple[int, ...], window_sum: int) -> None:
    x = torch.randn(shape)
    (row,) = analyze(pool, shape).layers
    out = real_output_shape(pool, x)
    channels = shape[0] * shape[1]
    assert row.output_shape == out
    assert row.flops == channels * window_sum
    assert row.mac == math.prod(shape) + math.prod(out)


class StackClamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x, x.clamp(0, 1), torch.clamp(x, min=-1)], dim=1)


def test_stack_and_clamp() -> None:
    report = analyze(StackClamp(), (2, 3, 4))
    by_op = {r.op: r for r in report.layers}
    assert {"stack", "clamp"} <= set(by_op) and report.uncounted == []
    clamps = [r for r in report.layers if r.op == "clamp"]
    assert len(clamps) == 2 and all(r.flops == 24 and r.mac == 48 for r in clamps)
    assert by_op["stack"].flops == 0 and by_op["stack"].mac == 3 * 24 + 72
    assert by_op["stack"].output_shape == real_output_shape(StackClamp(), torch.randn(2, 3, 4))


def test_batch_norm_channel_mismatch_names_the_layer() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(8))
    with pytest.raises(ShapeMismatch, match=r"'1' \(BatchNorm2d\).*running_mean should contain 4 elements not 8"):
        analyze(model, (1, 3, 8, 8))


def test_size_zero_inputs_are_refused_and_empty_intermediates_cost_nothing() -> None:
    with pytest.raises(ShapeMismatch, match="positive integers"):
        analyze(nn.Conv2d(3, 8, 3), (0, 3, 8, 8))

    class EmptySlice(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x[:, :0] * 2], dim=1)

    report = analyze(EmptySlice(), (2, 4))
    mul = next(r for r in report.layers if r.op == "mul")
    assert mul.flops == 0 and mul.mac == 0 and mul.output_shape == [2, 0]
    cat = next(r for r in report.layers if r.op == "cat")
    assert cat.mac == 8 + 8 and cat.output_shape == [2, 4]


@pytest.mark.parametrize(("dtype", "itemsize"), [(torch.float32, 4), (torch.float16, 2)])
def test_bytes_mode_scales_mac_and_bound_alike(dtype: torch.dtype, itemsize: int) -> None:
    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    elements = analyze(conv, (1, 8, 6, 6), dtype).layers[0]
    in_bytes = analyze(conv, (1, 8, 6, 6), dtype, mac_unit="bytes").layers[0]
    expected_elements = 8 * 36 + 16 * 36 + 16 * 8 * 9
    assert elements.mac == expected_elements and in_bytes.mac == expected_elements * itemsize
    assert elements.mac_lower_bound is not None and in_bytes.mac_lower_bound is not None
    assert in_bytes.mac_lower_bound == pytest.approx(bound(36, 8, 36, 16, 16 * 8 * 9) * itemsize, rel=1e-12)
    assert in_bytes.mac_efficiency == pytest.approx(elements.mac_efficiency, rel=1e-12)
    assert in_bytes.flops == elements.flops == 36 * 16 * 8 * 9


class HalfUsed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def test_unused_parameters_are_noted_with_their_count() -> None:
    report = analyze(HalfUsed(), (2, 4))
    assert report.totals["params"] == 35  # the model's parameters, as torchinfo counts them
    assert sum(r.params for r in report.layers) == 20  # rows hold what they read
    assert f"{4 * 3 + 3} parameters are not read" in " ".join(report.notes)
    assert not any("not read" in n for n in analyze(nn.Linear(4, 4), (2, 4)).notes)


class StandardisedConv(nn.Conv2d):
    """A conv subclass with its own forward (weight standardisation, as in BiT/NFNet)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


def test_conv_subclass_with_its_own_forward_is_costed_as_it_runs() -> None:
    conv, x = StandardisedConv(4, 8, 3, padding=1), torch.randn(1, 4, 8, 8)
    report = analyze(conv, (1, 4, 8, 8))
    assert report.uncounted == []
    contraction = sum(r.flops for r in report.layers if r.family == "conv")
    assert contraction == 64 * 8 * 4 * 9 == flop_counter_multiply_adds(conv, x)
    ops = [r.op for r in report.layers]
    assert "mean" in ops and "sub" in ops  # the standardisation runs and is costed, not hidden in the conv
    assert report.totals["params"] == 8 * 4 * 9 + 8
    assert report.layers[-1].output_shape == real_output_shape(conv, x)


def _brute_force_taps(size: int, k: int, s: int, pad: int, dil: int, n_out: int) -> int:
    """Count, one by one, the taps of every window that land inside the padded input [−pad, size + pad)."""
    return sum(1 for o in range(n_out) for t in range(k) if -pad <= o * s - pad + t * dil < size + pad)


@pytest.mark.parametrize(
    ("k", "s", "pad", "dil", "ceil"),
    [(3, 2, 1, 1, True), (3, 2, 0, 1, True), (2, 2, 0, 1, True), (3, 1, 1, 2, False), (5, 3, 2, 1, True), (7, 1, 0, 1, False)],
)
def test_max_pool_windows_clipped_like_a_brute_force_count(k: int, s: int, pad: int, dil: int, ceil: bool) -> None:
    pool = nn.MaxPool2d(k, s, padding=pad, dilation=dil, ceil_mode=ceil)
    shape = (1, 2, 9, 7)
    (row,) = analyze(pool, shape).layers
    out = real_output_shape(pool, torch.randn(shape))
    assert row.output_shape == out
    per_channel = _brute_force_taps(9, k, s, pad, dil, out[2]) * _brute_force_taps(7, k, s, pad, dil, out[3])
    assert row.flops == 2 * per_channel


class FusedAttention(nn.Module):
    """nn.MultiheadAttention's fused inference kernel, called directly (E = 16, H = 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv_weight = nn.Parameter(torch.randn(48, 16))
        self.qkv_bias = nn.Parameter(torch.randn(48))
        self.out_weight = nn.Parameter(torch.randn(16, 16))
        self.out_bias = nn.Parameter(torch.randn(16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = torch._native_multi_head_attention
        return fused(x, x, x, 16, 4, self.qkv_weight, self.qkv_bias, self.out_weight, self.out_bias, None, False)[0]


def test_fused_multi_head_attention_kernel() -> None:
    b, length, e, heads = 2, 5, 16, 4
    rows = [r for r in analyze(FusedAttention(), (b, length, e)).layers if r.flops]
    (row,) = rows
    # in-projection of q, k, v + the two attention matmuls + the out-projection, written out
    assert row.flops == b * e * e * 3 * length + 2 * b * length * length * e + b * length * e * e
    # the unfused math path also writes and reads the L×S score matrix of every head
    assert row.mac_unfused is not None and row.mac_unfused - row.mac == 4 * b * heads * length * length


@pytest.mark.parametrize(
    ("conv", "kind"),
    [
        (nn.Conv2d(8, 8, 3, groups=8), "depthwise"),
        (nn.Conv2d(8, 16, 1), "pointwise"),
        (nn.Conv2d(8, 16, 1, groups=4), "grouped_pointwise"),
        (nn.Conv2d(8, 16, 3, groups=2), "grouped"),
        (nn.Conv2d(8, 16, 3), "dense"),
        (nn.Conv2d(1, 4, 3), "dense"),  # one input channel, one group: not depthwise
        (nn.Conv2d(1, 1, 1), "pointwise"),
    ],
)
def test_conv_kinds(conv: nn.Conv2d, kind: str) -> None:
    (row,) = analyze(conv, (1, conv.in_channels, 6, 6)).layers
    assert row.kind == kind and [w.kind for w in row.work] == [kind]


def test_conv1d_folds_its_length_into_the_closed_form() -> None:
    conv, x = nn.Conv1d(4, 6, 3, padding=1), torch.randn(2, 4, 10)
    (row,) = analyze(conv, tuple(x.shape)).layers
    assert row.output_shape == real_output_shape(conv, x)
    assert row.flops == 2 * 10 * 6 * 4 * 3 == flop_counter_multiply_adds(conv, x)
    assert row.mac == 2 * 10 * 4 + 2 * 10 * 6 + 6 * 4 * 3 + 6
    assert row.mac_lower_bound == pytest.approx(bound(20, 4, 20, 6, 6 * 4 * 3), rel=1e-12)
