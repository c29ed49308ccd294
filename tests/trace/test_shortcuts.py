"""The shape-propagation shortcuts (closed-form layer rules, the node memo, pending tensors) are
held to the reference: every node run under FakeTensorMode. Same output geometry on every node,
same aten calls, whether the memo is cold (first analysis) or warm (a repeat), and the memo never
replays what could depend on more than metadata."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from costmodel import analyze, load_model
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.node_cache import forget
from costmodel.zoo import ZOO
from tests.fresh_process import fresh_process_output
from tests.models import corpus as C
from tests.models import custom
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes, node_records


class Aliasing(nn.Module):
    """Identity and aliasing patterns a memo keyed on shapes alone would get wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        a = x + x  # one tensor read twice
        b = x + y  # two tensors of the same shape
        v = b.view(1, 4, -1)
        v.mul_(2)  # in place on a view: returns its input itself
        p, q = torch.chunk(a, 2, dim=1)
        r = torch.cat([p, q, p], dim=1)[:, :4]
        return r + b + v.view_as(b) + y.transpose(2, 3).contiguous().transpose(2, 3)


class Glue(nn.Module):
    """The functions and methods the closed-form rules cover, in the variants models write them."""

    def __init__(self) -> None:
        super().__init__()
        self.max_pool = nn.MaxPool2d(3, 2, 1)
        self.max_pool_ceil = nn.MaxPool2d(2, ceil_mode=True)
        self.avg_pool = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n, c, h, w = x.size()
        rows = x.view(n, -1)
        flat = torch.flatten(x, 0, 1) + x.flatten(2).view(n * c, h, w)
        pieces = x.chunk(3, dim=-1)
        turned = torch.transpose(x, -1, 1).contiguous().transpose(1, 3)
        joined = torch.cat([x, turned, x]) + torch.cat((x, x, x), dim=0)
        means = x.mean([2, 3]) + x.mean(dim=(-1, -2)) + torch.mean(x, -1, keepdim=True).view(n, c, h).sum(-1)
        pooled = self.max_pool(x) + self.avg_pool(x) + nn.functional.avg_pool2d(x, 3, 2, 1)
        sizes = x.shape[1] * x.dim()
        return rows, flat, pieces[2], joined, means, pooled, self.max_pool_ceil(x), self.global_pool(x), x.add(x), sizes


class FunctionalActivations(nn.Module):
    """Activations called as functions and methods, in the variants models write them (in place, GELU's
    approximation, a non-contiguous input, an integer tensor) — each held to FakeTensorMode call for call."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        nn.functional.relu(x * 1, inplace=True)
        y = nn.functional.silu(x) + nn.functional.gelu(x) + nn.functional.gelu(x, approximate="tanh")
        y = y + nn.functional.hardswish(x) + nn.functional.hardsigmoid(x) + torch.sigmoid(x) + torch.tanh(x)
        y = y + torch.relu(x) + x.relu() + x.sigmoid() + x.tanh() + nn.functional.relu(x, False)
        z = nn.functional.silu(x + 1, inplace=True) + nn.functional.hardswish(x * 2, True)
        t = nn.functional.relu(x.transpose(2, 3))  # not contiguous: left to FakeTensorMode
        k = torch.relu(x.long())  # integer input: left to FakeTensorMode
        return y, z, t, k


class FunctionalNorm(nn.Module):
    """A norm + activation layer calling ``F.batch_norm`` itself (as timm's BatchNormAct2d does), in the
    argument spellings models use, and a training-mode call left to FakeTensorMode."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f = nn.functional
        a = f.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.1, 1e-5)
        b = f.batch_norm(x, self.running_mean, self.running_var)
        c = f.batch_norm(x, self.running_mean, self.running_var, weight=self.weight, momentum=0.0, eps=1e-3)
        d = f.batch_norm(x.transpose(2, 3), self.running_mean, self.running_var, bias=self.bias, training=False)
        e = f.batch_norm(x, self.running_mean.clone(), self.running_var.clone(), training=True)  # left to FakeTensorMode
        return f.relu(a, inplace=True), b, c, d, e


class FunctionalLayers(nn.Module):
    """Layers written as calls of torch.nn.functional (weight standardisation as BiT does it, convolutions
    in every padding spelling, linear with and without bias on 2-D and 3-D inputs, layer and group norm,
    pooling with and without a stride), and a few the rules leave to FakeTensorMode."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.b = nn.Parameter(torch.randn(8))
        self.w1 = nn.Parameter(torch.randn(6, 3, 3))
        self.lw = nn.Parameter(torch.randn(5, 8))
        self.gamma = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> tuple[Any, ...]:
        f = nn.functional
        standardised = f.batch_norm(self.w.reshape(1, 8, -1), None, None, training=True, momentum=0.0, eps=1e-8)
        y = f.conv2d(x, standardised.reshape_as(self.w), self.b, 2, 1)
        same = f.conv2d(y, self.w[:, : 8 // 3 * 3 // 3 * 3][:, :3].repeat(1, 3, 1, 1)[:, :8], None, padding="same")
        valid = f.conv2d(y, self.w.repeat(1, 3, 1, 1)[:, :8], stride=(1, 2), padding="valid", dilation=1)
        grouped = f.conv2d(y, self.w[:, :2], groups=4, padding=(1, 0))
        line = f.conv1d(x.flatten(2), self.w1, None, padding=1)
        tokens = same.flatten(2).transpose(1, 2)
        normed = f.layer_norm(tokens, (8,), self.gamma, None, 1e-5)
        projected = (
            f.linear(normed, self.lw),
            f.linear(normed[:, 0], self.lw, self.b[:5]),
            f.linear(normed.contiguous(), self.lw, self.b[:5]),
        )
        grouped_norm = f.group_norm(y, 4, self.gamma, self.b, eps=1e-3)
        pooled = (
            f.max_pool2d(y, 2),
            f.max_pool2d(y, 3, 2, 1, ceil_mode=True),
            f.avg_pool2d(y, 2, 1),
            f.avg_pool2d(y, (2, 3), padding=1),
        )
        faked = (
            f.max_pool2d(y, 2, return_indices=True),
            f.conv2d(y, self.w.repeat(1, 3, 1, 1)[:, :8], padding="same", dilation=(2, 1)),
        )
        shaped_as = (grouped_norm.view_as(y), self.b.reshape(1, 8, 1, 1).expand_as(y), tokens.reshape_as(tokens.contiguous()))
        return y, same, valid, grouped, line, projected, grouped_norm, pooled, faked, shaped_as


class UnruledGlue(nn.Module):
    """Glue beyond the closed-form rules, in the mix transformers and hybrids write: a class token expanded
    and joined, padding, a cyclic shift, indexing, a dtype change, a factory, softmax, matmul, einsum,
    split, max over a dim (a named result), a group norm and a resampling layer, attention on transposed
    inputs, and a layer norm on a non-contiguous tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, 6))
        self.norm = nn.GroupNorm(2, 4)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.ln = nn.LayerNorm(6)

    def forward(self, x: torch.Tensor) -> tuple[Any, ...]:
        n, c, h, w = x.shape
        seq = x.flatten(2)[:, :, :6]
        joined = torch.cat([self.token.expand(n, -1, -1), seq], dim=1)
        padded = nn.functional.pad(x, (1, 2, 0, 1))
        shifted = torch.roll(x, shifts=(1, -1), dims=(2, 3))
        picked = x[:, 0] + x[..., 1:, :-1].sum()
        scores = torch.softmax(seq @ seq.transpose(1, 2), dim=-1) + torch.arange(c, dtype=x.dtype)
        mixed = torch.einsum("ncl,nkl->nck", seq, seq).float()
        a, b = seq.split([2, 4], dim=-1)
        top = joined.max(dim=1)
        q = seq.view(n, c, 2, 3).transpose(1, 2)
        attention = nn.functional.scaled_dot_product_attention(q, q, q)
        normed = self.ln(joined.transpose(1, 2).transpose(1, 2))
        resampled = self.up(self.norm(x))
        return joined, padded, shifted, picked, scores, mixed, a, b, top.values, top.indices, attention, normed, resampled


