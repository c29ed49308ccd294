"""Convolutions (1-D, 2-D, 3-D; any kernel, stride, padding, dilation, groups) and transposed ones."""

from __future__ import annotations

from math import prod

from torch import nn
from torch.nn import functional as F

from costmodel import formulas
from costmodel.handlers.base import REGISTRY, OpCall, OpCost


def _fold(sizes: tuple[int, ...]) -> tuple[int, int]:
    """Fold 1-, 2- or 3-D spatial sizes into (h, w): 1-D → (L, 1); 3-D → (D·H, W)."""
    if len(sizes) == 1:
        return sizes[0], 1
    return prod(sizes[:-1]), sizes[-1]


def _weight_groups_bias(call: OpCall) -> tuple[tuple[int, ...], int, bool]:
    if call.module is not None:
        mod = call.module
        assert isinstance(mod, nn.modules.conv._ConvNd)
        return tuple(mod.weight.shape), mod.groups, mod.bias is not None
    weight = call.arg(1, "weight")
    groups = call.arg(6, "groups", 1)  # F.conv{1,2,3}d(input, weight, bias, stride, padding, dilation, groups)
    return weight.shape, int(groups), call.arg(2, "bias") is not None


@REGISTRY.register(
    "conv",
    modules=(nn.Conv1d, nn.Conv2d, nn.Conv3d),
    functions=(F.conv1d, F.conv2d, F.conv3d),
)
def conv_cost(call: OpCall) -> OpCost:
    """FLOPs = N·h'·w'·c2·(c1/g)·k_h·k_w; MAC = N·h·w·c1 + N·h'·w'·c2 + weights (+ bias);
    bound = 2·√(g·N·h·w·B/(k_h·k_w)) + B/(N·h'·w'), from ``formulas`` (proved in ``verify``)."""
    x, out = call.inputs[0], call.output
    weight_shape, groups, has_bias = _weight_groups_bias(call)
    spatial = len(weight_shape) - 2
    batched = len(x.shape) == spatial + 2
    n = x.shape[0] if batched else 1
    c1, c2 = x.shape[-spatial - 1], out.shape[-spatial - 1]
    h, w = _fold(x.shape[-spatial:])
    ho, wo = _fold(out.shape[-spatial:])
    kh, kw = _fold(weight_shape[2:])
    cost = formulas.conv_cost(n, h, w, ho, wo, c1, c2, kh, kw, groups, has_bias)
    return OpCost(cost.flops, cost.mac, cost.mac_lower_bound, conv_kind(c1, groups, kh * kw))


def conv_kind(c_in: int, groups: int, taps: int) -> str:
    """'depthwise' (one input channel per group), 'pointwise' / 'grouped_pointwise' (1x1), else 'dense'."""
    if groups > 1 and groups == c_in:
        return "depthwise"
    if taps == 1:
        return "grouped_pointwise" if groups > 1 else "pointwise"
    return "dense"


@REGISTRY.register(
    "conv",
    modules=(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
    functions=(F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d),
)
def conv_transpose_cost(call: OpCall) -> OpCost:
    """Transposed conv: every input element is multiplied into a (c2/g)·k_h·k_w patch, so
    FLOPs = N·h·w·c1·(c2/g)·k_h·k_w (as fvcore); MAC = input + output + weights (+ bias); no proved bound."""
    x = call.inputs[0]
    if call.module is not None:
        assert isinstance(call.module, nn.modules.conv._ConvTransposeNd)
        weight_shape = tuple(call.module.weight.shape)
    else:
        weight_shape = call.arg(1, "weight").shape
    spatial = len(weight_shape) - 2
    n = x.shape[0] if len(x.shape) == spatial + 2 else 1
    # weight is (c1, c2/g, *k) for a transposed conv
    per_input = weight_shape[1] * prod(weight_shape[2:])
    flops = n * prod(x.shape[-spatial - 1 :]) * per_input
    # the bias is read as state (module) or as an input (functional): io_elements counts it
    return OpCost(flops, call.io_elements(), None)
