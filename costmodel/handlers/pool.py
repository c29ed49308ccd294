"""Pooling: windowed max/avg pooling, adaptive pooling, and global means."""

from __future__ import annotations

from math import prod
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from costmodel.handlers.base import REGISTRY, OpCall, OpCost

_WINDOW_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_WINDOW_FUNCTIONS = (
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    torch.max_pool1d,
    torch.max_pool2d,
    torch.max_pool3d,
    torch.avg_pool1d,
)


def _window_elements(call: OpCall, spatial: int) -> int:
    module: Any = call.module
    kernel: Any = module.kernel_size if module is not None else call.arg(1, "kernel_size")
    if isinstance(kernel, int):
        return kernel**spatial
    return prod(int(k) for k in kernel)


@REGISTRY.register("pool", modules=_WINDOW_MODULES, functions=_WINDOW_FUNCTIONS)
def window_pool_cost(call: OpCall) -> OpCost:
    """k×k max or average pooling: FLOPs = output elements · k_h·k_w (one compare or add per window
    element read; our documented choice); MAC = in + out."""
    out = call.output
    # every registered name ends in "<dims>d": MaxPool2d, max_pool2d, avg_pool1d …
    name = type(call.module).__name__ if call.module is not None else call.op
    spatial = int(name[-2])
    return OpCost(out.numel * _window_elements(call, spatial), call.io_elements(), kind="window_pool")


@REGISTRY.register(
    "pool",
    modules=(
        nn.AdaptiveAvgPool1d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveAvgPool3d,
        nn.AdaptiveMaxPool1d,
        nn.AdaptiveMaxPool2d,
        nn.AdaptiveMaxPool3d,
    ),
    functions=(
        F.adaptive_avg_pool1d,
        F.adaptive_avg_pool2d,
        F.adaptive_avg_pool3d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool2d,
        F.adaptive_max_pool3d,
        torch.adaptive_avg_pool1d,
        torch.mean,
    ),
    methods=("mean",),
)
def reduce_pool_cost(call: OpCall) -> OpCost:
    """Adaptive pooling and means: FLOPs = 1 per input element (fvcore's adaptive_avg_pool2d count);
    MAC = in + out."""
    return OpCost(call.inputs[0].numel, call.io_elements())