class RuledGlue(nn.Module):
    """Glue the closed-form rules answer, in every spelling: indexing (ints, negative and open slices,
    steps, None, Ellipsis), permute (negative dims), expand (-1, new leading dims), reshape, softmax, and
    group and layer norms (the latter on a permuted, non-contiguous tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.group = nn.GroupNorm(2, 4)
        self.group_plain = nn.GroupNorm(4, 4, affine=False)
        self.ln = nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> tuple[Any, ...]:
        n, c, h, w = x.shape
        picks = (x[:, :2], x[:, 0], x[..., 1:, None], x[:, -1], x[:, 1:3, :, ::2], x[:, -3:-1], x[0, ..., -2], x[:, :, 10:])
        turned = x.permute(0, 2, 3, 1)
        turned_back = torch.permute(turned, (0, -1, 1, 2))
        stretched = x[:, :1].expand(n, c, -1, -1) + x.expand(3, -1, -1, -1, -1)[1]
        flat = x.reshape(n, c, h * w).softmax(-1) + torch.reshape(x, (n, -1)).unsqueeze(-1).mean()
        probabilities = nn.functional.softmax(x, dim=1) + torch.softmax(x, -2)
        normed = self.ln(turned) + self.ln(x.permute(0, 3, 2, 1)).sum()
        grouped = self.group(x) + self.group_plain(x)
        return picks, turned_back, stretched, flat, probabilities, normed, grouped


class ResampledGlue(nn.Module):
    """Resampling (every mode and spelling of size and scale), constant padding, roll, casts, detach,
    matmul of stacks, a transposed copy reshaped, and a class token (a parameter) expanded and joined."""

    def __init__(self) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, 6))
        self.weight = nn.Parameter(torch.zeros(6, 3))

    def forward(self, x: torch.Tensor) -> tuple[Any, ...]:
        n, c, h, w = x.shape
        F = nn.functional
        resampled = (
            F.interpolate(x, scale_factor=2),
            F.interpolate(x, scale_factor=1.5, mode="nearest"),
            F.interpolate(x, size=(7, 9), mode="bilinear"),
            F.interpolate(x, size=(6, 7), mode="bilinear", align_corners=True),
            F.interpolate(x, scale_factor=(2, 3), mode="bicubic"),
            F.interpolate(x.flatten(2), scale_factor=2.5, mode="linear"),
        )
        padded = (F.pad(x, (1, 1), value=2.0), F.pad(x, [1, 1, 2, 2], "constant"), F.pad(x, (0, 0, 0, 1, 2, 0)))
        rolled = (torch.roll(x, 2, 1), x.roll(-1), torch.roll(x, shifts=(1, -1), dims=(2, 3)))
        cast = (x.detach(), x.float(), x.to(torch.float64), x.double().half(), x.to(dtype=torch.float16))
        scaled = (x.add(x, alpha=0.5), torch.sub(x, x[:1], alpha=2), x.clone().add_(x, alpha=3))
        counted = (torch.arange(w, dtype=x.dtype), torch.arange(h, device=x.device) * 2)
        tokens = x.flatten(2).transpose(1, 2)  # n, h*w, c (non-contiguous)
        doubled = torch.cat([tokens, tokens.reshape(n, -1, c)], dim=-1)
        joined = torch.cat([self.token.expand(n, -1, -1), doubled], dim=1)
        scores = joined @ joined.transpose(-2, -1)
        heads = joined.reshape(n, -1, 2, 3).permute(0, 2, 1, 3)
        products = (scores.softmax(-1) @ joined, torch.matmul(heads, heads.transpose(-1, -2)), joined.matmul(self.weight))
        return resampled, padded, rolled, cast, scaled, counted, products, tokens.reshape(n, h, w, c)


FX_MODELS: dict[str, tuple[Callable[[], nn.Module], Any]] = {
    **{name: (lambda name=name: load_model(name), (1, 3, 64, 64)) for name in ZOO},
    "vit": (C.TinyViT, (2, 3, 32, 32)),
    "swin_window": (C.WindowAttention, (1, 10, 10, 16)),
    "efficientnet_se_droppath": (C.TinyEfficientNet, (1, 3, 32, 32)),
    "convnext_block": (C.ConvNeXtBlock, (1, 16, 14, 14)),
    "stateful": (C.Stateful, (4, 8)),
    "functional": (custom.FunctionalNet, (1, 3, 16, 16)),
    "shared_conv": (custom.SharedConvNet, (1, 3, 16, 16)),
    "subclass": (custom.SubclassNet, (1, 3, 16, 16)),
    "aliasing": (Aliasing, (1, 4, 6, 6)),
    "glue": (Glue, (2, 4, 7, 7)),
    "functional_activations": (FunctionalActivations, (2, 3, 5, 6)),
    "functional_norm": (lambda: FunctionalNorm(4), (2, 4, 5, 6)),
    "functional_norm_1d": (lambda: FunctionalNorm(4), (3, 4, 7, 2)),
    "mha": (lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), (2, 9, 32)),
    "unruled_glue": (UnruledGlue, (2, 4, 5, 6)),
    "functional_layers": (FunctionalLayers, (2, 3, 9, 10)),
    "ruled_glue": (RuledGlue, (2, 4, 5, 6)),
    "resampled_glue": (ResampledGlue, (2, 3, 4, 5)),
}


@pytest.mark.parametrize("name", sorted(FX_MODELS))
def test_shortcuts_match_running_every_node_on_fake_tensors(name: str) -> None:
    build, inputs = FX_MODELS[name]
    model = build().eval()
    reference = node_records(trace_model(model, inputs, shortcuts=False))
    forget()
    cold = trace_model(model, inputs)
    warm = trace_model(model, inputs)
    assert cold.node_outcomes and warm.node_outcomes  # the memo did take part
    for traced in (cold, warm):
        nodes = node_records(traced)
        assert nodes.keys() == reference.keys()
        for node_name, (geometry, calls) in reference.items():
            assert nodes[node_name][0] == geometry, node_name
            assert nodes[node_name][1] == calls, node_name


class _ChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)


class _Transposed(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 3)


def _weight_normed(conv: nn.Module, dim: int = 0) -> nn.Module:
    return nn.utils.parametrizations.weight_norm(conv, dim=dim)


def test_a_weight_normed_convolution_needs_no_fake_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_fake_modes(monkeypatch)
    traced = trace_model(nn.Sequential(_weight_normed(nn.Conv1d(4, 6, 3))).eval(), (1, 4, 10))
    assert not built
    assert [c.op for c in traced.node_calls["_0"]] == ["aten::_weight_norm_interface", "aten::convolution"]


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.Conv2d(4, 6, 3, 2, 1, groups=2), (2, 4, 9, 9)),
        (nn.Conv1d(4, 4, 5, padding="same"), (1, 4, 10)),
        (nn.Conv2d(3, 5, (3, 5), padding="valid"), (1, 3, 7, 9)),
        (nn.Conv1d(4, 4, 4, padding="same", dilation=1), (1, 4, 10)),
        (nn.Conv3d(2, 3, (1, 3, 3), padding=(0, 1, 1), dilation=(1, 2, 2)), (1, 2, 3, 8, 8)),
        (nn.Linear(5, 7), (3, 5)),
        (nn.Linear(5, 7, bias=False), (3, 5)),
        (nn.Linear(5, 7), (2, 3, 5)),
        (nn.Linear(5, 7, bias=False), (2, 3, 5)),
        (nn.Linear(5, 1), (4, 5)),
        (nn.Linear(5, 7), (2, 3, 4, 5)),
        (nn.Linear(5, 7, bias=False), (2, 3, 4, 5)),
        (nn.Linear(5, 7, bias=False), (2, 2, 3, 4, 5)),
        (nn.LayerNorm(5), (2, 3, 5)),
        (nn.LayerNorm((4, 5), eps=1e-6), (2, 3, 4, 5)),
        (nn.LayerNorm(5, elementwise_affine=False), (3, 5)),
        (nn.LayerNorm(5, bias=False), (1, 2, 2, 5)),
        (nn.LayerNorm(5).double(), (2, 5)),
        (nn.BatchNorm2d(4), (2, 4, 3, 3)),
        (nn.BatchNorm2d(4, momentum=None), (2, 4, 3, 3)),
        (nn.BatchNorm1d(4, affine=False), (2, 4)),
        (nn.BatchNorm1d(4), (2, 4, 6)),
        (nn.Sequential(_ChannelsLast(), nn.BatchNorm2d(4)), (2, 4, 3, 3)),
        (nn.Sequential(_ChannelsLast(), nn.BatchNorm2d(4)), (2, 4, 1, 1)),
        (nn.Sequential(_Transposed(), nn.BatchNorm2d(4)), (2, 3, 3, 4)),
        (nn.ReLU(inplace=True), (2, 3)),
        (nn.ReLU6(), (2, 3)),
        (nn.ReLU6(inplace=True), (2, 3)),
        (nn.GELU(), (2, 3)),
        (nn.GELU("tanh"), (2, 3)),
        (nn.Hardswish(), (2, 3)),
        (nn.SiLU(inplace=True), (2, 3)),
        (nn.Dropout(0.3), (2, 3)),
        (nn.AvgPool2d(2), (1, 3, 6, 6)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False), (1, 3, 7, 7)),
        (nn.MaxPool2d(3, 2, 1), (1, 3, 7, 7)),
        (nn.MaxPool2d(2, ceil_mode=True), (1, 3, 7, 7)),
        (nn.Upsample(scale_factor=2), (1, 3, 5, 7)),
        (nn.Upsample(scale_factor=(1.5, 2.25), mode="nearest"), (2, 3, 5, 7)),
        (nn.Upsample(size=(9, 4), mode="bilinear", align_corners=True), (1, 2, 5, 7)),
        (nn.Upsample(scale_factor=2.5, mode="linear"), (1, 2, 5)),
        (nn.Upsample(size=(3, 6, 4), mode="trilinear"), (1, 2, 2, 3, 4)),
        (nn.Upsample(scale_factor=3, mode="nearest"), (1, 2, 2, 3, 4)),
        (nn.Upsample(scale_factor=2, mode="bicubic", recompute_scale_factor=True), (1, 2, 4, 4)),
        (nn.UpsamplingNearest2d(scale_factor=2), (1, 3, 4, 6)),
        (nn.UpsamplingBilinear2d(size=(8, 9)), (1, 3, 4, 6)),
        (nn.ReflectionPad2d(3), (1, 3, 7, 7)),
        (nn.ReflectionPad2d((1, 0, 2, 1)), (3, 7, 7)),
        (nn.Sequential(_ChannelsLast(), nn.ReflectionPad2d(1)), (2, 3, 4, 5)),
        (nn.Sequential(_ChannelsLast(), nn.ReflectionPad2d(1)), (2, 1, 4, 5)),  # C = 1: both layouts at once
        (nn.Sequential(_ChannelsLast(), nn.ReplicationPad2d((0, 2, 1, 0))), (1, 4, 1, 1)),
        (nn.Sequential(_Transposed(), nn.ReflectionPad2d(1)), (2, 3, 3, 4)),
        (nn.ReflectionPad1d(2), (2, 3, 5)),
        (nn.ReflectionPad3d(1), (1, 2, 3, 4, 5)),
        (nn.ReplicationPad2d((2, 1, 0, 3)), (1, 3, 4, 5)),
        (nn.ReplicationPad1d(4), (2, 3, 2)),
        (nn.ReplicationPad3d((1, 1, 0, 0, 2, 2)), (1, 2, 3, 4, 5)),
        (nn.CircularPad1d((2, 1)), (2, 3, 5)),
        (nn.CircularPad2d((1, 0, 2, 3)), (3, 4, 5)),
        (nn.CircularPad3d(1), (1, 2, 3, 4, 5)),
        (nn.Sequential(_ChannelsLast(), nn.CircularPad2d(1)), (2, 3, 4, 5)),
        # convolutions whose padding_mode is not zeros: F.pad in that mode, then the unpadded convolution
        (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (1, 3, 6, 7)),
        (nn.Conv1d(3, 4, 5, padding=2, stride=2, padding_mode="replicate"), (2, 3, 9)),
        (nn.Conv2d(3, 6, (3, 5), padding=(1, 2), groups=3, padding_mode="circular"), (1, 3, 6, 7)),
        (nn.Conv3d(2, 4, 3, padding=1, padding_mode="circular", bias=False), (1, 2, 4, 5, 6)),
        (nn.Conv2d(3, 4, 4, padding="same", padding_mode="reflect"), (1, 3, 8, 8)),
        (nn.Sequential(_ChannelsLast(), nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate")), (2, 3, 5, 5)),
        # weight-normed convolutions: the fused interface over the first or last dim, the rest faked
        (_weight_normed(nn.Conv1d(4, 6, 3)), (1, 4, 10)),
        (_weight_normed(nn.Conv1d(4, 6, 3, padding=1, groups=2), dim=2), (2, 4, 10)),
        (_weight_normed(nn.Conv1d(4, 6, 3), dim=-1), (1, 4, 10)),
        (_weight_normed(nn.Conv2d(4, 6, 3, stride=2, bias=False)), (1, 4, 9, 9)),
        (_weight_normed(nn.Conv1d(4, 6, 3), dim=1), (1, 4, 10)),
        (_weight_normed(nn.ConvTranspose1d(4, 6, 3)), (1, 4, 10)),
    ],
)
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_closed_form_layer_rules_record_what_a_fake_run_records(layer: nn.Module, shape: tuple[int, ...]) -> None:
    model = nn.Sequential(layer).eval()
    assert_rules_record_what_fake_records(model, shape)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.Upsample(scale_factor=2), (1, 3, 5, 7)),
        (nn.Upsample(size=(9, 4), mode="bilinear", align_corners=True), (1, 2, 5, 7)),
        (nn.Upsample(scale_factor=2.5, mode="linear"), (1, 2, 5)),
        (nn.UpsamplingNearest2d(scale_factor=2), (1, 3, 4, 6)),
        (nn.UpsamplingBilinear2d(size=(8, 9)), (1, 3, 4, 6)),
    ],
)
def test_upsampling_layers_take_the_interpolate_rule(
    monkeypatch: pytest.MonkeyPatch, layer: nn.Module, shape: tuple[int, ...]
) -> None:
    """nn.Upsample and its two subclasses are answered by F.interpolate's rule: neither FakeTensorMode nor a
    meta run (whose upsampling meta kernels import sympy, a quarter of a second of a fresh process)."""
    import costmodel.trace.fake_propagation as propagation

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the layer ran on meta tensors")

    built = count_fake_modes(monkeypatch)
    monkeypatch.setattr(propagation, "run_on_meta", refuse)
    traced = trace_model(nn.Sequential(layer).eval(), shape)
    assert not built
    assert [c.op for c in traced.node_calls["_0"]] == [f"aten::upsample_{layer.mode}{len(shape) - 2}d"]


def test_a_network_of_ruled_ops_never_builds_a_fake_tensor_mode() -> None:
    """FakeTensorMode's constructor imports torch._dynamo (about a second): the zoo must not need it."""
    code = (
        "import sys, costmodel; from costmodel.zoo import ZOO\n"
        "for name in ZOO: costmodel.analyze(costmodel.load_model(name))\n"
        "print('torch._dynamo' in sys.modules)"
    )
    assert fresh_process_output(code) == "False"


