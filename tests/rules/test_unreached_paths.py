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
from tests.oracles.oracle import fvcore_by_operator


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
    [
        (3, 2, 1, 1, True),
        (3, 2, 0, 1, True),
        (2, 2, 0, 1, True),
        (3, 1, 1, 2, False),
        (5, 3, 2, 1, True),
        (7, 1, 0, 1, False),
        (2, 2, 0, 3, True),  # dilated windows overhanging the end
        (2, 3, 1, 1, True),  # ceil_mode: a last window that would start in the padding is dropped
    ],  # fmt: skip
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


def test_fused_attention_mac_as_the_kernel_moves_it() -> None:
    b, length, e = 2, 5, 16
    (row,) = [r for r in analyze(FusedAttention(), (b, length, e)).layers if r.flops]
    x, weights, out = b * length * e, 48 * 16 + 48 + 16 * 16 + 16, b * length * e
    projected = 2 * b * (length + 2 * length) * e  # q, k, v written by the in-projection and read back
    attended = 2 * b * length * e  # the attention output written and read by the out-projection
    assert row.mac == x + weights + out + projected + attended  # q, k and v are one tensor here: read once


class MatrixProducts(nn.Module):
    def forward(self, a: torch.Tensor, v: torch.Tensor, q: torch.Tensor, k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        mv = a @ v  # matrix × vector
        bmm = torch.bmm(q, k.transpose(1, 2))  # 3×(5×8)·(8×7)
        attention = F.scaled_dot_product_attention(
            w, k.unsqueeze(1).expand(3, 4, 7, 8), k.unsqueeze(1).expand(3, 4, 7, 8)[..., :6]
        )
        return mv.sum() + bmm.sum() + attention.sum()


def test_matrix_vector_bmm_and_attention_with_unequal_sizes_equal_flop_counter() -> None:
    shapes = [(6, 9), (9,), (3, 5, 8), (3, 7, 8), (3, 4, 5, 8)]
    tensors = [torch.randn(s) for s in shapes]
    report = analyze(MatrixProducts(), shapes)
    by_kind: dict[str, int] = {}
    for row in report.layers:
        for w in row.work:
            by_kind[w.kind] = by_kind.get(w.kind, 0) + w.flops
    assert report.uncounted == []
    assert by_kind["gemv"] == 6 * 9  # m·k multiply-adds, one output column
    assert by_kind["matmul"] == 3 * 5 * 7 * 8
    assert by_kind["attention"] == 3 * 4 * 5 * 7 * (8 + 6)  # B·H·L·S·(E + Ev)
    # torch's FlopCounterMode has no rule for aten.mv (it counts 0 there); the rest agrees with it exactly
    assert by_kind["matmul"] + by_kind["attention"] == flop_counter_multiply_adds(MatrixProducts(), *tensors)


@pytest.mark.parametrize(("rows", "kind"), [(1, "gemv"), (2, "matmul"), (8, "matmul")])
def test_a_batch_one_linear_is_a_gemv(rows: int, kind: str) -> None:
    (row,) = [r for r in analyze(nn.Linear(16, 4), (rows, 16)).layers if r.flops]
    assert row.kind == kind


def test_softmax_counts_five_flops_per_element() -> None:
    (row,) = analyze(nn.Softmax(-1), (2, 3, 7)).layers
    assert row.flops == 5 * 42 and row.mac == 2 * 42


class ElementwiseKinds(nn.Module):
    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        y = x + x * 1.5  # same shape
        z = y * s  # a per-channel vector broadcast over the map (squeeze-excite)
        filled = torch.empty_like(z)
        filled.copy_(z.transpose(2, 3))  # copy_ into an existing tensor
        return filled.fill_(2.0) + z.reshape(z.shape)  # reshape of a contiguous tensor: a view, free


def test_elementwise_broadcast_copy_fill_and_free_reshape() -> None:
    report = analyze(ElementwiseKinds(), [(1, 4, 3, 3), (1, 4, 1, 1)])
    kinds = {r.name: [w.kind for w in r.work] for r in report.layers}
    assert kinds["mul_1"] == ["broadcast"] and kinds["add"] == ["elementwise"] and kinds["mul"] == ["elementwise"]
    assert report.uncounted == []
    copy_row = next(r for r in report.layers if r.op == "copy_")
    assert copy_row.flops == 0 and copy_row.mac == 36 + 36  # source read + destination written
    fill_row = next(r for r in report.layers if r.op == "fill_")
    assert fill_row.flops == 0 and fill_row.mac == 36  # only written
    reshape_row = next(r for r in report.layers if r.op == "reshape")
    assert reshape_row.mac == 0 and reshape_row.reason is not None


def test_a_batch_norm_in_training_mode_is_costed_at_inference() -> None:
    """Costs are inference costs: running statistics, 2 per element with affine (the module keeps its mode)."""
    bn = nn.BatchNorm2d(4).train()
    (row,) = analyze(bn, (2, 4, 3, 3)).layers
    assert row.flops == 2 * 72 and bn.training


@pytest.mark.parametrize(("affine", "per_element"), [(True, 5), (False, 4)])
def test_instance_norm_computes_statistics(affine: bool, per_element: int) -> None:
    rows = [r for r in analyze(nn.InstanceNorm2d(4, affine=affine), (2, 4, 3, 3)).layers if r.flops]
    assert sum(r.flops for r in rows) == per_element * 72


class LegitBatchNorm(nn.Module):
    """The batch-norm aten ops that export and CUDA paths dispatch (CPU eager uses native_batch_norm)."""

    def __init__(self, training: bool | None) -> None:
        super().__init__()
        self.training_op = training
        self.register_buffer("mean", torch.zeros(4))
        self.register_buffer("var", torch.ones(4))
        self.weight = nn.Parameter(torch.ones(4))
        self.bias = nn.Parameter(torch.zeros(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        aten = torch.ops.aten
        if self.training_op is None:  # the legit op told not to compute statistics: running ones, 2 per element
            return aten._native_batch_norm_legit(x, self.weight, self.bias, self.mean, self.var, False, 0.1, 1e-5)[0]
        if self.training_op:
            return aten._native_batch_norm_legit(x, self.weight, self.bias, self.mean, self.var, True, 0.1, 1e-5)[0]
        return aten._native_batch_norm_legit_no_training(x, self.weight, self.bias, self.mean, self.var, 0.1, 1e-5)[0]


@pytest.mark.parametrize(("training", "per_element"), [(False, 2), (True, 5), (None, 2)])
def test_legit_batch_norm_ops(training: bool | None, per_element: int) -> None:
    rows = [r for r in analyze(LegitBatchNorm(training), (2, 4, 3, 3)).layers if r.flops]
    assert [r.flops for r in rows] == [per_element * 72]


class FusedRMSNorm(nn.Module):
    """The fused RMS-norm kernel, called directly (nn.RMSNorm decomposes into element-wise ops on CPU)."""

    def __init__(self, weighted: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(8)) if weighted else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._fused_rms_norm(x, [8], self.weight, 1e-5)[0]


@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm_is_costed_as_the_ops_it_decomposes_into(weighted: bool) -> None:
    """On CPU the fused kernel decomposes before dispatch: square, mean, + eps, rsqrt, normalise
    (and scale), each costed as an element-wise op or reduction (80 elements, 10 rows)."""
    rows = [r for r in analyze(FusedRMSNorm(weighted), (2, 5, 8)).layers if r.flops]
    assert [r.flops for r in rows] == [80 + 80 + 10 + 10 + 80 + (80 if weighted else 0)]


def test_norm_kinds() -> None:
    assert analyze(nn.LayerNorm(8), (2, 8)).layers[0].kind == "layer_norm"
    assert analyze(nn.GroupNorm(2, 4), (1, 4, 3, 3)).layers[0].kind == "group_norm"


@pytest.mark.parametrize(
    ("mode", "taps"), [("nearest", 1), ("bilinear", 4), ("bicubic", 16)]
)  # fvcore counts nearest 1 and bilinear 4 per output element; bicubic blends 4×4 taps
def test_resampling_taps(mode: str, taps: int) -> None:
    up = nn.Upsample(scale_factor=2, mode=mode)
    (row,) = [r for r in analyze(up, (1, 3, 4, 4)).layers if r.flops]
    assert row.flops == taps * 3 * 8 * 8 and row.mac == 3 * 16 + 3 * 64


def test_adaptive_pooling_to_a_grid_and_a_window_covering_the_input() -> None:
    (adaptive,) = analyze(nn.AdaptiveAvgPool2d(2), (1, 3, 6, 6)).layers
    assert adaptive.flops == 3 * 36 and adaptive.mac == 3 * 36 + 3 * 4 and adaptive.kind == "adaptive_pool"
    (whole,) = analyze(nn.MaxPool2d(4), (1, 3, 4, 4)).layers  # one output per channel
    assert whole.output_shape == [1, 3, 1, 1] and whole.flops == 3 * 16


def test_int_list_arguments_expand_per_dimension() -> None:
    from costmodel.rules.movement import per_dimension

    assert per_dimension(3, 2, 0) == [3, 3] and per_dimension([2], 3, 0) == [2, 2, 2] and per_dimension([1, 2], 2, 0) == [1, 2]
    assert per_dimension(None, 2, 7) == [7, 7] and per_dimension([], 3, 1) == [1, 1, 1]


class ReadsAValue(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().sum().item() >= 0:  # a value read back to Python: fx cannot trace, the aten walk runs it
            return x * 2
        return x


def test_reading_a_value_back_is_free_with_its_reason() -> None:
    report = analyze(ReadsAValue(), (2, 3))
    item = next(r for r in report.layers if r.op in ("_local_scalar_dense", "item"))
    assert item.flops == 0 and item.mac == 0 and item.reason