def test_ruled_glue_never_runs_a_node_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node of RuledGlue is answered by a rule (the model above holds the rules to FakeTensorMode)."""
    from costmodel.trace.fake_tensors import LazyFakeMode

    def refuse(self: LazyFakeMode) -> None:
        raise AssertionError("a node ran on fake tensors")

    forget()
    monkeypatch.setattr(LazyFakeMode, "get", refuse)
    assert trace_model(RuledGlue().eval(), (2, 4, 5, 6)).node_outcomes


def test_resampled_glue_never_runs_a_node_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node of ResampledGlue is answered by a rule (the model above holds the rules to FakeTensorMode)."""

    built = count_fake_modes(monkeypatch)
    traced = trace_model(ResampledGlue().eval(), (2, 3, 4, 5))
    assert traced.node_outcomes and not built


def test_weight_standardised_convolutions_never_run_a_node_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """BiT's convolution (F.batch_norm of the weight in training mode, then F.conv2d) is answered by rules."""

    class StandardisedConv(nn.Conv2d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w = nn.functional.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True, eps=1e-6)
            return nn.functional.conv2d(
                x, w.reshape_as(self.weight), self.bias, self.stride, self.padding, self.dilation, self.groups
            )

    built = count_fake_modes(monkeypatch)
    model = nn.Sequential(
        StandardisedConv(3, 8, 3, padding=1, bias=False), nn.GroupNorm(2, 8), nn.ReLU(), StandardisedConv(8, 8, 3, 2, 1)
    )
    traced = trace_model(model.eval(), (1, 3, 16, 16))
    assert traced.node_outcomes and not built


def test_repeated_blocks_replay_from_the_memo() -> None:
    traced = trace_model(load_model("shufflenet_v2_x1_0"), (1, 3, 64, 64))
    distinct = {id(o) for o in traced.node_outcomes.values()}
    assert len(traced.node_outcomes) > 3 * len(distinct)  # 16 units, a handful of distinct signatures


WIDTH = 3


@torch.fx.wrap
def _keep_first(x: torch.Tensor) -> torch.Tensor:
    return x[:, :WIDTH]  # reads a global: its outcome is not a function of its inputs' metadata


class ReadsAGlobal(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _keep_first(x) * 2


def test_a_users_function_is_never_replayed() -> None:
    global WIDTH
    model = ReadsAGlobal()
    before = analyze(model, (1, 8)).layers
    WIDTH = 5
    try:
        after = analyze(model, (1, 8)).layers
    finally:
        WIDTH = 3
    assert [r.output_shape for r in before] == [[1, 3], [1, 3]]
    assert [r.output_shape for r in after] == [[1, 5], [1, 5]]


def test_a_changed_rule_is_not_served_from_a_memoised_cost() -> None:
    from costmodel import OpCost, register, unregister

    model = nn.Sequential(nn.Linear(8, 8), nn.GELU())
    base = next(r for r in analyze(model, (2, 8)).layers if r.op == "GELU")
    with pytest.raises(ValueError, match="already has a cost rule"):
        register("aten::gelu", lambda call: OpCost(100, 7))  # replacing a built-in rule is said, never silent
    register("aten::gelu", lambda call: OpCost(100, 7), override=True)
    try:
        custom_row = next(r for r in analyze(model, (2, 8)).layers if r.op == "GELU")
    finally:
        unregister("aten::gelu")
    again = next(r for r in analyze(model, (2, 8)).layers if r.op == "GELU")
    assert (custom_row.flops, custom_row.mac) == (100, 7)
    elements = 2 * 8
    assert (base.flops, base.mac) == (elements, 2 * elements)  # conventions: 1 per output, in + out
    assert (again.flops, again.mac) == (base.flops, base.mac)


class MathOnSizes(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import math

        return x / math.sqrt(x.size(-1))


def test_math_on_a_traced_size_still_traces_with_fx() -> None:
    """The first trace skips fx's patching of ``math`` (costly on every trace); a model that calls
    math on a proxy is traced again with it, not sent to the aten walk."""
    report = analyze(MathOnSizes(), (2, 9))
    assert report.walk == "fx" and [r.op for r in report.layers] == ["size", "sqrt", "truediv"]
    assert report.totals["flops"] == 2 * 9  # one division per element


def test_a_shape_error_is_one_line_without_torchs_traceback_log(capfd: pytest.CaptureFixture[str]) -> None:
    from costmodel.errors import ShapeMismatch

    class Mismatch(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.ones(5, 3)  # a matmul no closed-form rule takes: it runs under FakeTensorMode

    for fallback in (None, True):
        with pytest.raises(ShapeMismatch) as raised:
            analyze(Mismatch(), (2, 4), fallback=fallback)
        assert len(str(raised.value).splitlines()) == 1
    assert "failed while attempting to run meta" not in capfd.readouterr().err  # torch's own handler writes stderr
    assert not logging.getLogger("torch._subclasses.fake_tensor").disabled


def test_a_rules_overlay_is_scoped_to_its_block() -> None:
    from costmodel import OpCost, rules_overlay

    model = nn.Sequential(nn.Linear(8, 8), nn.GELU())
    base = next(r for r in analyze(model, (2, 8)).layers if r.op == "GELU")
    with rules_overlay({"aten::gelu": lambda call: OpCost(100, 7)}):
        inside = next(r for r in analyze(model, (2, 8)).layers if r.op == "GELU")
    after = next(r for r in analyze(model, (2, 8)).layers if r.op == "GELU")
    assert (inside.flops, inside.mac) == (100, 7)
    assert (after.flops, after.mac) == (base.flops, base.mac) == (2 * 8, 2 * 2 * 8)


def test_the_built_in_table_has_one_rule_per_operator() -> None:
    from costmodel.rules.base import RuleTable

    table = RuleTable()
    table.add(["relu"], "activation", lambda call: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="aten::relu already has a cost rule"):
        table.add(["relu"], "activation", lambda call: None)  # type: ignore[arg-type,return-value]


class _AdaptivePools(nn.Module):
    """Adaptive average pools the global-average shortcut must and must not take."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = nn.functional.adaptive_avg_pool2d(x, 1)  # the shortcut: a mean over H, W
        b = nn.functional.adaptive_avg_pool2d(x, (2, 3))  # not global: no shortcut
        c = nn.functional.adaptive_avg_pool2d(x.transpose(2, 3), 1)  # not contiguous: no shortcut
        d = nn.functional.adaptive_avg_pool2d(x[0], 1)  # (C, H, W)
        return a.sum() + b.sum() + c.sum() + d.sum()


def test_the_global_average_shortcut_only_where_it_is_a_mean() -> None:
    model = _AdaptivePools().eval()
    reference = node_records(trace_model(model, (2, 3, 6, 7), shortcuts=False))
    forget()
    assert node_records(trace_model(model, (2, 3, 6, 7))) == reference


def test_functional_activations_need_no_fake_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # a conv net whose activations are functions and methods is costed by closed forms alone
    class OnlyRuled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.register_buffer("mean", torch.zeros(8))
            self.register_buffer("var", torch.ones(8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = nn.functional.relu(nn.functional.batch_norm(self.conv(x), self.mean, self.var))
            y = nn.functional.silu(y, inplace=True) + torch.sigmoid(y) + y.tanh()
            return nn.functional.gelu(y, approximate="tanh") + nn.functional.hardswish(y)

    import costmodel.trace.fake_tensors as fake_tensors

    def refuse() -> None:
        raise AssertionError("a FakeTensorMode was constructed: some node missed its closed-form rule")

    forget()
    monkeypatch.setattr(fake_tensors, "new_fake_mode", refuse)
    report = analyze(OnlyRuled(), (1, 3, 8, 8))
    assert report.walk == "fx" and report.complete
    ops = [row.op for row in report.layers if row.flops]
    expected = ["Conv2d", "batch_norm", "relu", "silu", "sigmoid", "tanh", "add", "add", "gelu", "hardswish", "add"]
    assert sorted(ops) == sorted(expected)


@pytest.mark.parametrize(
    "op, shape, size, extra",
    [
        (torch.ops.aten.upsample_bilinear2d.default, (1, 3, 7, 8), [10, 12], (False,)),
        (torch.ops.aten.upsample_bilinear2d.default, (2, 4, 9, 9), [3, 5], (True, 0.5, 0.5)),
        (torch.ops.aten.upsample_bicubic2d.default, (1, 2, 5, 5), [11, 7], (False,)),
        (torch.ops.aten.upsample_nearest2d.default, (1, 3, 7, 8), [14, 16], (2.0, 2.0)),
        (torch.ops.aten.upsample_nearest2d.default, (1, 3, 7, 8), [14, 16], ()),
    ],
)
def test_resampling_answered_from_its_output_size_is_what_the_fake_kernel_returns(
    op: Any, shape: tuple[int, ...], size: list[int], extra: tuple[Any, ...]
) -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from costmodel.trace.recorders import recording

    mode = FakeTensorMode()
    with mode:
        layouts = [
            torch.empty(shape),
            torch.empty(shape).to(memory_format=torch.channels_last),
            torch.empty(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2),  # channels-last by a permute
            torch.empty(shape[0], shape[1], shape[3], shape[2]).transpose(2, 3),
            torch.empty(shape[0], shape[1], 2 * shape[2], shape[3])[:, :, ::2],
            torch.empty(shape, dtype=torch.float64),
        ]
        references = [op(x, size, *extra) for x in layouts]
    with recording(mode) as recorder:
        outputs = [op(x, size, *extra) for x in layouts]
    for got, want in zip(outputs, references):
        assert (got.shape, got.stride(), got.dtype, got.device) == (want.shape, want.stride(), want.dtype, want.device)
    assert [c.short for c in recorder.calls] == [op.__name__.split(".")[0]] * len(layouts)


def test_layer_norm_answered_from_its_geometry_is_what_the_fake_kernel_returns() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from costmodel.trace.recorders import recording

    mode = FakeTensorMode()
    with mode:
        base = torch.empty(2, 6, 7, 8)
        inputs = [
            base,
            base.to(memory_format=torch.channels_last),
            torch.empty(2, 7, 8, 6).permute(0, 3, 1, 2),
            base.transpose(2, 3),
            torch.empty(2, 6, 14, 8)[:, :, ::2],
            base.double(),
            torch.empty(5, 8, dtype=torch.bfloat16),  # another dtype: left to the fake kernel
        ]
        cases = [(x, shape) for x in inputs for shape in ([x.shape[-1]], list(x.shape[-2:]))]
        weight = [torch.empty(shape, dtype=x.dtype) for x, shape in cases]
        references = [torch.ops.aten.native_layer_norm.default(x, s, w, w, 1e-5) for (x, s), w in zip(cases, weight)]
    with recording(mode) as recorder:
        outputs = [torch.ops.aten.native_layer_norm.default(x, s, w, w, 1e-5) for (x, s), w in zip(cases, weight)]
        with pytest.raises(RuntimeError):  # a shape that does not fit: the fake kernel's own error
            torch.ops.aten.native_layer_norm.default(base, [6], None, None, 1e-5)
    for got, want in zip(outputs, references):
        assert [(o.shape, o.stride(), o.dtype, o.device) for o in got] == [(o.shape, o.stride(), o.dtype, o.device) for o in want]
    assert [c.short for c in recorder.calls] == ["native_layer_norm"] * len(cases)


class _ValuesAfterRuledOps(nn.Module):
    """Shapes that depend on the values of a resampling and a layer norm: the walk must run them for real."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        resampled = nn.functional.interpolate(torch.ones(1, 1, 2, 2), size=(4, 4), mode="bilinear")  # 16 ones
        normalised = nn.functional.layer_norm(torch.arange(8.0).view(2, 4), [4])  # two positive per row
        kept = int(resampled.sum().item()) + int((normalised > 0).sum().item())
        return x[:, :kept] * 2


def test_geometry_rules_never_stand_in_for_real_values() -> None:
    report = analyze(_ValuesAfterRuledOps(), (1, 64), fallback=True)
    assert any("real tensors" in note for note in report.notes)
    assert report.layers[-1].output_shape == [1, 16 + 4]
    assert analyze(_ValuesAfterRuledOps(), (1, 64)).layers[-1].output_shape == [1, 16 + 4]  # the fx walk


class Lookups(nn.Module):
    """Embedding tables as token models use them: plain, with a padding index (given negative too), by
    F.embedding, on sliced and transposed ids, int32 ids; a max_norm table is left to FakeTensorMode."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(50, 8)
        self.padded = nn.Embedding(50, 8, padding_idx=-2)
        self.renormed = nn.Embedding(50, 8, max_norm=1.0)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f = nn.functional
        return (
            self.tokens(ids),
            self.padded(ids),
            self.tokens(ids[:, 1:]),
            self.tokens(ids.t()),
            self.tokens(ids.int()),
            f.embedding(ids, self.tokens.weight, padding_idx=-1),
            f.embedding(ids, self.tokens.weight, 3, scale_grad_by_freq=True),
            self.renormed(ids),
        )


def test_embedding_rule_records_what_a_fake_run_records() -> None:
    model = Lookups().eval()
    spec = {"ids": ((2, 5), torch.int64)}
    assert_rules_record_what_fake_records(model, spec)


def test_token_embeddings_need_no_fake_mode(monkeypatch: pytest.MonkeyPatch) -> None:

    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words, self.positions = nn.Embedding(50, 8, padding_idx=0), nn.Embedding(16, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.words(ids) + nn.functional.embedding(ids[:, :1], self.positions.weight)

    built = count_fake_modes(monkeypatch)
    traced = trace_model(Tokens().eval(), {"ids": ((2, 5), torch.int64)})
    assert traced.node_calls["words"][0].op == "aten::embedding" and not built


class Reduced(nn.Module):
    """Means and sums over dims of a tensor stored in another dimension order (ConvNeXt's pooled head after
    a permute, Segformer's token mean), sliced or not."""

    def __init__(self, order: tuple[int, ...], dims: tuple[int, ...], keepdim: bool, sliced: bool) -> None:
        super().__init__()
        self.order, self.dims, self.keepdim, self.sliced = order, dims, keepdim, sliced

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = x.permute(*self.order)
        y = y[..., ::2] if self.sliced else y
        return y.mean(self.dims, keepdim=self.keepdim), torch.sum(y, dim=self.dims[0]) * 1


def _random_reduction(rng: Any, min_rank: int) -> tuple[tuple[int, ...], tuple[int, ...], list[int]]:
    """A small shape, a dimension order to store it in, and a sorted non-empty set of dims to reduce."""
    rank = rng.randint(min_rank, 4)
    shape = tuple(rng.choice([1, 2, 3, 5]) for _ in range(rank))
    dims = sorted(rng.sample(range(rank), rng.randint(1, rank)))
    return shape, tuple(rng.sample(range(rank), rank)), dims


@pytest.mark.parametrize("seed", range(3))
def test_reductions_of_any_layout_record_what_fake_records(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(8):
        shape, order, dims = _random_reduction(rng, 2)
        model = Reduced(order, tuple(dims), rng.random() < 0.5, rng.random() < 0.3)
        assert_rules_record_what_fake_records(model.eval(), shape)


class VectorNorms(nn.Module):
    """torch.linalg.vector_norm over dims of a tensor stored in another dimension order (ConvNeXt V2's
    global response norm: the L2 norm over H, W of an NHWC tensor), with the arguments spelled every way."""

    def __init__(self, order: tuple[int, ...], dims: Any, keepdim: bool, ord_: float, sliced: bool) -> None:
        super().__init__()
        self.order, self.dims, self.keepdim, self.ord, self.sliced = order, dims, keepdim, ord_, sliced

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = x.permute(*self.order)
        y = y[..., ::2] if self.sliced else y
        return (
            torch.linalg.vector_norm(y, self.ord, self.dims, self.keepdim),
            torch.linalg.vector_norm(y, dim=self.dims, keepdim=self.keepdim),
            torch.linalg.vector_norm(y, ord=self.ord),
            torch.linalg.vector_norm(y.half(), keepdim=self.keepdim) * 2,
        )


@pytest.mark.parametrize("seed", range(3))
def test_vector_norms_of_any_layout_record_what_fake_records(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(6):
        shape, order, picked = _random_reduction(rng, 1)
        dims = rng.choice([picked[0] - len(shape), tuple(picked), list(picked), None])
        model = VectorNorms(order, dims, rng.random() < 0.5, rng.choice([2, 2.0, 1, 3.5, float("inf")]), rng.random() < 0.3)
        assert_rules_record_what_fake_records(model.eval(), shape)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt V2's GRN on an NHWC tensor, as Hugging Face writes it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(0, 2, 3, 1)
        gx = torch.linalg.vector_norm(y, ord=2, dim=(1, 2), keepdim=True)
        return gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)


def test_global_response_norm_needs_no_fake_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rules_record_what_fake_records(GlobalResponseNorm(), (1, 8, 7, 7))
    built = count_fake_modes(monkeypatch)
    traced = trace_model(GlobalResponseNorm(), (1, 8, 7, 7))
    assert not built
    assert [c.op for c in traced.node_calls["linalg_vector_norm"]] == ["aten::linalg_vector_norm"]


class BorderPads(nn.Module):
    """F.pad in reflect and replicate modes (audio front ends, Encodec's convolutions) on a tensor stored in
    another dimension order, over the last k dims."""

    def __init__(self, order: tuple[int, ...], amounts: list[int], value: Any) -> None:
        super().__init__()
        self.order, self.amounts, self.value = order, amounts, value

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = x.permute(*self.order)
        return (
            nn.functional.pad(y, self.amounts, mode="reflect", value=self.value),
            nn.functional.pad(y, self.amounts, mode="replicate"),
            nn.functional.pad(y.contiguous(), [a + 1 for a in self.amounts], mode="replicate") * 2,
        )


def _padded_layouts(rng: random.Random) -> list[tuple[tuple[int, ...], tuple[int, ...], list[int]]]:
    """Six (input shape, a permutation of it, the size of the padded dim of each amount) for k = 1–3 padded
    dims of an input of rank k + 1 or k + 2."""
    out = []
    for _ in range(6):
        k = rng.randint(1, 3)
        rank = k + rng.randint(1, 2)
        shape = tuple(rng.randint(2, 5) for _ in range(rank))
        order = tuple(rng.sample(range(rank), rank))
        permuted = [shape[i] for i in order]
        out.append((shape, order, [permuted[-1 - i // 2] for i in range(2 * k)]))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_border_pads_of_any_layout_record_what_fake_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    for shape, order, sizes in _padded_layouts(rng):
        amounts = [rng.randint(0, size - 1) for size in sizes]  # reflect: below the size
        model = BorderPads(order, amounts, rng.choice([None, 0.0]))
        assert_rules_record_what_fake_records(model.eval(), shape)
    built = count_fake_modes(monkeypatch)
    traced = trace_model(BorderPads((0, 1, 2), [2, 3], None).eval(), (1, 4, 16))
    assert not built
    assert [c.op for c in traced.node_calls["pad"]] == ["aten::reflection_pad1d"]


class CircularPads(nn.Module):
    """F.pad in circular mode (periodic boundaries: PDE solvers, Fourier neural operators) of a permuted
    tensor, by amounts that may be negative (a crop) or the whole dim (one full wrap)."""

    def __init__(self, order: tuple[int, ...], amounts: list[int]) -> None:
        super().__init__()
        self.order, self.amounts = order, amounts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x.permute(*self.order), self.amounts, mode="circular")


@pytest.mark.parametrize("seed", range(3))
def test_circular_pads_record_what_fake_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    for shape, order, sizes in _padded_layouts(rng):
        model = CircularPads(order, [rng.randint(-1, size) for size in sizes]).eval()
        assert_rules_record_what_fake_records(model, shape)
    built = count_fake_modes(monkeypatch)
    traced = trace_model(CircularPads((0, 1, 2, 3), [1, 2, 0, 1]).eval(), (1, 3, 4, 5))
    assert not built
    assert [c.op for c in traced.node_calls["pad"]][:2] == ["aten::new_empty", "aten::slice"]


class LinearOfStridedInput(nn.Module):
    """Linear layers on non-contiguous inputs of three and four dims (LeViT's and WavLM's): aten::linear
    becomes ``t`` + ``matmul`` (folded or batched) + an out-of-place bias add."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 5), nn.Linear(3, 4, bias=False), nn.Linear(7, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (
            self.a(x.transpose(0, 1)),
            self.b(x.permute(1, 0, 2)),
            self.c(x.transpose(1, 2)),
            self.a(x.unsqueeze(1).transpose(0, 1)),
            nn.functional.linear(x[:, ::2], self.a.weight, self.a.bias),
            self.a(x.view(2, 1, 7, 3).expand(2, 4, 7, 3)),
        )


def test_linear_of_strided_input_records_what_fake_records(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rules_record_what_fake_records(LinearOfStridedInput().eval(), (2, 7, 3))
    built = count_fake_modes(monkeypatch)
    assert trace_model(LinearOfStridedInput().eval(), (2, 7, 3)).node_outcomes and not built


class _Factories(nn.Module):
    def forward(self, x: torch.Tensor) -> Any:
        return x * 2, torch.arange(x.shape[-1]), torch.zeros(x.shape[-1])


def test_factories_follow_the_default_device() -> None:
    """arange and zeros without a device land on the default device: the CPU, or a device context's (then
    the rules leave them to FakeTensorMode, which records that device)."""
    forget()
    devices = {
        name: [c.kwargs.get("device") for c in calls] for name, calls in trace_model(_Factories(), (2, 4)).node_calls.items()
    }
    assert devices["arange"] == devices["zeros"] == [torch.device("cpu")]
    with torch.device("meta"):
        traced = trace_model(_Factories(), (2, 4))
    devices = {name: [c.kwargs.get("device") for c in calls] for name, calls in traced.node_calls.items()}
    assert devices["arange"] == devices["zeros"] == [torch.device("meta")]


def test_factories_cost_nothing_to_import() -> None:
    """Reading the default device imports torch.utils._device on first use (half a millisecond of a fresh
    process): the rules know the CPU is the default while no device context can exist."""
    code = (
        "import sys, torch, costmodel\n"
        "from tests.trace.test_shortcuts import _Factories\n"
        "report = costmodel.analyze(_Factories(), (2, 4))\n"
        "print([row.op for row in report.layers if row.mac], 'torch.utils._device' in sys.modules)"
    )
    assert fresh_process_output(code) == "['mul', 'arange', 'zeros'] False"


class Unflattens(nn.Module):
    """Unflattening as patch and head-splitting code writes it: the method, torch's function and nn.Unflatten,
    with a -1, a negative dim, on a row-major and a transposed tensor (a view of its own strides)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.Unflatten(-1, (2, -1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C): channels strided
        return (
            x.flatten(1).unflatten(1, (4, -1)),
            torch.unflatten(x, -1, (3, 2)),
            self.heads(tokens),
            tokens.unflatten(1, (6, 6)),
            x.unflatten(0, [1, 2]),
        )


def test_unflatten_records_what_fake_records(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rules_record_what_fake_records(Unflattens().eval(), (2, 4, 6, 6))
    built = count_fake_modes(monkeypatch)
    traced = trace_model(Unflattens().eval(), (2, 4, 6, 6))
    assert not built
    assert [c.op for c in traced.node_calls["heads"]] == ["aten::view"]


class Casts(nn.Module):
    """Casts of tensors in any layout (``x.type(dtype)``, ``.half()``, ``.to(dtype)``): a copy laid out as
    ``empty_like`` lays it out — dense ones keep their strides, others are made dense in their order."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (
            x.type(torch.float64),
            x.type(torch.float32),
            x.transpose(1, 3).type(torch.float16),
            x[:, :, ::2].double(),
            x[:, :1].expand(2, 3, 6, 6).to(torch.float64),
            x.permute(2, 0, 3, 1).half(),
            x[:1].permute(1, 0, 2, 3).to(dtype=torch.bfloat16),
            x.contiguous(memory_format=torch.channels_last)[:, :, 1:].long(),
        )


def test_casts_of_any_layout_record_what_fake_records(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rules_record_what_fake_records(Casts().eval(), (2, 4, 6, 6))
    built = count_fake_modes(monkeypatch)
    trace_model(Casts().eval(), (2, 4, 6, 6))
    assert not built


class ConstantIndices(nn.Module):
    """Tensors of known value the forward makes, used as operands: an embedding index (a codec's bandwidth
    id), an ``index_select`` index, a view size, and the tensor a method is called on."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        band = torch.tensor([1], device=x.device)
        picked = torch.index_select(x, 1, torch.tensor([2], device=x.device))
        floor = torch.tensor(3, device=x.device).type_as(x)  # SEW-D's relative-position buckets
        return self.table(band) * x + picked + x.view(torch.tensor(2, device=x.device), -1) + floor


def test_known_values_passed_as_operands_stay_tensors() -> None:
    """A one-element tensor of known value is read as an int where torch takes a size, but a layer's
    operand (the embedding's index), a function's index and a method's own tensor stay tensors: the fx walk takes the model,
    agrees with the aten walk, and records what FakeTensorMode records."""
    report = analyze(ConstantIndices(), (2, 6))
    aten = analyze(ConstantIndices(), (2, 6), fallback=True)
    assert report.walk == "fx" and report.uncounted == []
    assert (report.totals, report.contraction_flops) == (aten.totals, aten.contraction_flops)
    assert_rules_record_what_fake_records(ConstantIndices().eval(), (2, 6))


class PythonDtypes(nn.Module):
    """Factories given Python types as dtypes (``dtype=int`` in transformers' cache code): torch reads int,
    float, bool and complex as int64, float64, bool and complex128."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        counts = torch.zeros(x.shape[0], dtype=int)
        wide = torch.ones(x.shape, dtype=float)
        return x + wide.to(x.dtype), counts + 1, torch.zeros(x.shape, dtype=bool), torch.zeros(x.shape[-1], dtype=complex)


def test_python_types_as_dtypes_are_traced() -> None:
    """The fx walk takes them (fx cannot put a Python type in a graph), with torch's dtypes, agreeing with
    the aten walk and with FakeTensorMode."""
    traced = trace_model(PythonDtypes().eval(), (2, 3))
    made = {n.name: n.meta["val"].dtype for n in traced.graph.nodes if n.name in ("zeros", "ones", "zeros_1", "zeros_2")}
    assert made == {"zeros": torch.int64, "ones": torch.float64, "zeros_1": torch.bool, "zeros_2": torch.complex128}
    report = analyze(PythonDtypes(), (2, 3))
    assert report.walk == "fx" and report.uncounted == []
    assert report.totals == analyze(PythonDtypes(), (2, 3), fallback=True).totals
    assert_rules_record_what_fake_records(PythonDtypes().eval(), (2, 3))


class TensorsOfData(nn.Module):
    """Tensors of Python data made on the input's device (scale factors, index lists, bucket bounds) and
    used beside activations: one-element ones keep their value (a view size read from one), larger ones
    are new tensors; an accumulating ``index_add`` at the listed indices, out of place and in place."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scale = torch.tensor(0.5, device=x.device)
        rows = torch.tensor([0, 2, 1], device=x.device)
        table = x.new_tensor([[1, 2, 3], [4, 5, 6]])  # x's dtype: float
        flags = torch.tensor([True, False, True], dtype=torch.float64, device=x.device)
        size = torch.tensor(2, device=x.device)
        added = x.index_add(1, rows, x[:, :3] * scale)
        inplace = x.clone().index_add_(2, torch.tensor([1], device=x.device), x[:, :, :1], alpha=2)
        return x * scale + x.new_tensor(1.5), table @ x[0, :3, :3], flags, x.view(size, -1), added, inplace, torch.tensor([])


def test_tensors_of_python_data_record_what_fake_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch.tensor(data, device=x.device)`` and ``x.new_tensor(data)`` are made beside the trace and lifted
    (one ``aten::lift_fresh``, as FakeTensorMode records); arithmetic between them and activations, and
    ``index_add``, run on meta tensors: no FakeTensorMode is built, and every node matches a fake run."""
    assert_rules_record_what_fake_records(TensorsOfData().eval(), (2, 4, 3))
    built = count_fake_modes(monkeypatch)
    traced = trace_model(TensorsOfData().eval(), (2, 4, 3))
    assert not built
    values = {n.name: n.meta["val"] for n in traced.graph.nodes}
    assert values["tensor"].item() == 0.5 and values["new_tensor"].dtype == torch.float32
    assert [c.op for c in traced.node_calls["tensor_1"]] == ["aten::lift_fresh"]
    assert tuple(values["view"].shape) == (2, 12)
    report = analyze(TensorsOfData(), (2, 4, 3))
    assert report.walk == "fx" and report.uncounted == []
    assert report.totals == analyze(TensorsOfData(), (2, 4, 3), fallback=True).totals


def test_a_value_computed_from_known_values_alone_keeps_its_value() -> None:
    """A meta run never stands in for a node whose result FakeTensorMode computes from known values (a
    one-element tensor of data cast to the input's dtype): the value survives for a later size."""

    class CastBucket(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bucket = torch.tensor(3, device=x.device).type_as(x)
            return x.view(int(bucket), -1) * bucket

    traced = trace_model(CastBucket().eval(), (3, 4))
    assert tuple(traced.graph.output_node().args[0].meta["val"].shape) == (3, 4)  # type: ignore[union-attr]
    assert_rules_record_what_fake_records(CastBucket().eval(), (3, 4))


class Unpooling(nn.Module):
    """SegNet-style unpooling: nn.MaxUnpool1d/2d/3d and the functionals, with default and given output sizes
    (with and without batch and channel entries), strides and padding, and transposed operands."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.unpool_1d = nn.MaxUnpool1d(3, stride=2, padding=1)
        self.unpool_3d = nn.MaxUnpool3d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, i = self.pool(x)
        s, j = F.max_pool1d(x.flatten(2), 3, 2, 1, return_indices=True)
        v, k = F.max_pool3d(x.unsqueeze(2).expand(-1, -1, 4, -1, -1), 2, return_indices=True)
        return (
            self.unpool(y, i),
            self.unpool(y, i, output_size=x.shape),
            F.max_unpool2d(y, i, 2, output_size=(9, 9)),
            self.unpool_1d(s, j),
            F.max_unpool1d(s, j, 3, 2, 1, output_size=[x.shape[2] * x.shape[3]]),
            self.unpool_3d(v, k),
            F.max_unpool3d(v, k, (2, 2, 2), output_size=(5, 9, 8)),
            F.max_unpool2d(y.transpose(2, 3), i.transpose(2, 3), 2),
        )


def test_unpooling_records_what_fake_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unpooling rule states the functional's output size and aten calls (the functional's own size
    check would import sympy): every node matches a fake run, no FakeTensorMode is built, and both walks
    cost the same."""
    assert_rules_record_what_fake_records(Unpooling().eval(), (2, 3, 8, 8))
    built = count_fake_modes(monkeypatch)
    traced = trace_model(Unpooling().eval(), (2, 3, 8, 8))
    assert not built
    shapes = [tuple(n.meta["val"].shape) for n in traced.graph.output_node().args[0]]  # type: ignore[union-attr]
    planar, volume = [(2, 3, 8, 8), (2, 3, 8, 8), (2, 3, 9, 9)], [(2, 3, 4, 8, 8), (2, 3, 5, 9, 8)]
    assert shapes == [*planar, (2, 3, 63), (2, 3, 64), *volume, (2, 3, 8, 8)]
    assert analyze(Unpooling(), (2, 3, 8, 8)).totals == analyze(Unpooling(), (2, 3, 8, 8), fallback=True).totals


class NoneOptions(nn.Module):
    """Fails under fx with no proxy involved, as transformers' output wrappers do (a None read with ``.get``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        options = self.__dict__.get("options")
        return x * options.get("scale", 1)  # type: ignore[union-attr]


def test_fx_traces_again_with_math_wrapped_only_after_a_failure_on_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """fx's ``math`` wrapping changes nothing but what Python hands a proxy: a failure without one (a None
    read) is raised after one trace, math on a traced size is traced a second time, and traces."""
    from costmodel.errors import TraceFailure
    from costmodel.trace import fx_tracer

    traces: list[bool] = []
    original = fx_tracer.ModelTracer.trace

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        traces.append(bool(self._autowrap_function_ids))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(fx_tracer.ModelTracer, "trace", counted)
    with pytest.raises(TraceFailure, match="has no attribute 'get'"):
        fx_tracer.symbolic_trace(NoneOptions(), "none options", {})
    assert traces == [False]
    traces.clear()
    graph = fx_tracer.symbolic_trace(MathOnSizes(), "math on sizes", {})
    assert traces == [False, True] and any(node.target is math.sqrt for node in graph.nodes)
